import { tag } from '../../redis/hash-tags';
import { KEY_PREFIX } from '../../redis/redis.service';
import type { Pipeline as AnyPipeline } from '../../redis/slot-pipeline';
import type { FramePrefixes, RecordFrame, StreamFrameType } from '../record-frame';
import { PRODUCER_DIED } from '../stream-errors';
import type { LogFormat } from '../../config/config.schema';
import type { StreamMeta } from '../stream-log';
import type { StreamRecord } from '../stream-record';

/**
 * The Redis Stream holding a stream's frames: one entry per batch, id `<first seq>-0`, one field per
 * frame: `<seq>` → the frame's JSON under the id the stream was requested with (the bytes the
 * producing instance holds, copied as they are). In log format 2 an entry may also start with the
 * field {@link META_FIELD}: the stream's meta (see {@link LogFormat}).
 */
export const streamKey = (streamId: string) => `${KEY_PREFIX}s:${tag(streamId)}`;
/** The hash holding what is known of a stream besides its frames (on a Cluster, in its log's slot: `hash-tags.ts`). */
export const metaKey = (streamId: string) => `${KEY_PREFIX}m:${tag(streamId)}`;
/** A principal's streams by start time, for `stream.list`. */
export const principalKey = (principal: string) => `${KEY_PREFIX}p:${tag(principal)}`;

/**
 * How a stream's meta is kept ({@link LogFormat}, `STREAM_LOG_FORMAT`; issue 23):
 * - **1**: in a hash beside the log (`hsg:m:<id>`), written with the stream's first batch and again
 *   at its end (its state), each with a PEXPIRE: 7 commands per stream besides its XADDs.
 * - **2**: in the log's first entry, as a leading {@link META_FIELD} field: no key of its own, so 3
 *   commands per stream besides its XADDs (the index's ZADD and the log's TTL at start, the log's
 *   TTL at its end); its end state is its terminal frame. Only a stream whose log outgrew its bound
 *   (its first entry trimmed away) gets the hash too, and an end whose model changed (a fallback)
 *   repeats the meta in the entry of its terminal.
 * Readers of this release read both; the release before it reads only 1, which is why 1 stays the
 * default until the next release (docs/operations.md, "Upgrading").
 */
export type { LogFormat };
/** The field of an entry holding the stream's meta (format 2): never a seq, which is all digits. */
export const META_FIELD = 'm';
/** Format 2: the id of an entry holding only the meta, of a stream with no frame yet (before `1-0`). */
export const META_ENTRY_ID = '0-1';

/** A stream's meta as the hash's fields (format 2 writes them in its log as JSON). */
export function metaFields(meta: StreamMeta): Record<string, string> {
  const fields: Record<string, string> = {
    principal: meta.principal,
    id: meta.requestId,
    model: meta.model,
    owner: meta.owner,
    started_at: String(meta.startedAt),
  };
  if (meta.traceparent) fields.traceparent = meta.traceparent;
  return fields;
}

/** The meta an entry carries (format 2), as the hash's fields; undefined when it has none. */
export function entryMeta(entry: RawEntry | undefined): Record<string, string> | undefined {
  const fields = entry?.[1];
  if (fields?.[0] !== META_FIELD || fields.length < 2) return undefined;
  try {
    const parsed: unknown = JSON.parse(fields[1]!);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}

/** Where an entry's frames start among its fields: after its meta, if it has one. */
const framesFrom = (fields: ReadonlyArray<string | Buffer>): number => (fields.length > 0 && String(fields[0]) === META_FIELD ? 2 : 0);

/** An XRANGE / XREAD entry as ioredis returns it: `[id, [field, value, …]]`. */
export type RawEntry = [string, string[]];

export type Pipeline = AnyPipeline;

/** Where the type starts in a frame's JSON: after `{"type":"`. */
const TYPE_AT = 9;

/**
 * Queues on `pipeline` the reads that give a stream's entries from the one holding seq `after + 1`
 * on (entry ids are `<first seq>-0`), at most `count` of them: that entry, found by reading back
 * from it, then up to `count - 1` later ones. Their results, concatenated ({@link entriesReadAfter}),
 * are those entries in order: never the part of the stream a reader at `after` already has.
 */
export function readEntriesAfter(pipeline: Pipeline, streamId: string, after: number, count: number): Pipeline {
  const key = streamKey(streamId);
  pipeline.xrevrange(key, String(after + 1), '-', 'COUNT', 1);
  return count > 1 ? pipeline.xrange(key, String(after + 2), '+', 'COUNT', count - 1) : pipeline;
}

/** Queues the read of at most `count` entries of a stream after the entry `cursor` (exclusive). */
export function readEntriesSince(pipeline: Pipeline, streamId: string, cursor: string, count: number): Pipeline {
  return pipeline.xrange(streamKey(streamId), `(${cursor}`, '+', 'COUNT', count);
}

/** The entries read's pipeline results, in order; throws the first error. */
export function entriesReadAfter(results: Array<[Error | null, unknown]>): RawEntry[] {
  const entries: RawEntry[] = [];
  for (const [error, result] of results) {
    if (error) throw error;
    entries.push(...(result as RawEntry[]));
  }
  return entries;
}

/** The size of an entry's values (its frames' JSON), in characters: what holding it costs, about. */
export function entryLength(entry: RawEntry): number {
  let length = 0;
  const fields = entry[1];
  for (let i = 1; i < fields.length; i += 2) length += fields[i]!.length;
  return length;
}

/**
 * The frames of entries, in order. `prefixes` are those of the id the stream was requested with:
 * what each value starts with. (A value of the format before it, `<type> <rest>`, is read too, so
 * logs written by the previous release stay readable through a rolling deploy.)
 */
export function parseEntries(entries: RawEntry[], prefixes: FramePrefixes): RecordFrame[] {
  const frames: RecordFrame[] = [];
  for (const [, fields] of entries) {
    for (let i = framesFrom(fields); i + 1 < fields.length; i += 2) {
      const value = fields[i + 1]!;
      const seq = Number(fields[i]);
      if (value.charCodeAt(0) !== 0x7b /* { */) {
        const space = value.indexOf(' ');
        frames.push({ seq, type: value.slice(0, space) as StreamFrameType, rest: value.slice(space + 1) });
        continue;
      }
      const type = typeOf(value);
      frames.push({ seq, type, rest: value.slice(prefixes.prefixOf(type).text.length) });
    }
  }
  return frames;
}

/** The seq and type of the last frame of entries (what `find` and `list` need of a stream), if any. */
export function lastFrameOf(entries: RawEntry[]): { seq: number; type: StreamFrameType } | undefined {
  const fields = entries.at(-1)?.[1];
  if (!fields || fields.length < framesFrom(fields) + 2) return undefined;
  const value = fields.at(-1)!;
  const type = value.charCodeAt(0) === 0x7b ? typeOf(value) : (value.slice(0, value.indexOf(' ')) as StreamFrameType);
  return { seq: Number(fields.at(-2)), type };
}

const typeOf = (json: string): StreamFrameType => json.slice(TYPE_AT, json.indexOf('"', TYPE_AT)) as StreamFrameType;

/** An entry as XRANGE / XREVRANGE return it in Buffers (`…Buffer` commands): the bytes as stored. */
export type RawBufferEntry = [Buffer, Buffer[]];

const ORPHAN_END = Buffer.from(PRODUCER_DIED.message);

/**
 * Whether `entry` of a stream's log was written by the producer of `record` (its owner): every
 * frame it holds is, byte for byte, the record's frame of that seq. Frames the record no longer
 * holds are taken as its own unless they are the terminal another instance writes for a dead
 * owner ({@link StreamOwnership.endOrphaned}), the only other writer of a log.
 * @returns the seqs and size it holds when it is the owner's; undefined when it is another's
 */
export function ownEntry(entry: RawBufferEntry, record: StreamRecord): { first: number; last: number; bytes: number } | undefined {
  const fields = entry[1];
  const from = framesFrom(fields);
  let bytes = 0;
  for (let i = from; i + 1 < fields.length; i += 2) {
    const seq = Number(fields[i]!.toString());
    const value = fields[i + 1]!;
    const held = record.payloadOf(seq);
    if (held ? !held.equals(value) : value.includes(ORPHAN_END)) return undefined;
    bytes += held ? record.sizeOf(seq) : value.length;
  }
  // Format 2's entry of the meta alone: the owner's (the only other writer writes a terminal), holding no frame.
  if (from === 2 && fields.length === 2) return { first: 0, last: 0, bytes: 0 };
  if (fields.length < from + 2) return undefined;
  return { first: Number(fields[from]!.toString()), last: Number(fields.at(-2)!.toString()), bytes };
}
