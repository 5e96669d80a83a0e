/**
 * The anonymous key: how a client without a token stays one principal on a gateway running
 * `AUTH_MODE=none` (docs/protocol.md "Anonymous clients"). The gateway hashes it into the
 * principal `anon:<hash>`: whoever holds the key can list and read that client's streams, so it
 * is random (128 bits), kept per browser session (`sessionStorage`: a reload keeps it, another tab
 * or browser does not share it), and never shown.
 */

/** The `sessionStorage` entry the key is kept under. */
export const ANONYMOUS_KEY_STORAGE_ENTRY = 'holysheep.anonymousKey';

/** Where the key is kept: `sessionStorage`, or anything with the same two methods. */
export interface KeyStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const KEY_SHAPE = /^anon\.[A-Za-z0-9_-]{16,128}$/;

/**
 * The key kept in `storage` (made and stored on first use). Without a usable storage (Node, a
 * browser that refuses storage) a new key lives as long as the caller keeps it.
 */
export function anonymousKey(storage: KeyStorage | null | undefined): string {
  const kept = read(storage);
  if (kept) return kept;
  const key = `anon.${randomToken()}`;
  try {
    storage?.setItem(ANONYMOUS_KEY_STORAGE_ENTRY, key);
  } catch {
    // Storage full or refused (private mode): the key lasts as long as this client.
  }
  return key;
}

/** `sessionStorage` when the environment has one, else undefined. */
export function defaultKeyStorage(): KeyStorage | undefined {
  try {
    return (globalThis as { sessionStorage?: KeyStorage }).sessionStorage;
  } catch {
    return undefined; // some browsers throw on access when storage is disabled
  }
}

function read(storage: KeyStorage | null | undefined): string | undefined {
  try {
    const value = storage?.getItem(ANONYMOUS_KEY_STORAGE_ENTRY);
    return value && KEY_SHAPE.test(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** 22 base64url characters of 16 random bytes, from the platform's CSPRNG (browsers, Node 20). */
function randomToken(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
