import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisService } from './redis.service';

/** Owns the Redis connections and their health; what is stored there belongs to its users (streams/, limits/). */
@Module({ imports: [MetricsModule], providers: [RedisService], exports: [RedisService] })
export class RedisModule {}
