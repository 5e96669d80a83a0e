import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Module({ imports: [ConnectionsModule], controllers: [MetricsController], providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {}
