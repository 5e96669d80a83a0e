import { Module } from '@nestjs/common';
import { RedisModule } from '../redis/redis.module';
import { ConnectionQuotaService } from './connection-quota.service';
import { RequestRateLimiterService } from './request-rate-limiter.service';

/**
 * Per-principal request rate and connection count: on this instance alone without `REDIS_URL`,
 * across every replica sharing the Redis with it.
 */
@Module({
  imports: [RedisModule],
  providers: [RequestRateLimiterService, ConnectionQuotaService],
  exports: [RequestRateLimiterService, ConnectionQuotaService],
})
export class SharedLimitsModule {}
