/// <reference path="./cluster-key-slot.d.ts" />
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import type { RedisClient } from './redis-topology';

/** An ioredis pipeline (what `client.pipeline()` returns). */
export type Pipeline = ReturnType<RedisClient['pipeline']>;
type Result = [Error | null, unknown];
interface Queued {
  method: string;
  args: unknown[];
  slot: number;
}

/** The key of a queued command: its first argument, or for XREAD the first after STREAMS. */
function keyOf(method: string, args: unknown[]): string {
  if (method.startsWith('xread')) return String(args[args.findIndex((a) => String(a).toUpperCase() === 'STREAMS') + 1]);
  return String(args[0]);
}

/**
 * A pipeline for a Cluster over keys of many slots, which ioredis refuses in one pipeline
 * (`All keys in the pipeline should belong to the same slots allocation group`) and Redis would
 * refuse anyway (CROSSSLOT): commands are queued as on a pipeline, then sent as one pipeline per
 * node (the slots one primary serves), all at once, and their results returned in the order they
 * were queued, as one pipeline's would be. A node's pipeline that fails as a whole (a slot moved
 * between the grouping and the send) is sent again slot by slot, so one move costs a round trip,
 * not a batch. Commands of one slot keep their order (a stream's XADD before its PEXPIRE).
 */
class SlotPipeline {
  private readonly queue: Queued[] = [];

  constructor(private readonly cluster: Cluster) {}

  get length(): number {
    return this.queue.length;
  }

  add(method: string, args: unknown[]): void {
    this.queue.push({ method, args, slot: calculateSlot(keyOf(method, args)) });
  }

  async exec(): Promise<Result[]> {
    const results: Result[] = new Array(this.queue.length);
    const byNode = groupBy(this.queue.keys(), (i) => this.nodeOf(this.queue[i]!.slot));
    await Promise.all([...byNode.values()].map((indexes) => this.send(indexes, results, true)));
    return results;
  }

  /** The primary serving `slot` as ioredis knows it (its slot map), or the slot itself when unknown. */
  private nodeOf(slot: number): string {
    return this.cluster.slots[slot]?.join(',') ?? `slot:${slot}`;
  }

  private async send(indexes: number[], results: Result[], retrySlots: boolean): Promise<void> {
    const pipeline = this.cluster.pipeline() as unknown as Record<string, (...args: unknown[]) => unknown> & Pipeline;
    for (const i of indexes) pipeline[this.queue[i]!.method]!(...this.queue[i]!.args);
    try {
      const replies = (await pipeline.exec()) ?? [];
      indexes.forEach((index, n) => (results[index] = (replies[n] as Result | undefined) ?? [new Error('no reply'), undefined]));
    } catch (error) {
      if (!retrySlots) return void indexes.forEach((index) => (results[index] = [error as Error, undefined]));
      const bySlot = groupBy(indexes.values(), (i) => String(this.queue[i]!.slot));
      await Promise.all([...bySlot.values()].map((slotIndexes) => this.send(slotIndexes, results, false)));
    }
  }
}

function groupBy(indexes: Iterable<number>, keyOf: (index: number) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const index of indexes) {
    const group = groups.get(keyOf(index));
    if (group) group.push(index);
    else groups.set(keyOf(index), [index]);
  }
  return groups;
}

/**
 * A {@link SlotPipeline} behind the pipeline's own interface: every command method queues the
 * command and returns the pipeline (chainable), `length` and `exec()` as a pipeline's. Only
 * commands whose key is their first argument (or XREAD's after STREAMS) belong in it.
 */
export function slotPipeline(cluster: RedisClient): Pipeline {
  const grouped = new SlotPipeline(cluster as Cluster);
  const proxy: Pipeline = new Proxy(grouped, {
    get(target, property) {
      if (property === 'length') return target.length;
      if (property === 'exec') return () => target.exec();
      if (typeof property !== 'string' || property === 'then') return undefined;
      return (...args: unknown[]) => {
        target.add(property, args);
        return proxy;
      };
    },
  }) as unknown as Pipeline;
  return proxy;
}
