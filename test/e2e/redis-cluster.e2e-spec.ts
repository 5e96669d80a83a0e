/**
 * Gateway processes (the built service) on a real Redis Cluster on loopback: 3 primaries, 3
 * replicas (test/support/real-redis-cluster.ts). Cross-replica resume, list, cancel and a dead
 * owner as on one Redis; then failovers mid-stream of the primary holding a live stream's slot —
 * a clean one (CLUSTER FAILOVER) and one that can lose acknowledged writes (SIGKILL of the primary,
 * its replica promoted after the node timeout) — and one that hangs (SIGSTOP: its connections stay
 * open, unanswered). A stream finishes whole or ends with one
 * terminal; nothing is delivered twice; nothing hangs (every wait is bounded). Without
 * redis-server / redis-cli it skips visibly; REQUIRE_REDIS_CLUSTER=1 (.ci/run) makes it fail.
 */
import { chunk } from '../support/fake-upstream';
import { RealRedisCluster } from '../support/real-redis-cluster';
import { finishStream, framesOf, pumpPieces, startStreaming } from '../support/stream-script';
import { BOB, finishThroughFailover, useTopologyGateways } from '../support/topology-gateways';
import { assertStreamInvariants, streamText } from '../support/ws-client';

describe('gateways on a Redis Cluster (e2e, real processes, real cluster)', () => {
  jest.setTimeout(90_000);
  let cluster: RealRedisCluster | undefined;
  beforeAll(async () => {
    cluster = await RealRedisCluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    // A test that killed a node: it comes back as a replica, and the next test starts on a healthy cluster.
    await cluster?.heal();
  }, 60_000);
  const gateways = useTopologyGateways(() => ({ REDIS_CLUSTER_NODES: cluster!.seeds, REDIS_PASSWORD: cluster!.password }));

  it('a stream started on A is resumed on B byte for byte, listed there, and replayed whole after it ended; keys share the stream tag', async () => {
    if (!cluster) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    const onA = await gateways.open(a);
    const { call, streamId, lastSeq } = await startStreaming(onA, gateways.upstream, 'q1', ['Hel', 'lo ']);
    onA.ws.terminate();
    await call.event(chunk({ content: 'wor' }));
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
    await onB.next((f) => f.id === 'q1' && f.type === 'chat.chunk');
    onB.send({ type: 'stream.list' });
    const listed = await onB.nextOfType('stream.list.result');
    expect(listed.streams.map((s: { stream_id: string }) => s.stream_id)).toContain(streamId);
    expect(listed.partial).toBeUndefined();
    await finishStream(call, ['ld', '!']);
    const whole = [...framesOf(onA, 'q1'), ...(await onB.collectStream('q1'))];
    assertStreamInvariants(whole);
    expect(streamText(whole)).toBe('Hello world!');
    const later = await gateways.open(b);
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'later' });
    expect((await later.collectStream('later')).map(({ id: _id, ...f }) => f)).toEqual(whole.map(({ id: _id, ...f }) => f));
    // The log, its meta and its watchers' set are in one slot: that of the stream's tag.
    const { primary } = await cluster.ownersOf(`{${streamId}}`);
    const keys = (await primary.call('KEYS', `*{${streamId}}*`)) as string[];
    expect(keys.sort()).toEqual([`hsg:m:{${streamId}}`, `hsg:s:{${streamId}}`, `hsg:w:{${streamId}}`]);
    const bob = await gateways.open(b, BOB);
    bob.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    expect(await bob.nextOfType('chat.error')).toMatchObject({ code: 'stream_not_found' });
    // The nodes' password (REDIS_PASSWORD) was used, and never written anywhere.
    for (const gateway of [a, b]) expect(gateway.output.join('')).not.toContain(cluster.password);
  });

  it('chat.cancel on B reaches the owner A over sharded pub/sub within a second, and again after its channel\'s slot failed over', async () => {
    if (!cluster) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
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
    expect(await onB.nextOfType('chat.done', 'mine')).toMatchObject({ finish_reason: 'cancelled' });

    // The owner's cancel channel moves with its slot: after a failover of that slot, cancels
    // reach the owner again (one sent while it moves may be lost, like any pub/sub message).
    const owner = String(await (await cluster.ownersOf(`{${streamId}}`)).primary.call('HGET', `hsg:m:{${streamId}}`, 'owner'));
    const { replica } = await cluster.ownersOf(`{${owner}}`);
    await cluster.cleanFailover(replica);
    const again = await gateways.open(a);
    const second = await startStreaming(again, gateways.upstream, 'q2b', ['x']);
    again.ws.terminate();
    onB.send({ type: 'stream.resume', stream_id: second.streamId, after_seq: second.lastSeq, id: 'then' });
    await second.call.event(chunk({ content: 'y' }));
    await onB.next((f) => f.id === 'then' && f.type === 'chat.chunk');
    const sentAt = Date.now();
    let aborted = false;
    void second.call.aborted.then(() => (aborted = true));
    while (!aborted && Date.now() - sentAt < 10_000) {
      onB.send({ type: 'chat.cancel', id: 'then' });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(aborted).toBe(true);
  });

  it('SIGKILL of the owner A: a watcher on B gets what was logged, then one retryable terminal, within seconds', async () => {
    if (!cluster) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    const onA = await gateways.open(a);
    const { streamId, lastSeq } = await startStreaming(onA, gateways.upstream, 'q3', ['before the crash']);
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'watch' });
    await onB.next((f) => f.id === 'watch' && f.seq === lastSeq);
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    const frames = await onB.collectStream('watch', 15_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('before the crash');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected', retryable: true, seq: lastSeq + 1 });
  });

  it("a clean CLUSTER FAILOVER of the stream's slot mid-stream: the owner's socket and a watcher on B both get it whole", async () => {
    if (!cluster) return;
    const stream = await gateways.watchedAcross('q4');
    const { call, streamId } = stream;
    const { replica } = await cluster.ownersOf(`{${streamId}}`);
    const pumped = pumpPieces(call, 40, 25);
    await cluster.cleanFailover(replica);
    const text = `start ${await pumped}`;
    expect(await finishThroughFailover(stream, text, { withinMs: 20_000 })).toBe('whole');
  });

  it("the primary holding the stream's slot hangs (SIGSTOP) mid-stream, for good: its connections are given up, the writes go to the replica promoted meanwhile; the owner's socket gets the stream whole, a watcher whole or one terminal", async () => {
    if (!cluster) return;
    const stream = await gateways.watchedAcross('q6');
    const { primary, replica } = await cluster.ownersOf(`{${stream.streamId}}`);
    const pumped = pumpPieces(stream.call, 40, 25);
    // A hung host: its connections stay open, nothing answers, nothing closes them.
    primary.freeze();
    const frozenAt = Date.now();
    try {
      await cluster.promoted(replica);
      await finishThroughFailover(stream, `start ${await pumped}`, { since: frozenAt });
    } finally {
      primary.thaw();
    }
  });

  it("SIGKILL of the primary holding the stream's slot while writes are in flight: nothing hangs, nothing is doubled, a hole is never replayed as whole", async () => {
    if (!cluster) return;
    const stream = await gateways.watchedAcross('q5');
    const { b, call, streamId } = stream;
    const { primary, replica } = await cluster.ownersOf(`{${streamId}}`);
    const pumped = pumpPieces(call, 40, 25);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await primary.kill();
    const killedAt = Date.now();
    // The replica takes over after the node timeout (2 s) and an election.
    await cluster.promoted(replica);
    const text = `start ${await pumped}`;
    await finishThroughFailover(stream, text, { since: killedAt });
    // A replay from 0 afterwards: the whole stream, or refused — never one with a hole.
    const later = await gateways.open(b);
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'later' });
    const replay = await later.collectStream('later', 10_000);
    if (replay.at(-1)!.type === 'chat.done') {
      assertStreamInvariants(replay);
      expect(streamText(replay)).toBe(`${text}end`);
    } else {
      expect(replay.at(-1)).toMatchObject({ type: 'chat.error', code: 'stream_not_found' });
    }
  });
});
