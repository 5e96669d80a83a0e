/**
 * Issue 22, from outside: anonymous clients are strangers to each other (and find their own
 * streams again by their key), a trusted proxy names the user only from its own address, JWT keys
 * come from a real OIDC-like server on loopback (discovery, rotation, an outage longer than the
 * cache age, a flood of made-up kids), and a live socket takes a fresh token (`auth.refresh`).
 */
import { WebSocket } from 'ws';
import { ConnectionRegistryService } from '../../src/connections/connection-registry.service';
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { OidcServer } from '../support/oidc-server';
import { TestClient } from '../support/ws-client';
import { createClient, type FrameRecord } from '@holysheep/stream-client';

const KEY_A = 'anon.aaaaaaaaaaaaaaaaaaaaaa';
const KEY_B = 'anon.bbbbbbbbbbbbbbbbbbbbbb';
const hello = [{ role: 'user', content: 'hi' }];
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('identity (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway | undefined;
  const clients: TestClient[] = [];
  const secrets: string[] = [KEY_A, KEY_B];

  const boot = async (env: Record<string, string>) => {
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0', ...env });
    return gateway;
  };
  const open = async (options: Parameters<typeof TestClient.connect>[1] = {}) => {
    const client = await TestClient.connect(gateway!.wsUrl, options);
    clients.push(client);
    return client;
  };
  const principals = () => [...gateway!.app.get(ConnectionRegistryService).all()].map((c) => c.principal);

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    const frames = JSON.stringify(clients.flatMap((c) => c.frames));
    for (const c of clients.splice(0)) c.ws.terminate();
    await gateway?.close();
    await upstream.close();
    const logs = gateway?.logs.lines.join('\n') ?? '';
    gateway = undefined;
    // Tokens and anonymous keys are secrets: never in a frame or a log line.
    for (const secret of secrets.splice(2)) {
      expect(frames).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    for (const key of [KEY_A, KEY_B]) {
      expect(frames).not.toContain(key);
      expect(logs).not.toContain(key);
    }
  });

  describe('AUTH_MODE=none: anonymous clients are strangers', () => {
    it('a browser session lists and resumes only its own streams, and finds them again by its key after a reload', async () => {
      await boot({});
      const a = await open(bearer(KEY_A));
      await a.next();
      a.send({ type: 'chat.request', id: 'mine', messages: hello });
      const call = await upstream.nextCall();
      call.startSse();
      await call.event(chunk({ content: 'first ' }));
      const started = await a.nextOfType('chat.started', 'mine');

      const b = await open(bearer(KEY_B));
      await b.next();
      b.send({ type: 'stream.list', id: 'l' });
      expect((await b.nextOfType('stream.list.result', 'l')).streams).toEqual([]);
      b.send({ type: 'stream.resume', stream_id: started.stream_id, after_seq: 0, id: 'steal' });
      expect(await b.nextOfType('chat.error', 'steal')).toMatchObject({ code: 'stream_not_found' });

      // No key at all: a principal of its own as well.
      const keyless = await open({ headers: { authorization: 'Basic none' } });
      await keyless.next();
      keyless.send({ type: 'stream.list', id: 'l' });
      expect((await keyless.nextOfType('stream.list.result', 'l')).streams).toEqual([]);

      // The reload: a new socket with the same key.
      a.ws.terminate();
      const again = await open(bearer(KEY_A));
      await again.next();
      again.send({ type: 'stream.list', id: 'l' });
      expect((await again.nextOfType('stream.list.result', 'l')).streams.map((s: { stream_id: string }) => s.stream_id)).toEqual([started.stream_id]);
      again.send({ type: 'stream.resume', stream_id: started.stream_id, after_seq: 0, id: 'mine' });
      await call.event(chunk({ content: 'back' }, 'stop'));
      await call.event('[DONE]');
      call.res.end();
      expect(await again.nextOfType('chat.done', 'mine')).toMatchObject({ finish_reason: 'stop' });

      const all = principals();
      expect(all.every((p) => /^anon:[0-9a-f]{32}$/.test(p))).toBe(true);
      expect(new Set(all).size).toBe(all.length);
    });

    it('counts anonymous sockets per client address too, X-Forwarded-For believed only from AUTH_TRUSTED_PROXIES', async () => {
      await boot({ MAX_CONNECTIONS_PER_PRINCIPAL: '2', AUTH_TRUSTED_PROXIES: '127.0.0.1/32' });
      const from = (address: string, key: string) => ({ headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': address } });
      for (const key of [KEY_A, KEY_B]) expect((await (await open(from('203.0.113.7', key))).next()).type).toBe('session.ready');
      const third = await open(from('203.0.113.7', 'anon.cccccccccccccccccccccc'));
      expect(await third.closed).toEqual({ code: 4429, reason: 'too many connections' });
      const elsewhere = await open(from('198.51.100.9', 'anon.dddddddddddddddddddddd'));
      expect((await elsewhere.next()).type).toBe('session.ready');
      const addresses = [...gateway!.app.get(ConnectionRegistryService).all()].map((c) => c.remoteAddress).sort();
      expect(addresses).toEqual(['198.51.100.9', '203.0.113.7', '203.0.113.7']);
    });

    it('ignores X-Forwarded-For from an untrusted peer, and shares the request rate per address', async () => {
      await boot({ RATE_LIMIT_REQUESTS_PER_MINUTE: '2', AUTH_TRUSTED_PROXIES: '10.0.0.0/8' });
      const a = await open({ headers: { authorization: `Bearer ${KEY_A}`, 'x-forwarded-for': '203.0.113.7' } });
      await a.next();
      const b = await open({ headers: { authorization: `Bearer ${KEY_B}`, 'x-forwarded-for': '198.51.100.9' } });
      await b.next();
      expect([...gateway!.app.get(ConnectionRegistryService).all()].map((c) => c.remoteAddress)).toEqual(['127.0.0.1', '127.0.0.1']);
      for (const id of ['1', '2']) a.send({ type: 'chat.request', id, messages: hello });
      await upstream.nextCall();
      await upstream.nextCall();
      b.send({ type: 'chat.request', id: '3', messages: hello });
      expect(await b.nextOfType('chat.error', '3')).toMatchObject({ code: 'rate_limited' });
    });

    it('answers auth.refresh with bad_request: nothing expires', async () => {
      await boot({});
      const a = await open(bearer(KEY_A));
      expect((await a.next()).expires_at).toBeUndefined();
      a.send({ type: 'auth.refresh', id: 'r', token: 'anything-at-all' });
      expect(await a.nextOfType('error', 'r')).toMatchObject({ code: 'bad_request', message: expect.stringContaining('do not expire') });
    });
  });

  describe('AUTH_MODE=trusted_header', () => {
    it('takes the user from the header when the peer is a trusted proxy; refuses without it or with a bad name', async () => {
      await boot({ AUTH_MODE: 'trusted_header', AUTH_TRUSTED_PROXIES: '127.0.0.0/8, ::1/128', AUTH_TRUSTED_HEADER: 'X-Forwarded-User' });
      const alice = await open({ headers: { 'x-forwarded-user': 'alice@example.com' } });
      expect((await alice.next()).type).toBe('session.ready');
      expect(principals()).toEqual(['alice@example.com']);
      for (const headers of [{}, { 'x-forwarded-user': 'bad{tag}' }, { 'x-forwarded-user': 'x'.repeat(300) }] as Array<Record<string, string>>) {
        const refused = await open({ headers });
        expect(await refused.next()).toMatchObject({ type: 'error', code: 'unauthorized' });
        expect((await refused.closed).code).toBe(4401);
      }
    });

    it('refuses the header from an address outside AUTH_TRUSTED_PROXIES (4401)', async () => {
      await boot({ AUTH_MODE: 'trusted_header', AUTH_TRUSTED_PROXIES: '10.0.0.0/8' });
      const client = await open({ headers: { 'x-auth-request-user': 'alice', 'x-forwarded-for': '10.1.2.3' } });
      expect(await client.next()).toEqual({ type: 'error', code: 'unauthorized', message: 'not connected through the trusted proxy' });
      expect((await client.closed).code).toBe(4401);
    });
  });

  describe('AUTH_MODE=jwt with keys from an OIDC provider', () => {
    let oidc: OidcServer;
    beforeEach(async () => {
      oidc = await OidcServer.start();
    });
    afterEach(() => oidc.close());
    const token = async (sub: string, options?: Parameters<OidcServer['token']>[1]) => {
      const t = await oidc.token(sub, options);
      secrets.push(t);
      return t;
    };

    it('finds the JWKS by discovery, follows a key rotation, and keeps the last good keys through an outage longer than the cache age', async () => {
      await boot({ AUTH_MODE: 'jwt', AUTH_JWT_ISSUER: oidc.issuer, AUTH_JWT_JWKS_CACHE_MS: '200' });
      const first = await open(bearer(await token('alice')));
      const ready = await first.next();
      expect(ready).toMatchObject({ type: 'session.ready', expires_at: expect.any(String), expires_in_ms: expect.any(Number) });
      expect(oidc.served[0]).toEqual({ path: '/realm/.well-known/openid-configuration', status: 200 });

      // Rotation: the old key is gone from the JWKS; a token under the new kid is accepted.
      await oidc.rotate({ drop: true });
      expect((await (await open(bearer(await token('alice')))).next()).type).toBe('session.ready');

      // The provider goes down for more than two cache ages: the last good keys keep working.
      oidc.down = true;
      await oidc.untilJwksRequests(oidc.jwksRequests() + 2);
      expect(oidc.served.at(-1)!.status).toBe(503);
      expect((await (await open(bearer(await token('bob')))).next()).type).toBe('session.ready');
      expect(gateway!.logs.lines.join('\n')).toContain('JWKS fetch failed (refresh): HTTP 503; the last good keys stay in use');
      const metrics = await (await fetch(`${gateway!.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/holysheep_gateway_jwks_fetches_total\{result="error",reason="refresh"\} [1-9]/);
      expect(metrics).toMatch(/holysheep_gateway_jwks_age_seconds \d/);
    });

    it('refetches for an unknown kid at most once per cooldown: made-up kids cannot hammer the provider', async () => {
      await boot({ AUTH_MODE: 'jwt', AUTH_JWT_JWKS_URL: oidc.jwksUrl, AUTH_JWT_JWKS_COOLDOWN_MS: '600000' });
      expect((await (await open(bearer(await token('alice')))).next()).type).toBe('session.ready');
      const before = oidc.jwksRequests();
      const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => token('mallory', { kid: `made-up-${i}` })));
      const refused = await Promise.all(forged.map(async (t) => (await open(bearer(t))).next()));
      for (const frame of refused) expect(frame).toEqual({ type: 'error', code: 'unauthorized', message: 'invalid credential' });
      expect(oidc.jwksRequests() - before).toBeLessThanOrEqual(1);
    });

    it('auth.refresh moves the expiry of a live socket; a socket that does not refresh closes 4401 at expiry', async () => {
      await boot({ AUTH_MODE: 'jwt', AUTH_JWT_JWKS_URL: oidc.jwksUrl });
      // Expired 3 s ago: within the 5 s clock tolerance, so the socket has ~2 s left.
      const short = await token('alice', { expiresInSeconds: -3 });
      const refreshing = await open(bearer(short));
      const idle = await open(bearer(short));
      const ready = await refreshing.next();
      await idle.next();
      expect(ready.expires_in_ms).toBeLessThanOrEqual(2_000);

      refreshing.send({ type: 'auth.refresh', id: 'r1', token: await token('alice', { expiresInSeconds: 600 }) });
      const refreshed = await refreshing.nextOfType('auth.refreshed', 'r1');
      expect(refreshed.expires_in_ms).toBeGreaterThan(590_000);
      expect(Date.parse(refreshed.expires_at)).toBeGreaterThan(Date.now() + 590_000);

      // The one that did not refresh is closed at the old expiry; the refreshed one lives on.
      expect(await idle.nextOfType('error')).toEqual({ type: 'error', code: 'unauthorized', message: 'token expired' });
      expect((await idle.closed).code).toBe(4401);
      refreshing.send({ type: 'ping', ts: 1 });
      expect(await refreshing.nextOfType('pong')).toEqual({ type: 'pong', ts: 1 });

      // After expiry, a stale token is refused, and the socket keeps its (refreshed) expiry.
      refreshing.send({ type: 'auth.refresh', id: 'r2', token: await token('alice', { expiresInSeconds: -60 }) });
      expect(await refreshing.nextOfType('error', 'r2')).toMatchObject({ code: 'unauthorized', message: expect.stringContaining('token expired') });
      // Someone else's token: forbidden, and the socket closes 4403.
      refreshing.send({ type: 'auth.refresh', id: 'r3', token: await token('bob') });
      expect(await refreshing.nextOfType('error', 'r3')).toMatchObject({ code: 'forbidden' });
      expect((await refreshing.closed).code).toBe(4403);
    });

    it('the SDK refreshes through getToken ahead of expiry, and its frame log never shows a token', async () => {
      await boot({ AUTH_MODE: 'jwt', AUTH_JWT_JWKS_URL: oidc.jwksUrl });
      const tokens = [await token('alice', { expiresInSeconds: -3 }), await token('alice', { expiresInSeconds: 600 })];
      const asked: unknown[] = [];
      const client = createClient({ url: gateway!.wsUrl, WebSocket, getToken: (request) => (asked.push(request), tokens.shift()) });
      const log: FrameRecord[] = [];
      const refreshed = new Promise<FrameRecord>((resolve) =>
        client.on('frame', (record) => {
          log.push(record);
          if (record.frame.type === 'auth.refreshed') resolve(record);
        }),
      );
      await client.connect();
      expect((await refreshed).frame).toMatchObject({ type: 'auth.refreshed', expires_in_ms: expect.any(Number) });
      expect(asked).toEqual([{ refresh: false }, { refresh: true, reason: 'expiring' }]);
      expect(log.find((r) => r.frame.type === 'auth.refresh')?.frame).toMatchObject({ token: '[redacted]' });
      client.close();
    });
  });
});
