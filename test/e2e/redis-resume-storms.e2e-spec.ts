/**
 * Resume storms from Redis cost a bounded amount (issue 21, item 5): 100 sockets that do not read,
 * each resuming a 0.8 MB stream 7 times on a replica that holds none of it in memory, once grew
 * that replica's RSS by 320–355 MiB (each resume read the whole remainder from Redis in one go and
 * kept it). A Redis replay is paged: a subscription holds at most one page (about
 * REPLAY_PAGE_BYTES) that its socket has not taken, and reads the next only once the socket is
 * below its send-buffer mark. The figure: B's `stream_replay_bytes` gauge. Skips visibly without
 * redis-server, fails instead under REQUIRE_REDIS=1.
 *
 * Linux only for the figure: the serving replica's peak RSS is read from /proc/<pid>/status.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { chunk, type UpstreamCall } from '../support/fake-upstream';
import { finishStream, startStreaming } from '../support/stream-script';
import { ALICE, BOB, useGatewayReplicas } from '../support/gateway-replicas';
import type { GatewayProcess } from '../support/service-process';
import { gatewayMetric } from '../support/metrics';
import { TestClient, type Frame } from '../support/ws-client';

const MIB = 1 << 20;
const HIGH_WATER = 65_536;
/** One replay page (src/streams/replay-pacer.ts REPLAY_PAGE_BYTES). */
const PAGE = 65_536;
const FRAME = 4_096;
const SOCKETS = 100;
const RESUMES = 7;
/**
 * What the storm may add to the serving replica's peak RSS. Loopback sockets' kernel buffers take
 * most of each replay (~5 MB per socket that never reads), so ~500 MB pass through the replica and
 * its heap grows with what it has not collected yet, paged or not: measured 187–248 MiB paged on
 * Node 20 and 386 MiB on Node 24 (its collector lets the heap grow further), against 362 MiB
 * unpaged on Node 20 (the issue: 320–355). So RSS cannot tell paged from unpaged here: this bound
 * only catches a gross regression (the 700 replays held whole would be 560 MB more); what replays
 * hold (HELD_BOUND) is the figure that does.
 */
const RSS_BOUND = 512 * MIB;
/**
 * What the storm's subscriptions may hold once B has written all the kernel takes: at most a page
 * each (about REPLAY_PAGE_BYTES: the first page is two entries of at most a quarter page). Measured
 * 8–18 MiB paged, 160 MiB before (each kept the rest of its replay).
 */
const HELD_BOUND = SOCKETS * RESUMES * PAGE;

/** A metric of a gateway's /metrics, e.g. `stream_replay_bytes`; 0 before its first sample. */
const metricOf = async (gateway: GatewayProcess, name: string): Promise<number> => (await gatewayMetric(gateway.port, name)) ?? 0;

const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

/** Resolves once `check()` holds, looking again every 10 ms. */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** `read()`'s value once 5 readings in a row, 50 ms apart, agree. */
async function steady(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (let same = 0; same < 5; ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const value = await read();
    same = value === last ? same + 1 : 0;
    last = value;
  }
  return last;
}

/** A process's resident set (`VmRSS`) or its peak (`VmHWM`), in bytes. */
function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

describe('resume storms from Redis (e2e, real processes)', () => {
  jest.setTimeout(120_000);
  const cluster = useGatewayReplicas({
    STREAM_LOG_BATCH_MS: '20',
    INSTANCE_LEASE_MS: '1500',
    MAX_CONNECTIONS_PER_PRINCIPAL: '1000',
    MAX_FRAMES_PER_SECOND: '100000',
    RESUME_BURST: '1000',
    RESUMES_PER_MINUTE: '100000',
    SEND_BUFFER_HIGH_WATER_BYTES: String(HIGH_WATER),
    SLOW_CLIENT_TIMEOUT_MS: '60000',
  });
  async function open(on: GatewayProcess, key = ALICE): Promise<TestClient> {
    const { client } = await TestClient.ready(on.url, { headers: { authorization: `Bearer ${key}` } });
    return cluster.track(client);
  }
  /** How long each of `count` chunks takes from the upstream to `client` (ms). */
  async function chunkLatencies(call: UpstreamCall, client: TestClient, id: string, tag: string, count: number): Promise<number[]> {
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const content = `${tag}${i} `;
      const sent = performance.now();
      await call.event(chunk({ content }));
      await client.next((f) => f.id === id && f.type === 'chat.chunk' && f.chunk.choices[0]?.delta?.content === content, 10_000);
      latencies.push(performance.now() - sent);
    }
    return latencies;
  }

  // Fails before Redis replays are paged: each resume read the whole stream; the storm's reads ran
  // past their deadline (stream_not_found) and stalled the event loop for most of a second.
  it(`${SOCKETS} paused sockets × ${RESUMES} resumes of a 0.8 MB stream held in Redis: the serving replica's RSS grows by a bounded amount, and another user's stream is not stalled`, async () => {
    if (!cluster.redis) return;
    const a = await cluster.instance();
    const b = await cluster.instance();
    // Alice's stream, produced on A: 200 chunks of ~4 KiB, finished.
    const producer = await open(a);
    const piece = 'x'.repeat(FRAME - 200);
    const { call: aliceCall, streamId } = await startStreaming(producer, cluster.upstream, 'big', [piece]);
    for (let i = 1; i < 200; i++) await aliceCall.event(chunk({ content: piece }));
    await finishStream(aliceCall, []);
    await producer.collectStream('big', 20_000);

    // B reads it whole from Redis once (so it is all there, and B's code paths are warm).
    const warm = await open(b);
    warm.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'warm' });
    const whole = await warm.collectStream('warm', 20_000);
    expect(whole.filter((f) => f.type === 'chat.chunk').length).toBeGreaterThan(200);

    // Bob streams on B meanwhile; the quiet phase measures his chunks' latency with no storm.
    const bob = await open(b, BOB);
    const { call: bobCall } = await startStreaming(bob, cluster.upstream, 'bob', ['start']);
    const quiet = await chunkLatencies(bobCall, bob, 'bob', 'q', 30);

    // The storm: sockets that never read resume the stream 7 times each, one socket after the other
    // (each waits until B answered its resumes: a burst of 700 at once would test Redis's speed
    // against the 500 ms read deadline, not what a replay holds). Bob's chunks meanwhile.
    await cluster.redis.command('CONFIG', 'RESETSTAT');
    const before = memoryOf(b.child.pid!, 'VmRSS');
    const storm: TestClient[] = [];
    let storming = true;
    const raise = async () => {
      for (let i = 0; i < SOCKETS; i++) {
        const client = await open(b);
        storm.push(client);
        client.ws.pause();
        for (let r = 0; r < RESUMES; r++) client.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: `r${r}` });
        await until(async () => (await metricOf(b, 'stream_resumes_total{result="resumed"}')) + (await metricOf(b, 'stream_resumes_total{result="not_found"}')) >= 1 + storm.length * RESUMES);
      }
      storming = false;
    };
    const measure = async () => {
      const latencies: number[] = [];
      for (let i = 0; storming; i++) latencies.push(...(await chunkLatencies(bobCall, bob, 'bob', `s${i}-`, 1)));
      return latencies;
    };
    const [, during] = await Promise.all([raise(), measure()]);
    // B has written to the paused sockets all that the kernel takes: what it still holds is steady.
    const held = await steady(() => metricOf(b, 'stream_replay_bytes'));
    const grown = memoryOf(b.child.pid!, 'VmHWM') - before;
    const redisOut = Number(/total_net_output_bytes:(\d+)/.exec(String(await cluster.redis.command('INFO', 'stats')))![1]);

    const stall = Math.max(...during);
    // eslint-disable-next-line no-console
    console.log(`Redis sent B ${(redisOut / MIB).toFixed(1)} MiB for the storm; B's replays hold ${(held / MIB).toFixed(1)} MiB (bound ${(HELD_BOUND / MIB).toFixed(1)} MiB); B's RSS grew by ${(grown / MIB).toFixed(1)} MiB (bound ${(RSS_BOUND / MIB).toFixed(1)} MiB); bob's chunk latency: quiet max ${Math.max(...quiet).toFixed(1)} ms, during the storm max ${stall.toFixed(1)} ms, median ${median(during).toFixed(1)} ms`);
    expect(await metricOf(b, 'stream_resumes_total{result="resumed"}')).toBe(1 + SOCKETS * RESUMES);
    expect(held).toBeLessThanOrEqual(HELD_BOUND);
    expect(grown).toBeLessThan(RSS_BOUND);
    // Pages go out a few ms per turn, so Bob's chunks keep flowing through the storm: the median
    // stays near the quiet phase's. The max is logged, not bounded: B's garbage collection of the
    // ~500 MB passing through, and a loaded machine's scheduling, put single spikes of 200–600 ms
    // in it, paged or not.
    expect(median(during)).toBeLessThan(Math.max(...quiet) + 50);

    // The storm's sockets read again: every replay arrives whole, each seq once.
    const seqs = (frames: Frame[]) => frames.filter((f) => f.type === 'chat.chunk' || f.type === 'chat.done').map((f) => f.seq as number);
    for (const client of storm.slice(0, 3)) {
      client.ws.resume();
      for (let r = 0; r < RESUMES; r++) {
        await client.nextOfType('chat.done', `r${r}`, 60_000);
        expect(seqs(client.frames.filter((f) => f.id === `r${r}`))).toEqual(seqs(whole));
      }
    }
    await finishStream(bobCall, []);
  });
});
