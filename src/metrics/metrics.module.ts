import { Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/**
 * `/metrics` and the registry behind it. Imports nothing: each owner (connections, redis, streams,
 * limits, drain…) imports this module and registers its own figures, so metrics never depends on them.
 */
@Module({ controllers: [MetricsController], providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {}
