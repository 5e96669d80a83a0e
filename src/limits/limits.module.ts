import { Module } from '@nestjs/common';
import { RequestRateLimiterService } from './request-rate-limiter.service';

@Module({ providers: [RequestRateLimiterService], exports: [RequestRateLimiterService] })
export class LimitsModule {}
