/**
 * One upstream read, one write per socket (issue 23). The frames one read yields (several chunks,
 * or one) are written to each socket together: a socket written to while a batch is open is corked
 * and joins the batch, and the batch uncorks every socket it holds as it ends, synchronously. Outside
 * a batch (a catch-up after backpressure, a reply) a socket uncorks on the next tick instead.
 *
 * Before, every socket corked for the tick and queued its own `process.nextTick` to uncork: one
 * tick callback (and, on Node 20 with an AsyncLocalStorage in use, its async-hook calls) per relayed
 * chunk. The upstream marks its reads; the transports know nothing of the upstream.
 */

/** A socket holding its writes until the batch ends. */
export interface HeldWrites {
  flush(): void;
}

let open = false;
let held: HeldWrites[] = [];

/** Runs `work(arg)` as one batch (inside an open batch, it joins that one). */
export function inOneWrite<T>(work: (arg: T) => void, arg: T): void {
  if (open) return work(arg);
  open = true;
  try {
    work(arg);
  } finally {
    open = false;
    flushHeld();
  }
}

/** While a batch is open, `writes` is flushed when it ends (and true is returned); otherwise false. */
export function holdUntilBatchEnds(writes: HeldWrites): boolean {
  if (!open) return false;
  held.push(writes);
  return true;
}

function flushHeld(): void {
  if (held.length === 0) return;
  const list = held;
  held = [];
  for (const writes of list) writes.flush();
}
