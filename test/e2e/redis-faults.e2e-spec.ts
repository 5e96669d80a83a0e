/**
 * Streams survive Redis faults (issue 21, items 1–3): gateway processes (the built service) on a
 * private redis-server, some through a fault-injecting TCP proxy (test/support/redis-proxy.ts) that
 * drops a reply, fails one, blackholes or resets; Redis itself flushed (FLUSHALL), its leases
 * deleted, or frozen (SIGSTOP / SIGCONT). Skips visibly without redis-server, fails instead under
 * REQUIRE_REDIS=1 (which .ci/run sets).
 */
import { chunk, type UpstreamCall } from '../support/fake-upstream';
import { ALICE, useGatewayReplicas, type GatewayReplicas } from '../support/gateway-replicas';
import { RedisProxy } from '../support/redis-proxy';
import type { GatewayProcess } from '../support/service-process';
import { finishStream, framesOf, startStreaming } from '../support/stream-script';
import { assertStreamInvariants, streamText, TestClient, type Frame } from '../support/ws-client';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isTerminal = (f: Frame) => f.type === 'chat.done' || f.type === 'chat.error';
/** A frame as every socket gets it, whatever id it knows the stream by. */
const withoutId = (frames: Frame[]) => frames.map(({ id: _id, ...f }) => f);

/** The suite's helpers around one cluster: sockets, proxies (closed after each test), upstream pacing. */
function harness(cluster: GatewayReplicas) {
  const proxies: RedisProxy[] = [];
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
  });
  return {
    /** A client of ALICE's on `on`, terminated after the test. */
    async open(on: GatewayProcess): Promise<TestClient> {
      const { client } = await TestClient.ready(on.url, { headers: { authorization: `Bearer ${ALICE}` } });
      return cluster.track(client);
    },
    /** A proxy to the test's redis-server: give a gateway `REDIS_URL: proxy.url`. */
    async proxy(): Promise<RedisProxy> {
      const proxy = await RedisProxy.start(cluster.redis!.port);
      proxies.push(proxy);
      return proxy;
    },
  };
}

/** Feeds `call` a chunk every `everyMs` (pacing, not synchronisation) until stopped; `stop()` resolves with all the text sent. */
function ticker(call: UpstreamCall, everyMs = 100) {
  const pieces: string[] = [];
  let stopped = false;
  const running = (async () => {
    for (let i = 0; !stopped; i++) {
      const piece = `${i} `;
      pieces.push(piece);
      await call.event(chunk({ content: piece }));
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await running;
      return pieces.join('');
    },
    /** Resolves once `client` has the last piece sent so far under `id`. */
    reached: (client: TestClient, id: string) => {
      const last = pieces.at(-1);
      return client.next((f) => f.id === id && f.type === 'chat.chunk' && f.chunk.choices[0]?.delta?.content === last);
    },
  };
}

/** Resolves once `check` holds, looking every 50 ms; fails after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** When the gateway aborted `call` (undefined while it has not). */
function abortWatch(call: UpstreamCall): { at: number | undefined } {
  const watch: { at: number | undefined } = { at: undefined };
  void call.aborted.then((at) => (watch.at = at));
  return watch;
}

/** Resumes `streamId` from `afterSeq` on a new socket of `on` under `id`. */
async function resumeOn(open: (on: GatewayProcess) => Promise<TestClient>, on: GatewayProcess, streamId: string, afterSeq: number, id: string) {
  const client = await open(on);
  client.send({ type: 'stream.resume', stream_id: streamId, after_seq: afterSeq, id });
  return client;
}

describe('item 1: a stream is attached while any socket on any replica watches it (e2e, real processes)', () => {
  jest.setTimeout(60_000);
  const GRACE_MS = 1_500;
  const cluster = useGatewayReplicas({ STREAM_LOG_BATCH_MS: '20', INSTANCE_LEASE_MS: '1500', RESUME_GRACE_MS: String(GRACE_MS) });
  const { open, proxy } = harness(cluster);

  it('dropped on A, resumed on B: the answer runs on past the grace; the grace starts when B leaves', async () => {
    if (!cluster.redis) return;
    const a = await cluster.instance();
    const b = await cluster.instance();
    const onA = await open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, cluster.upstream, 'q', ['start ']);
    const aborted = abortWatch(call);
    onA.ws.terminate();
    const onB = await resumeOn(open, b, streamId, lastSeq, 'q');
    const feed = ticker(call);
    await onB.nextOfType('chat.chunk', 'q');
    // Three graces on B: A's own socket left long ago, B still watches.
    await sleep(3 * GRACE_MS);
    expect(aborted.at).toBeUndefined();
    expect(onB.frames.filter(isTerminal)).toEqual([]);
    const sent = await feed.stop();
    await feed.reached(onB, 'q');
    const seen = [...framesOf(onA, 'q'), ...framesOf(onB, 'q')];
    assertStreamInvariants([...seen, { type: 'chat.done', seq: seen.length + 1, stream_id: streamId }]);
    expect(streamText(seen)).toBe(`start ${sent}`);
    // The last watcher anywhere leaves: the grace starts now, and then the upstream is aborted.
    const leftAt = Date.now();
    onB.ws.terminate();
    await call.aborted;
    expect(aborted.at! - leftAt).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(aborted.at! - leftAt).toBeLessThan(GRACE_MS + 2_500);
  });

  it('three replicas: B leaves, C still watches, so the answer runs on; it is cut a grace after C leaves', async () => {
    if (!cluster.redis) return;
    const a = await cluster.instance();
    const b = await cluster.instance();
    const c = await cluster.instance();
    const onA = await open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, cluster.upstream, 'q', ['start ']);
    const aborted = abortWatch(call);
    onA.ws.terminate();
    const onB = await resumeOn(open, b, streamId, lastSeq, 'q');
    const onC = await resumeOn(open, c, streamId, lastSeq, 'q');
    const feed = ticker(call);
    await onB.nextOfType('chat.chunk', 'q');
    await onC.nextOfType('chat.chunk', 'q');
    await sleep(GRACE_MS);
    onB.ws.terminate();
    await sleep(2 * GRACE_MS);
    expect(aborted.at).toBeUndefined();
    expect(onC.frames.filter(isTerminal)).toEqual([]);
    const sent = await feed.stop();
    await feed.reached(onC, 'q');
    expect(streamText([...framesOf(onA, 'q'), ...framesOf(onC, 'q')])).toBe(`start ${sent}`);
    const leftAt = Date.now();
    onC.ws.terminate();
    await call.aborted;
    expect(aborted.at! - leftAt).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(aborted.at! - leftAt).toBeLessThan(GRACE_MS + 2_500);
  });

  it('an owner that cannot reach Redis keeps the stream past its grace; once it can tell nobody watches, a grace later it is cut', async () => {
    if (!cluster.redis) return;
    const link = await proxy();
    const a = await cluster.instance({ REDIS_URL: link.url });
    const onA = await open(a);
    const { call } = await startStreaming(onA, cluster.upstream, 'q', ['start ']);
    const aborted = abortWatch(call);
    onA.ws.terminate();
    await sleep(GRACE_MS / 2);
    // A partition between A and Redis, through the end of the grace and well past it.
    link.blackhole();
    await sleep(2 * GRACE_MS);
    expect(aborted.at).toBeUndefined();
    link.pass();
    link.reset();
    const healedAt = Date.now();
    await call.aborted;
    expect(aborted.at! - healedAt).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(aborted.at! - healedAt).toBeLessThan(GRACE_MS + 3_000);
  });

  it('Redis frozen (SIGSTOP) past the grace while B watches: A keeps the stream, and B gets it whole after SIGCONT', async () => {
    if (!cluster.redis) return;
    const a = await cluster.instance();
    const b = await cluster.instance();
    const onA = await open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, cluster.upstream, 'q', ['start ']);
    onA.ws.terminate();
    const onB = await resumeOn(open, b, streamId, lastSeq, 'q');
    const feed = ticker(call);
    await onB.nextOfType('chat.chunk', 'q');
    cluster.redis.freeze();
    await sleep(2.5 * GRACE_MS);
    cluster.redis.thaw();
    await sleep(GRACE_MS);
    const sent = await feed.stop();
    await finishStream(call, ['end']);
    const whole = [...framesOf(onA, 'q'), ...(await onB.collectStream('q', 10_000))];
    assertStreamInvariants(whole);
    expect(whole.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop' });
    expect(streamText(whole)).toBe(`start ${sent}end`);
  });

  it('dropped on A, resumed on B, then more than A keeps for a detached stream: A does not pause at its bound, B gets it whole', async () => {
    if (!cluster.redis) return;
    // A detached stream keeps its frames for its client and pauses at the bound (item 10); one
    // watched on another replica is read there from Redis, so A must not wait for a resume here.
    const bound = 65_536;
    const a = await cluster.instance({ STREAM_BUFFER_MAX_BYTES: String(bound) });
    const b = await cluster.instance({ STREAM_BUFFER_MAX_BYTES: String(bound) });
    const onA = await open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, cluster.upstream, 'q', ['start ']);
    onA.ws.terminate();
    const onB = await resumeOn(open, b, streamId, lastSeq, 'q');
    await call.event(chunk({ content: 'on B ' }));
    await onB.nextOfType('chat.chunk', 'q');
    // Paced: B reads each chunk before the next is sent, so B is never behind; but more than the
    // bound arrives after A's socket left, which is what A would keep for a resume here.
    const pieces = Array.from({ length: 5 * (bound / 8_192) }, (_, i) => `${i} `.padEnd(8_192, 'z'));
    for (const piece of pieces) {
      await call.event(chunk({ content: piece }));
      await onB.next((f) => f.id === 'q' && f.type === 'chat.chunk' && f.chunk.choices[0]?.delta?.content === piece, 5_000);
    }
    await finishStream(call, ['end']);
    const whole = [...framesOf(onA, 'q'), ...(await onB.collectStream('q', 10_000))];
    assertStreamInvariants(whole);
    expect(whole.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop' });
    expect(streamText(whole) === `start on B ${pieces.join('')}end`).toBe(true);
  });
});

describe('item 2: a lost Redis reply does not end a healthy stream (e2e, real processes)', () => {
  jest.setTimeout(60_000);
  const cluster = useGatewayReplicas({ STREAM_LOG_BATCH_MS: '20', INSTANCE_LEASE_MS: '1500' });
  const { open, proxy } = harness(cluster);

  it('an XADD that reached Redis but whose reply was lost with the connection: the stream goes on whole, here and on B, with one terminal', async () => {
    if (!cluster.redis) return;
    const link = await proxy();
    const a = await cluster.instance({ REDIS_URL: link.url });
    const b = await cluster.instance();
    const onA = await open(a);
    const { call, streamId } = await startStreaming(onA, cluster.upstream, 'q', ['one ']);
    const onB = await resumeOn(open, b, streamId, 0, 'watch');
    await onB.nextOfType('chat.chunk', 'watch');
    const dropped = link.dropReply((argv) => argv[0] === 'XADD' && argv[1] === `hsg:s:${streamId}`);
    await call.event(chunk({ content: 'two ' }));
    await dropped;
    await finishStream(call, ['three ', 'four']);
    const mine = await onA.collectStream('q');
    assertStreamInvariants(mine);
    expect(mine.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop' });
    expect(streamText(mine)).toBe('one two three four');
    const watched = await onB.collectStream('watch');
    expect(withoutId(watched)).toEqual(withoutId(mine));
    // The log in Redis: the whole stream, one terminal, for a resume after the end.
    const later = await resumeOn(open, b, streamId, 0, 'later');
    expect(withoutId(await later.collectStream('later'))).toEqual(withoutId(mine));
  });

  it('one command of the shared pipeline fails: neither that stream nor the others of the batch are ended', async () => {
    if (!cluster.redis) return;
    const link = await proxy();
    // A wide window, so both streams' frames go in one pipeline (B waits as long for a young stream).
    const a = await cluster.instance({ REDIS_URL: link.url, STREAM_LOG_BATCH_MS: '300' });
    const b = await cluster.instance({ STREAM_LOG_BATCH_MS: '300' });
    const onA = await open(a);
    const first = await startStreaming(onA, cluster.upstream, 'q1', ['1a ']);
    const second = await startStreaming(onA, cluster.upstream, 'q2', ['2a ']);
    const watch1 = await resumeOn(open, b, first.streamId, 0, 'w1');
    const watch2 = await resumeOn(open, b, second.streamId, 0, 'w2');
    await watch1.nextOfType('chat.chunk', 'w1');
    await watch2.nextOfType('chat.chunk', 'w2');
    const failed = link.failReply((argv) => argv[0] === 'XADD' && argv[1] === `hsg:s:${first.streamId}`);
    await first.call.event(chunk({ content: '1b ' }));
    await second.call.event(chunk({ content: '2b ' }));
    await failed;
    await finishStream(first.call, ['1c']);
    await finishStream(second.call, ['2c']);
    for (const [id, watcher, watchId, text] of [
      ['q1', watch1, 'w1', '1a 1b 1c'],
      ['q2', watch2, 'w2', '2a 2b 2c'],
    ] as const) {
      const mine = await onA.collectStream(id);
      assertStreamInvariants(mine);
      expect(mine.at(-1)).toMatchObject({ type: 'chat.done' });
      expect(streamText(mine)).toBe(text);
      expect(withoutId(await watcher.collectStream(watchId))).toEqual(withoutId(mine));
    }
  });
});

// Both log formats (STREAM_LOG_FORMAT): each must write its meta again when its log is written again.
describe.each(['1', '2'])('item 3: a flushed Redis or a lost lease does not end a live owner’s streams, log format %s (e2e, real processes)', (format) => {
  jest.setTimeout(60_000);
  const LEASE_MS = 3_000;
  const cluster = useGatewayReplicas({ STREAM_LOG_BATCH_MS: '20', INSTANCE_LEASE_MS: String(LEASE_MS), STREAM_LOG_FORMAT: format });
  const { open, proxy } = harness(cluster);

  /** Deletes every instance's lease, again and again for `ms` (an `allkeys-*` eviction storm). */
  async function evictLeases(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const leases = (await cluster.redis!.command('KEYS', 'hsg:lease:*')) as string[];
      if (leases.length > 0) await cluster.redis!.command('DEL', ...leases);
      await sleep(50);
    }
  }

  it('FLUSHALL, then the leases missing for half a lease: the stream goes on whole on A and on B; the log is whole again for a resume from 0', async () => {
    if (!cluster.redis) return;
    const a = await cluster.instance();
    const b = await cluster.instance();
    const onA = await open(a);
    const { call, streamId } = await startStreaming(onA, cluster.upstream, 'q', ['start ']);
    const onB = await resumeOn(open, b, streamId, 0, 'watch');
    await onB.nextOfType('chat.chunk', 'watch');
    const feed = ticker(call);
    await sleep(300);
    await cluster.redis.flushAll();
    await evictLeases(LEASE_MS / 2);
    await sleep(LEASE_MS / 2);
    const sent = await feed.stop();
    await finishStream(call, ['end']);
    const mine = await onA.collectStream('q');
    assertStreamInvariants(mine);
    expect(mine.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop' });
    expect(streamText(mine)).toBe(`start ${sent}end`);
    expect(withoutId(await onB.collectStream('watch', 10_000))).toEqual(withoutId(mine));
    const later = await resumeOn(open, b, streamId, 0, 'later');
    expect(withoutId(await later.collectStream('later'))).toEqual(withoutId(mine));
  });

  it('a log that lost its beginning: a resume from before it is stream_not_found, never a partial replay; one from after it goes on', async () => {
    if (!cluster.redis) return;
    // 16 KiB of frames per stream: A's record keeps only the last of them.
    const a = await cluster.instance({ STREAM_BUFFER_MAX_BYTES: '16384' });
    const b = await cluster.instance();
    const onA = await open(a);
    const big = 'x'.repeat(1_000);
    const { call, streamId } = await startStreaming(onA, cluster.upstream, 'q', Array.from({ length: 30 }, (_, i) => `${i}${big} `));
    await cluster.redis.flushAll();
    await call.event(chunk({ content: 'after ' }));
    const lastSeq = (await onA.next((f) => f.id === 'q' && f.chunk?.choices[0]?.delta?.content === 'after ')).seq as number;
    // A writes its log again, meta included (format 2: in its first entry), from what it still holds.
    await until(async () => (await cluster.redis!.command('EXISTS', format === '1' ? `hsg:m:${streamId}` : `hsg:s:${streamId}`)) === 1);
    const fromZero = await resumeOn(open, b, streamId, 0, 'zero');
    expect(await fromZero.next((f) => f.id === 'zero')).toMatchObject({ type: 'chat.error', code: 'stream_not_found' });
    const fromLast = await resumeOn(open, b, streamId, lastSeq - 1, 'last');
    await finishStream(call, ['end']);
    const rest = await fromLast.collectStream('last');
    rest.forEach((f, i) => expect(f.seq).toBe(lastSeq + i));
    expect(streamText(rest)).toBe('after end');
    expect(rest.at(-1)).toMatchObject({ type: 'chat.done' });
  });

  it('an owner fenced anyway (cut off from Redis past its lease while B watched): its sockets and the log end alike', async () => {
    if (!cluster.redis) return;
    const link = await proxy();
    const a = await cluster.instance({ REDIS_URL: link.url, INSTANCE_LEASE_MS: '1500' });
    const b = await cluster.instance({ INSTANCE_LEASE_MS: '1500' });
    const onA = await open(a);
    const { call, streamId } = await startStreaming(onA, cluster.upstream, 'q', ['start ']);
    const onB = await resumeOn(open, b, streamId, 0, 'watch');
    await onB.nextOfType('chat.chunk', 'watch');
    const feed = ticker(call);
    link.blackhole();
    // B finds A's lease gone for longer than a lease and ends the stream in the log.
    const ended = await onB.nextOfType('chat.error', 'watch', 15_000);
    expect(ended).toMatchObject({ code: 'upstream_disconnected', retryable: true });
    // A kept relaying to its own socket meanwhile; then it hears from Redis again.
    link.pass();
    link.reset();
    const mine = await onA.nextOfType('chat.error', 'q', 10_000);
    expect(mine).toMatchObject({ code: ended.code, message: ended.message, retryable: true });
    await call.aborted;
    await feed.stop();
    // One stream, one ending: a resume on A and one on B replay the same log.
    const onAfterA = await resumeOn(open, a, streamId, 0, 'r');
    const onAfterB = await resumeOn(open, b, streamId, 0, 'r');
    const replayA = await onAfterA.collectStream('r');
    const replayB = await onAfterB.collectStream('r');
    assertStreamInvariants(replayB);
    expect(replayA).toEqual(replayB);
    expect(replayB.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected' });
  });
});
