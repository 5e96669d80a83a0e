import { Module } from '@nestjs/common';
import { RedisModule } from '../redis/redis.module';
import { ConnectionQuotaService } from './connection-quota.service';
import { InboundByteBudgetService } from './inbound-byte-budget.service';
import { RequestRateLimiterService } from './request-rate-limiter.service';
import { ResumeRateBudget } from './resume-rate-budget';

/**
 * Per-principal limits: the inbound byte budget (this instance's memory alone: the connection
 * registry charges it), and the request rate and connection count (on this instance alone without
 * `REDIS_URL`, across every replica sharing the Redis with it).
 */
@Module({
  imports: [RedisModule],
  providers: [InboundByteBudgetService, RequestRateLimiterService, ConnectionQuotaService, ResumeRateBudget],
  exports: [InboundByteBudgetService, RequestRateLimiterService, ConnectionQuotaService, ResumeRateBudget],
})
export class LimitsModule {}
