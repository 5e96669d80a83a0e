import { Module } from '@nestjs/common';
import { InboundByteBudgetService } from './inbound-byte-budget.service';

/**
 * The limits kept in this instance's memory alone (the connection registry charges inbound bytes
 * here). The request rate and connection count, shared across replicas through Redis, are in
 * `SharedLimitsModule`: apart, because RedisModule's metrics need the connection registry, which needs this.
 */
@Module({ providers: [InboundByteBudgetService], exports: [InboundByteBudgetService] })
export class LimitsModule {}
