import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ConnectionsModule } from '../connections/connections.module';
import { DrainModule } from '../drain/drain.module';
import { LimitsModule } from '../limits/limits.module';
import { MetricsModule } from '../metrics/metrics.module';
import { StreamsModule } from '../streams/streams.module';
import { AdmissionService } from './admission.service';
import { AuthRefreshHandler } from './auth-refresh.handler';
import { ChatGateway } from './chat.gateway';
import { ChatRequestPolicy } from './chat-request.policy';
import { ConfiguredLimits } from './configured-limits';

@Module({
  imports: [ConnectionsModule, StreamsModule, DrainModule, LimitsModule, AuthModule, MetricsModule],
  providers: [ChatGateway, AdmissionService, ChatRequestPolicy, AuthRefreshHandler, ConfiguredLimits],
  exports: [AdmissionService],
})
export class GatewayModule {}
