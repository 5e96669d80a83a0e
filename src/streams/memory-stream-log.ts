import type { StreamSummary } from '@holysheep/protocol';
import type { LogReader, LogSnapshot, LogSubscription, NewStreamMeta, StreamListing, StreamLog, StreamProducer } from './stream-log';
import { StreamRecord } from './stream-record';

export interface MemoryStreamLogOptions {
  /** `STREAM_BUFFER_MAX_BYTES`: frames kept per stream. */
  maxStreamBytes: number;
  /** `STREAM_LOG_MAX_BYTES`: frames kept by all streams together. */
  maxTotalBytes: number;
  /** `STREAM_RETENTION_MS`: how long an ended stream stays resumable. */
  retentionMs: number;
  now: () => number;
  /** How the log names this instance as its streams' owner (`local` when nobody else reads it). */
  owner?: string;
}

/** How often ended streams past their retention are dropped. */
const SWEEP_EVERY_MS = 5_000;

/**
 * The streams of this instance, kept in memory: each stream's record of frames while it runs and
 * for `STREAM_RETENTION_MS` after (the default log: one instance, no Redis; with Redis, the part of
 * the replicated log that holds this instance's own streams). Bounded per stream (see
 * {@link StreamRecord}) and in total: past `STREAM_LOG_MAX_BYTES` the longest-ended streams go
 * first, before their retention is over.
 *
 * Ended streams are kept in the order they ended, so neither the retention sweep nor making room
 * under the total looks at more streams than it drops: a busy instance sits at its total, and
 * making room then runs after nearly every upstream read (issue 13: it used to sort every stream
 * kept, each time).
 */
export class MemoryStreamLog implements StreamLog {
  private readonly records = new Map<string, StreamRecord>();
  /** Ended records, oldest end first, from `endedHead` on (some may have been deleted since). */
  private ended: StreamRecord[] = [];
  private endedHead = 0;
  private readonly sweeper: NodeJS.Timeout;
  private total = 0;
  private sweepQueued = false;

  constructor(private readonly options: MemoryStreamLogOptions) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  /** Starts the record of a stream run here; `producer` is paused while its readers lag at the bound. */
  open(meta: NewStreamMeta, producer?: StreamProducer): StreamRecord {
    const record = new StreamRecord(
      { ...meta, owner: this.options.owner ?? 'local' },
      this.options.maxStreamBytes,
      producer,
      (delta) => this.resized(delta),
      (ended) => this.ended.push(ended),
    );
    this.records.set(meta.streamId, record);
    return record;
  }

  /** Nobody else reads this log. */
  get shared(): boolean {
    return false;
  }

  /** The record of a stream kept here, whoever's it is (the manager checks the principal). */
  get(streamId: string): StreamRecord | undefined {
    return this.records.get(streamId);
  }

  find(streamId: string, principal: string): Promise<LogSnapshot | undefined> {
    const record = this.owned(streamId, principal);
    return Promise.resolve(record && { meta: record.meta, state: record.state, lastSeq: record.lastSeq });
  }

  follow(streamId: string, afterSeq: number, reader: LogReader): Promise<LogSubscription | undefined> {
    return Promise.resolve(this.records.get(streamId)?.follow(afterSeq, reader));
  }

  /** Always whole: every stream it lists is in this instance's memory. */
  list(principal: string): Promise<StreamListing> {
    const mine: StreamSummary[] = [];
    for (const record of this.records.values()) if (record.meta.principal === principal) mine.push(record.summary());
    // Kept in the order they started, nearly always: reversed, then sorted (stable) for the odd clock step back.
    return Promise.resolve({ streams: newestFirst(mine.reverse()) });
  }

  cancel(streamId: string): void {
    this.records.get(streamId)?.producer?.cancel();
  }

  release(): Promise<void> {
    return Promise.resolve();
  }

  /** Bytes held by every stream's frames. */
  get totalBytes(): number {
    return this.total;
  }

  get streamCount(): number {
    return this.records.size;
  }

  /** Drops one stream at once (e.g. its log was lost). */
  delete(streamId: string): void {
    this.records.get(streamId)?.discard();
    this.records.delete(streamId);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private owned(streamId: string, principal: string): StreamRecord | undefined {
    const record = this.records.get(streamId);
    return record?.meta.principal === principal ? record : undefined;
  }

  private resized(delta: number): void {
    this.total += delta;
    // Over the total: make room soon, outside the append that crossed it.
    if (this.total > this.options.maxTotalBytes && !this.sweepQueued) {
      this.sweepQueued = true;
      setImmediate(() => this.sweep());
    }
  }

  /**
   * Drops ended streams past their retention; then, while over the total, the longest-ended ones;
   * then the oldest frames of running ones that no attached reader still needs — but a stream
   * waiting for its client (no reader) is ended instead (see {@link StreamProducer.outOfRoom}).
   */
  sweep(): void {
    this.sweepQueued = false;
    const now = this.options.now();
    const { retentionMs, maxTotalBytes: max } = this.options;
    // Oldest end first: those past their retention, then more while the log is over its total.
    for (let record = this.oldestEnded(); record && (now - record.endedAt! >= retentionMs || this.total > max); record = this.oldestEnded()) this.dropOldestEnded();
    if (this.total <= max) return;
    const share = Math.floor(max / Math.max(1, this.records.size));
    for (const record of this.records.values()) {
      if (record.size <= share) continue;
      // A stream waiting for its client cannot lose frames the client may lack while it runs on:
      // it ends, with its terminal frame, and goes whole with the ended ones when room is needed.
      if (record.waiting && record.producer?.outOfRoom) record.producer.outOfRoom();
      else record.trim(share);
    }
  }

  /** The kept record that ended first (records deleted meanwhile are skipped). */
  private oldestEnded(): StreamRecord | undefined {
    while (this.endedHead < this.ended.length) {
      const record = this.ended[this.endedHead]!;
      if (this.records.get(record.meta.streamId) === record) return record;
      this.ended[this.endedHead++] = undefined!;
    }
    return undefined;
  }

  private dropOldestEnded(): void {
    const record = this.ended[this.endedHead]!;
    this.ended[this.endedHead++] = undefined!;
    this.delete(record.meta.streamId);
    // Reclaim the queue's front once it is most of it.
    if (this.endedHead > 1024 && this.endedHead * 2 > this.ended.length) {
      this.ended = this.ended.slice(this.endedHead);
      this.endedHead = 0;
    }
  }
}

/** Sorts stream summaries newest first (`started_at` is ISO 8601: text order is time order). */
export function newestFirst(streams: StreamSummary[]): StreamSummary[] {
  return streams.sort((a, b) => b.started_at.localeCompare(a.started_at));
}
