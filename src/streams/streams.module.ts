import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { StreamManagerService } from './stream-manager.service';

@Module({
  imports: [UpstreamModule, ConnectionsModule],
  providers: [StreamManagerService],
  exports: [StreamManagerService],
})
export class StreamsModule {}
