import { createWriteStream, fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';

/** How long the exit path waits for buffered log lines to reach stdout. */
export const LOG_FLUSH_TIMEOUT_MS = 1_000;
/** Log bytes held while stdout does not keep up; lines beyond are dropped and counted. */
export const MAX_BUFFERED_LOG_BYTES = 16 * 1024 * 1024;

/** Where log lines go, and how the exit path lets go of it. */
export interface LogSink {
  /** What pino writes to; undefined lets pino pick (pino-pretty in development). */
  readonly destination?: DestinationStream;
  /** Flushes what is buffered, waiting at most `timeoutMs`; later lines are dropped. Never blocks the loop. */
  close(timeoutMs?: number): Promise<void>;
  /** Log bytes waiting for stdout. */
  readonly pendingBytes?: number;
}

/** Development: pino-pretty's own transport, nothing to close. */
export const PRETTY_LOG_SINK: LogSink = { close: () => Promise.resolve() };

/**
 * JSON lines to stdout that can never hang the process or grow without bound (issue #8).
 *
 * pino's own destination writes a pipe through libuv's thread pool with blocking writes: when the
 * log collector stops reading, a write blocks a pool thread forever, and `process.exit` then waits
 * for that thread (and pino's exit hook retries a broken pipe forever). Here a pipe or socket is
 * written as a non-blocking libuv stream instead, so pending lines are merely dropped at exit; a
 * regular file or terminal (which does not block indefinitely) gets an ordinary file stream. Either
 * way at most {@link MAX_BUFFERED_LOG_BYTES} wait in memory, and the exit path closes the sink
 * first, waiting a bounded time.
 */
export function stdoutLogSink(fd = 1, maxBufferedBytes = MAX_BUFFERED_LOG_BYTES): LogSink {
  let stat;
  try {
    stat = fstatSync(fd);
  } catch {
    // stdout closed before we started: there is nowhere to log to.
    return { destination: { write: () => undefined }, close: () => Promise.resolve(), pendingBytes: 0 };
  }
  const stream: Writable =
    stat.isFIFO() || stat.isSocket() ? new Socket({ fd, readable: false, writable: true }) : createWriteStream('', { fd, autoClose: false });
  let open = true;
  let dropped = 0;
  // A collector gone away (EPIPE) or any other write failure: stop writing, never crash.
  stream.on('error', () => (open = false));
  const destination: DestinationStream = {
    write(line: string) {
      if (!open) return;
      if (stream.writableLength > maxBufferedBytes) {
        dropped++;
        return;
      }
      if (dropped > 0) {
        stream.write(`{"level":"warn","msg":"${dropped} log lines dropped: stdout did not keep up"}\n`);
        dropped = 0;
      }
      stream.write(line);
    },
  };
  const close = (timeoutMs = LOG_FLUSH_TIMEOUT_MS) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stream.destroy();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      if (!open || stream.writableLength === 0) return done();
      open = false;
      stream.once('finish', done);
      stream.once('error', done);
      stream.end();
    });
  return {
    destination,
    close,
    get pendingBytes() {
      return stream.writableLength;
    },
  };
}
