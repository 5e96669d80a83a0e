/**
 * Gateway processes (the built service) on a primary + replica watched by 3 real Sentinels
 * (test/support/real-redis-cluster.ts): resume and cancel across replicas, then failovers
 * mid-stream — `SENTINEL FAILOVER` (clean) and SIGKILL of the primary with writes in flight (the
 * replica promoted after down-after-milliseconds), and, with Sentinels of its own, the primary
 * frozen for good (its connections open, unanswered). The gateways follow the new primary without a
 * restart; a stream finishes whole or ends with one terminal; nothing is delivered twice; nothing
 * hangs. Without redis-server / redis-cli it skips visibly; REQUIRE_REDIS_CLUSTER=1 makes it fail.
 */
import { chunk } from '../support/fake-upstream';
import { RealRedisSentinels } from '../support/real-redis-cluster';
import { finishStream, framesOf, pumpPieces, startStreaming } from '../support/stream-script';
import { checkThroughFailover, useTopologyGateways } from '../support/topology-gateways';
import type { GatewayProcess } from '../support/service-process';
import { assertStreamInvariants, streamText } from '../support/ws-client';

describe('gateways on Redis behind Sentinels (e2e, real processes, real sentinels)', () => {
  jest.setTimeout(90_000);
  let sentinels: RealRedisSentinels | undefined;
  beforeAll(async () => {
    sentinels = await RealRedisSentinels.start();
  }, 60_000);
  afterAll(async () => {
    await sentinels?.stop();
  });
  const gateways = useTopologyGateways(() => ({
    REDIS_SENTINELS: sentinels!.seeds,
    REDIS_SENTINEL_NAME: sentinels!.name,
    REDIS_PASSWORD: sentinels!.password,
    REDIS_SENTINEL_PASSWORD: sentinels!.sentinelPassword,
  }));

  /** A stream started on `a`, its socket dropped, resumed on `b` and finished: whole there. */
  async function resumedAcross(a: GatewayProcess, b: GatewayProcess, id: string): Promise<void> {
    const onA = await gateways.open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, gateways.upstream, id, ['one ']);
    onA.ws.terminate();
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
    await call.event(chunk({ content: 'two ' }));
    await onB.next((f) => f.id === id && f.type === 'chat.chunk');
    await finishStream(call, ['three']);
    const whole = [...framesOf(onA, id), ...(await onB.collectStream(id, 10_000))];
    assertStreamInvariants(whole);
    expect(streamText(whole)).toBe('one two three');
  }

  it('resume and cancel across replicas, through the primary the Sentinels name', async () => {
    if (!sentinels) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    await resumedAcross(a, b, 'q1');
    const onA = await gateways.open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, gateways.upstream, 'q2', ['partial']);
    onA.ws.terminate();
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq, id: 'mine' });
    await call.event(chunk({ content: ' more' }));
    await onB.next((f) => f.id === 'mine' && f.type === 'chat.chunk');
    const cancelledAt = Date.now();
    onB.send({ type: 'chat.cancel', id: 'mine' });
    expect((await call.aborted) - cancelledAt).toBeLessThan(1_000);
    // Both passwords (servers', Sentinels') were used, and never written anywhere.
    for (const gateway of [a, b]) for (const secret of [sentinels.password, sentinels.sentinelPassword]) expect(gateway.output.join('')).not.toContain(secret);
  });

  it('SENTINEL FAILOVER mid-stream: the owner and a watcher on B get it whole; both gateways work on the new primary without a restart', async () => {
    if (!sentinels) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    const onA = await gateways.open(a);
    const { call, streamId } = await startStreaming(onA, gateways.upstream, 'q3', ['start ']);
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'watch' });
    await onB.next((f) => f.id === 'watch' && f.type === 'chat.chunk');
    const pumped = pumpPieces(call, 40, 25);
    const before = await sentinels.primary();
    const after = await sentinels.failover();
    expect(after).not.toBe(before);
    const text = `start ${await pumped}`;
    await finishStream(call, ['end']);
    const own = await onA.collectStream('q3', 20_000);
    assertStreamInvariants(own);
    expect(streamText(own)).toBe(`${text}end`);
    // A clean failover loses nothing: the watcher too gets it whole.
    const watched = await onB.collectStream('watch', 20_000);
    expect(checkThroughFailover(watched)).toBe('whole');
    expect(streamText(watched)).toBe(`${text}end`);
    // Both gateways found the new primary by themselves.
    await resumedAcross(b, a, 'q4');
  });

  it('SIGKILL of the primary while writes are in flight: the replica is promoted, nothing hangs or doubles, then all works again', async () => {
    if (!sentinels) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    const onA = await gateways.open(a);
    const { call, streamId } = await startStreaming(onA, gateways.upstream, 'q5', ['start ']);
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'watch' });
    await onB.next((f) => f.id === 'watch' && f.type === 'chat.chunk');
    const pumped = pumpPieces(call, 40, 25);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const primary = await sentinels.primary();
    await primary.kill();
    const killedAt = Date.now();
    await sentinels.failedOver(primary);
    const text = `start ${await pumped}`;
    await finishStream(call, ['end']);
    const own = await onA.collectStream('q5', 20_000);
    assertStreamInvariants(own);
    expect(streamText(own)).toBe(`${text}end`);
    const watched = await onB.collectStream('watch', 30_000);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    if (checkThroughFailover(watched) === 'whole') expect(streamText(watched)).toBe(`${text}end`);
    // The Sentinels promoted the replica: resume across replicas works again, unrestarted.
    await resumedAcross(a, b, 'q6');
  });
});

describe('gateways behind Sentinels whose primary hangs (e2e, real processes, real sentinels)', () => {
  jest.setTimeout(90_000);
  let sentinels: RealRedisSentinels | undefined;
  beforeAll(async () => {
    sentinels = await RealRedisSentinels.start();
  }, 60_000);
  afterAll(async () => {
    await sentinels?.stop();
  });
  const gateways = useTopologyGateways(() => ({
    REDIS_SENTINELS: sentinels!.seeds,
    REDIS_SENTINEL_NAME: sentinels!.name,
    REDIS_PASSWORD: sentinels!.password,
    REDIS_SENTINEL_PASSWORD: sentinels!.sentinelPassword,
  }));

  it('the primary frozen (SIGSTOP, for good) mid-stream: the gateways give up its open connections and follow the promoted replica; nothing hangs or doubles', async () => {
    if (!sentinels) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    const onA = await gateways.open(a);
    const { call, streamId } = await startStreaming(onA, gateways.upstream, 'q1', ['start ']);
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'watch' });
    await onB.next((f) => f.id === 'watch' && f.type === 'chat.chunk');
    const pumped = pumpPieces(call, 40, 25);
    const primary = await sentinels.primary();
    // A hung host: its connections stay open, nothing answers, nothing closes them. It never comes back in this test.
    primary.freeze();
    const frozenAt = Date.now();
    await sentinels.failedOver(primary);
    const text = `start ${await pumped}`;
    await finishStream(call, ['end']);
    const own = await onA.collectStream('q1', 20_000);
    assertStreamInvariants(own);
    expect(streamText(own)).toBe(`${text}end`);
    const watched = await onB.collectStream('watch', 30_000);
    expect(Date.now() - frozenAt).toBeLessThan(30_000);
    if (checkThroughFailover(watched) === 'whole') expect(streamText(watched)).toBe(`${text}end`);
    // Both gateways work on the new primary, the old one still frozen.
    const onA2 = await gateways.open(a);
    const second = await startStreaming(onA2, gateways.upstream, 'q2', ['one ']);
    onA2.ws.terminate();
    const onB2 = await gateways.open(b);
    onB2.send({ type: 'stream.resume', stream_id: second.streamId, after_seq: second.lastSeq });
    await second.call.event(chunk({ content: 'two ' }));
    await onB2.next((f) => f.id === 'q2' && f.type === 'chat.chunk', 20_000);
    await finishStream(second.call, ['three']);
    const whole = [...framesOf(onA2, 'q2'), ...(await onB2.collectStream('q2', 10_000))];
    assertStreamInvariants(whole);
    expect(streamText(whole)).toBe('one two three');
    // Cancels reach the owner again: its subscriber connection, hung on the frozen primary, was given up too.
    const onA3 = await gateways.open(a);
    const third = await startStreaming(onA3, gateways.upstream, 'q3', ['x']);
    onA3.ws.terminate();
    const onB3 = await gateways.open(b);
    onB3.send({ type: 'stream.resume', stream_id: third.streamId, after_seq: third.lastSeq, id: 'mine' });
    await third.call.event(chunk({ content: 'y' }));
    await onB3.next((f) => f.id === 'mine' && f.type === 'chat.chunk');
    onB3.send({ type: 'chat.cancel', id: 'mine' });
    expect(await onB3.nextOfType('chat.done', 'mine', 10_000)).toMatchObject({ finish_reason: 'cancelled' });
    await third.call.aborted;
    primary.thaw();
  });
});
