/**
 * The persistence seam (issue 24): where the SDK keeps what must outlive a page load — its
 * anonymous key, the streams in flight with their last seq (stream-store.ts), a conversation's
 * messages (conversation.ts). The Web Storage subset, synchronous so that a reload can never land
 * between a chunk and the record of its seq: `sessionStorage` in browsers (a reload keeps it,
 * another tab does not share it), a memory store elsewhere. Never an API key or a JWT.
 */

/** Where the SDK keeps state across page loads: `sessionStorage`, `localStorage`, or anything with these three methods. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A storage that lives as long as the object: the default where there is no `sessionStorage` (Node). */
export class MemoryStorage implements StorageLike {
  private readonly items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }

  removeItem(key: string): void {
    this.items.delete(key);
  }
}

const PROBE = 'holysheep.probe';

/**
 * `globalThis.sessionStorage` when it is there and works; undefined otherwise. Some sandboxed
 * iframes and privacy modes throw on the mere access, others on the first write (Safari's old
 * private mode had a zero quota): both count as no storage.
 */
export function browserSessionStorage(): StorageLike | undefined {
  try {
    const storage = (globalThis as { sessionStorage?: StorageLike }).sessionStorage;
    if (!storage) return undefined;
    storage.setItem(PROBE, '1');
    storage.removeItem(PROBE);
    return storage;
  } catch {
    return undefined;
  }
}

/** Reads and parses a JSON item; undefined when absent, unreadable or not JSON (a corrupt entry is not fatal). */
export function readJson(storage: StorageLike, key: string): unknown {
  try {
    const text = storage.getItem(key);
    return text === null ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Writes a JSON item; false when the storage refused (quota, privacy mode): the state then lasts as long as the page. */
export function writeJson(storage: StorageLike, key: string, value: unknown): boolean {
  try {
    storage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

/** Removes an item, ignoring a storage that refuses. */
export function removeItem(storage: StorageLike, key: string): void {
  try {
    storage.removeItem(key);
  } catch {
    // nothing to do: the entry stays, and is judged stale by whoever reads it next
  }
}

/**
 * The part of a socket URL that names the gateway in a storage key: origin and path, never the
 * query (a caller may have put a token there).
 */
export function gatewayKey(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}
