import type { FrameScheduler, FrameWork } from './frame-scheduler';

/** Frames up to this size are handled on arrival when nothing waits before them; larger ones wait their turn. */
export const INLINE_FRAME_BYTES = 16 * 1024;

/** Why a socket's inbound frames are held back: the client is not reading, its principal sends too much, or a frame is still being handled. */
export type HoldReason = 'congested' | 'budget' | 'busy';

export interface InboundFrame {
  data: Buffer;
  isBinary: boolean;
}

/** What the queue controls on its socket: reading, so that frames it holds cannot pile up. */
export interface ReadControl {
  pauseReading(): void;
  resumeReading(): void;
}

/**
 * One socket's inbound frames, handled strictly in arrival order. Small frames with nothing ahead
 * of them are handled at once; the rest wait for the {@link FrameScheduler}. While any frame waits,
 * or the queue is held (the client is not reading its answers, or its principal is over its
 * inbound byte rate), the socket is not read: TCP pushes back on the client, so what waits is
 * bounded by what had already been read.
 */
export class InboundQueue implements FrameWork {
  private readonly waiting: InboundFrame[] = [];
  private readonly holds = new Set<HoldReason>();
  private reading = true;
  private closed = false;

  constructor(
    private readonly handle: (frame: InboundFrame) => void,
    private readonly scheduler: FrameScheduler,
    private readonly socket: ReadControl,
  ) {}

  get isHeld(): boolean {
    return this.holds.size > 0;
  }

  /** Whether the socket's reading is paused by this queue. */
  get isReadingPaused(): boolean {
    return !this.reading;
  }

  push(frame: InboundFrame): void {
    if (this.closed) return;
    if (this.waiting.length === 0 && this.holds.size === 0 && frame.data.length <= INLINE_FRAME_BYTES) {
      this.handle(frame);
      return;
    }
    this.waiting.push(frame);
    this.update();
  }

  hold(reason: HoldReason): void {
    if (this.closed || this.holds.has(reason)) return;
    this.holds.add(reason);
    this.update();
  }

  release(reason: HoldReason): void {
    if (!this.holds.delete(reason)) return;
    this.update();
  }

  runOne(): boolean {
    if (this.closed || this.holds.size > 0) return false;
    const frame = this.waiting.shift();
    if (frame) this.handle(frame);
    this.update();
    return this.waiting.length > 0 && this.holds.size === 0;
  }

  /** The socket is gone: drop what waits. */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.scheduler.cancel(this);
  }

  /** Reads only when nothing waits or holds; asks for a turn when frames wait and may run. */
  private update(): void {
    if (this.closed) return;
    const idle = this.waiting.length === 0 && this.holds.size === 0;
    if (idle !== this.reading) {
      this.reading = idle;
      if (idle) this.socket.resumeReading();
      else this.socket.pauseReading();
    }
    if (this.waiting.length > 0 && this.holds.size === 0) this.scheduler.schedule(this);
  }
}
