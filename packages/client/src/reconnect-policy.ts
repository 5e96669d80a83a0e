/**
 * What the SDK does when its socket closes, by close code, and how long it waits before the next
 * attempt. This is docs/protocol.md "Reconnecting" as code; the close codes the server sends come
 * from the protocol package (@holysheep/protocol), not a copy.
 */
import { CLOSE_CODES } from '@holysheep/protocol';

/** Codes a browser (or `ws`) reports that the server never sends (docs/protocol.md). */
export const BROWSER_CLOSE_CODES = {
  /** The page is unloading, or a server or proxy on the way went away. */
  GOING_AWAY: 1001,
  /** No close frame: network loss, a proxy cutting the connection, a refused upgrade. */
  ABNORMAL: 1006,
} as const;

/**
 * - `reconnect-now`: 1012 (draining) — reconnect after `session.draining.reconnect_after_ms`, no backoff;
 * - `backoff`: reconnect with exponential backoff and full jitter, then resume streams;
 * - `refresh-token`: 4401 — ask `getToken` for a new token first, then reconnect with backoff;
 * - `when-needed`: 1000, 4002 — reconnect only when there is work (streams in flight, a request);
 * - `stop`: 1009, 4403 — do not reconnect on our own.
 */
export type CloseAction = 'reconnect-now' | 'backoff' | 'refresh-token' | 'when-needed' | 'stop';

const ACTIONS = new Map<number, CloseAction>([
  [CLOSE_CODES.NORMAL.code, 'when-needed'],
  [CLOSE_CODES.IDLE_TIMEOUT.code, 'when-needed'],
  [CLOSE_CODES.MESSAGE_TOO_BIG.code, 'stop'],
  [CLOSE_CODES.FORBIDDEN.code, 'stop'],
  [CLOSE_CODES.UNAUTHORIZED.code, 'refresh-token'],
  [CLOSE_CODES.SERVICE_RESTART.code, 'reconnect-now'],
  [CLOSE_CODES.INTERNAL_ERROR.code, 'backoff'],
  [CLOSE_CODES.TRY_AGAIN_LATER.code, 'backoff'],
  [CLOSE_CODES.HEARTBEAT_TIMEOUT.code, 'backoff'],
  [CLOSE_CODES.SLOW_CONSUMER.code, 'backoff'],
  [CLOSE_CODES.TOO_MANY_CONNECTIONS.code, 'backoff'],
  [BROWSER_CLOSE_CODES.GOING_AWAY, 'backoff'],
  [BROWSER_CLOSE_CODES.ABNORMAL, 'backoff'],
]);

/** The action for a close code; codes the protocol does not list (1005, 1015, …) back off. */
export function closeAction(code: number): CloseAction {
  return ACTIONS.get(code) ?? 'backoff';
}

export interface BackoffOptions {
  /** Ceiling of the first delay. @defaultValue 500 */
  baseMs?: number;
  /** Largest delay. @defaultValue 30000 */
  capMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 500, capMs: 30_000 } as const;

/**
 * Full jitter: before attempt `attempt` (0, 1, 2, …) wait a uniformly random delay in
 * [0, min(cap, base × 2^attempt)). Thousands of clients that lost the same instance then come
 * back spread out instead of in lockstep.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const cap = options.capMs ?? DEFAULT_BACKOFF.capMs;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * ceiling);
}

/** When `session.draining` gave no delay (a 1012 without it): spread reconnects over a second. */
export const DRAIN_SPREAD_MS = 1_000;
