import { Injectable } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { KeyedTokenBuckets } from './keyed-token-buckets';

/**
 * `INBOUND_BYTES_PER_SECOND` per principal, all its sockets together: the bytes of the frames it
 * sends, with bursts up to one second's worth. A frame is never refused for its bytes; once a
 * principal is in debt its sockets are not read until the debt is paid off, so whatever one
 * principal sends, the gateway spends a bounded share of its time on it.
 */
@Injectable()
export class InboundByteBudgetService {
  private readonly buckets: KeyedTokenBuckets;

  constructor(@InjectConfig() config: GatewayConfig) {
    this.buckets = new KeyedTokenBuckets(config.frames.inboundBytesPerSecond, 1_000);
  }

  /** Counts `bytes` against `principal`; returns 0, or for how long its sockets should not be read. */
  charge(principal: string, bytes: number, now = Date.now()): number {
    return this.buckets.get(principal, now).charge(bytes, now);
  }
}
