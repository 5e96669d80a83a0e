import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { HealthModule } from '../health/health.module';
import { LimitsModule } from '../limits/limits.module';
import { StreamsModule } from '../streams/streams.module';
import { ChatGateway } from './chat.gateway';

@Module({ imports: [ConnectionsModule, StreamsModule, HealthModule, LimitsModule], providers: [ChatGateway] })
export class GatewayModule {}
