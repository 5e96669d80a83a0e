/**
 * A client that stops reading while a fast upstream streams: the gateway must stop reading that
 * upstream (TCP pushes back on it) instead of buffering, keep other sockets unaffected, resume on
 * drain without losing a byte, and close a client that never drains with 4008.
 */
import { ConnectionRegistryService } from '../../src/connections/connection-registry.service';
import type { ClientConnection } from '../../src/connections/client-connection';
import { chunk, FakeUpstream, type UpstreamCall } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

const HIGH_WATER = 64 * 1024;
const PIECE = 'x'.repeat(8 * 1024);
/** Safety bound on how much the fake upstream will try to push. */
const MAX_BYTES = 96 * 1024 * 1024;


/** One event-loop round trip through the gateway, proving it is alive and has had time to act. */
async function roundTrip(probe: TestClient, n: number): Promise<void> {
  probe.send({ type: 'ping', ts: n });
  await probe.next((f) => f.type === 'pong' && f.ts === n);
}

describe('backpressure (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];

  async function connect() {
    const { client } = await TestClient.ready(gateway.wsUrl);
    clients.push(client);
    return client;
  }
  function connectionStreaming(id: string): ClientConnection {
    const registry = gateway.app.get(ConnectionRegistryService);
    const found = [...registry.all()].find((c) => c.hasStream(id));
    if (!found) throw new Error(`no connection streams ${id}`);
    return found;
  }

  /** Writes events until the upstream socket refuses more (write() false and no drain yet). */
  async function pushUntilBlocked(call: UpstreamCall, connection: ClientConnection, probe: TestClient): Promise<{ events: number; maxBuffered: number }> {
    let events = 0;
    let bytes = 0;
    let maxBuffered = 0;
    let round = 0;
    while (bytes < MAX_BYTES) {
      const data = `data: ${JSON.stringify(chunk({ content: PIECE }))}\n\n`;
      events++;
      bytes += data.length;
      if (call.res.write(data)) continue;
      // The upstream socket is full: poll the gateway (through another socket) until either the
      // upstream drains, or the gateway has paused and keeps it undrained over several turns.
      for (let turn = 0; call.res.writableNeedDrain; turn++) {
        if (turn > 5_000) throw new Error('neither drained nor paused');
        await roundTrip(probe, round++);
        maxBuffered = Math.max(maxBuffered, connection.transport.bufferedAmount);
        if (connection.flow.isPaused) {
          for (let i = 0; i < 5; i++) await roundTrip(probe, round++);
          if (call.res.writableNeedDrain) return { events, maxBuffered: Math.max(maxBuffered, connection.transport.bufferedAmount) };
        }
      }
    }
    throw new Error(`upstream never blocked after ${bytes} bytes`);
  }

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await gateway.close();
    await upstream.close();
  });

  /**
   * Boots the gateway, starts stream `big` on a client that then stops reading, plus an idle
   * `probe` socket for round trips. The frame cap is lifted: the probe pings a lot.
   */
  async function slowReaderStream(slowClientTimeoutMs: number, closeGraceMs = 500) {
    gateway = await startGateway({
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      MAX_FRAMES_PER_SECOND: '100000',
      INBOUND_BYTES_PER_SECOND: String(64 * 1024 * 1024),
      SEND_BUFFER_HIGH_WATER_BYTES: String(HIGH_WATER),
      SLOW_CLIENT_TIMEOUT_MS: String(slowClientTimeoutMs),
      SLOW_CLIENT_CLOSE_GRACE_MS: String(closeGraceMs),
      // These tests watch the upstream being aborted with the socket: no resume grace.
      RESUME_GRACE_MS: '0',
    });
    const slow = await connect();
    const probe = await connect();
    slow.send({ type: 'chat.request', id: 'big', messages: [{ role: 'user', content: 'everything' }] });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'start ' }));
    await slow.nextOfType('chat.chunk', 'big');
    slow.ws.pause();
    return { slow, probe, call, connection: connectionStreaming('big') };
  }

  it('stops reading the upstream while the client is not reading, then resumes without losing a byte', async () => {
    const { slow, probe, call, connection } = await slowReaderStream(60_000);
    const { events, maxBuffered } = await pushUntilBlocked(call, connection, probe);
    expect(connection.flow.isPaused).toBe(true);
    // Memory stays bounded: the gateway's unsent bytes never pass the mark by more than what was
    // already in flight (one socket read's worth of events).
    expect(maxBuffered).toBeLessThan(HIGH_WATER + 256 * 1024);

    // Another socket is unaffected meanwhile.
    probe.send({ type: 'chat.request', id: 'other', messages: [{ role: 'user', content: 'x' }] });
    await (await upstream.nextCall()).streamText(['unaffected']);
    expect(streamText(await probe.collectStream('other'))).toBe('unaffected');

    slow.ws.resume();
    await new Promise((resolve) => call.res.once('drain', resolve));
    await call.event(chunk({}, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    const frames = await slow.collectStream('big', 30_000);
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('start ' + PIECE.repeat(events));
    expect(connection.flow.isPaused).toBe(false);
  });

  it('closes a client that never drains with 4008 after SLOW_CLIENT_TIMEOUT_MS and aborts its upstream', async () => {
    const { probe, call, connection } = await slowReaderStream(500);
    await pushUntilBlocked(call, connection, probe).catch(() => undefined);
    await call.aborted;
    expect(connection.closeReason).toBe('slow');
    expect(await gateway.logs.next('socket_closed')).toMatchObject({ closed_by: 'slow' });
  });

  it('lets a client that reads again within SLOW_CLIENT_CLOSE_GRACE_MS receive its data, then the 4008 close frame', async () => {
    const { slow, probe, call, connection } = await slowReaderStream(300, 10_000);
    await pushUntilBlocked(call, connection, probe).catch(() => undefined);
    await call.aborted;
    expect(connection.closeReason).toBe('slow');
    // Longer than the 2 s after which the socket used to be dropped behind its unsent data.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    slow.ws.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    // Everything queued before the close arrived, in order, with no gap.
    const frames = slow.frames.filter((f) => f.id === 'big');
    frames.forEach((frame, index) => expect(frame.seq).toBe(index + 1));
    expect(frames.length).toBeGreaterThan(2);
  });
});
