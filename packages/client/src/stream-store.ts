/**
 * The streams a client has in flight, kept in its {@link StorageLike} so that the next page load
 * can resume them (`client.restore()`, `client.resume()`) instead of asking the upstream again:
 * per stream its request id, its `stream_id` once started, and the last seq delivered. Nothing
 * else — no request body, no text, no credential. One entry per gateway URL; at most
 * {@link MAX_STORED_STREAMS} streams (the oldest go first); a stream leaves at its end.
 *
 * Every change is read-modify-write on the storage, not on a cached copy: two clients of one page
 * (or one closed with `keepStreams` and its successor) never overwrite each other's streams.
 */
import { gatewayKey, readJson, removeItem, writeJson, type StorageLike } from './storage';

/** One stream as kept: enough to resume it, nothing more. */
export interface StoredStream {
  /** The request id (`handle.id`). */
  id: string;
  /** Absent when the page went away before `chat.started`: found by request id with `stream.list`. */
  stream_id?: string;
  /** The last seq delivered to the application. */
  seq: number;
}

/** The storage entry's name prefix; the gateway URL (without its query) follows. */
export const STREAM_STORAGE_PREFIX = 'holysheep.streams:';
export const MAX_STORED_STREAMS = 20;

const VERSION = 1;

export class StreamStore {
  private readonly key: string;

  constructor(
    private readonly storage: StorageLike,
    url: string,
  ) {
    this.key = `${STREAM_STORAGE_PREFIX}${gatewayKey(url)}`;
  }

  /** The kept streams, oldest first. */
  list(): StoredStream[] {
    const value = readJson(this.storage, this.key) as { v?: number; streams?: unknown } | undefined;
    if (!value || value.v !== VERSION || !Array.isArray(value.streams)) return [];
    return value.streams.filter(isStoredStream);
  }

  /** Records a stream's progress (a new stream goes last; the oldest is dropped past the cap). */
  save(stream: StoredStream): void {
    const streams = this.list();
    const at = streams.findIndex((s) => s.id === stream.id);
    const entry: StoredStream = { id: stream.id, seq: stream.seq };
    if (stream.stream_id) entry.stream_id = stream.stream_id;
    if (at === -1) streams.push(entry);
    else if (sameAs(streams[at]!, entry)) return;
    else streams[at] = entry;
    this.write(streams.slice(-MAX_STORED_STREAMS));
  }

  /** Forgets a stream (it ended, was cancelled, or the gateway no longer has it). */
  forget(id: string): void {
    const streams = this.list();
    const rest = streams.filter((s) => s.id !== id);
    if (rest.length !== streams.length) this.write(rest);
  }

  private write(streams: StoredStream[]): void {
    if (streams.length === 0) removeItem(this.storage, this.key);
    else writeJson(this.storage, this.key, { v: VERSION, streams });
  }
}

function sameAs(a: StoredStream, b: StoredStream): boolean {
  return a.seq === b.seq && a.stream_id === b.stream_id;
}

function isStoredStream(value: unknown): value is StoredStream {
  const s = value as Partial<StoredStream> | null;
  return (
    s !== null &&
    typeof s === 'object' &&
    typeof s.id === 'string' &&
    Number.isSafeInteger(s.seq) &&
    s.seq! >= 0 &&
    (s.stream_id === undefined || typeof s.stream_id === 'string')
  );
}
