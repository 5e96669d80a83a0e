/**
 * The SDK's reconnect policy (docs/protocol.md "Reconnecting"): what each close code leads to, the
 * backoff with full jitter, and the client acting on both, on jest's fake clock.
 */
import type { ChatMessage } from '@holysheep/protocol';
import { CLOSE_CODES } from '@holysheep/protocol';
import { createClient, type StreamClient } from '../src/client';
import { backoffDelay, closeAction } from '../src/reconnect-policy';
import { chunkFrame, doneFrame, FakeWebSocket, startedFrame } from './support/fake-socket';

// Typed: a bare literal widens role to string, which ChatMessage (known roles only) refuses.
const hello: ChatMessage[] = [{ role: 'user', content: 'hi' }];

describe('closeAction (close code → behaviour)', () => {
  it.each([
    [CLOSE_CODES.SERVICE_RESTART.code, 'reconnect-now'],
    [1001, 'backoff'],
    [1006, 'backoff'],
    [CLOSE_CODES.INTERNAL_ERROR.code, 'backoff'],
    [CLOSE_CODES.HEARTBEAT_TIMEOUT.code, 'backoff'],
    [CLOSE_CODES.SLOW_CONSUMER.code, 'backoff'],
    [CLOSE_CODES.TRY_AGAIN_LATER.code, 'backoff'],
    [CLOSE_CODES.TOO_MANY_CONNECTIONS.code, 'backoff'],
    [CLOSE_CODES.UNAUTHORIZED.code, 'refresh-token'],
    [CLOSE_CODES.NORMAL.code, 'when-needed'],
    [CLOSE_CODES.IDLE_TIMEOUT.code, 'when-needed'],
    [CLOSE_CODES.FORBIDDEN.code, 'stop'],
    [CLOSE_CODES.MESSAGE_TOO_BIG.code, 'stop'],
    [1005, 'backoff'],
  ])('%i → %s', (code, action) => {
    expect(closeAction(code)).toBe(action);
  });

  it('agrees with the protocol module on which server codes reconnect on their own', () => {
    for (const { code, reconnect } of Object.values(CLOSE_CODES)) {
      const action = closeAction(code);
      // 4401 reconnects only with a new token; everything else follows CLOSE_CODES.reconnect.
      if (code === CLOSE_CODES.UNAUTHORIZED.code) expect(action).toBe('refresh-token');
      else expect(action === 'backoff' || action === 'reconnect-now').toBe(reconnect);
    }
  });
});

describe('backoffDelay (exponential, full jitter)', () => {
  it('draws uniformly below min(30 s, 500 ms × 2^n)', () => {
    const top = () => 0.999999;
    expect(backoffDelay(0, () => 0)).toBe(0);
    expect(backoffDelay(0, top)).toBe(499);
    expect(backoffDelay(1, top)).toBe(999);
    expect(backoffDelay(3, () => 0.5)).toBe(2000);
    expect(backoffDelay(5, top)).toBe(15_999);
    expect(backoffDelay(6, top)).toBe(29_999);
    expect(backoffDelay(60, top)).toBe(29_999);
    expect(backoffDelay(2, top, { baseMs: 100, capMs: 300 })).toBe(299);
  });

  it('spreads clients out: many draws cover the whole window', () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelay(4));
    expect(Math.min(...draws)).toBeLessThan(400);
    expect(Math.max(...draws)).toBeGreaterThan(7_600);
    expect(Math.max(...draws)).toBeLessThan(8_000);
  });
});

describe('StreamClient reconnects by close code (fake clock)', () => {
  let client: StreamClient;
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    FakeWebSocket.reset();
  });
  afterEach(() => {
    client?.close();
    jest.useRealTimers();
  });

  const make = (extra: Partial<Parameters<typeof createClient>[0]> = {}) =>
    (client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, random: () => 0.5, ...extra }));
  /** Lets the async token lookup run, then returns the newest socket. */
  const nextSocket = async () => {
    await jest.advanceTimersByTimeAsync(0);
    return FakeWebSocket.last;
  };

  it('does not connect until there is work', async () => {
    make();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(client.state.status).toBe('idle');
  });

  it('1006 mid-stream: waits a jittered backoff, reconnects, resumes from the last seq', async () => {
    make();
    const answer = client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    // No token: the client's anonymous key travels instead (the same one on every reconnect).
    expect(ws1.protocols).toEqual(['chat.v1', expect.stringMatching(/^bearer\.anon\.[A-Za-z0-9_-]{22}$/)]);
    ws1.ready();
    expect(ws1.sentOfType('chat.request')).toEqual([{ type: 'chat.request', id: 'a', messages: hello, format: 'text' }]);
    ws1.receive(startedFrame('a'));
    ws1.receive(chunkFrame('a', 2, 'Hel'));
    ws1.serverClose(1006);

    // attempt 0: random 0.5 × min(30 s, 500 ms) = 250 ms
    expect(client.state).toMatchObject({ status: 'reconnecting', attempt: 0, nextAttemptAt: 1_000_000 + 250, lastClose: { code: 1006 } });
    await jest.advanceTimersByTimeAsync(249);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    const ws2 = FakeWebSocket.last;
    expect(FakeWebSocket.instances).toHaveLength(2);
    ws2.ready();
    expect(ws2.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_1', after_seq: 2, id: 'a', format: 'text' }]);

    // The new socket replays seq 2 (already seen), then continues.
    ws2.receive(chunkFrame('a', 2, 'Hel'));
    ws2.receive(chunkFrame('a', 3, 'lo'));
    ws2.receive(doneFrame('a', 4));
    await expect(answer.text()).resolves.toBe('Hello');
    expect(answer.seq).toBe(4);
    expect(answer.stream_id).toBe('str_1');
  });

  it('grows the delay while attempts fail, and starts over once a socket stayed up 10 s', async () => {
    make();
    client.chat({ id: 'a', messages: hello });
    (await nextSocket()).serverClose(1006); // before session.ready: attempt 1
    expect(client.state).toMatchObject({ status: 'reconnecting', attempt: 1, nextAttemptAt: Date.now() + 500 });
    await jest.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.serverClose(1006); // attempt 2: 0.5 × 2000
    expect(client.state).toMatchObject({ attempt: 2, nextAttemptAt: Date.now() + 1000 });
    await jest.advanceTimersByTimeAsync(1000);
    FakeWebSocket.last.ready();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(client.state).toMatchObject({ status: 'open', attempt: 0 });
    FakeWebSocket.last.serverClose(1011);
    expect(client.state).toMatchObject({ status: 'reconnecting', attempt: 0, nextAttemptAt: Date.now() + 250 });
  });

  it.each([1011, 1013, 4001, 4008, 4429])('%i: backs off, then resumes', async (code) => {
    make();
    client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready();
    ws1.receive(startedFrame('a'));
    ws1.serverClose(code);
    expect(client.state.status).toBe('reconnecting');
    await jest.advanceTimersByTimeAsync(250);
    FakeWebSocket.last.ready();
    expect(FakeWebSocket.last.sentOfType('stream.resume')).toEqual([{ type: 'stream.resume', stream_id: 'str_1', after_seq: 1, id: 'a', format: 'text' }]);
  });

  it('1012 after session.draining: reconnects after reconnect_after_ms, without backoff', async () => {
    make();
    client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready();
    ws1.receive(startedFrame('a'));
    ws1.receive({ type: 'session.draining', reconnect_after_ms: 730 });
    expect(client.state.draining).toBe(true);
    // A request made while draining waits for the next instance.
    client.chat({ id: 'b', messages: hello });
    expect(ws1.sentOfType('chat.request').map((f) => f.id)).toEqual(['a']);
    ws1.serverClose(1012);
    expect(client.state).toMatchObject({ status: 'reconnecting', nextAttemptAt: Date.now() + 730 });
    await jest.advanceTimersByTimeAsync(729);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    const ws2 = FakeWebSocket.last;
    ws2.ready();
    expect(ws2.sent).toEqual([
      { type: 'stream.resume', stream_id: 'str_1', after_seq: 1, id: 'a', format: 'text' },
      { type: 'chat.request', id: 'b', messages: hello, format: 'text' },
    ]);
  });

  it('4401: asks getToken for a fresh token, then reconnects with it', async () => {
    const tokens = ['old', 'new'];
    const getToken = jest.fn(async () => tokens.shift());
    make({ getToken });
    client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    expect(ws1.protocols).toEqual(['chat.v1', 'bearer.old']);
    ws1.readyState = 1;
    ws1.receive({ type: 'error', code: 'unauthorized', message: 'unauthorized' });
    ws1.serverClose(4401);
    expect(getToken).toHaveBeenLastCalledWith({ refresh: false });
    await jest.advanceTimersByTimeAsync(500);
    expect(getToken).toHaveBeenLastCalledWith({ refresh: true });
    expect(FakeWebSocket.last.protocols).toEqual(['chat.v1', 'bearer.new']);
    FakeWebSocket.last.ready();
    expect(FakeWebSocket.last.sentOfType('chat.request')).toHaveLength(1);
  });

  it('4401 with no way to refresh: stops, and the stream fails with unauthorized', async () => {
    make({ token: 'bad' });
    const answer = client.chat({ id: 'a', messages: hello });
    (await nextSocket()).serverClose(4401);
    await expect(answer.result).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } });
    await jest.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('4401 when getToken has nothing new (throws): stops', async () => {
    make({ getToken: ({ refresh }) => (refresh ? Promise.reject(new Error('signed out')) : 'tok') });
    const answer = client.chat({ id: 'a', messages: hello });
    (await nextSocket()).serverClose(4401);
    await jest.advanceTimersByTimeAsync(1_000);
    await expect(answer.result).rejects.toMatchObject({ code: 'unauthorized', message: 'signed out' });
    expect(client.state.status).toBe('closed');
  });

  it.each([
    [4403, 'forbidden'],
    [1009, 'connection_closed'],
  ])('%i: stops for good; streams fail with %s', async (code, errorCode) => {
    make();
    const answer = client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready();
    ws1.serverClose(code);
    await expect(answer.result).rejects.toMatchObject({ code: errorCode, closeCode: code });
    expect(client.state).toMatchObject({ status: 'closed', lastClose: { code } });
    await jest.advanceTimersByTimeAsync(120_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('4002 with nothing in flight: goes idle, and the next request reconnects at once', async () => {
    make();
    const first = client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready();
    ws1.receive(startedFrame('a'));
    ws1.receive(doneFrame('a', 2));
    await first.result;
    ws1.serverClose(4002);
    expect(client.state.status).toBe('idle');
    await jest.advanceTimersByTimeAsync(120_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    client.chat({ id: 'b', messages: hello });
    const ws2 = await nextSocket();
    ws2.ready();
    expect(ws2.sentOfType('chat.request').map((f) => f.id)).toEqual(['b']);
  });

  it('1000 with a stream in flight: reconnects (there is work)', async () => {
    make();
    client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready();
    ws1.receive(startedFrame('a'));
    ws1.serverClose(1000);
    expect(client.state.status).toBe('reconnecting');
  });

  it('reconnectNow() skips the wait', async () => {
    make({ random: () => 0.99 });
    client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.serverClose(1006);
    expect(client.state.nextAttemptAt! - Date.now()).toBeGreaterThan(900);
    client.reconnectNow();
    await jest.advanceTimersByTimeAsync(0);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(client.state.status).toBe('connecting');
  });

  it('a socket that never reaches session.ready is abandoned after connectTimeoutMs', async () => {
    make({ connectTimeoutMs: 3_000 });
    client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    await jest.advanceTimersByTimeAsync(3_000);
    expect(ws1.terminated).toBe(true);
    expect(client.state).toMatchObject({ status: 'reconnecting', attempt: 1 });
  });
});

describe('StreamClient heartbeat (fake clock)', () => {
  let client: StreamClient;
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    FakeWebSocket.reset();
  });
  afterEach(() => {
    client?.close();
    jest.useRealTimers();
  });

  it('pings while a stream is in flight and drops a socket that answers nothing', async () => {
    client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, random: () => 0.5, pingIntervalMs: 1_000, pongTimeoutMs: 400 });
    client.chat({ id: 'a', messages: hello });
    await jest.advanceTimersByTimeAsync(0);
    const ws = FakeWebSocket.last;
    ws.ready();
    ws.receive(startedFrame('a'));
    await jest.advanceTimersByTimeAsync(1_000);
    const [ping] = ws.sentOfType('ping');
    expect(ping).toEqual({ type: 'ping', ts: expect.any(Number) });
    ws.receive({ type: 'pong', ts: ping!.ts });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(ws.sentOfType('ping')).toHaveLength(2);
    // No pong, no frame: dead within the pong timeout, then reconnect and resume.
    await jest.advanceTimersByTimeAsync(400);
    expect(ws.terminated).toBe(true);
    expect(client.state).toMatchObject({ status: 'reconnecting', lastClose: { code: 1006 } });
  });

  it('does not ping an idle socket (the server may close it with 4002)', async () => {
    client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, pingIntervalMs: 1_000 });
    const session = client.connect();
    await jest.advanceTimersByTimeAsync(0);
    FakeWebSocket.last.ready();
    await session;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(FakeWebSocket.last.sentOfType('ping')).toHaveLength(0);
  });
});
