import { raceTimeout } from './race-timeout';

describe('raceTimeout', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('resolves true when the promise resolves first, and clears its timer', async () => {
    let resolve!: () => void;
    const raced = raceTimeout(new Promise<void>((r) => (resolve = r)), 1_000);
    expect(jest.getTimerCount()).toBe(1);
    resolve();
    await expect(raced).resolves.toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('resolves true (never rejects) when the promise rejects first', async () => {
    const raced = raceTimeout(Promise.reject(new Error('boom')), 1_000);
    await expect(raced).resolves.toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('resolves false once the time is up, and leaves no timer behind', async () => {
    const raced = raceTimeout(new Promise<void>(() => undefined), 1_000);
    jest.advanceTimersByTime(999);
    let settled = false;
    void raced.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    jest.advanceTimersByTime(1);
    await expect(raced).resolves.toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('can unref its timer so the wait alone does not keep the process alive', async () => {
    const spy = jest.spyOn(global, 'setTimeout');
    const raced = raceTimeout(Promise.resolve(), 1_000, { unref: true });
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    await expect(raced).resolves.toBe(true);
    spy.mockRestore();
  });
});
