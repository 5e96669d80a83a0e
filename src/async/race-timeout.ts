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
