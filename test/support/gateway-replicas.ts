import { FakeUpstream } from './fake-upstream';
import { TEST_API_KEY } from './gateway-app';
import { TestRedis } from './redis-server';
import { startGatewayProcess, type GatewayProcess } from './service-process';
import type { TestClient } from './ws-client';
import { ALICE, BOB } from './gateway-fixture';

/** The principals a cluster's gateways know (AUTH_MODE api_key): the same as an in-process gateway's. */
export { ALICE, BOB };

export interface GatewayReplicas {
  /** The suite's private redis-server; undefined when there is none (SKIPPED was printed; REQUIRE_REDIS=1 fails instead). */
  readonly redis: TestRedis | undefined;
  readonly upstream: FakeUpstream;
  /** Starts one more gateway process (the built service, or the build `main`) on the shared Redis, `env` over the suite's defaults. */
  instance(env?: Record<string, string>, main?: string): Promise<GatewayProcess>;
  /** A client socket to terminate after the test. */
  track<T extends TestClient>(client: T): T;
}

/**
 * Several gateway replicas sharing one private Redis, for a `describe` block: each test gets a
 * fresh fake upstream and redis-server; after it, its sockets are terminated, its gateway
 * processes killed, Redis and the upstream stopped.
 */
export function useGatewayReplicas(defaults: Record<string, string> = {}): GatewayReplicas {
  let redis: TestRedis | undefined;
  let upstream: FakeUpstream | undefined;
  const instances: GatewayProcess[] = [];
  const clients: TestClient[] = [];

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
    redis = await TestRedis.start();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    for (const { child } of instances.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await redis?.down();
    await upstream?.close();
  });

  return {
    get redis() {
      return redis;
    },
    get upstream() {
      return upstream!;
    },
    async instance(env = {}, main) {
      const base = { HOLYSHEEP_API_KEY: TEST_API_KEY, HOLYSHEEP_BASE_URL: upstream!.baseUrl, AUTH_MODE: 'api_key', AUTH_API_KEYS: `alice:${ALICE},bob:${BOB}` };
      const started = await startGatewayProcess({ ...base, REDIS_URL: redis!.url, ...defaults, ...env }, main);
      instances.push(started);
      return started;
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
}
