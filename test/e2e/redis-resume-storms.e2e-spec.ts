/**
 * Resume storms from Redis cost a bounded amount (issue 21, item 5): 100 sockets that do not read,
 * each resuming a 0.8 MB stream 7 times on a replica that holds none of it in memory, once grew
 * that replica's RSS by 320–355 MiB (each resume read the whole remainder from Redis in one go and
 * kept it). A Redis replay is paged: a subscription holds at most one page (about
 * REPLAY_PAGE_BYTES) that its socket has not taken, and reads the next only once the socket is
 * below its send-buffer mark. Skips visibly without redis-server, fails instead under REQUIRE_REDIS=1.
 *
 * Linux only for the figure: the serving replica's peak RSS is read from /proc/<pid>/status.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { chunk, type UpstreamCall } from '../support/fake-upstream';
import { finishStream, startStreaming } from '../support/stream-script';
import { ALICE, BOB, useRedisCluster } from '../support/redis-cluster';
import type { GatewayProcess } from '../support/service-process';
import { TestClient } from '../support/ws-client';

const MIB = 1 << 20;
const HIGH_WATER = 65_536;
/** One replay page (src/streams/replay-pacer.ts REPLAY_PAGE_BYTES). */
const PAGE = 65_536;
const FRAME = 4_096;
const SOCKETS = 100;
const RESUMES = 7;
/**
 * What the storm may add to the serving replica's RSS: each socket's unsent bytes (its mark and
 * the page that crossed it) plus one page held by each of its subscriptions, doubled for the
 * JavaScript strings and reply buffers a page passes through, plus 32 MiB for the heap's own
 * growth (garbage not yet collected). About 130 MiB, against the 320 MiB the unpaged replay cost.
 */
const RSS_BOUND = SOCKETS * (HIGH_WATER + PAGE + RESUMES * PAGE) * 2 + 32 * MIB;

/** What the replays of the storm's subscriptions may hold once their sockets stopped reading: a page each. */
const HELD_BOUND = SOCKETS * RESUMES * PAGE;

/** A metric of a gateway's /metrics (docs/operations.md), e.g. `stream_replay_bytes`. */
async function metricOf(gateway: GatewayProcess, name: string): Promise<number> {
  const exposition = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
  const line = exposition.split('\n').find((l) => l.startsWith(`holysheep_gateway_${name} `));
  return Number(line?.split(' ')[1]);
}

/** A process's resident set (`VmRSS`) or its peak (`VmHWM`), in bytes. */
function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

describe('resume storms from Redis (e2e, real processes)', () => {
  jest.setTimeout(120_000);
  const cluster = useRedisCluster({
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
  test.failing(`${SOCKETS} paused sockets × ${RESUMES} resumes of a 0.8 MB stream held in Redis: the serving replica's RSS grows by a bounded amount, and another user's stream is not stalled`, async () => {
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

    const storm: TestClient[] = [];
    for (let i = 0; i < SOCKETS; i++) storm.push(await open(b));
    const before = memoryOf(b.child.pid!, 'VmRSS');
    for (const client of storm) {
      client.ws.pause();
      for (let r = 0; r < RESUMES; r++) client.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: `r${r}` });
    }
    const during = await chunkLatencies(bobCall, bob, 'bob', 's', 30);
    // A resume sent after the storm's, read to its end: by then B has read what the storm's asked of Redis.
    const probe = await open(b);
    probe.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'probe' });
    await probe.collectStream('probe', 60_000);
    const grown = memoryOf(b.child.pid!, 'VmHWM') - before;
    // What B's replays hold now that the storm's sockets stopped reading: at most a page each.
    const held = await metricOf(b, 'stream_replay_bytes');
    // Every one of them was answered with its replay, none refused for a read that took too long.
    expect(await metricOf(b, 'stream_resumes_total{result="resumed"}')).toBe(2 + SOCKETS * RESUMES);

    const stall = Math.max(...during);
    // eslint-disable-next-line no-console
    console.log(`B's replays hold ${(held / MIB).toFixed(1)} MiB (bound ${(HELD_BOUND / MIB).toFixed(1)} MiB); B's RSS grew by ${(grown / MIB).toFixed(1)} MiB (bound ${(RSS_BOUND / MIB).toFixed(1)} MiB); bob's chunk latency: quiet max ${Math.max(...quiet).toFixed(1)} ms, during the storm max ${stall.toFixed(1)} ms`);
    expect(held).toBeLessThanOrEqual(HELD_BOUND);
    expect(grown).toBeLessThan(RSS_BOUND);
    expect(stall).toBeLessThan(Math.max(...quiet) + 150);

    // The storm's sockets read again: every replay arrives whole.
    for (const client of storm.slice(0, 3)) {
      client.ws.resume();
      for (let r = 0; r < RESUMES; r++) {
        const frames = await client.collectStream(`r${r}`, 60_000);
        expect(frames.filter((f) => f.type === 'chat.chunk').map((f) => f.seq)).toEqual(whole.filter((f) => f.type === 'chat.chunk').map((f) => f.seq));
      }
    }
    await finishStream(bobCall, []);
  });
});
