/**
 * What the Redis log costs Redis per chunk (issue 23): commands as Redis counts them (INFO
 * commandstats, a script's inner calls included) for streams of 100 chunks at 20 and 50 chunks/s
 * with the documented 100 ms batch window. One entry per stream per window is 0.5 and 0.2 commands
 * per chunk; the targets are ≤ 0.55 and ≤ 0.25. Both log formats run (`STREAM_LOG_FORMAT`):
 * format 1 (the default of this release) costs 7 commands per stream besides its XADDs, so 20 XADDs
 * leave it 5 short of the second target; format 2 costs 3. The request-rate limit's script costs 4
 * (EVALSHA + SET, INCRBY, PTTL inside it) per lease, not per request: the 10 requests of a run take
 * leases of 1, 2, 3, 3 and 3 points (the default limit 120 caps a lease at 3), 2 commands per stream
 * (docs/operations.md, "Redis commands"). The upstream's pace is the test's timers, so
 * a loaded machine stretches a stream over more windows: XADDs are bounded by the windows the
 * stream actually spanned, and the log's other commands per stream (meta, index, TTLs), which do
 * not depend on timing, are bounded exactly. Skips visibly without redis-server, fails instead
 * under REQUIRE_REDIS=1.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { chunk } from '../support/fake-upstream';
import { finishStream } from '../support/stream-script';
import { ALICE, useGatewayReplicas } from '../support/gateway-replicas';
import type { TestRedis } from '../support/redis-server';
import { TestClient } from '../support/ws-client';

const STREAMS = 10;
/**
 * The log's commands per stream besides its XADDs, per log format. 1: HSET + PEXPIRE of the meta and
 * ZADD to the principal's index with its first batch, PEXPIRE of the stream key its first XADD
 * created, HSET + 2 PEXPIREs with its end. 2: the ZADD and the stream key's two PEXPIREs (the meta
 * is in its first entry). The index's PEXPIRE once per principal per renewal period (was per stream).
 */
const LOG_COMMANDS_PER_STREAM = { 1: 7, 2: 3 } as const;
/** The stream key's TTL once its end is written: the retention (STREAM_RETENTION_MS's default), not a running TTL. */
const RETENTION_MS = 300_000;
/**
 * Leases the request-rate limit takes for a run's STREAMS requests, one INCRBY each: 1, 2, 3, 3, 3
 * points (doubling while used up within 2 s, capped at 120 / 32). Was one per request.
 */
const RATE_LEASES = 5;
/** The log's commands (besides XADD): the rest are the request-rate limit's script and the instance's lease. */
const LOG_COMMANDS = ['hset', 'pexpire', 'zadd'];
const CHUNKS = 100;
const WINDOW_MS = 100;

/** Calls per command since the last CONFIG RESETSTAT (INFO commandstats, this probe's INFO left out). */
async function commandStats(redis: TestRedis): Promise<Record<string, number>> {
  const text = String(await redis.command('INFO', 'commandstats'));
  const calls: Record<string, number> = {};
  // Not the gateway's: this probe's INFO, CONFIG and PTTLs, and the HELLO of each probe's connection.
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (!['info', 'config|resetstat', 'hello', 'pttl', 'scard'].includes(m[1]!)) calls[m[1]!] = Number(m[2]);
  return calls;
}

describe.each([1, 2] as const)('Redis commands per chunk, log format %i (e2e, real process)', (format) => {
  jest.setTimeout(60_000);
  const cluster = useGatewayReplicas({
    STREAM_LOG_FORMAT: String(format),
    STREAM_LOG_BATCH_MS: String(WINDOW_MS),
    MAX_STREAMS_PER_CONNECTION: String(STREAMS),
    // Renewals per instance (the lease, the connection-quota hash) every third of it: none within a run.
    INSTANCE_LEASE_MS: '60000',
  });

  /** Runs STREAMS streams of CHUNKS chunks, one every `intervalMs`, to their end; Redis's command counts for them. */
  async function run(intervalMs: number) {
    const gateway = await cluster.instance();
    const { client } = await TestClient.ready(gateway.url, { headers: { authorization: `Bearer ${ALICE}` } });
    cluster.track(client);
    // The socket's admission writes the principal's connection count (its script): counted before, not in, the run.
    while (((await cluster.redis!.command('KEYS', 'hsg:conns:*')) as string[]).length === 0) await delay(10);
    await cluster.redis!.command('CONFIG', 'RESETSTAT');
    const ids = Array.from({ length: STREAMS }, (_, i) => `s${i}`);
    const calls = [];
    for (const id of ids) {
      client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: 'hi' }] });
      const call = await cluster.upstream.nextCall();
      call.startSse();
      calls.push(call);
    }
    const started = performance.now();
    await Promise.all(
      calls.map(async (call) => {
        for (let i = 0; i < CHUNKS - 3; i++) {
          await call.event(chunk({ content: 'token ' }));
          await delay(intervalMs);
        }
        await finishStream(call, []);
      }),
    );
    // The windows a stream spanned, from its first chunk to its end (its last batch may fall in one more).
    const windows = Math.ceil((performance.now() - started) / WINDOW_MS) + 1;
    for (const id of ids) await client.nextOfType('chat.done', id, 10_000);
    // The last batch is written up to a window after the end: wait until every stream's log has its end.
    const streamIds = ids.map((id) => client.frames.find((f) => f.id === id && f.type === 'chat.started')!.stream_id as string);
    // Its end's PEXPIRE is its last command (format 1's HSET goes before it in the same pipeline).
    for (const streamId of streamIds) {
      while (!((await cluster.redis!.command('PTTL', `hsg:s:${streamId}`)) as number <= RETENTION_MS)) await delay(WINDOW_MS);
    }
    const stats = await commandStats(cluster.redis!);
    const total = Object.values(stats).reduce((a, b) => a + b, 0);
    const xadds = stats.xadd ?? 0;
    const frames = STREAMS * CHUNKS;
    const log = LOG_COMMANDS.reduce((sum, name) => sum + (stats[name] ?? 0), 0);
    // eslint-disable-next-line no-console
    console.log(`${1000 / intervalMs} chunks/s: ${(total / frames).toFixed(3)} commands per chunk; per stream ${(xadds / STREAMS).toFixed(1)} XADDs (${windows} windows), ${(log / STREAMS).toFixed(1)} other log commands, ${((total - xadds - log) / STREAMS).toFixed(1)} others: ${JSON.stringify(stats)}`);
    return { total, xadds, log, frames, windows, leases: stats.incrby ?? 0 };
  }

  it(`20 chunks/s per stream: one XADD per window at most, and ${LOG_COMMANDS_PER_STREAM[format]} other log commands per stream`, async () => {
    if (!cluster.redis) return;
    const { xadds, log, windows, leases } = await run(50);
    expect(xadds / STREAMS).toBeLessThanOrEqual(windows);
    expect(log).toBeLessThanOrEqual(LOG_COMMANDS_PER_STREAM[format] * STREAMS + 1); // + the index's one PEXPIRE
    expect(leases).toBeLessThanOrEqual(RATE_LEASES);
  });

  it(`50 chunks/s per stream: one XADD per window at most, and ${LOG_COMMANDS_PER_STREAM[format]} other log commands per stream`, async () => {
    if (!cluster.redis) return;
    const { xadds, log, windows, leases } = await run(20);
    expect(xadds / STREAMS).toBeLessThanOrEqual(windows);
    expect(log).toBeLessThanOrEqual(LOG_COMMANDS_PER_STREAM[format] * STREAMS + 1); // + the index's one PEXPIRE
    expect(leases).toBeLessThanOrEqual(RATE_LEASES);
  });
});
