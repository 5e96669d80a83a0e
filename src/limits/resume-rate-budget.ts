import { Injectable } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { KeyedTokenBuckets } from './keyed-token-buckets';

/** A principal's resume burst, in sockets' bursts: several tabs reconnecting at once all pass. */
const PRINCIPAL_BURSTS = 4;

/**
 * The resume budget (issue 21 item 5): `RESUMES_PER_MINUTE` sustained, per socket and per principal,
 * on this instance. A socket's burst (`RESUME_BURST`) is never below `MAX_STREAMS_PER_CONNECTION`,
 * because the SDK resumes every stream of a socket at once after a reconnect; a principal's is 4×
 * that. A resume costs a replay (reads, encoding, bytes on the wire), so it is budgeted apart from
 * `chat.request`: a client resuming in a loop cannot eat its own request budget, nor replay without
 * bound.
 */
@Injectable()
export class ResumeRateBudget {
  private readonly sockets: KeyedTokenBuckets;
  private readonly principals: KeyedTokenBuckets;

  constructor(@InjectConfig() config: GatewayConfig) {
    const { perMinute, burst } = config.resume;
    // Capacity `burst`, refilled at `perMinute`: the bucket's period is the time one burst takes to refill.
    this.sockets = new KeyedTokenBuckets(burst, (60_000 * burst) / perMinute);
    this.principals = new KeyedTokenBuckets(burst * PRINCIPAL_BURSTS, (60_000 * burst * PRINCIPAL_BURSTS) / perMinute);
  }

  /** Counts one resume of `socketId` (of `principal`): 0 when allowed, else the ms until one is. */
  take(socketId: string, principal: string, now = Date.now()): number {
    const socketWait = this.sockets.get(socketId, now).take(now);
    if (socketWait > 0) return socketWait;
    return this.principals.get(principal, now).take(now);
  }
}
