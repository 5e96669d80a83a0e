import type { RedisService } from '../../redis/redis.service';
import { viewAfter } from '../reader-view';
import { REPLAY_PAGE_BYTES } from '../replay-pacer';
import type { StreamMeta } from '../stream-log';
import type { StreamRecord } from '../stream-record';
import { META_ENTRY_ID, META_FIELD, metaFields, metaKey, ownEntry, principalKey, streamKey, type LogFormat, type Pipeline, type RawBufferEntry } from './redis-log-format';
import type { StreamOwnership } from './stream-ownership';

/** How the Redis writer batches, bounds and expires what it writes. */
export interface RedisLogWriterOptions {
  /** `STREAM_LOG_BATCH_MS`: frames are written once per window, every stream in one pipeline. */
  batchMs: number;
  retentionMs: number;
  maxStreamBytes: number;
  /** How long a running stream's keys live before their TTL is renewed (longer than any stream, renewed if not). */
  runningTtlMs: number;
  /** `STREAM_LOG_FORMAT`: where a stream's meta is kept ({@link LogFormat}). */
  format: LogFormat;
  /** How long a batch may go unanswered before Redis counts as stalled (tests shorten it; else `RedisService.bounded`'s). */
  callTimeoutMs?: number;
}

/** Principals whose index TTL time is remembered before the stale ones are swept. */
const INDEX_RENEWALS_KEPT = 10_000;

/** What one batch writes for one stream: its XADDs (usually one), each with its place in the pipeline. */
interface Plan {
  entry: Written;
  xadds: Array<{ index: number; first: number; last: number; bytes: number }>;
  /** Where its commands are in the pipeline: [start, end). */
  start: number;
  end: number;
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
  /** Whether an XADD of ours created the key: later ones must find it (NOMKSTREAM), or it was lost. */
  created: boolean;
  /** A write's outcome is unknown (its reply was lost): the next batch sends one XADD, so none lands past a gap. */
  unsure: boolean;
  /** Its log is being read back (a refused XADD, a heal): no batch plans it meanwhile. */
  busy: boolean;
  /** Its meta is kept in the hash: always in format 1; in format 2 once its first entry was trimmed away. */
  hashed: boolean;
  /** Format 2: the model its log's first entry names (a fallback may change it before the end). */
  loggedModel?: string;
}

/**
 * Writes the streams produced here to Redis, for every replica to read (`redis-log-reader.ts`):
 * one Redis Stream per stream (`hsg:s:<id>`), whose entries hold a batch of frames each, with entry
 * id `<first seq>-0` — so order holds and a second writer of the same seqs (a zombie owner after a
 * reader ended the stream) is refused; its meta (principal, request id, model, owner) in a hash
 * (`hsg:m:<id>`, format 1) or in its first entry (format 2: {@link LogFormat}); a per-principal index
 * for `stream.list` (`hsg:p:<principal>`). Every key has a TTL.
 *
 * The owner's frames reach its own sockets at once (they read the in-memory record); this writer
 * copies each stream's new frames once per `STREAM_LOG_BATCH_MS` window, all streams in one
 * pipeline: one XADD per stream per window, never a round trip per token. Besides its XADDs a
 * stream costs (issue 23), in format 2, 3 commands: ZADD to its principal's index with its first
 * batch, PEXPIRE of the key its first XADD created (which holds the meta), PEXPIRE with its end; in
 * format 1, 7: HSET + PEXPIRE of its meta hash at start and HSET + PEXPIRE of it at the end on top.
 * A stream that runs longer than half a running TTL renews its TTLs once per half; the index's TTL
 * is set once per principal per quarter running TTL, not per stream. Each frame goes as the
 * record holds it — its JSON, already UTF-8 — never decoded and encoded again. While Redis is away
 * the frames wait in the record and are written when it returns (frames the record had to drop by
 * then leave a hole, which readers see: a replay across it is refused, never partial).
 *
 * Writes are idempotent (issue 21, items 2 and 3): an XADD refused because its id is taken is
 * checked, off the hot path, against the record — if the entry there is this owner's own (a reply
 * lost with the connection), the write succeeded; only another's entry (a reader that ended the
 * stream of an owner it found dead) fences the stream. Each stream of a batch is settled by its own
 * replies. An XADD after the first carries NOMKSTREAM: a key that vanished (FLUSHALL, eviction, a
 * failover that lost it) is noticed by the write itself and the log is written again from what the
 * record holds, meta included; so is every stream's log after an outage or a lost lease ({@link heal}).
 */
export class RedisLogWriter {
  private readonly written = new Map<string, Written>();
  private readonly dirty = new Set<Written>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Read-backs under way (a refused XADD's, a heal's): their streams are busy meanwhile. */
  private readonly readingBack = new Set<Promise<void>>();
  /** When each principal's index TTL was last set (a PEXPIRE per principal per renewal period, not per stream). */
  private readonly indexRenewedAt = new Map<string, number>();

  constructor(
    private readonly redis: RedisService,
    private readonly ownership: StreamOwnership,
    private readonly options: RedisLogWriterOptions,
    private readonly onBatch: (entries: number, frames: number) => void,
    /** Another instance ended the stream's log: this owner may not write it any more. */
    private readonly onFenced: (record: StreamRecord) => void,
  ) {
    redis.onUp(() => void this.heal());
  }

  /** Copies `record` (a stream produced here) to Redis from now on; its producer is told if Redis fences it off. */
  replicate(record: StreamRecord): void {
    const entry: Written = { record, seq: 0, entries: [], keptBytes: 0, ttlRenewedAt: 0, keyTtl: false, created: false, unsure: false, busy: false, hashed: this.options.format === 1 };
    this.written.set(record.meta.streamId, entry);
    record.onAppend = () => {
      this.dirty.add(entry);
      this.schedule();
    };
    this.dirty.add(entry);
    this.schedule();
  }

  /**
   * Redis is back, or this instance's lease was found gone (a flush, an eviction, a lapse): each
   * stream's log is read back before it is written on. One lost (a restart, a failover to a replica
   * that had not caught up, FLUSHALL) is written again from what the record still holds, meta
   * included, so it heals instead of keeping a hole; one whose last entry is another's was ended
   * by a reader that found this owner dead: fenced. Two commands per stream, once per event.
   */
  heal(): Promise<void> {
    return this.whileReadingBack(this.readBackAll());
  }

  private async readBackAll(): Promise<void> {
    // After the batch under way, so what it wrote is read back too.
    await this.flushing?.catch(() => undefined);
    // Indexes may be gone with the rest (a flush): each gets its TTL again with the next meta written.
    this.indexRenewedAt.clear();
    const entries = [...this.written.values()].filter((e) => !e.busy && (e.created || e.ttlRenewedAt !== 0));
    if (entries.length > 0 && this.redis.up) {
      for (const entry of entries) entry.busy = true;
      try {
        const pipeline = this.redis.pipeline();
        for (const { record } of entries) pipeline.exists(metaKey(record.meta.streamId)).xrevrangeBuffer(streamKey(record.meta.streamId), '+', '-', 'COUNT', 1);
        const results = (await this.redis.bounded(pipeline.exec(), 'log heal', this.options.callTimeoutMs)) ?? [];
        entries.forEach((entry, i) => {
          const [[metaError, meta], [topError, top]] = [results[2 * i] ?? [null, 1], results[2 * i + 1] ?? [null, []]];
          // Format 2 keeps the meta in the log itself (unless its first entry was trimmed away): it is there if the log is.
          if (!metaError && !topError) this.readBack(entry, entry.hashed ? meta === 1 : true, (top as RawBufferEntry[])[0]);
        });
      } catch (error) {
        this.redis.failed('log_write', error);
      } finally {
        for (const entry of entries) entry.busy = false;
      }
    }
    for (const entry of this.written.values()) this.dirty.add(entry);
    this.schedule();
  }

  /** What a stream's log holds now (`top`: its last entry): written on, healed, or fenced. */
  private readBack(entry: Written, metaExists: boolean, top: RawBufferEntry | undefined): void {
    if (!top) {
      if (entry.created) this.rewind(entry);
    } else {
      const own = ownEntry(top, entry.record);
      if (!own) return this.fence(entry);
      if (this.isNews(entry, own)) this.landed(entry, own.first, own.last, own.bytes);
    }
    if (!metaExists) entry.ttlRenewedAt = 0;
  }

  /** Starts a stream's log over, from the oldest frame its record still holds. */
  private rewind(entry: Written): void {
    this.indexRenewedAt.delete(entry.record.meta.principal);
    entry.seq = entry.record.oldestSeq - 1;
    entry.entries = [];
    entry.keptBytes = 0;
    entry.ttlRenewedAt = 0;
    entry.keyTtl = false;
    entry.created = false;
    entry.unsure = false;
    // Written again from its beginning: in format 2 its meta goes in the new first entry.
    entry.hashed = this.options.format === 1;
  }

  /** Another instance ended this stream's log: nothing more of it is written. */
  private fence(entry: Written): void {
    this.written.delete(entry.record.meta.streamId);
    this.dirty.delete(entry);
    entry.record.onAppend = undefined;
    this.onFenced(entry.record);
  }

  /** Whether an entry of ours read back holds what this writer did not know had landed: frames past its own, or (format 2) the meta entry that created the log. */
  private isNews(entry: Written, own: { last: number }): boolean {
    return own.last > entry.seq || (own.last === 0 && !entry.created);
  }

  /** An entry of ours holding seqs `first`..`last` is in Redis. */
  private landed(entry: Written, first: number, last: number, bytes: number): void {
    entry.created = true;
    entry.keyTtl = true;
    entry.seq = last;
    entry.entries.push({ firstSeq: first, bytes });
    entry.keptBytes += bytes;
  }

  /**
   * An XADD of this stream was refused, its id taken: reads the log's last entry (off the hot path:
   * only after a refusal). This owner's own means the write had landed (its reply was lost);
   * another's means a reader ended the stream: fenced.
   */
  private async verify(entry: Written): Promise<void> {
    entry.busy = true;
    try {
      const top = (await this.redis.bounded(this.redis.client!.xrevrangeBuffer(streamKey(entry.record.meta.streamId), '+', '-', 'COUNT', 1), 'log verify', this.options.callTimeoutMs)) as RawBufferEntry[];
      const own = top[0] && ownEntry(top[0], entry.record);
      if (!own) return this.fence(entry);
      if (this.isNews(entry, own)) this.landed(entry, own.first, own.last, own.bytes);
      entry.unsure = false;
    } catch (error) {
      // Read again after the next refusal.
      this.redis.failed('log_write', error);
    } finally {
      entry.busy = false;
      if (this.written.has(entry.record.meta.streamId)) this.dirty.add(entry);
      this.schedule();
    }
  }

  /** Tracks a read-back until it is done (flushNow waits for it). */
  private whileReadingBack(readBack: Promise<void>): Promise<void> {
    const tracked = readBack.finally(() => this.readingBack.delete(tracked));
    this.readingBack.add(tracked);
    return tracked;
  }

  /** Writes what is pending now (drain: before the process exits). */
  async flushNow(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    // A flush already under way carries only what was dirty when it began: go on until nothing is.
    do {
      await this.flush();
      // A stream being read back is skipped by the batch: wait for it, or this loop would spin on it.
      await Promise.all(this.readingBack);
    } while (this.dirty.size > 0 && this.redis.up && this.ownership.canWrite());
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
    const batch = [...this.dirty].filter((entry) => !entry.busy);
    for (const entry of batch) this.dirty.delete(entry);
    const pipeline = this.redis.pipeline();
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
      // Bounded: a batch Redis does not answer (frozen, or a reply lost in a failover) is given up
      // and Redis counted as down, so no later batch stacks behind it and none waits on it for good;
      // its streams' logs are read back when Redis answers again (heal), each write idempotent.
      results = (await this.redis.bounded(pipeline.exec(), 'log write', this.options.callTimeoutMs)) ?? [];
    } catch (error) {
      for (const { entry } of plans) {
        entry.unsure = true;
        this.dirty.add(entry);
      }
      return this.redis.failed('log_write', error);
    }
    this.settle(plans, results);
    this.onBatch(plans.reduce((entries, p) => entries + p.xadds.length, 0), frames);
  }

  /** Queues one stream's commands; undefined when its log cannot continue (frames it needs are gone). */
  private plan(pipeline: Pipeline, entry: Written, now: number): Plan | undefined {
    const { record } = entry;
    const { streamId } = record.meta;
    const last = record.lastSeq;
    if (viewAfter(entry.seq, record.oldestSeq) === 'gone') {
      // Redis was away longer than the record could keep frames for it: the log goes on after a
      // hole, which its readers see (a replay across it is refused), rather than end with a
      // terminal the stream never had while its own sockets get another ending.
      entry.seq = record.oldestSeq - 1;
    }
    const start = pipeline.length;
    if (entry.ttlRenewedAt === 0) {
      this.writeMeta(pipeline, entry, now);
      entry.ttlRenewedAt = now;
    }
    const xadds: Plan['xadds'] = [];
    const first = entry.seq + 1;
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
      if (this.carriesMeta(entry, from === first, to > last)) {
        entry.loggedModel = record.meta.model;
        args.unshift(META_FIELD, JSON.stringify(metaFields(record.meta)));
      }
      // Format 2: a trim takes the first entry, and the meta with it: from now on it is kept in the hash too (before the XADD: never neither).
      if (trim !== undefined && !entry.hashed) {
        entry.hashed = true;
        this.writeMetaHash(pipeline, record.meta);
      }
      // Its position among the pipeline's commands, to find its result.
      xadds.push({ index: pipeline.length, first: from, last: to - 1, bytes });
      // NOMKSTREAM once the key exists: if it vanished the XADD says so (null) instead of starting a log without its beginning.
      const options = [...(entry.created ? ['NOMKSTREAM'] : []), ...(trim === undefined ? [] : ['MINID', `${trim}-0`])];
      pipeline.xadd(streamKey(streamId), ...(options as ['NOMKSTREAM']), `${from}-0`, ...args);
      from = to;
      // After an unknown outcome, one entry at a time: a later one must not land past a refused one.
      if (entry.unsure) break;
    }
    // Format 2, a stream still pending (no frame yet): its meta alone, in an entry before any frame's,
    // so other replicas find it meanwhile (as format 1's hash lets them). One XADD more, only for a
    // stream whose upstream had not answered by its first batch.
    if (xadds.length === 0 && first > last && this.options.format === 2 && !entry.created) {
      entry.loggedModel = record.meta.model;
      xadds.push({ index: pipeline.length, first: 0, last: 0, bytes: 0 });
      pipeline.xadd(streamKey(streamId), META_ENTRY_ID, META_FIELD, JSON.stringify(metaFields(record.meta)));
    }
    // The first XADD creates the key: it gets its TTL in the same pipeline.
    if (xadds.length > 0 && !entry.keyTtl && !record.ended) pipeline.pexpire(streamKey(streamId), this.options.runningTtlMs);
    if (record.ended) this.writeEnd(pipeline, entry);
    else if (now - entry.ttlRenewedAt > this.options.runningTtlMs / 2) this.renewTtl(pipeline, streamId, entry, now);
    return { entry, xadds, start, end: pipeline.length };
  }

  /**
   * The largest entry written: an eighth of a stream's bound (at least 4 KiB), and at most a quarter
   * of a replay page, so a reader's page of whole entries stays about a page and what a resume
   * reads before it answers (the last entry, the first two) stays small (`redis-replay-page.ts`).
   * Only a stream faster than ~160 KB/s at the 100 ms window writes more than one entry per window.
   */
  private get maxEntryBytes(): number {
    return Math.min(REPLAY_PAGE_BYTES / 4, Math.max(4_096, Math.floor(this.options.maxStreamBytes / 8)));
  }

  /**
   * Applies a pipeline's results, each stream by its own replies: what was written, what must be
   * sent again, what must be read back (an id taken), what was lost (the key is gone).
   */
  private settle(plans: Plan[], results: Array<[Error | null, unknown]>): void {
    let failed: Error | undefined;
    for (const plan of plans) {
      const { entry } = plan;
      let outcome: 'written' | 'retry' | 'taken' | 'lost' = 'written';
      for (const xadd of plan.xadds) {
        const [error, id] = results[xadd.index] ?? [new Error('no reply'), undefined];
        if (error) outcome = this.ownership.isIdTaken(error) ? 'taken' : 'retry';
        else if (id === null) outcome = 'lost';
        else this.landed(entry, xadd.first, xadd.last, xadd.bytes);
        if (outcome !== 'written') {
          if (outcome === 'retry') failed ??= error!;
          break;
        }
      }
      // Its meta or TTLs failed: written again with its next batch.
      const othersFailed = results.slice(plan.start, plan.end).some(([error], i) => error && !plan.xadds.some((x) => x.index === plan.start + i));
      if (othersFailed) {
        entry.ttlRenewedAt = 0;
        // The log's own PEXPIRE may be the one that failed.
        entry.keyTtl = false;
        this.indexRenewedAt.delete(entry.record.meta.principal);
      }
      if (outcome === 'lost') this.rewind(entry);
      if (outcome === 'taken') {
        void this.whileReadingBack(this.verify(entry));
        continue;
      }
      entry.unsure = outcome === 'retry';
      // Entries of this batch that its own later XADDs trimmed (a burst over the whole bound).
      const keep = entry.record.keptFrom ?? Infinity;
      while (entry.keptBytes > this.options.maxStreamBytes && entry.entries.length > 1 && entry.entries[1]!.firstSeq <= keep) entry.keptBytes -= entry.entries.shift()!.bytes;
      if (outcome === 'written' && !othersFailed && entry.record.ended && entry.seq === entry.record.lastSeq) this.written.delete(entry.record.meta.streamId);
      else if (outcome !== 'written' || othersFailed || entry.seq < entry.record.lastSeq) this.dirty.add(entry);
    }
    if (failed) this.redis.failed('log_write', failed);
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

  /**
   * Format 2: whether an XADD carries the stream's meta: the one that creates the log (the batch's
   * first while the key is not known to exist), and the terminal's when the model changed since.
   */
  private carriesMeta(entry: Written, batchFirst: boolean, holdsLast: boolean): boolean {
    if (this.options.format !== 2) return false;
    const { meta, ended } = entry.record;
    if (batchFirst && !entry.created) return true;
    return holdsLast && ended && meta.model !== entry.loggedModel;
  }

  /**
   * A stream's meta with its TTL (in the hash when it is kept there), and its place in its
   * principal's index. The index's TTL is set once per renewal period per principal, not once per
   * stream: long enough (a running TTL and a period) that every stream added since still has a
   * running TTL of it left.
   */
  private writeMeta(pipeline: Pipeline, entry: Written, now: number): void {
    const { meta } = entry.record;
    const ttl = this.options.runningTtlMs;
    if (entry.hashed) this.writeMetaHash(pipeline, meta);
    pipeline.zadd(principalKey(meta.principal), meta.startedAt, meta.streamId);
    const period = this.indexRenewalMs;
    const renewed = this.indexRenewedAt.get(meta.principal);
    if (renewed !== undefined && now - renewed < period) return;
    // Forget the principals whose period is over (a bound on the map: one entry per recent principal).
    if (this.indexRenewedAt.size >= INDEX_RENEWALS_KEPT) for (const [principal, at] of this.indexRenewedAt) if (now - at >= period) this.indexRenewedAt.delete(principal);
    this.indexRenewedAt.set(meta.principal, now);
    pipeline.pexpire(principalKey(meta.principal), ttl + period);
  }

  /** How often a principal's index TTL is set again: a quarter of a running TTL. */
  private get indexRenewalMs(): number {
    return Math.max(1, Math.floor(this.options.runningTtlMs / 4));
  }

  /** The meta hash, with a running TTL (its end shortens it). */
  private writeMetaHash(pipeline: Pipeline, meta: StreamMeta): void {
    pipeline.hset(metaKey(meta.streamId), metaFields(meta));
    pipeline.pexpire(metaKey(meta.streamId), this.options.runningTtlMs);
  }

  /** The end: its keys are kept for the retention from now. Format 1 also writes its state in the hash (format 2's is its terminal frame). */
  private writeEnd(pipeline: Pipeline, entry: Written): void {
    const { record } = entry;
    const { streamId } = record.meta;
    const retention = Math.max(1, this.options.retentionMs);
    if (this.options.format === 1) pipeline.hset(metaKey(streamId), { state: record.state, last_seq: String(record.lastSeq), model: record.meta.model });
    if (entry.hashed) pipeline.pexpire(metaKey(streamId), retention);
    pipeline.pexpire(streamKey(streamId), retention);
  }

  private renewTtl(pipeline: Pipeline, streamId: string, entry: Written, now: number): void {
    entry.ttlRenewedAt = now;
    if (entry.hashed) pipeline.pexpire(metaKey(streamId), this.options.runningTtlMs);
    pipeline.pexpire(streamKey(streamId), this.options.runningTtlMs);
  }

  /** Stops batching (the writes still pending are dropped: {@link flushNow} first to keep them). */
  close(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }
}
