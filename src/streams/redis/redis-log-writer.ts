import type { RedisService } from '../../redis/redis.service';
import { viewAfter } from '../reader-view';
import type { StreamMeta } from '../stream-log';
import type { StreamRecord } from '../stream-record';
import { metaKey, principalKey, streamKey, type Pipeline } from './redis-log-format';
import type { StreamOwnership } from './stream-ownership';

/** How the Redis writer batches, bounds and expires what it writes. */
export interface RedisLogWriterOptions {
  /** `STREAM_LOG_BATCH_MS`: frames are written once per window, every stream in one pipeline. */
  batchMs: number;
  retentionMs: number;
  maxStreamBytes: number;
  /** How long a running stream's keys live before their TTL is renewed (longer than any stream, renewed if not). */
  runningTtlMs: number;
}

/** What one batch writes for one stream: its XADDs (usually one), each with its place in the pipeline. */
interface Plan {
  entry: Written;
  xadds: Array<{ index: number; first: number; last: number; bytes: number }>;
}

/** One stream produced here, as written to Redis so far. */
interface Written {
  record: StreamRecord;
  /** The seq of the last frame written. */
  seq: number;
  /** The first seq and bytes of each entry still kept, for the per-stream bound (MINID trimming). */
  entries: Array<{ firstSeq: number; bytes: number }>;
  keptBytes: number;
  /** When the keys' running TTL was last set (0: the meta is not written yet). */
  ttlRenewedAt: number;
  /** Whether the stream key (created by the first XADD) has its TTL. */
  keyTtl: boolean;
}

/**
 * Writes the streams produced here to Redis, for every replica to read (`redis-log-reader.ts`):
 * one Redis Stream per stream (`hsg:s:<id>`), whose entries hold a batch of frames each, with entry
 * id `<first seq>-0` — so order holds and a second writer of the same seqs (a zombie owner after a
 * reader ended the stream) is refused; a meta hash (`hsg:m:<id>`: principal, request id, model,
 * owner, state); a per-principal index for `stream.list` (`hsg:p:<principal>`). Every key has a TTL.
 *
 * The owner's frames reach its own sockets at once (they read the in-memory record); this writer
 * copies each stream's new frames once per `STREAM_LOG_BATCH_MS` window, all streams in one
 * pipeline: one XADD per stream per window, never a round trip per token. Each frame goes as the
 * record holds it — its JSON, already UTF-8 — never decoded and encoded again. While Redis is away
 * the frames wait in the record and are written when it returns (a frame the record had to drop by
 * then ends the stream's Redis log with a terminal: a gap is never left for readers).
 */
export class RedisLogWriter {
  private readonly written = new Map<string, Written>();
  private readonly dirty = new Set<Written>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisService,
    private readonly ownership: StreamOwnership,
    private readonly options: RedisLogWriterOptions,
    private readonly onBatch: (entries: number, frames: number) => void,
  ) {
    redis.onUp(() => void this.afterOutage());
  }

  /** Copies `record` (a stream produced here) to Redis from now on; its producer is told if Redis fences it off. */
  replicate(record: StreamRecord): void {
    const entry: Written = { record, seq: 0, entries: [], keptBytes: 0, ttlRenewedAt: 0, keyTtl: false };
    this.written.set(record.meta.streamId, entry);
    record.onAppend = () => {
      this.dirty.add(entry);
      this.schedule();
    };
    this.dirty.add(entry);
    this.schedule();
  }

  /**
   * Redis is back. If it lost what was written (a restart, a failover to a replica that had not
   * caught up), each stream produced here is written again from what its record still holds, so
   * its log heals instead of keeping a hole.
   */
  private async afterOutage(): Promise<void> {
    const entries = [...this.written.values()];
    if (entries.length > 0) {
      try {
        const pipeline = this.redis.client!.pipeline();
        for (const entry of entries) pipeline.exists(metaKey(entry.record.meta.streamId));
        const results = (await pipeline.exec()) ?? [];
        entries.forEach((entry, i) => {
          const [error, exists] = results[i] ?? [];
          if (!error && exists === 0 && entry.ttlRenewedAt !== 0) this.rewind(entry);
        });
      } catch (error) {
        this.redis.failed('log_write', error);
      }
    }
    for (const entry of entries) this.dirty.add(entry);
    this.schedule();
  }

  /** Starts a stream's log over, from the oldest frame its record still holds. */
  private rewind(entry: Written): void {
    entry.seq = entry.record.oldestSeq - 1;
    entry.entries = [];
    entry.keptBytes = 0;
    entry.ttlRenewedAt = 0;
    entry.keyTtl = false;
  }

  /** Writes what is pending now (drain: before the process exits). */
  async flushNow(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    // A flush already under way carries only what was dirty when it began: go on until nothing is.
    do await this.flush();
    while (this.dirty.size > 0 && this.redis.up && this.ownership.canWrite());
  }

  /** Streams produced here not yet fully written. */
  get pending(): number {
    return this.written.size;
  }

  private schedule(): void {
    if (this.flushTimer || this.dirty.size === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush().finally(() => this.schedule());
    }, this.options.batchMs);
  }

  private flush(): Promise<void> {
    this.flushing ??= this.writeBatch().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** One pipeline: per dirty stream its meta (first time), one XADD of its new frames, TTLs. */
  private async writeBatch(): Promise<void> {
    if (!this.redis.up || !this.ownership.canWrite() || this.dirty.size === 0) return;
    const batch = [...this.dirty];
    this.dirty.clear();
    const pipeline = this.redis.client!.pipeline();
    const plans: Plan[] = [];
    let frames = 0;
    const now = Date.now();
    for (const entry of batch) {
      const plan = this.plan(pipeline, entry, now);
      if (!plan) continue;
      for (const xadd of plan.xadds) frames += xadd.last - xadd.first + 1;
      plans.push(plan);
    }
    let results: Array<[Error | null, unknown]>;
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (error) {
      for (const { entry } of plans) this.dirty.add(entry);
      return this.redis.failed('log_write', error);
    }
    this.settle(plans, results);
    this.onBatch(plans.reduce((entries, p) => entries + p.xadds.length, 0), frames);
  }

  /** Queues one stream's commands; undefined when its log cannot continue (frames it needs are gone). */
  private plan(pipeline: Pipeline, entry: Written, now: number): Plan | undefined {
    const { record } = entry;
    const { streamId } = record.meta;
    const first = entry.seq + 1;
    const last = record.lastSeq;
    if (viewAfter(entry.seq, record.oldestSeq) === 'gone') {
      // Redis was away longer than the record could keep frames for it: the shared log ends here,
      // with a terminal after what it has, rather than with a hole. Local sockets read on.
      this.written.delete(streamId);
      this.ownership.endOrphaned(streamId, record.meta.requestId, entry.seq).catch((error) => this.redis.failed('log_write', error));
      return undefined;
    }
    if (entry.ttlRenewedAt === 0) {
      this.writeMeta(pipeline, record.meta);
      entry.ttlRenewedAt = now;
    }
    const xadds: Plan['xadds'] = [];
    // Usually one entry per stream per window; a window's frames that would make an entry larger
    // than a slice of the stream's bound are split, so the bound can drop old entries whole.
    for (let from = first; from <= last; ) {
      const args: Array<string | Buffer> = [];
      let bytes = 0;
      let to = from;
      for (; to <= last && (to === from || bytes < this.maxEntryBytes); to++) {
        args.push(String(to), record.payloadOf(to)!);
        bytes += record.sizeOf(to);
      }
      const trim = this.trimFor(entry, xadds, from, bytes);
      // Its position among the pipeline's commands, to find its result.
      xadds.push({ index: pipeline.length, first: from, last: to - 1, bytes });
      if (trim === undefined) pipeline.xadd(streamKey(streamId), `${from}-0`, ...args);
      else pipeline.xadd(streamKey(streamId), 'MINID', `${trim}-0`, `${from}-0`, ...args);
      from = to;
    }
    // The first XADD creates the key: it gets its TTL in the same pipeline.
    if (xadds.length > 0 && !entry.keyTtl && !record.ended) pipeline.pexpire(streamKey(streamId), this.options.runningTtlMs);
    if (record.ended) this.writeEnd(pipeline, record);
    else if (now - entry.ttlRenewedAt > this.options.runningTtlMs / 2) this.renewTtl(pipeline, streamId, entry, now);
    return { entry, xadds };
  }

  /** The largest entry written: an eighth of a stream's bound (at least 4 KiB). */
  private get maxEntryBytes(): number {
    return Math.max(4_096, Math.floor(this.options.maxStreamBytes / 8));
  }

  /** Applies a pipeline's results: what was written, what Redis refused. */
  private settle(plans: Plan[], results: Array<[Error | null, unknown]>): void {
    const failed = results.find(([error]) => error && !this.ownership.isFenced(error));
    for (const plan of plans) {
      const { entry } = plan;
      const error = plan.xadds.map((x) => results[x.index]?.[0] ?? null).find((e) => e !== null) ?? null;
      if (error && this.ownership.isFenced(error)) {
        this.written.delete(entry.record.meta.streamId);
        entry.record.producer?.fenced();
        continue;
      }
      if (error || failed) {
        this.dirty.add(entry);
        continue;
      }
      for (const xadd of plan.xadds) {
        entry.keyTtl = true;
        entry.seq = xadd.last;
        entry.entries.push({ firstSeq: xadd.first, bytes: xadd.bytes });
        entry.keptBytes += xadd.bytes;
      }
      // Entries of this batch that its own later XADDs trimmed (a burst over the whole bound).
      const keep = entry.record.keptFrom ?? Infinity;
      while (entry.keptBytes > this.options.maxStreamBytes && entry.entries.length > 1 && entry.entries[1]!.firstSeq <= keep) entry.keptBytes -= entry.entries.shift()!.bytes;
      if (entry.record.ended && entry.seq === entry.record.lastSeq) this.written.delete(entry.record.meta.streamId);
      else if (entry.seq < entry.record.lastSeq) this.dirty.add(entry);
    }
    if (failed) this.redis.failed('log_write', failed[0]);
  }

  /**
   * The seq below which entries go (XADD … MINID) so the stream's log stays within its bound once
   * `adding` more bytes are written, if any must. Counts entries written before and those queued
   * in this batch (`pending`), oldest first.
   */
  private trimFor(entry: Written, pending: Plan['xadds'], from: number, adding: number): number | undefined {
    const all = [...entry.entries, ...pending.map((x) => ({ firstSeq: x.first, bytes: x.bytes }))];
    let kept = all.reduce((sum, e) => sum + e.bytes, 0) + adding;
    let drop = 0;
    // Never past the frames a stream waiting for its client keeps (an entry goes whole, so only one that ends below them).
    const keep = entry.record.keptFrom ?? Infinity;
    while (kept > this.options.maxStreamBytes && drop < all.length && (all[drop + 1]?.firstSeq ?? from) <= keep) kept -= all[drop++]!.bytes;
    if (drop === 0) return undefined;
    // Forget the dropped ones that were already written; the pending ones are kept by settle().
    const written = Math.min(drop, entry.entries.length);
    for (const e of entry.entries.splice(0, written)) entry.keptBytes -= e.bytes;
    return drop < all.length ? all[drop]!.firstSeq : from;
  }

  private writeMeta(pipeline: Pipeline, meta: StreamMeta): void {
    const ttl = this.options.runningTtlMs;
    const fields: Record<string, string> = {
      principal: meta.principal,
      id: meta.requestId,
      model: meta.model,
      owner: meta.owner,
      started_at: String(meta.startedAt),
    };
    if (meta.traceparent) fields.traceparent = meta.traceparent;
    pipeline.hset(metaKey(meta.streamId), fields);
    pipeline.pexpire(metaKey(meta.streamId), ttl);
    pipeline.zadd(principalKey(meta.principal), meta.startedAt, meta.streamId);
    pipeline.pexpire(principalKey(meta.principal), ttl);
  }

  private writeEnd(pipeline: Pipeline, record: StreamRecord): void {
    const { streamId } = record.meta;
    const retention = Math.max(1, this.options.retentionMs);
    pipeline.hset(metaKey(streamId), { state: record.state, last_seq: String(record.lastSeq), model: record.meta.model });
    pipeline.pexpire(metaKey(streamId), retention);
    pipeline.pexpire(streamKey(streamId), retention);
  }

  private renewTtl(pipeline: Pipeline, streamId: string, entry: Written, now: number): void {
    entry.ttlRenewedAt = now;
    pipeline.pexpire(metaKey(streamId), this.options.runningTtlMs);
    pipeline.pexpire(streamKey(streamId), this.options.runningTtlMs);
  }

  /** Stops batching (the writes still pending are dropped: {@link flushNow} first to keep them). */
  close(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }
}
