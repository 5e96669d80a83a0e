import { Module } from '@nestjs/common';
import { LimitsModule } from '../limits/limits.module';
import { ConnectionRegistryService } from './connection-registry.service';
import { FrameScheduler } from './frame-scheduler';

@Module({ imports: [LimitsModule], providers: [ConnectionRegistryService, FrameScheduler], exports: [ConnectionRegistryService] })
export class ConnectionsModule {}
