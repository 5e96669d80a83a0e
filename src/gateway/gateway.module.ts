import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { HealthModule } from '../health/health.module';
import { StreamsModule } from '../streams/streams.module';
import { ChatGateway } from './chat.gateway';

@Module({ imports: [ConnectionsModule, StreamsModule, HealthModule], providers: [ChatGateway] })
export class GatewayModule {}
