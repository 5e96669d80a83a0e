import { withDeadline } from '../../async/race-timeout';
import type { RedisService } from '../../redis/redis.service';
import type { FramePrefixes, RecordFrame } from '../record-frame';
import { REPLAY_PAGE_BYTES } from '../replay-pacer';
import { entriesReadAfter, entryLength, parseEntries, readEntriesAfter, readEntriesSince, type RawEntry } from './redis-log-format';

/**
 * One page of a stream's log read from Redis for a reader (issue 21 item 5): a few whole entries,
 * about {@link REPLAY_PAGE_BYTES} of frames, never the whole remainder at once. A replay holds one
 * page at a time and reads the next only once its socket took this one.
 */
export interface ReplayPage {
  /** The frames of the entries read, in order (the first entry may hold frames the reader has). */
  frames: RecordFrame[];
  /** The id of the last entry read (undefined: none was): the next page starts after it. */
  cursor: string | undefined;
  /** Whether Redis may hold more entries after `cursor` (the page was full). */
  more: boolean;
  /** The longest entry read, in characters (sizes the next page). */
  longest: number;
}

/** Entries of a page at most: tiny entries (a slow stream's) cost few round trips, never an unbounded reply. */
const MAX_PAGE_ENTRIES = 256;
/** The first read of a replay: the entry holding the reader's next frame and the one after (see `follow`). */
export const FIRST_PAGE_ENTRIES = 2;

/**
 * How many entries make a page, from the longest entry read so far: about a page of bytes. Entries
 * are at most a page each (the writer splits larger windows), so a page of a steady stream is about
 * a page; one whose entries grow past those read before is bounded by the stream's own bound.
 */
export function pageEntries(longest: number): number {
  return Math.min(MAX_PAGE_ENTRIES, Math.max(1, Math.floor(REPLAY_PAGE_BYTES / Math.max(1, longest))));
}

/** The page built from the entries a page read gave; `full`: its XRANGE gave all it asked for (more may follow). */
export function pageOf(entries: RawEntry[], prefixes: FramePrefixes, full: boolean, longest = 0): ReplayPage {
  for (const entry of entries) longest = Math.max(longest, entryLength(entry));
  return { frames: parseEntries(entries, prefixes), cursor: entries.at(-1)?.[0], more: full, longest };
}

/** Where a page read starts: after the entry a previous page ended with, or at the entry holding seq `after + 1`. */
export type PageStart = { cursor: string } | { after: number };

/**
 * Reads the next page of a stream, in one round trip bounded by `timeoutMs` (a Redis that does not
 * answer costs the reader that, then rejects with a DeadlineError).
 */
export async function readPage(redis: RedisService, streamId: string, prefixes: FramePrefixes, start: PageStart, longest: number, timeoutMs: number): Promise<ReplayPage> {
  const count = pageEntries(longest);
  const pipeline = redis.client!.pipeline();
  if ('cursor' in start) readEntriesSince(pipeline, streamId, start.cursor, count);
  else readEntriesAfter(pipeline, streamId, start.after, count);
  const results = ((await withDeadline(pipeline.exec(), timeoutMs, 'stream log page')) ?? []) as Array<[Error | null, unknown]>;
  const entries = entriesReadAfter(results);
  // The reads that can have more after them: the XRANGE (the XREVRANGE of a read `after` gives one).
  const ranged = 'cursor' in start ? results[0] : results[1];
  const asked = 'cursor' in start ? count : count - 1;
  const full = asked === 0 || ((ranged?.[1] as RawEntry[] | undefined)?.length ?? 0) >= asked;
  return pageOf(entries, prefixes, full, longest);
}
