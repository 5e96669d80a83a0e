import { FakeUpstream } from './fake-upstream';
import { startGateway, type RunningGateway } from './gateway-app';
import { TestClient, type Frame } from './ws-client';

/** The API keys of the principals `alice` and `bob` (AUTH_MODE api_key), as their clients send them. */
export const ALICE = 'alice-0123456789abcdef-secret';
export const BOB = 'bob-0123456789abcdef-secret';

export interface GatewayFixture {
  /** This test's fake upstream (a new one per test). */
  readonly upstream: FakeUpstream;
  /** The gateway {@link boot} started for this test. */
  readonly gateway: RunningGateway;
  /** Starts the real app on port 0 against the upstream: the fixture's defaults, then `env` over them. */
  boot(env?: Record<string, string>): Promise<RunningGateway>;
  /** A socket that got `session.ready`, with `authorization: Bearer <key>` (or these headers); closed after the test. */
  open(auth?: string | Record<string, string>): Promise<{ client: TestClient; ready: Frame }>;
}

/**
 * One in-process gateway per test beside a fake upstream, for a `describe` block (the in-memory
 * twin of `useGatewayReplicas`): api_key auth for alice and bob, no upstream retries, `defaults` on top.
 * After each test its sockets are terminated, the app closed and the upstream stopped.
 */
export function useGateway(defaults: Record<string, string> = {}): GatewayFixture {
  let upstream: FakeUpstream | undefined;
  let gateway: RunningGateway | undefined;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    await gateway?.close();
    gateway = undefined;
    await upstream?.close();
  });

  const fixture: GatewayFixture = {
    get upstream() {
      if (!upstream) throw new Error('the upstream starts in beforeEach: use it inside a test');
      return upstream;
    },
    get gateway() {
      if (!gateway) throw new Error('boot() the gateway first');
      return gateway;
    },
    // Arrow functions: suites take them apart (`const { boot } = useGateway()`).
    boot: async (env = {}) => {
      gateway = await startGateway({
        HOLYSHEEP_BASE_URL: fixture.upstream.baseUrl,
        UPSTREAM_MAX_RETRIES: '0',
        AUTH_MODE: 'api_key',
        AUTH_API_KEYS: `alice:${ALICE},bob:${BOB}`,
        ...defaults,
        ...env,
      });
      return gateway;
    },
    open: async (auth = ALICE) => {
      const headers = typeof auth === 'string' ? { authorization: `Bearer ${auth}` } : auth;
      const opened = await TestClient.ready(fixture.gateway.wsUrl, { headers });
      clients.push(opened.client);
      return opened;
    },
  };
  return fixture;
}
