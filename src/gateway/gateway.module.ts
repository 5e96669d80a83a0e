import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ConnectionsModule } from '../connections/connections.module';
import { HealthModule } from '../health/health.module';
import { LimitsModule } from '../limits/limits.module';
import { MetricsModule } from '../metrics/metrics.module';
import { StreamsModule } from '../streams/streams.module';
import { AdmissionService } from './admission.service';
import { ChatGateway } from './chat.gateway';

@Module({
  imports: [ConnectionsModule, StreamsModule, HealthModule, LimitsModule, AuthModule, MetricsModule],
  providers: [ChatGateway, AdmissionService],
  exports: [AdmissionService],
})
export class GatewayModule {}
