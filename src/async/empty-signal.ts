/**
 * "Tell me when this collection is empty": the registry and the stream manager both need it for
 * drain. The owner calls {@link check} with its size after every removal.
 */
export class EmptySignal {
  private waiters: Array<() => void> = [];

  /** Resolves at once when `size` is 0, else at the first {@link check} that sees 0. */
  wait(size: number): Promise<void> {
    if (size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  check(size: number): void {
    if (size !== 0 || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
