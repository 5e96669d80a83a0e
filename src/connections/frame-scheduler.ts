import { Injectable } from '@nestjs/common';

/** Something with inbound frames waiting; see {@link FrameScheduler}. */
export interface FrameWork {
  /** Handles one waiting frame; returns whether more are waiting and may run now. */
  runOne(): boolean;
}

/** Frames handled per event-loop turn stop once this much time is spent, so timers and I/O run between. */
const TURN_BUDGET_MS = 4;

/**
 * Runs the inbound frames that were not handled on arrival (large ones, or ones queued behind
 * them), a few milliseconds' worth per event-loop turn, one frame per socket per round. However
 * many sockets deliver costly frames in the same read phase, other sockets' reads, stream timers
 * and health probes run between them (issue #8: five large frames once stalled everything for
 * over a second).
 */
@Injectable()
export class FrameScheduler {
  private ready: FrameWork[] = [];
  private readonly queued = new Set<FrameWork>();
  private scheduled = false;
  private readonly run = () => this.runTurn();

  /** Queues `work` for a turn (once, however often it is called). */
  schedule(work: FrameWork): void {
    if (this.queued.has(work)) return;
    this.queued.add(work);
    this.ready.push(work);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Forgets `work` (its socket closed or it stopped being runnable). */
  cancel(work: FrameWork): void {
    if (this.queued.delete(work)) this.ready = this.ready.filter((w) => w !== work);
  }

  get pending(): number {
    return this.ready.length;
  }

  private runTurn(): void {
    this.scheduled = false;
    const deadline = performance.now() + TURN_BUDGET_MS;
    while (this.ready.length > 0 && performance.now() < deadline) {
      const round = this.ready;
      this.ready = [];
      for (const work of round) {
        // Work cancelled earlier in this round (its socket closed) is skipped.
        if (!this.queued.has(work)) continue;
        const more = performance.now() < deadline ? work.runOne() : true;
        if (more) this.ready.push(work);
        else this.queued.delete(work);
      }
    }
    if (this.ready.length > 0) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }
}
