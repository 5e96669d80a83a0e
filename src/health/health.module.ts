import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ConnectionsModule } from '../connections/connections.module';
import { DrainModule } from '../drain/drain.module';
import { HealthController } from './health.controller';

@Module({
  // Terminus logs every failed check; a draining pod failing readiness is expected, not an error.
  imports: [TerminusModule.forRoot({ logger: false }), ConnectionsModule, DrainModule],
  controllers: [HealthController],
})
export class HealthModule {}
