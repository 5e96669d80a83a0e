/**
 * The backoff against a server that keeps closing (issue 12), on jest's fake clock: a scripted
 * server answers every socket alike and the test counts the sockets one client opens in 10 s, or
 * drives the sockets one by one and reads the waits the client chose. The policy is
 * docs/protocol.md "Reconnecting": the attempt counter starts over only once a connection has
 * stayed up 10 s (`backoff.resetAfterMs`), not at `session.ready`; a first 1012 waits the server's
 * `reconnect_after_ms` (at least 100 ms), a consecutive one backs off as well.
 */
import type { ClientOptions } from '../src/client-types';
import { createClient, type StreamClient } from '../src/client';
import { FakeWebSocket } from './support/fake-socket';

/** What a real server takes to accept and greet: the whole cost of a loop where the client waits nothing. */
const LATENCY_MS = 10;
/** The window the issue measured in. */
const WINDOW_MS = 10_000;
/**
 * The most sockets the policy allows in the window, with every jitter draw as low as 0.1 (waits
 * 50, 100, 200, … ms: 8 sockets); a draw of 0.5 gives 6. Before the fix: 39 (4429, 4008, 1011)
 * and about a thousand (drain with `reconnect_after_ms: 0`).
 */
const MAX_SOCKETS = 9;

describe('reconnect backoff against a server that keeps closing (fake clock)', () => {
  let client: StreamClient;
  /** The wait before each reconnect, as the client announced it (`nextAttemptAt`). */
  let waits: number[];
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    FakeWebSocket.reset();
  });
  afterEach(() => {
    client?.close();
    jest.useRealTimers();
  });

  /** A client that stays connected (a UI showing a badge), recording each reconnect wait. */
  const start = async (options: Partial<ClientOptions> = {}) => {
    client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, random: () => 0.5, ...options });
    waits = [];
    let announced: number | undefined;
    client.on('state', (state) => {
      if (state.status !== 'reconnecting' || state.nextAttemptAt === announced) return;
      announced = state.nextAttemptAt;
      waits.push(state.nextAttemptAt! - Date.now());
    });
    client.connect().catch(() => undefined);
    await jest.advanceTimersByTimeAsync(0);
  };
  /** Every socket is greeted after LATENCY_MS, then `then` ends it. */
  const serve = (then: (ws: FakeWebSocket) => void) => {
    FakeWebSocket.onCreate = (ws) =>
      setTimeout(() => {
        ws.ready();
        then(ws);
      }, LATENCY_MS);
  };
  const drain = (ws: FakeWebSocket, reconnect_after_ms: number) => {
    ws.receive({ type: 'session.draining', reconnect_after_ms });
    ws.serverClose(1012);
  };
  /** Greets the newest socket, keeps it up `upMs`, closes it with `end`, and waits for the next one. */
  const greetThenClose = async (upMs: number, end: (ws: FakeWebSocket) => void = (ws) => ws.serverClose(1006)) => {
    const ws = FakeWebSocket.last;
    ws.ready();
    await jest.advanceTimersByTimeAsync(upMs);
    end(ws);
    await jest.advanceTimersByTimeAsync(client.state.nextAttemptAt! - Date.now());
    expect(FakeWebSocket.last).not.toBe(ws);
  };

  describe.each([4429, 4008, 1011])('a server that greets, then closes with %i', (code) => {
    it('sees the waits double (250 ms, 500 ms, …): 6 sockets in 10 s', async () => {
      serve((ws) => ws.serverClose(code));
      await start();
      await jest.advanceTimersByTimeAsync(WINDOW_MS);
      expect(FakeWebSocket.instances.length).toBe(6);
      expect(waits).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000]);
    });

    it(`opens at most ${MAX_SOCKETS} sockets in 10 s even when every jitter draw is low`, async () => {
      serve((ws) => ws.serverClose(code));
      await start({ random: () => 0.1 });
      await jest.advanceTimersByTimeAsync(WINDOW_MS);
      expect(FakeWebSocket.instances.length).toBeLessThanOrEqual(MAX_SOCKETS);
    });
  });

  describe('a server that drains every socket: session.draining {reconnect_after_ms: 0}, then 1012', () => {
    it('reconnects once after the 100 ms floor, then backs off: 6 sockets in 10 s', async () => {
      serve((ws) => drain(ws, 0));
      await start();
      await jest.advanceTimersByTimeAsync(WINDOW_MS);
      expect(FakeWebSocket.instances.length).toBe(6);
      expect(waits).toEqual([100, 500, 1_000, 2_000, 4_000, 8_000]);
    });

    it(`opens at most ${MAX_SOCKETS} sockets in 10 s even when every jitter draw is low`, async () => {
      serve((ws) => drain(ws, 0));
      await start({ random: () => 0.1 });
      await jest.advanceTimersByTimeAsync(WINDOW_MS);
      expect(FakeWebSocket.instances.length).toBeLessThanOrEqual(MAX_SOCKETS);
    });

    it('a consecutive drain waits the longer of reconnect_after_ms and the backoff', async () => {
      await start();
      for (let i = 0; i < 3; i++) await greetThenClose(0, (ws) => drain(ws, 900));
      expect(waits).toEqual([900, 900, 1_000]);
    });
  });

  it('the counter starts over only once a connection stayed up 10 s: then a drop reconnects fast again', async () => {
    await start();
    for (const upMs of [0, 0, 0]) await greetThenClose(upMs);
    // Up 9.999 s is not long enough: the waits go on doubling.
    FakeWebSocket.last.ready();
    await jest.advanceTimersByTimeAsync(9_999);
    expect(client.state).toMatchObject({ status: 'open', attempt: 2 });
    await jest.advanceTimersByTimeAsync(1);
    expect(client.state).toMatchObject({ status: 'open', attempt: 0 });
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(client.state.nextAttemptAt! - Date.now());
    await greetThenClose(9_999);
    await greetThenClose(10_000);
    await greetThenClose(0);
    expect(waits).toEqual([250, 500, 1_000, 250, 500, 250, 500]);
  });

  it('backoff.resetAfterMs sets how long a connection must stay up', async () => {
    const backoff = { baseMs: 500, resetAfterMs: 2_000 };
    await start({ backoff });
    for (const upMs of [0, 0, 1_999, 2_000]) await greetThenClose(upMs);
    expect(waits).toEqual([250, 500, 1_000, 250]);
  });

  it('a single drain still reconnects promptly: after reconnect_after_ms, at least 100 ms, with no backoff', async () => {
    await start();
    for (const upMs of [0, 0]) await greetThenClose(upMs); // the counter is at 1
    FakeWebSocket.last.ready();
    drain(FakeWebSocket.last, 0);
    const sockets = FakeWebSocket.instances.length;
    await jest.advanceTimersByTimeAsync(99);
    expect(FakeWebSocket.instances.length).toBe(sockets);
    await jest.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.instances.length).toBe(sockets + 1);
    // A connection that stayed up 10 s makes the next drain a first one again.
    await greetThenClose(10_000, (ws) => drain(ws, 300));
    expect(waits).toEqual([250, 500, 100, 300]);
  });
});
