/**
 * Heartbeat and reaper against real sockets, with short intervals from config (no test waits the
 * production 25 s). Time passing is observed through the pings the client receives, not sleeps.
 */
import { once } from 'node:events';
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { TestClient } from '../support/ws-client';

const INTERVAL = 50;
const IDLE = 300;

/** Resolves after the client has received `n` more WebSocket pings. */
async function pings(client: TestClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await once(client.ws, 'ping');
}

describe('heartbeat and reaper (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  async function boot(idleTimeoutMs = IDLE): Promise<void> {
    gateway = await startGateway({
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      HEARTBEAT_INTERVAL_MS: String(INTERVAL),
      IDLE_TIMEOUT_MS: String(idleTimeoutMs),
    });
  }

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('closes a peer that never answers pings with 4001', async () => {
    // A long idle timeout, so that on a loaded machine a late first tick cannot see idleness first.
    await boot(60_000);
    const { client } = await TestClient.ready(gateway.wsUrl, { autoPong: false });
    const closed = await client.closed;
    expect(closed).toEqual({ code: 4001, reason: 'heartbeat timeout' });
  });

  it('keeps a socket that answers pings until it has been idle, then closes it with 4002', async () => {
    await boot();
    const { client } = await TestClient.ready(gateway.wsUrl);
    const openedAt = Date.now();
    const closed = await client.closed;
    expect(closed).toEqual({ code: 4002, reason: 'idle timeout' });
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(IDLE);
  });

  it('counts application pings as activity', async () => {
    await boot();
    const { client } = await TestClient.ready(gateway.wsUrl);
    const reply = (): void => client.send({ type: 'ping' });
    client.ws.on('ping', reply);
    await pings(client, Math.ceil((IDLE * 2) / INTERVAL));
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    client.ws.off('ping', reply);
    expect((await client.closed).code).toBe(4002);
  });

  it('never reaps a socket while it is streaming, however long the answer takes', async () => {
    await boot();
    const { client } = await TestClient.ready(gateway.wsUrl);
    client.send({ type: 'chat.request', id: 'long', messages: [{ role: 'user', content: 'write an essay' }] });
    const call = await upstream.nextCall();
    call.startSse();
    // Stream for more than twice the idle timeout, with no inbound frame from the client.
    const rounds = Math.ceil((IDLE * 2) / INTERVAL);
    for (let i = 0; i < rounds; i++) {
      await pings(client, 1);
      await call.event(chunk({ content: `${i} ` }));
    }
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    await call.event(chunk({}, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    const frames = await client.collectStream('long');
    expect(frames.at(-1)?.type).toBe('chat.done');
    expect(frames.filter((f) => f.type === 'chat.chunk')).toHaveLength(rounds + 1);
    // The idle clock starts again when the stream ends.
    const endedAt = Date.now();
    expect((await client.closed).code).toBe(4002);
    expect(Date.now() - endedAt).toBeGreaterThanOrEqual(IDLE - INTERVAL);
  });
});
