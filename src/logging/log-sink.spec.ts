import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { stdoutLogSink } from './log-sink';

/** A FIFO whose reader is us, and which we never read unless asked: a stuck log collector. */
function stuckPipe(): { writeFd: number; readFd: number; readAvailable(): string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'log-sink-'));
  const path = join(dir, 'fifo');
  execFileSync('mkfifo', [path]);
  // Opening read-write never blocks on Linux, and keeps a reader attached.
  const readFd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const writeFd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  return {
    writeFd,
    readFd,
    readAvailable() {
      const buffer = Buffer.alloc(1 << 20);
      try {
        return buffer.subarray(0, readSync(readFd, buffer)).toString();
      } catch {
        return '';
      }
    },
    dispose() {
      try {
        closeSync(readFd);
      } catch {
        // already closed by a stream that took it over
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('stdoutLogSink', () => {
  it('writes lines to a pipe', async () => {
    const pipe = stuckPipe();
    const sink = stdoutLogSink(pipe.writeFd);
    sink.destination!.write('{"msg":"one"}\n');
    await sink.close(1_000);
    expect(pipe.readAvailable()).toBe('{"msg":"one"}\n');
    pipe.dispose();
  });

  it('holds at most its bound while nobody reads, then says how many lines it dropped', async () => {
    const pipe = stuckPipe();
    const max = 256 * 1024;
    const sink = stdoutLogSink(pipe.writeFd, max);
    const line = `{"msg":"${'x'.repeat(1_000)}"}\n`;
    for (let i = 0; i < 10_000; i++) sink.destination!.write(line);
    // 10 MB offered while nobody reads: the pipe holds ~64 KB, the sink its bound, the rest is dropped.
    const collector = new Socket({ fd: pipe.readFd, readable: true, writable: false });
    let read = '';
    const last = '{"msg":"after"}\n';
    let drained: () => void;
    const caughtUp = new Promise<void>((resolve) => (drained = resolve));
    const all = new Promise<void>((resolve) =>
      collector.on('data', (data: Buffer) => {
        read += data.toString();
        if (sink.pendingBytes === 0) drained();
        if (read.endsWith(last)) resolve();
      }),
    );
    await caughtUp;
    sink.destination!.write(last);
    await sink.close(5_000);
    await all;
    collector.destroy();
    expect(read.length).toBeLessThan(max + 2 * 64 * 1024);
    expect(read).toMatch(/^(\{"msg":"x+"}\n)+\{"level":"warn","msg":"\d+ log lines dropped: stdout did not keep up"}\n\{"msg":"after"}\n$/);
    pipe.dispose();
  });

  it('closes within its timeout when the reader is stuck, and drops later lines', async () => {
    const pipe = stuckPipe();
    const sink = stdoutLogSink(pipe.writeFd);
    for (let i = 0; i < 1_000; i++) sink.destination!.write(`{"msg":"${'y'.repeat(1_000)}"}\n`);
    const started = Date.now();
    await sink.close(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(() => sink.destination!.write('{"msg":"late"}\n')).not.toThrow();
    pipe.dispose();
  });
});
