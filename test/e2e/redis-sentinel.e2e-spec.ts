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
import { finishThroughFailover, useTopologyGateways, type TopologyGateways } from '../support/topology-gateways';
import type { GatewayProcess } from '../support/service-process';
import { assertStreamInvariants, streamText } from '../support/ws-client';

/** For a `describe` block: Sentinels of its own (a primary, a replica, 3 Sentinels) across its tests, and gateways on them per test. */
function useSentinels(): { readonly sentinels: RealRedisSentinels | undefined; gateways: TopologyGateways } {
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
  return {
    get sentinels() {
      return sentinels;
    },
    gateways,
  };
}

/** A stream started on `a`, its socket dropped, resumed on `b` and finished: whole there. */
async function resumedAcross(gateways: TopologyGateways, a: GatewayProcess, b: GatewayProcess, id: string): Promise<void> {
  const onA = await gateways.open(a);
  const { call, streamId, lastSeq } = await startStreaming(onA, gateways.upstream, id, ['one ']);
  onA.ws.terminate();
  const onB = await gateways.open(b);
  onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
  await call.event(chunk({ content: 'two ' }));
  await onB.next((f) => f.id === id && f.type === 'chat.chunk', 20_000);
  await finishStream(call, ['three']);
  const whole = [...framesOf(onA, id), ...(await onB.collectStream(id, 10_000))];
  assertStreamInvariants(whole);
  expect(streamText(whole)).toBe('one two three');
}

describe('gateways on Redis behind Sentinels (e2e, real processes, real sentinels)', () => {
  jest.setTimeout(90_000);
  const setup = useSentinels();
  const { gateways } = setup;

  it('resume and cancel across replicas, through the primary the Sentinels name', async () => {
    const { sentinels } = setup;
    if (!sentinels) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    await resumedAcross(gateways, a, b, 'q1');
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
    const { sentinels } = setup;
    if (!sentinels) return;
    const stream = await gateways.watchedAcross('q3');
    const { a, b, call } = stream;
    const pumped = pumpPieces(call, 40, 25);
    const before = await sentinels.primary();
    const after = await sentinels.failover();
    expect(after).not.toBe(before);
    const text = `start ${await pumped}`;
    // A clean failover loses nothing: the watcher too gets it whole.
    expect(await finishThroughFailover(stream, text, { withinMs: 20_000 })).toBe('whole');
    // Both gateways found the new primary by themselves.
    await resumedAcross(gateways, b, a, 'q4');
  });

  it('SIGKILL of the primary while writes are in flight: the replica is promoted, nothing hangs or doubles, then all works again', async () => {
    const { sentinels } = setup;
    if (!sentinels) return;
    const stream = await gateways.watchedAcross('q5');
    const { a, b, call } = stream;
    const pumped = pumpPieces(call, 40, 25);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const primary = await sentinels.primary();
    await primary.kill();
    const killedAt = Date.now();
    await sentinels.failedOver(primary);
    const text = `start ${await pumped}`;
    await finishThroughFailover(stream, text, { since: killedAt });
    // The Sentinels promoted the replica: resume across replicas works again, unrestarted.
    await resumedAcross(gateways, a, b, 'q6');
  });
});

describe('gateways behind Sentinels whose primary hangs (e2e, real processes, real sentinels)', () => {
  jest.setTimeout(90_000);
  const setup = useSentinels();
  const { gateways } = setup;

  it('the primary frozen (SIGSTOP, for good) mid-stream: the gateways give up its open connections and follow the promoted replica; nothing hangs or doubles', async () => {
    const { sentinels } = setup;
    if (!sentinels) return;
    const stream = await gateways.watchedAcross('q1');
    const { a, b, call } = stream;
    const pumped = pumpPieces(call, 40, 25);
    const primary = await sentinels.primary();
    // A hung host: its connections stay open, nothing answers, nothing closes them. It never comes back in this test.
    primary.freeze();
    const frozenAt = Date.now();
    await sentinels.failedOver(primary);
    const text = `start ${await pumped}`;
    await finishThroughFailover(stream, text, { since: frozenAt });
    // Both gateways work on the new primary, the old one still frozen.
    await resumedAcross(gateways, a, b, 'q2');
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
