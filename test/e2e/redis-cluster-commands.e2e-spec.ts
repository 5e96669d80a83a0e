/**
 * What a fixed load costs Redis, counted by Redis itself (INFO commandstats, summed over the
 * Cluster's primaries): the same streams on one Redis and on a 3-primary Cluster, two gateways,
 * each stream produced on A, half of them also watched from B. It bounds the Cluster's cost (its
 * per-node pipelines and polling follower must not multiply the commands) and, with
 * PRINT_REDIS_COMMANDS=1, prints the per-stream and per-chunk figures docs/operations.md cites.
 * Skips visibly without redis-server / redis-cli; REQUIRE_REDIS_CLUSTER=1 makes it fail.
 */
import { chunk } from '../support/fake-upstream';
import { RealRedisCluster } from '../support/real-redis-cluster';
import { TestRedis } from '../support/redis-server';
import { finishStream, startStreaming } from '../support/stream-script';
import { useTopologyGateways } from '../support/topology-gateways';

const STREAMS = 10;
const CHUNKS = 40;
const WATCHED = 5;
const LOAD_ENV = { STREAM_LOG_BATCH_MS: '100', INSTANCE_LEASE_MS: '5000', MAX_STREAMS_PER_CONNECTION: '64' };

type Counts = Map<string, number>;
const total = (counts: Counts) => [...counts.values()].reduce((a, b) => a + b, 0);

// Both log formats (STREAM_LOG_FORMAT): format 2's meta lives in the log's first entry, in its slot.
describe.each(['1', '2'])('Redis commands for a fixed load: one Redis vs a Cluster, log format %s (e2e, real processes)', (format) => {
  jest.setTimeout(120_000);
  let cluster: RealRedisCluster | undefined;
  let single: TestRedis | undefined;
  let topology: Record<string, string> = {};
  beforeAll(async () => {
    cluster = await RealRedisCluster.start();
    single = cluster && (await TestRedis.start());
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await single?.down();
  });
  const gateways = useTopologyGateways(() => topology);

  /** Runs the load on the current topology; returns the commands Redis counted from just before it until it settled. */
  async function load(reset: () => Promise<void>, counts: () => Promise<Counts>): Promise<Counts> {
    const a = await gateways.instance({ ...LOAD_ENV, STREAM_LOG_FORMAT: format });
    const b = await gateways.instance({ ...LOAD_ENV, STREAM_LOG_FORMAT: format });
    const onA = await gateways.open(a);
    const onB = await gateways.open(b);
    await reset();
    const streams = [];
    for (let i = 0; i < STREAMS; i++) streams.push(await startStreaming(onA, gateways.upstream, `s${i}`, ['first ']));
    for (let i = 0; i < WATCHED; i++) onB.send({ type: 'stream.resume', stream_id: streams[i]!.streamId, after_seq: 0, id: `w${i}` });
    for (let n = 1; n < CHUNKS - 1; n++) {
      for (const { call } of streams) await call.event(chunk({ content: `c${n} ` }));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const { call } of streams) await finishStream(call, ['last']);
    for (let i = 0; i < STREAMS; i++) await onA.nextOfType('chat.done', `s${i}`, 10_000);
    for (let i = 0; i < WATCHED; i++) await onB.nextOfType('chat.done', `w${i}`, 10_000);
    // Everything is written once the last batch window and its round trip are over.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return counts();
  }

  it('costs no more commands per chunk on a Cluster than on one Redis, plus a bounded polling overhead', async () => {
    if (!cluster || !single) return;
    topology = { REDIS_URL: single.url };
    const one = await load(
      () => single!.command('CONFIG', 'RESETSTAT').then(() => undefined),
      async () => parseStats(String(await single!.command('INFO', 'commandstats'))),
    );
    topology = { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PASSWORD: cluster.password };
    const many = await load(
      () => cluster!.resetStats(),
      () => cluster!.commandCalls(),
    );
    const chunks = STREAMS * CHUNKS;
    if (process.env.PRINT_REDIS_COMMANDS === '1') {
      const table = (name: string, counts: Counts) =>
        `${name}: ${total(counts)} commands, ${(total(counts) / STREAMS).toFixed(1)} per stream, ${(total(counts) / chunks).toFixed(2)} per chunk — ` +
        [...counts].sort((x, y) => y[1] - x[1]).map(([command, calls]) => `${command} ${calls}`).join(', ');
      process.stderr.write(`log format ${format}, ${STREAMS} streams × ${CHUNKS} chunks (${WATCHED} watched from a second gateway)\n${table('one Redis', one)}\n${table('Cluster (3 primaries)', many)}\n`);
    }
    // The log's own writes are the same commands either way; the Cluster adds the follower's
    // polls (one XREAD per watched stream per window) and per-principal quota keys.
    expect(many.get('xadd')).toBeLessThanOrEqual((one.get('xadd') ?? 0) * 1.5 + STREAMS);
    expect(total(many)).toBeLessThan(total(one) * 2 + chunks * 0.5);
  });
});

function parseStats(text: string): Counts {
  const counts: Counts = new Map();
  for (const [, name, calls] of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(name!, Number(calls));
  return counts;
}
