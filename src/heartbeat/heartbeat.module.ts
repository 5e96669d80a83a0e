import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { HeartbeatService } from './heartbeat.service';

@Module({ imports: [ConnectionsModule], providers: [HeartbeatService] })
export class HeartbeatModule {}
