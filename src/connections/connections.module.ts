import { Module } from '@nestjs/common';
import { LimitsModule } from '../limits/limits.module';
import { MetricsModule } from '../metrics/metrics.module';
import { ConnectionMetrics } from './connection-metrics';
import { ConnectionRegistryService } from './connection-registry.service';
import { FrameScheduler } from './frame-scheduler';

@Module({
  imports: [LimitsModule, MetricsModule],
  providers: [ConnectionRegistryService, FrameScheduler, ConnectionMetrics],
  exports: [ConnectionRegistryService],
})
export class ConnectionsModule {}
