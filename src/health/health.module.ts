import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ConnectionsModule } from '../connections/connections.module';
import { StreamsModule } from '../streams/streams.module';
import { DrainService } from './drain.service';
import { HealthController } from './health.controller';

@Module({
  // Terminus logs every failed check; a draining pod failing readiness is expected, not an error.
  imports: [TerminusModule.forRoot({ logger: false }), ConnectionsModule, StreamsModule],
  controllers: [HealthController],
  providers: [DrainService],
  exports: [DrainService],
})
export class HealthModule {}
