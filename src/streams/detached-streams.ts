import type { ChatStream } from './chat-stream';

/**
 * Streams running here with no socket attached, each for its resume grace (`RESUME_GRACE_MS`): a
 * client that reconnects in time finds its answer still coming, and every frame its socket may not
 * have delivered (the record keeps them, its upstream paused at the bound: whatever closed the
 * socket, 4008 and 4401 included); when the grace ends with nobody
 * back, the stream is abandoned (its upstream request aborted: billing stops). A principal may have
 * at most `MAX_DETACHED_STREAMS_PER_PRINCIPAL` of them, so reconnecting in a loop cannot keep
 * unbounded generations billing: past it, its longest-detached stream is abandoned at once.
 */
export class DetachedStreams {
  /** Each detached stream and its grace timer (none while held). */
  private readonly timers = new Map<ChatStream, NodeJS.Timeout | undefined>();
  /** Per principal, in the order they were detached. */
  private readonly byPrincipal = new Map<string, Set<ChatStream>>();
  /** `grace` normally; `hold` in a drain with a shared log; `abandon` in a drain without. */
  private mode: 'grace' | 'hold' | 'abandon' = 'grace';

  constructor(
    private readonly graceMs: number,
    private readonly maxPerPrincipal: number,
    private readonly abandon: (stream: ChatStream) => void,
  ) {}

  get count(): number {
    return this.timers.size;
  }

  /** The last socket watching `stream` went away. */
  detached(stream: ChatStream): void {
    if (!stream.active || this.timers.has(stream)) return;
    if (this.mode === 'abandon' || this.graceMs === 0 || this.maxPerPrincipal === 0) return this.abandon(stream);
    this.timers.set(stream, this.mode === 'hold' ? undefined : setTimeout(() => this.expire(stream), this.graceMs));
    if (this.mode === 'hold') stream.stopKeeping();
    let mine = this.byPrincipal.get(stream.principal);
    if (!mine) this.byPrincipal.set(stream.principal, (mine = new Set()));
    mine.add(stream);
    // A drain detaches every socket at once: that is not a client reconnecting in a loop.
    if (this.mode !== 'hold' && mine.size > this.maxPerPrincipal) this.expire(mine.values().next().value!);
  }

  /** A socket is watching `stream` again, or it ended. */
  attached(stream: ChatStream): void {
    if (!this.timers.has(stream)) return;
    clearTimeout(this.timers.get(stream));
    this.timers.delete(stream);
    const mine = this.byPrincipal.get(stream.principal);
    mine?.delete(stream);
    if (mine?.size === 0) this.byPrincipal.delete(stream.principal);
  }

  /** A rolling deploy with a shared log: detached streams run on to their end (or the drain deadline). */
  hold(): void {
    this.mode = 'hold';
    for (const [stream, timer] of this.timers) {
      clearTimeout(timer);
      this.timers.set(stream, undefined);
      stream.stopKeeping();
    }
  }

  /** A drain without a shared log: nobody else can resume these, so they stop now, as do later ones. */
  abandonAll(): void {
    this.mode = 'abandon';
    for (const stream of [...this.timers.keys()]) this.expire(stream);
  }

  private expire(stream: ChatStream): void {
    this.attached(stream);
    this.abandon(stream);
  }
}
