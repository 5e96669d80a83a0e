import { KEY_PREFIX, type RedisService } from '../redis/redis.service';
import type { LoggedFrame, StreamFrameType } from './logged-frame';

/** The Redis Stream holding a stream's frames: one entry per batch, id `<first seq>-0`, one field per frame (`<seq>` → `<type> <rest>`). */
export const streamKey = (streamId: string) => `${KEY_PREFIX}s:${streamId}`;
/** The hash holding what is known of a stream besides its frames. */
export const metaKey = (streamId: string) => `${KEY_PREFIX}m:${streamId}`;
/** A principal's streams by start time, for `stream.list`. */
export const principalKey = (principal: string) => `${KEY_PREFIX}p:${principal}`;

/** An XRANGE / XREAD entry as ioredis returns it: `[id, [field, value, …]]`. */
export type RawEntry = [string, string[]];

type Pipeline = ReturnType<NonNullable<RedisService['client']>['pipeline']>;

/**
 * Queues on `pipeline` the two reads that give a stream's entries from the one holding seq
 * `after + 1` on (entry ids are `<first seq>-0`): that entry, found by reading back from it, then
 * every later one. Their two results, concatenated, are those entries in order: never the part of
 * the stream a reader at `after` already has.
 */
export function readEntriesAfter(pipeline: Pipeline, streamId: string, after: number): Pipeline {
  const key = streamKey(streamId);
  return pipeline.xrevrange(key, String(after + 1), '-', 'COUNT', 1).xrange(key, String(after + 2), '+');
}

/** The entries {@link readEntriesAfter}'s two reads gave (their pipeline results), in order; throws the first error. */
export function entriesReadAfter(results: Array<[Error | null, unknown]>): RawEntry[] {
  const entries: RawEntry[] = [];
  for (const [error, result] of results) {
    if (error) throw error;
    entries.push(...(result as RawEntry[]));
  }
  return entries;
}

/** A frame as an entry's field and value. */
export const encodeFrame = (frame: LoggedFrame): [string, string] => [String(frame.seq), `${frame.type} ${frame.rest}`];

/** The frames of entries, in order. */
export function parseEntries(entries: RawEntry[]): LoggedFrame[] {
  const frames: LoggedFrame[] = [];
  for (const [, fields] of entries) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const value = fields[i + 1]!;
      const space = value.indexOf(' ');
      frames.push({ seq: Number(fields[i]), type: value.slice(0, space) as StreamFrameType, rest: value.slice(space + 1) });
    }
  }
  return frames;
}

/** Whether the frames' seqs run without a hole. */
export function unbroken(frames: LoggedFrame[]): boolean {
  for (let i = 1; i < frames.length; i++) if (frames[i]!.seq !== frames[i - 1]!.seq + 1) return false;
  return true;
}

/** Redis refused an entry id: not greater than the stream's last one (another writer got there first). */
export function isIdConflict(error: unknown): boolean {
  return error instanceof Error && /equal or smaller than the target stream top item/i.test(error.message);
}
