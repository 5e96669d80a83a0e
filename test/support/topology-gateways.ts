import { FakeUpstream } from './fake-upstream';
import { ALICE, BOB } from './gateway-fixture';
import { TEST_API_KEY } from './gateway-app';
import { outputIncludes, startGatewayProcess, type GatewayProcess } from './service-process';
import { finishStream, startStreaming } from './stream-script';
import { assertStreamInvariants, streamText, TestClient, type Frame } from './ws-client';

export { ALICE, BOB };

/** Gateway processes on a Redis topology of the suite's (a Cluster, Sentinels): per test, a fake upstream, its gateways and sockets. */
export interface TopologyGateways {
  readonly upstream: FakeUpstream;
  /** Starts one more gateway process (the built service), `env` over the suite's (which name the topology). */
  instance(env?: Record<string, string>): Promise<GatewayProcess>;
  /** A socket of alice's (or `key`'s) on `gateway`, terminated after the test. */
  open(gateway: GatewayProcess, key?: string): Promise<TestClient>;
  /**
   * Two more gateways, A and B: a stream `id` started on A (its first piece `start `), and a socket
   * on B watching it from seq 0 under the id `watch`, its first chunk read there. What a failover
   * test starts from.
   */
  watchedAcross(id: string): Promise<WatchedAcross>;
}

export interface WatchedAcross {
  /** The stream's request id on A. */
  id: string;
  a: GatewayProcess;
  b: GatewayProcess;
  onA: TestClient;
  onB: TestClient;
  call: Awaited<ReturnType<typeof startStreaming>>['call'];
  streamId: string;
}

/**
 * For a `describe` block whose Redis topology lives across its tests (`topology()` gives the env
 * naming it: it is read when a gateway starts): each test gets a fresh fake upstream; after it,
 * its sockets are terminated and its gateway processes killed.
 */
export function useTopologyGateways(topology: () => Record<string, string>): TopologyGateways {
  let upstream: FakeUpstream | undefined;
  const instances: GatewayProcess[] = [];
  const clients: TestClient[] = [];
  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    for (const { child } of instances.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await upstream?.close();
  });
  return {
    get upstream() {
      return upstream!;
    },
    async instance(env = {}) {
      const started = await startGatewayProcess({
        HOLYSHEEP_API_KEY: TEST_API_KEY,
        HOLYSHEEP_BASE_URL: upstream!.baseUrl,
        AUTH_MODE: 'api_key',
        AUTH_API_KEYS: `alice:${ALICE},bob:${BOB}`,
        STREAM_LOG_BATCH_MS: '20',
        INSTANCE_LEASE_MS: '1500',
        ...topology(),
        ...env,
      });
      instances.push(started);
      // A gateway listens before its first connection to the Cluster is ready (a slot map to
      // fetch, nodes to connect): a resume before then is answered without Redis. Wait for it.
      await outputIncludes(started, '"event":"redis_up"');
      return started;
    },
    async open(gateway, key = ALICE) {
      const { client } = await TestClient.ready(gateway.url, { headers: { authorization: `Bearer ${key}` } });
      clients.push(client);
      return client;
    },
    async watchedAcross(id) {
      const a = await this.instance();
      const b = await this.instance();
      const onA = await this.open(a);
      const { call, streamId } = await startStreaming(onA, upstream!, id, ['start ']);
      const onB = await this.open(b);
      onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'watch' });
      await onB.next((f) => f.id === 'watch' && f.type === 'chat.chunk');
      return { id, a, b, onA, onB, call, streamId };
    },
  };
}

/**
 * What a reader may see of a stream through a failover: frames from `after + 1` on, each seq once
 * and in order (never a duplicate, never a hole), then either the stream's own `chat.done` (whole)
 * or one retryable terminal, `upstream_disconnected` (the owner died, or part of the log is gone:
 * it is not replayed as whole). Returns which.
 */
export function checkThroughFailover(frames: Frame[], after = 0): 'whole' | 'ended' {
  const numbered = frames.filter((f) => typeof f.seq === 'number');
  numbered.forEach((frame, index) => expect(frame.seq).toBe(after + index + 1));
  const terminals = frames.filter((f) => f.type === 'chat.done' || f.type === 'chat.error');
  expect(terminals).toHaveLength(1);
  const last = frames.at(-1)!;
  expect(terminals[0]).toBe(last);
  if (last.type === 'chat.done') return 'whole';
  // Issue 26: whole, or one retryable terminal (a gap met while following, a log read that failed).
  expect(last).toMatchObject({ code: 'upstream_disconnected', retryable: true });
  return 'ended';
}

/**
 * After a failover, the stream of {@link TopologyGateways.watchedAcross} is finished (`end`): the
 * owner's own socket gets `text` and `end` whole (it reads its memory); the watcher on B whole or
 * one retryable terminal ({@link checkThroughFailover}), within `withinMs` of `since`. Returns which.
 */
export async function finishThroughFailover(stream: WatchedAcross, text: string, { since = Date.now(), withinMs = 30_000 } = {}): Promise<'whole' | 'ended'> {
  await finishStream(stream.call, ['end']);
  const own = await stream.onA.collectStream(stream.id, 20_000);
  assertStreamInvariants(own);
  expect(streamText(own)).toBe(`${text}end`);
  const watched = await stream.onB.collectStream('watch', withinMs);
  expect(Date.now() - since).toBeLessThan(withinMs);
  const outcome = checkThroughFailover(watched);
  if (outcome === 'whole') expect(streamText(watched)).toBe(`${text}end`);
  return outcome;
}
