import { ChunkWatchdog } from './chunk-watchdog';
import type { UpstreamError } from './upstream.errors';

describe('ChunkWatchdog', () => {
  let timeouts: UpstreamError[];
  let watchdog: ChunkWatchdog;

  beforeEach(() => {
    jest.useFakeTimers();
    timeouts = [];
    watchdog = new ChunkWatchdog({ firstChunkTimeoutMs: 1_000, stallTimeoutMs: 300 }, (error) => timeouts.push(error));
  });
  afterEach(() => {
    watchdog.stop();
    expect(jest.getTimerCount()).toBe(0);
    jest.useRealTimers();
  });

  it('fails with first_chunk_timeout when no chunk arrives in time', () => {
    watchdog.start();
    jest.advanceTimersByTime(999);
    expect(timeouts).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(timeouts).toHaveLength(1);
    expect(timeouts[0]).toMatchObject({ kind: 'first_chunk_timeout', message: 'No first chunk within 1000 ms' });
    expect(timeouts[0]!.details.afterFirstChunk).toBeFalsy();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('switches to the stall timeout at the first chunk, with one timer at a time', () => {
    watchdog.start();
    jest.advanceTimersByTime(900);
    watchdog.chunk();
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(299);
    expect(timeouts).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(timeouts).toHaveLength(1);
    expect(timeouts[0]).toMatchObject({ kind: 'stall_timeout', message: 'No chunk for 300 ms', details: { afterFirstChunk: true } });
  });

  it('pushes the stall timeout back on every chunk by refreshing the same timer (no new timer per chunk)', () => {
    watchdog.start();
    watchdog.chunk();
    const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
    for (let i = 0; i < 10; i++) {
      jest.advanceTimersByTime(250);
      watchdog.chunk();
    }
    expect(setTimeoutSpy).not.toHaveBeenCalled();
    expect(timeouts).toEqual([]);
    jest.advanceTimersByTime(300);
    expect(timeouts.map((e) => e.kind)).toEqual(['stall_timeout']);
    setTimeoutSpy.mockRestore();
  });

  it('runs no timer while paused, even for a long time and with chunks already read', () => {
    watchdog.start();
    watchdog.chunk();
    watchdog.pause();
    expect(jest.getTimerCount()).toBe(0);
    watchdog.chunk();
    jest.advanceTimersByTime(60_000);
    expect(timeouts).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a first chunk read while paused does not start the stall timer', () => {
    watchdog.start();
    watchdog.pause();
    watchdog.chunk();
    expect(jest.getTimerCount()).toBe(0);
    watchdog.resume();
    jest.advanceTimersByTime(300);
    expect(timeouts.map((e) => e.kind)).toEqual(['stall_timeout']);
  });

  it('re-arms the full timeout of the current phase on resume', () => {
    watchdog.start();
    jest.advanceTimersByTime(800);
    watchdog.pause();
    jest.advanceTimersByTime(5_000);
    watchdog.resume();
    jest.advanceTimersByTime(999);
    expect(timeouts).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(timeouts.map((e) => e.kind)).toEqual(['first_chunk_timeout']);
  });

  it('stays silent after stop, whatever follows', () => {
    watchdog.start();
    watchdog.chunk();
    watchdog.stop();
    watchdog.chunk();
    watchdog.pause();
    watchdog.resume();
    jest.advanceTimersByTime(60_000);
    expect(timeouts).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not come back to life on a chunk after it fired', () => {
    watchdog.start();
    watchdog.chunk();
    jest.advanceTimersByTime(300);
    watchdog.chunk();
    jest.advanceTimersByTime(300);
    expect(timeouts).toHaveLength(1);
  });
});
