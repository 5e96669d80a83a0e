/** A frame's place in its socket's order; see {@link FrameOrder}. */
export type OrderKey = string | typeof ANY_ID | undefined;

/** The key of a frame whose `id` is not known until it is handled (a `stream.resume` without one). */
export const ANY_ID = Symbol('any id');

/** Frames of one socket waiting or being handled at once; past it the socket is not read. */
export const MAX_FRAMES_IN_FLIGHT = 8;

const noop = () => undefined;

/**
 * The order of one socket's frames while some take a round trip (a resume or a list reading
 * Redis, a request counted through Redis): frames with the same `id` key are handled one after
 * the other, in arrival order, each once the one before has finished; frames of other ids, and
 * keyless ones (a `ping`), run at once. So a frozen dependency costs only the frames that name
 * the id waiting on it (issue 21: a `ping` once waited 19 s behind another id's `stream.list`).
 * A frame whose id is not known yet ({@link ANY_ID}) waits for every keyed frame before it, and
 * every keyed frame after it waits for it.
 *
 * Work that runs at once and finishes at once costs nothing here (no promise): only frames that
 * wait, or take a round trip, are tracked.
 */
export class FrameOrder {
  /** The last frame of each key still waiting or running, since the last {@link ANY_ID} frame. */
  private readonly tails = new Map<string, Promise<void>>();
  /** The last {@link ANY_ID} frame, while it waits or runs. */
  private anyTail: Promise<void> | undefined;
  private inFlight = 0;
  private belowCap: Array<() => void> = [];
  private closed = false;

  constructor(private readonly maxInFlight = MAX_FRAMES_IN_FLIGHT) {}

  /** Frames waiting or being handled. */
  get size(): number {
    return this.inFlight;
  }

  /**
   * Runs `work` in `key`'s order: now, or once the frames it must follow have finished (never,
   * if the socket closed meanwhile). Returns a promise only when the socket has
   * {@link MAX_FRAMES_IN_FLIGHT} frames in flight: it resolves once one of them ends, and the
   * caller stops reading the socket until then.
   */
  run(key: OrderKey, work: () => void | Promise<void>): void | Promise<void> {
    if (this.closed) return;
    const before = this.before(key);
    if (before === undefined) {
      const pending = work();
      if (!pending) return;
      return this.track(key, pending);
    }
    return this.track(
      key,
      before.then(() => (this.closed ? undefined : work())),
    );
  }

  /** The socket is gone: frames still waiting are dropped, and nothing waits on the cap. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  private before(key: OrderKey): Promise<void> | undefined {
    if (key === undefined) return undefined;
    if (key !== ANY_ID) return this.tails.get(key) ?? this.anyTail;
    const all = [...this.tails.values()];
    if (this.anyTail) all.push(this.anyTail);
    return all.length === 0 ? undefined : Promise.all(all).then(noop);
  }

  private track(key: OrderKey, pending: Promise<void>): void | Promise<void> {
    // The handler reports its own failures; the order only needs to know the frame is over.
    const settled = pending.then(noop, noop);
    this.inFlight++;
    if (key === ANY_ID) {
      // Every keyed frame before it is waited for by it: later ones need only wait for it.
      this.tails.clear();
      this.anyTail = settled;
    } else if (key !== undefined) {
      this.tails.set(key, settled);
    }
    void settled.then(() => this.finished(key, settled));
    if (this.inFlight < this.maxInFlight) return;
    return new Promise<void>((resolve) => this.belowCap.push(resolve));
  }

  private finished(key: OrderKey, settled: Promise<void>): void {
    this.inFlight--;
    if (key === ANY_ID) {
      if (this.anyTail === settled) this.anyTail = undefined;
    } else if (key !== undefined && this.tails.get(key) === settled) {
      this.tails.delete(key);
    }
    if (this.inFlight < this.maxInFlight) this.wake();
  }

  private wake(): void {
    const waiting = this.belowCap;
    this.belowCap = [];
    for (const resolve of waiting) resolve();
  }
}
