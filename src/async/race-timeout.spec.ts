import { DeadlineError, raceTimeout, withDeadline } from './race-timeout';

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

describe('withDeadline', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('yields the value in time, and clears its timer', async () => {
    await expect(withDeadline(Promise.resolve(7), 500, 'read')).resolves.toBe(7);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('passes a failure in time through', async () => {
    await expect(withDeadline(Promise.reject(new Error('boom')), 500, 'read')).rejects.toThrow('boom');
  });

  it('rejects with a DeadlineError when the time runs out; a late value goes to `late`, a late failure nowhere', async () => {
    let resolve!: (value: string) => void;
    const late = jest.fn();
    const bounded = withDeadline(new Promise<string>((r) => (resolve = r)), 500, 'read', late);
    jest.advanceTimersByTime(500);
    await expect(bounded).rejects.toBeInstanceOf(DeadlineError);
    resolve('subscription');
    await Promise.resolve();
    await Promise.resolve();
    expect(late).toHaveBeenCalledWith('subscription');

    let reject!: (error: Error) => void;
    const failing = withDeadline(new Promise<string>((_r, j) => (reject = j)), 500, 'read');
    jest.advanceTimersByTime(500);
    await expect(failing).rejects.toThrow('read: no answer within 500 ms');
    reject(new Error('late'));
    await Promise.resolve();
  });
});
