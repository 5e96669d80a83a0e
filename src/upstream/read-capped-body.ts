import type { Readable } from 'node:stream';

/** How a body read by {@link readCappedBody} ended. */
export type CappedBodyEnd =
  /** The body ended within the cap: the text is all of it. */
  | 'ended'
  /** The body passed the cap: the text is its first `maxBytes` bytes, and nothing more is read. */
  | 'over_limit'
  /** The stream failed or closed before its end: the text is what arrived. */
  | 'aborted';

/**
 * Reads a small body (a request, an error response) as UTF-8 text, holding at most `maxBytes` in
 * memory. `done` is called once: at the end of the body, or as soon as it passes the cap, so the
 * caller can answer or drop the connection at once instead of reading a body that may never end.
 * After `done` nothing more is collected; what happens to the rest of the body is the caller's call.
 */
export function readCappedBody(body: Readable, maxBytes: number, done: (text: string, end: CappedBodyEnd) => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (end: CappedBodyEnd) => {
    if (finished) return;
    finished = true;
    body.off('data', onData);
    const text = Buffer.concat(parts).toString('utf8');
    parts = [];
    done(text, end);
  };
  const onData = (bytes: Buffer) => {
    if (size + bytes.length <= maxBytes) {
      parts.push(bytes);
      size += bytes.length;
      return;
    }
    parts.push(bytes.subarray(0, maxBytes - size));
    finish('over_limit');
  };
  body.on('data', onData);
  body.once('end', () => finish('ended'));
  // These stay attached after the end: a later 'error' must not become an uncaught exception.
  body.on('error', () => finish('aborted'));
  body.once('close', () => finish('aborted'));
}
