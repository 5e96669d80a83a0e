/** What one watcher may send in one event-loop turn before it yields: a replay's page. */
export const REPLAY_PAGE_BYTES = 65_536;
/** Paged replays resumed in one turn stop once this much time is spent, so other sockets' I/O runs between. */
const TURN_BUDGET_MS = 4;

/** A watcher that yielded after a page and goes on with the next when its turn comes. */
export interface Paced {
  continuePage(): void;
}

/**
 * Paces replays (issue 21 item 5): a watcher sends at most {@link REPLAY_PAGE_BYTES} per event-loop
 * turn, then pauses its subscription and waits here; each turn resumes waiting watchers, one page
 * each, in order, for at most a few milliseconds. However many sockets resume at once, other streams'
 * frames, timers and health probes run between pages (300 synchronous replays once stalled another
 * user's stream for up to 1.8 s). Counting costs no timer per frame: one `setImmediate` per turn in
 * which frames were sent marks the turn's end.
 */
export class ReplayPacer {
  private turnNumber = 0;
  private tickQueued = false;
  private waiting: Paced[] = [];
  private readonly tick = () => this.runTurn();

  /** The current event-loop turn's number: pages are counted per turn. */
  get turn(): number {
    this.queueTick();
    return this.turnNumber;
  }

  /** `paced` yielded: it goes on in a later turn. */
  later(paced: Paced): void {
    this.waiting.push(paced);
    this.queueTick();
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  private queueTick(): void {
    if (this.tickQueued) return;
    this.tickQueued = true;
    setImmediate(this.tick);
  }

  /** One page for each waiting watcher, oldest first, until the turn's budget is spent. */
  private runTurn(): void {
    this.tickQueued = false;
    this.turnNumber++;
    const deadline = performance.now() + TURN_BUDGET_MS;
    const round = this.waiting;
    // Ones that yield again during this turn queue for the next one.
    this.waiting = [];
    let i = 0;
    for (; i < round.length && performance.now() < deadline; i++) round[i]!.continuePage();
    // Those not reached this turn go first next turn.
    if (i < round.length) this.waiting = round.slice(i).concat(this.waiting);
    if (this.waiting.length > 0) this.queueTick();
  }
}
