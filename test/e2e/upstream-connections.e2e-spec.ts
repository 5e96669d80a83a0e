/**
 * The upstream keep-alive pool keeps what a burst of streams opened: the next burst reuses those
 * connections instead of opening new ones (a TCP, and in production a TLS, handshake each, on the
 * event loop that relays everyone's chunks). Node's default pool kept 256 idle sockets: after 300
 * concurrent streams, the next 300 opened 44 new connections; with 1,000, ~750 (issue 13).
 */
import { once } from 'node:events';
import { HolySheepStreamService } from '../../src/upstream/holysheep-stream.service';
import { FakeUpstream, type UpstreamCall } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { TestClient } from '../support/ws-client';

const STREAMS = 300;

describe('upstream connections (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  afterEach(async () => {
    await gateway.close();
    await upstream.close();
  });

  it(`a second burst of ${STREAMS} concurrent streams reuses the first burst's connections`, async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      MAX_STREAMS_PER_CONNECTION: String(STREAMS),
      RATE_LIMIT_REQUESTS_PER_MINUTE: '100000',
      MAX_FRAMES_PER_SECOND: '100000',
      LOG_LEVEL: 'warn',
    });
    const service = gateway.app.get(HolySheepStreamService);
    const { client } = await TestClient.ready(gateway.wsUrl);

    /** STREAMS requests, all open upstream at once, then answered; resolves once their sockets are idle again. */
    const burst = async (round: number) => {
      const ids = Array.from({ length: STREAMS }, (_, i) => `r${round}-${i}`);
      for (const id of ids) client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: 'hi' }] });
      const calls: UpstreamCall[] = [];
      for (let i = 0; i < STREAMS; i++) calls.push(await upstream.nextCall());
      await Promise.all(calls.map((call) => call.streamText(['ok'])));
      for (const id of ids) await client.collectStream(id);
      await Promise.all(calls.map((call) => (call.res.writableFinished ? undefined : once(call.res, 'finish'))));
      // Every connection still open is back in the pool (ones over the pool's limit are closed).
      while (service.idleUpstreamSockets !== upstream.openSockets) await new Promise((resolve) => setImmediate(resolve));
    };

    await burst(1);
    expect(upstream.connectionsOpened).toBe(STREAMS);
    await burst(2);
    expect(upstream.connectionsOpened).toBe(STREAMS);
    client.ws.terminate();
  });
});
