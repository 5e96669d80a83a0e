import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { RedisModule } from '../redis/redis.module';
import { MetricsModule } from '../metrics/metrics.module';
import { TracingModule } from '../tracing/tracing.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { StreamManagerService } from './stream-manager.service';

@Module({
  imports: [UpstreamModule, ConnectionsModule, MetricsModule, TracingModule, RedisModule],
  providers: [StreamManagerService],
  exports: [StreamManagerService],
})
export class StreamsModule {}
