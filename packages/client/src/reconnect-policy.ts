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
 * - `reconnect-now`: 1012 (draining) — reconnect after `session.draining.reconnect_after_ms` (at
 *   least {@link MIN_SERVER_DELAY_MS}), no backoff; a consecutive drain backs off as well;
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
  /**
   * How long a connection must stay up after `session.ready` before the attempt counter starts
   * over. A server that greets and then closes is not a working connection: resetting at the
   * greeting would reconnect it every few hundred ms forever.
   * @defaultValue 10000
   */
  resetAfterMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 500, capMs: 30_000, resetAfterMs: 10_000 } as const;

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

/**
 * The least a server-given delay means (`reconnect_after_ms`, 0–999 ms). Short enough that a
 * drain during a deploy goes unnoticed, long enough that `0` (or a draining instance the load
 * balancer still routes to) never becomes a tight loop.
 */
export const MIN_SERVER_DELAY_MS = 100;

/** One socket's end, as {@link ReconnectBackoff.next} weighs it. */
export interface SocketEnd {
  /** The socket reached `session.ready`. */
  greeted: boolean;
  action: CloseAction;
  /** `session.draining.reconnect_after_ms`, if the socket got one. */
  serverDelayMs?: number;
}

/**
 * The attempt counter of one connection across its sockets, and the wait before each next one.
 * The counter starts over ({@link reset}) only once a connection has stayed up
 * {@link BackoffOptions.resetAfterMs}, or when nothing needs a socket; every close in between
 * counts, so a server that greets and closes again and again sees the waits double.
 */
export class ReconnectBackoff {
  /** The exponent of the last wait: 0 after a reset, one more for every close that counts. */
  attempt = 0;
  /** A greeted socket closed since the reset: the next greeted one that closes counts. */
  private greetedOnce = false;
  /** A 1012 came since the reset: the next one backs off. */
  private drainedOnce = false;

  constructor(
    private readonly options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {}

  reset(): void {
    this.attempt = 0;
    this.greetedOnce = false;
    this.drainedOnce = false;
  }

  /** The wait before the next socket (ms); updates {@link attempt}. */
  next(end: SocketEnd): number {
    // The first greeted socket to close since the reset does not count: one drop of a working
    // connection waits the shortest backoff, as it always did.
    const counts = !end.greeted || this.greetedOnce;
    if (end.greeted) this.greetedOnce = true;
    if (counts) this.attempt += 1;
    const backoff = () => backoffDelay(this.attempt, this.random, this.options);
    if (end.action !== 'reconnect-now') return backoff();
    const serverDelay = Math.max(MIN_SERVER_DELAY_MS, end.serverDelayMs ?? Math.floor(this.random() * DRAIN_SPREAD_MS));
    const consecutive = this.drainedOnce;
    this.drainedOnce = true;
    // A drain moves the client to another instance: worth no backoff, unless that one drains too
    // before the connection stayed up; the server's delay still holds as a minimum.
    return consecutive ? Math.max(serverDelay, backoff()) : serverDelay;
  }
}
