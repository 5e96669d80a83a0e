import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { MetricsModule } from '../metrics/metrics.module';
import { StreamsModule } from '../streams/streams.module';
import { DrainService } from './drain.service';

/** The graceful shutdown on SIGTERM: the drain. */
@Module({ imports: [ConnectionsModule, StreamsModule, MetricsModule], providers: [DrainService], exports: [DrainService] })
export class DrainModule {}
