import { Module } from '@nestjs/common';
import { InboundByteBudgetService } from './inbound-byte-budget.service';
import { RequestRateLimiterService } from './request-rate-limiter.service';

@Module({ providers: [RequestRateLimiterService, InboundByteBudgetService], exports: [RequestRateLimiterService, InboundByteBudgetService] })
export class LimitsModule {}
