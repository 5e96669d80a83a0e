import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { StreamsModule } from '../streams/streams.module';
import { DrainService } from './drain.service';

@Module({ imports: [ConnectionsModule, StreamsModule], providers: [DrainService], exports: [DrainService] })
export class ShutdownModule {}
