/**
 * Limits a security reviewer expects, each tried from outside as an attacker with a valid
 * credential would (issue #8): hostile JSON shapes, a JWT inside its clock tolerance, half-sent
 * HTTP requests, requests that would bill without limit, and what an HTTP error may reveal.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { SignJWT } from 'jose';
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { TestClient } from '../support/ws-client';

const JWT_SECRET = 'jwt-test-secret-that-is-32-bytes-or-more!';

/** What jest's fake timers can replace in Node (jest's own `FakeableAPI`, less the browser ones). */
const FAKEABLE = ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] as const;
type FakeableAPI = (typeof FAKEABLE)[number];
/** The `doNotFake` list that fakes only `faked`: sockets, immediates and every other timer stay real. */
const allBut = (faked: FakeableAPI[]): FakeableAPI[] => FAKEABLE.filter((api) => !faked.includes(api));

describe('security limits (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];

  async function boot(env: Record<string, string> = {}) {
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0', ...env });
  }
  async function ready(options?: Parameters<typeof TestClient.ready>[1]) {
    const { client } = await TestClient.ready(gateway.wsUrl, options);
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await gateway.close();
    await upstream.close();
  });

  describe('JSON shape', () => {
    const nested = (depth: number) => {
      let value = '{}';
      for (let i = 1; i < depth; i++) value = `{"a":${value}}`;
      return value;
    };
    const request = (id: string, responseFormat: string) =>
      `{"type":"chat.request","id":"${id}","messages":[{"role":"user","content":"x"}],"response_format":${responseFormat}}`;

    it('answers 40k-deep nesting with bad_request under the request id, not retryable internal_error', async () => {
      await boot();
      const client = await ready();
      client.sendRaw(request('deep', nested(40_000)));
      const error = await client.nextOfType('error', 'deep');
      expect(error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/more than 128 levels deep/) });
      expect(upstream.calls).toHaveLength(0);
    });

    it('relays a structured-output schema 64 levels deep', async () => {
      await boot();
      const client = await ready();
      client.sendRaw(request('schema', `{"type":"json_schema","json_schema":{"name":"s","schema":${nested(64)}}}`));
      const call = await upstream.nextCall();
      await call.streamText(['{}']);
      expect((await client.collectStream('schema')).at(-1)).toMatchObject({ type: 'chat.done' });
      let depth = 0;
      for (let node = call.body.response_format.json_schema.schema; node; node = node.a) depth++;
      expect(depth).toBe(64);
    });
  });

  it('holds a JWT valid until exp plus the clock tolerance, at the upgrade and on the open socket alike', async () => {
    await boot({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: JWT_SECRET });
    // The test holds the clock (Date only; timers and sockets stay real): on the wall clock, the
    // token's last second of validity ran out after 1000 - (now % 1000) ms, less than the time
    // a loaded machine may take to sign, connect and answer a ping.
    const now = Math.ceil(Date.now() / 1000) * 1000;
    jest.useFakeTimers({ now, doNotFake: allBut(['Date']) });
    try {
      // Expired 4 s ago: inside the 5 s tolerance, so it is accepted, until the clock passes exp + 5 s.
      const exp = now / 1000 - 4;
      const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('late').setExpirationTime(exp).sign(new TextEncoder().encode(JWT_SECRET));
      const client = await ready({ headers: { Authorization: `Bearer ${jwt}` } });
      const closedAt = client.closed.then(() => Date.now());
      client.send({ type: 'ping', ts: 1 });
      expect(await client.nextOfType('pong')).toEqual({ type: 'pong', ts: 1 });
      jest.setSystemTime((exp + 5) * 1000);
      const closed = await client.closed;
      expect(closed.code).toBe(4401);
      // Not at once, as when the open socket used the raw exp: only once the clock passed exp + 5 s.
      expect(await closedAt).toBeGreaterThanOrEqual((exp + 5) * 1000);
      expect(client.frames.at(-1)).toEqual({ type: 'error', code: 'unauthorized', message: 'token expired' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('closes a connection whose request headers do not arrive within HTTP_HEADERS_TIMEOUT_MS (slowloris)', async () => {
    await boot({ HTTP_HEADERS_TIMEOUT_MS: '400' });
    const socket: Socket = connect(gateway.port, '127.0.0.1');
    await once(socket, 'connect');
    const sentAt = Date.now();
    socket.write('GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
    const received: Buffer[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    await once(socket, 'close');
    // Node's defaults held it about 90 s; the deadline is checked every ~100 ms here.
    expect(Date.now() - sentAt).toBeLessThan(2_000);
    expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 408/);
  });

  describe('billing caps', () => {
    it('sends MAX_COMPLETION_TOKENS when the request sets no cap, and refuses a larger one', async () => {
      await boot({ MAX_COMPLETION_TOKENS: '500' });
      const client = await ready();
      client.send({ type: 'chat.request', id: 'default', messages: [{ role: 'user', content: 'x' }] });
      const call = await upstream.nextCall();
      expect(call.body).toMatchObject({ max_completion_tokens: 500 });
      expect(call.body.max_tokens).toBeUndefined();
      await call.streamText(['ok']);
      await client.collectStream('default');

      client.send({ type: 'chat.request', id: 'own', messages: [{ role: 'user', content: 'x' }], max_tokens: 100 });
      const own = await upstream.nextCall();
      expect(own.body).toMatchObject({ max_tokens: 100 });
      expect(own.body.max_completion_tokens).toBeUndefined();
      await own.streamText(['ok']);
      await client.collectStream('own');

      for (const field of ['max_tokens', 'max_completion_tokens']) {
        client.send({ type: 'chat.request', id: field, messages: [{ role: 'user', content: 'x' }], [field]: 501 });
        expect(await client.nextOfType('error', field)).toMatchObject({ code: 'bad_request', message: `${field}: at most 500 on this gateway` });
      }
      expect(upstream.calls).toHaveLength(2);
    });

    it('cuts a stream that runs past MAX_STREAM_DURATION_MS with one clear terminal frame and aborts its upstream', async () => {
      await boot({ MAX_STREAM_DURATION_MS: '300', UPSTREAM_STALL_TIMEOUT_MS: '60000' });
      const client = await ready();
      // The test runs the gateway's timers from here (sockets and immediates stay real): on the
      // real clock the 300 ms ran from the request and raced the upstream round trip, so a loaded
      // machine cut the stream before its first chunk arrived.
      jest.useFakeTimers({ doNotFake: allBut(['setTimeout', 'clearTimeout']) });
      try {
        client.send({ type: 'chat.request', id: 'endless', messages: [{ role: 'user', content: 'x' }] });
        const call = await upstream.nextCall();
        call.startSse();
        await call.event(chunk({ content: 'and on ' }));
        await client.nextOfType('chat.chunk', 'endless');
        jest.advanceTimersByTime(300);
        const frames = await client.collectStream('endless');
        expect(frames.map((f) => f.type)).toEqual(['chat.started', 'chat.chunk', 'chat.error']);
        expect(frames[2]).toMatchObject({ code: 'upstream_timeout', retryable: false, seq: 3, message: "The answer ran longer than this gateway's limit of 300 ms and was cut" });
        await call.aborted;
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('HTTP answers', () => {
    it('sends no X-Powered-By, and a 404 that does not echo the URL (it may hold a token)', async () => {
      await boot();
      const response = await fetch(`${gateway.httpUrl}/nope/secret-path?access_token=tok-0123456789`);
      expect(response.status).toBe(404);
      const body = await response.text();
      expect(body).not.toMatch(/secret-path|tok-0123456789|nope/);
      expect(JSON.parse(body)).toEqual({ statusCode: 404, error: 'Not Found' });
      expect(response.headers.get('x-powered-by')).toBeNull();
      expect((await fetch(`${gateway.httpUrl}/health/live`)).headers.get('x-powered-by')).toBeNull();
    });
  });
});
