/**
 * Waits for `promise` for at most `ms` milliseconds. Resolves `true` when the promise settled
 * (fulfilled or rejected) first, `false` when the time ran out; never rejects, and clears its
 * timer either way, so nothing is left behind to keep the process alive or fire later.
 *
 * @param options.unref Do not let the wait itself keep the process alive (for shutdown paths).
 * @example
 * if (!(await raceTimeout(streams.whenIdle(), 25_000))) streams.abortAll(...);
 */
export async function raceTimeout(promise: Promise<unknown>, ms: number, options: { unref?: boolean } = {}): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    if (options.unref) timer.unref();
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What {@link withDeadline} rejects with when the time ran out. */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/**
 * `promise`'s outcome if it settles within `ms`, else a {@link DeadlineError}: for a call to
 * another system on a socket's path, which must never wait on that system's outage. The call
 * itself is not stopped: what it yields late goes to `late` (to release it, e.g. close a
 * subscription nobody will use) and a late failure is dropped. The timer is cleared either way.
 *
 * @example
 * const streams = await withDeadline(reader.list(principal), 500, 'stream list');
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string, late?: (value: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new DeadlineError(what, ms));
    }, ms);
  });
  const settled = promise.then(
    (value) => {
      if (expired) late?.(value);
      return value;
    },
    (error: unknown) => {
      if (expired) return undefined as never;
      throw error;
    },
  );
  return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
}
