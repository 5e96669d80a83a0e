import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { exportJWK, generateKeyPair, type JWTHeaderParameters } from 'jose';
import { RemoteKeySet, type FetchReason } from './remote-key-set';

/** A JWKS endpoint whose answer the test sets; every request is recorded. */
async function jwksServer() {
  const state = { status: 200, body: { keys: [] as unknown[] }, requests: 0 };
  const server: Server = createServer((_req, res) => {
    state.requests += 1;
    res.writeHead(state.status, { 'content-type': 'application/json' }).end(JSON.stringify(state.body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { state, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`, close: () => new Promise((r) => server.close(r)) };
}

async function jwk(kid: string) {
  const { publicKey } = await generateKeyPair('RS256');
  return { ...(await exportJWK(publicKey)), kid, alg: 'RS256' };
}

const header = (kid: string): JWTHeaderParameters => ({ alg: 'RS256', kid });
const jws = { payload: '', signature: '', protected: '' };

describe('RemoteKeySet', () => {
  let server: Awaited<ReturnType<typeof jwksServer>>;
  let now = 0;
  const events: Array<[string, FetchReason]> = [];
  const set = (cooldownMs = 1_000) =>
    new RemoteKeySet({ url: server.url, cacheMs: 60_000, cooldownMs, timeoutMs: 2_000 }, { fetched: (_n, r) => void events.push(['ok', r]), failed: (p, r) => void events.push([p, r]) }, () => now);

  beforeEach(async () => {
    server = await jwksServer();
    server.state.body = { keys: [await jwk('a')] };
    events.length = 0;
    now = 0;
  });
  afterEach(() => server.close());

  it('refetches for an unknown kid at most once per cooldown, and finds a rotated key', async () => {
    const keys = set();
    keys.start();
    await expect(keys.resolve(header('a'), jws)).resolves.toBeDefined();
    server.state.body = { keys: [await jwk('b')] };
    await expect(keys.resolve(header('b'), jws)).resolves.toBeDefined();
    const after = server.state.requests;
    for (let i = 0; i < 10; i++) await expect(keys.resolve(header(`forged-${i}`), jws)).rejects.toThrow();
    expect(server.state.requests).toBe(after);
    now += 1_000;
    await expect(keys.resolve(header('forged-x'), jws)).rejects.toThrow();
    expect(server.state.requests).toBe(after + 1);
    keys.stop();
  });

  it('keeps the last good keys when a refetch fails, and says so', async () => {
    const keys = set(0);
    keys.start();
    await keys.resolve(header('a'), jws);
    server.state.status = 503;
    await expect(keys.resolve(header('unknown'), jws)).rejects.toThrow();
    await expect(keys.resolve(header('a'), jws)).resolves.toBeDefined();
    expect(events).toContainEqual(['HTTP 503', 'unknown_kid']);
    keys.stop();
  });

  it('refreshes in the background every cacheMs, failures keeping the last good set', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const keys = set();
      keys.start();
      await keys.resolve(header('a'), jws);
      server.state.status = 500;
      const before = server.state.requests;
      jest.advanceTimersByTime(60_000);
      while (!events.some(([p]) => p === 'HTTP 500')) await new Promise((r) => setImmediate(r));
      expect(server.state.requests).toBe(before + 1);
      expect(events).toContainEqual(['HTTP 500', 'refresh']);
      await expect(keys.resolve(header('a'), jws)).resolves.toBeDefined();
      keys.stop();
    } finally {
      jest.useRealTimers();
    }
  });
});
