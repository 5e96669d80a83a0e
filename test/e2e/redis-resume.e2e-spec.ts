/**
 * Two gateway processes (the built service) sharing one Redis: a stream started on A is resumed on
 * B, byte for byte; cancel reaches A from B; a rolling deploy of A loses nothing; a killed A leaves
 * no stream hanging; a Redis outage costs only what needs Redis. Skips visibly without
 * redis-server, fails instead under REQUIRE_REDIS=1 (which .ci/run sets).
 */
import { chunk, type UpstreamCall } from '../support/fake-upstream';
import { finishStream, framesOf, startStreaming } from '../support/stream-script';
import { ALICE, BOB, useGatewayReplicas } from '../support/gateway-replicas';
import type { GatewayProcess } from '../support/service-process';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

type Instance = GatewayProcess;

describe('resume across instances on Redis (e2e, real processes)', () => {
  jest.setTimeout(60_000);
  const cluster = useGatewayReplicas({ STREAM_LOG_BATCH_MS: '20', INSTANCE_LEASE_MS: '1500', DRAIN_TIMEOUT_MS: '10000' });
  const instance = (env?: Record<string, string>): Promise<Instance> => cluster.instance(env);
  async function open(on: Instance, key = ALICE) {
    const { client } = await TestClient.ready(on.url, { headers: { authorization: `Bearer ${key}` } });
    return cluster.track(client);
  }

  it('a stream started on A, its socket dropped, is resumed on B byte for byte; later on B after it ended; by a second device from 0', async () => {
    if (!cluster.redis) return;
    const a = await instance();
    const b = await instance();
    const onA = await open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, cluster.upstream, 'q1', ['Hel', 'lo ']);
    onA.ws.terminate();
    await call.event(chunk({ content: 'wor' }));
    const onB = await open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
    const laptop = await open(b);
    laptop.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'watch' });
    await onB.next((f) => f.id === 'q1' && f.type === 'chat.chunk');
    await finishStream(call, ['ld', '!']);
    const resumed = await onB.collectStream('q1');
    const whole = [...framesOf(onA, 'q1'), ...resumed];
    assertStreamInvariants(whole);
    expect(streamText(whole)).toBe('Hello world!');
    const watched = await laptop.collectStream('watch');
    assertStreamInvariants(watched);
    expect(streamText(watched)).toBe('Hello world!');

    // After it ended: the whole stream, from B, within retention.
    const later = await open(b);
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'later' });
    const replay = await later.collectStream('later');
    expect(replay.map(({ id: _id, ...f }) => f)).toEqual(whole.map(({ id: _id, ...f }) => f));

    // Only its principal.
    const bob = await open(b, BOB);
    bob.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    expect(await bob.nextOfType('chat.error')).toMatchObject({ code: 'stream_not_found', stream_id: streamId });
    expect(cluster.upstream.calls).toHaveLength(1);
  });

  it('chat.cancel on B stops the upstream request running on A within a second', async () => {
    if (!cluster.redis) return;
    const a = await instance();
    const b = await instance();
    const onA = await open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, cluster.upstream, 'q2', ['partial']);
    onA.ws.terminate();
    const onB = await open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq, id: 'mine' });
    // Resumed and live: the next chunk reaches B through Redis.
    await call.event(chunk({ content: ' more' }));
    await onB.next((f) => f.id === 'mine' && f.type === 'chat.chunk');
    const cancelledAt = Date.now();
    onB.send({ type: 'chat.cancel', id: 'mine' });
    expect((await call.aborted) - cancelledAt).toBeLessThan(1_000);
    expect(await onB.nextOfType('chat.done', 'mine')).toMatchObject({ finish_reason: 'cancelled' });
  });

  it('SIGTERM on A with 30 streams: 1012 within seconds, every answer completes whole on B, A exits 0', async () => {
    if (!cluster.redis) return;
    const a = await instance({ MAX_STREAMS_PER_CONNECTION: '64', RATE_LIMIT_REQUESTS_PER_MINUTE: '1000' });
    // One socket resumes all 30 there: watching counts against the cap too.
    const b = await instance({ MAX_STREAMS_PER_CONNECTION: '64' });
    const onA = await open(a);
    const streams: Array<{ id: string; call: UpstreamCall; streamId: string }> = [];
    for (let i = 0; i < 30; i++) streams.push({ id: `s${i}`, ...(await startStreaming(onA, cluster.upstream, `s${i}`, [`${i}:a `])) });
    const signalledAt = Date.now();
    a.child.kill('SIGTERM');
    await onA.nextOfType('session.draining');
    expect((await onA.closed).code).toBe(1012);
    expect(Date.now() - signalledAt).toBeLessThan(3_000);
    // The client reconnects to B and resumes every stream from what it had.
    const onB = await open(b);
    for (const { id, streamId } of streams) {
      const seen = framesOf(onA, id);
      onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: seen.at(-1)!.seq });
    }
    // A is still producing them, into Redis.
    for (const { call } of streams) await finishStream(call, ['b ', 'c']);
    for (const { id } of streams) {
      const whole = [...framesOf(onA, id), ...(await onB.collectStream(id, 20_000))];
      assertStreamInvariants(whole);
      expect(streamText(whole)).toBe(`${id.slice(1)}:a b c`);
    }
    expect(await a.exit).toEqual({ code: 0, signal: null });
  });

  it('SIGKILL on A: a client resuming on B gets what was logged, then one terminal frame, within seconds', async () => {
    if (!cluster.redis) return;
    const a = await instance();
    const b = await instance();
    const onA = await open(a);
    const { streamId, lastSeq } = await startStreaming(onA, cluster.upstream, 'q3', ['before the crash']);
    // Give the batch window time to log what A sent (a crash may lose at most one window).
    await new Promise((resolve) => setTimeout(resolve, 200));
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    const onB = await open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'after' });
    const frames = await onB.collectStream('after', 15_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('before the crash');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected', retryable: true, seq: lastSeq + 1 });
    // One that had seen more than was logged still gets a terminal it will not drop as a duplicate.
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq + 5, id: 'ahead' });
    expect(await onB.nextOfType('chat.error', 'ahead')).toMatchObject({ code: 'upstream_disconnected', seq: lastSeq + 6 });
  });

  it('a Redis outage: the stream on its own socket goes on, resume elsewhere is stream_not_found, readiness stays up; all heals', async () => {
    if (!cluster.redis) return;
    const a = await instance();
    const b = await instance();
    const onA = await open(a);
    const { call, streamId } = await startStreaming(onA, cluster.upstream, 'q4', ['one ']);
    await cluster.redis.down();
    await call.event(chunk({ content: 'two ' }));
    await onA.next((f) => f.id === 'q4' && f.type === 'chat.chunk' && f.chunk.choices[0].delta.content === 'two ');
    expect((await fetch(`http://127.0.0.1:${a.port}/health/ready`)).status).toBe(200);
    const onB = await open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    expect(await onB.nextOfType('chat.error')).toMatchObject({ code: 'stream_not_found' });
    // Redis returns, empty (as after a failover that lost it): A writes what B needs again.
    await cluster.redis.up();
    await finishStream(call, ['three']);
    expect(streamText(await onA.collectStream('q4'))).toBe('one two three');
    // A wrote its stream again from memory once Redis was back: B can resume it whole.
    let healed: string | undefined;
    for (let attempt = 0; attempt < 50 && healed === undefined; attempt++) {
      onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: `h${attempt}` });
      const answer = await onB.next((f) => f.id === `h${attempt}` && (f.type === 'chat.started' || f.type === 'chat.error'));
      if (answer.type === 'chat.started') healed = streamText(await onB.collectStream(`h${attempt}`));
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(healed).toBe('one two three');
    const metrics = await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text();
    expect(metrics).toMatch(/holysheep_gateway_redis_errors_total\{operation="connection"\} [1-9]/);
  });
});
