/**
 * Who may connect and how much they may do, checked from outside with plain WebSocket clients:
 * credentials in all three places, 4401 on bad or expiring credentials, origin 403, connection
 * caps (1013, 4429, readiness), request rate limits, frame floods, model and prompt caps. No
 * secret may appear in any frame or log line.
 */
import { once } from 'node:events';
import { SignJWT } from 'jose';
import { WebSocket, type ClientOptions } from 'ws';
import { ConnectionRegistryService as ConnectionRegistry } from '../../src/connections/connection-registry.service';
import { FakeUpstream } from '../support/fake-upstream';
import { startGateway, TEST_API_KEY, type RunningGateway } from '../support/gateway-app';
import { TestClient } from '../support/ws-client';

const ALICE_KEY = 'alice-0123456789abcdef-secret';
const BOB_KEY = 'bob-0123456789abcdef-secret';
const JWT_SECRET = 'jwt-test-secret-that-is-32-bytes-or-more!';

/** The upgrade's HTTP status when it is refused. */
async function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(url, { headers });
  ws.on('error', () => undefined);
  const [, response] = await once(ws, 'unexpected-response');
  ws.terminate();
  return response.statusCode;
}

describe('auth and limits (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];
  const secrets = [ALICE_KEY, BOB_KEY, JWT_SECRET, TEST_API_KEY];

  async function boot(env: Record<string, string>) {
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0', ...env });
  }
  async function open(url: string, options: ClientOptions & { protocols?: string[] } = {}) {
    const client = await TestClient.connect(url, options);
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    const frames = JSON.stringify(clients.flatMap((c) => c.frames));
    for (const c of clients.splice(0)) c.ws.terminate();
    await gateway.close();
    await upstream.close();
    const logs = gateway.logs.lines.join('\n');
    for (const secret of secrets) {
      expect(frames).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });

  describe('api_key', () => {
    beforeEach(() => boot({ AUTH_MODE: 'api_key', AUTH_API_KEYS: `alice:${ALICE_KEY},bob:${BOB_KEY}` }));

    it('accepts a key from the Authorization header', async () => {
      const client = await open(gateway.wsUrl, { headers: { Authorization: `Bearer ${ALICE_KEY}` } });
      expect((await client.next()).type).toBe('session.ready');
    });

    it('accepts a key from the subprotocol list and answers chat.v1 only', async () => {
      const client = await open(gateway.wsUrl, { protocols: ['chat.v1', `bearer.${ALICE_KEY}`] });
      expect(client.ws.protocol).toBe('chat.v1');
      expect((await client.next()).type).toBe('session.ready');
    });

    it('accepts a key from access_token, and never logs it', async () => {
      const client = await open(`${gateway.wsUrl}?access_token=${encodeURIComponent(BOB_KEY)}`);
      expect((await client.next()).type).toBe('session.ready');
    });

    it.each([
      ['a wrong key', { headers: { Authorization: 'Bearer not-a-valid-key-at-all' } }, 'invalid credential'],
      ['no credential', {}, 'missing credential'],
    ])('answers %s with one unauthorized error frame, then close 4401', async (_name, options, message) => {
      const client = await open(gateway.wsUrl, options);
      const closed = await client.closed;
      expect(client.frames).toEqual([{ type: 'error', code: 'unauthorized', message }]);
      expect(closed.code).toBe(4401);
    });

    it('caps sockets per principal with 4429, leaving other principals alone', async () => {
      await gateway.close();
      await boot({ AUTH_MODE: 'api_key', AUTH_API_KEYS: `alice:${ALICE_KEY},bob:${BOB_KEY}`, MAX_CONNECTIONS_PER_PRINCIPAL: '1' });
      const first = await open(gateway.wsUrl, { headers: { Authorization: `Bearer ${ALICE_KEY}` } });
      await first.next();
      const second = await open(gateway.wsUrl, { headers: { Authorization: `Bearer ${ALICE_KEY}` } });
      expect((await second.closed).code).toBe(4429);
      const bob = await open(gateway.wsUrl, { headers: { Authorization: `Bearer ${BOB_KEY}` } });
      expect((await bob.next()).type).toBe('session.ready');
      // Once alice's socket is gone, she may connect again.
      await first.close();
      const third = await open(gateway.wsUrl, { headers: { Authorization: `Bearer ${ALICE_KEY}` } });
      expect((await third.next()).type).toBe('session.ready');
    });
  });

  describe('jwt', () => {
    const token = (claims: { sub?: string; exp: number }) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(claims.sub ?? 'user-7').setExpirationTime(claims.exp).sign(new TextEncoder().encode(JWT_SECRET));
    const seconds = () => Math.floor(Date.now() / 1000);
    beforeEach(() => boot({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: JWT_SECRET }));

    it('accepts a valid token', async () => {
      const jwt = await token({ exp: seconds() + 600 });
      secrets.push(jwt);
      const client = await open(gateway.wsUrl, { protocols: ['chat.v1', `bearer.${jwt}`] });
      expect((await client.next()).type).toBe('session.ready');
    });

    it('refuses an expired token with unauthorized and 4401', async () => {
      const jwt = await token({ exp: seconds() - 60 });
      secrets.push(jwt);
      const client = await open(gateway.wsUrl, { headers: { Authorization: `Bearer ${jwt}` } });
      expect((await client.closed).code).toBe(4401);
      expect(client.frames).toEqual([{ type: 'error', code: 'unauthorized', message: 'token expired' }]);
    });

    it('closes an open socket with unauthorized and 4401 when its token expires', async () => {
      const exp = seconds() + 1;
      const jwt = await token({ exp });
      secrets.push(jwt);
      const client = await open(gateway.wsUrl, { headers: { Authorization: `Bearer ${jwt}` } });
      expect((await client.next()).type).toBe('session.ready');
      const closed = await client.closed;
      expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
      expect(closed.code).toBe(4401);
      expect(client.frames.at(-1)).toEqual({ type: 'error', code: 'unauthorized', message: 'token expired' });
    });
  });

  describe('origin', () => {
    beforeEach(() => boot({ ALLOWED_ORIGINS: 'https://app.example.com,https://*.example.org' }));

    it('refuses a disallowed Origin with 403 before any socket opens', async () => {
      expect(await refusedStatus(gateway.wsUrl, { Origin: 'https://evil.example.com' })).toBe(403);
      expect(await refusedStatus(gateway.wsUrl, { Origin: 'https://example.org.evil.com' })).toBe(403);
      expect(gateway.app.get(ConnectionRegistry).size).toBe(0);
    });

    it('accepts allowed origins and clients that send none', async () => {
      const cases: Array<Record<string, string>> = [{ Origin: 'https://app.example.com' }, { Origin: 'https://team.example.org' }, {}];
      for (const headers of cases) {
        const client = await open(gateway.wsUrl, { headers });
        expect((await client.next()).type).toBe('session.ready');
      }
    });
  });

  describe('limits', () => {
    it('closes sockets beyond MAX_CONNECTIONS with 1013, and readiness says 503 at capacity', async () => {
      await boot({ MAX_CONNECTIONS: '2' });
      const a = await open(gateway.wsUrl);
      await a.next();
      expect((await fetch(`${gateway.httpUrl}/health/ready`)).status).toBe(200);
      const b = await open(gateway.wsUrl);
      await b.next();
      const ready = await fetch(`${gateway.httpUrl}/health/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toContain('at capacity');
      const c = await open(gateway.wsUrl);
      expect((await c.closed).code).toBe(1013);
      await a.close();
      expect((await fetch(`${gateway.httpUrl}/health/ready`)).status).toBe(200);
    });

    it('rate-limits requests per principal with chat.error rate_limited and retry_after_ms, without calling the upstream', async () => {
      await boot({ RATE_LIMIT_REQUESTS_PER_MINUTE: '2' });
      const client = await open(gateway.wsUrl);
      await client.next();
      const other = await open(gateway.wsUrl);
      await other.next();
      for (const id of ['1', '2']) client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: 'x' }] });
      await upstream.nextCall();
      await upstream.nextCall();
      // The budget is the principal's (here: anonymous), across its sockets.
      other.send({ type: 'chat.request', id: '3', messages: [{ role: 'user', content: 'x' }] });
      const limited = await other.nextOfType('chat.error', '3');
      expect(limited).toEqual({ type: 'chat.error', id: '3', code: 'rate_limited', message: expect.any(String), retryable: true, retry_after_ms: expect.any(Number) });
      expect(limited.retry_after_ms).toBeGreaterThan(0);
      expect(limited.retry_after_ms).toBeLessThanOrEqual(30_000);
      expect(upstream.calls).toHaveLength(2);
    });

    it('drops a frame flood with one rate_limited error per second, and closes a sustained flood with 4429', async () => {
      await boot({ MAX_FRAMES_PER_SECOND: '10' });
      const client = await open(gateway.wsUrl);
      await client.next();
      for (let i = 0; i < 30; i++) client.send({ type: 'ping', ts: i });
      const warning = await client.nextOfType('error');
      expect(warning).toMatchObject({ code: 'rate_limited' });
      const pongs = client.frames.filter((f) => f.type === 'pong');
      expect(pongs.length).toBeLessThanOrEqual(11);
      // Keep flooding: 5 frames every 50 ms (100/s) until the gateway gives up on the socket.
      const flood = setInterval(() => {
        for (let i = 0; i < 5; i++) if (client.ws.readyState === WebSocket.OPEN) client.send({ type: 'ping' });
      }, 50);
      try {
        expect((await client.closed).code).toBe(4429);
      } finally {
        clearInterval(flood);
      }
      expect(client.frames.filter((f) => f.type === 'error').length).toBeLessThanOrEqual(5);
    });

    it('answers a chat.request dropped by the frame cap under its own id, so it never hangs', async () => {
      await boot({ MAX_FRAMES_PER_SECOND: '3' });
      const client = await open(gateway.wsUrl);
      await client.next();
      for (let i = 0; i < 3; i++) client.send({ type: 'ping', ts: i });
      client.send({ type: 'chat.request', id: 'dropped', messages: [{ role: 'user', content: 'x' }] });
      expect(await client.nextOfType('error', 'dropped')).toMatchObject({ code: 'rate_limited', id: 'dropped' });
      expect(upstream.calls).toHaveLength(0);
    });

    it('enforces ALLOWED_MODELS and the caps on messages and prompt bytes', async () => {
      await boot({ ALLOWED_MODELS: 'gpt-4.1,gpt-4.1-mini', MAX_MESSAGES_PER_REQUEST: '3', MAX_PROMPT_BYTES: '200' });
      const client = await open(gateway.wsUrl);
      await client.next();
      client.send({ type: 'chat.request', id: 'm', model: 'o3-pro', messages: [{ role: 'user', content: 'x' }] });
      expect(await client.nextOfType('error', 'm')).toMatchObject({ code: 'model_not_allowed' });
      client.send({ type: 'chat.request', id: 'n', messages: Array.from({ length: 4 }, () => ({ role: 'user', content: 'x' })) });
      expect(await client.nextOfType('error', 'n')).toMatchObject({ code: 'bad_request', message: expect.stringContaining('at most 3 messages') });
      client.send({ type: 'chat.request', id: 'p', messages: [{ role: 'user', content: 'y'.repeat(300) }] });
      expect(await client.nextOfType('error', 'p')).toMatchObject({ code: 'bad_request', message: expect.stringContaining('200 bytes') });
      expect(upstream.calls).toHaveLength(0);
      client.send({ type: 'chat.request', id: 'ok', model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'fine' }] });
      await (await upstream.nextCall()).streamText(['allowed']);
      expect((await client.collectStream('ok')).at(-1)?.type).toBe('chat.done');
    });
  });
});

