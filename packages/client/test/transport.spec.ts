/**
 * The reconnecting transport on its own, with the scripted socket and jest's fake clock: the
 * token provider (a refresh after 4401 or an `unauthorized` error), reconnects and their backoff,
 * going idle or stopping, pings only while the layer above has work, and what it hands up.
 */
import type { SessionReadyFrame } from '@holysheep/protocol';
import type { ChatError } from '../src/errors';
import { ReconnectingTransport, type AppFrame, type TransportHooks, type TransportOptions } from '../src/transport';
import { FakeWebSocket, startedFrame } from './support/fake-socket';

/** Hooks that record every call; `work` is what `hasWork()` answers. */
class Upper implements TransportHooks {
  work = false;
  opened: SessionReadyFrame[] = [];
  frames: AppFrame[] = [];
  lost = 0;
  stopped: ChatError[] = [];
  /** Runs inside onSocketLost, before the transport decides what to do. */
  onLost: () => void = () => undefined;
  hasWork(): boolean {
    return this.work;
  }
  onOpen(session: SessionReadyFrame): void {
    this.opened.push(session);
  }
  onFrame(frame: AppFrame): void {
    this.frames.push(frame);
  }
  onSocketLost(): void {
    this.lost += 1;
    this.onLost();
  }
  onStopped(error: ChatError): void {
    this.stopped.push(error);
  }
}

describe('ReconnectingTransport', () => {
  let upper: Upper;
  let transport: ReconnectingTransport;
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    FakeWebSocket.reset();
    upper = new Upper();
  });
  afterEach(() => {
    transport?.close();
    jest.useRealTimers();
  });

  const make = (options: Partial<TransportOptions> = {}) =>
    (transport = new ReconnectingTransport({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, random: () => 0.5, ...options }, upper));
  /** Lets the async token lookup run, then returns the newest socket. */
  const nextSocket = async () => {
    await jest.advanceTimersByTimeAsync(0);
    return FakeWebSocket.last;
  };

  it('opens on demand, is ready at session.ready, and hands up only frames that are not the session’s', async () => {
    make();
    expect(transport.state.status).toBe('idle');
    transport.ensureSocket();
    expect(transport.state.status).toBe('connecting');
    const ws = await nextSocket();
    expect(transport.ready).toBe(false);
    ws.ready();
    expect(transport.ready).toBe(true);
    expect(upper.opened).toEqual([expect.objectContaining({ type: 'session.ready', session_id: 's0' })]);
    expect(transport.state).toMatchObject({ status: 'open', attempt: 0, session: { session_id: 's0' } });
    ws.receive({ type: 'pong', ts: 1 });
    ws.receive({ type: 'session.draining', reconnect_after_ms: 10 });
    ws.receive(startedFrame('a'));
    ws.receive({ type: 'stream.list.result', id: 'l', streams: [] });
    expect(upper.frames.map((f) => f.type)).toEqual(['chat.started', 'stream.list.result']);
    expect(transport.state.draining).toBe(true);
  });

  it('sends only on an open socket, and reports what it sent', async () => {
    make();
    const out: string[] = [];
    transport.events.on('frame', ({ direction, frame }) => out.push(`${direction} ${frame.type}`));
    transport.send({ type: 'stream.list', id: 'early' });
    transport.ensureSocket();
    const ws = await nextSocket();
    ws.ready();
    transport.send({ type: 'stream.list', id: 'now' });
    expect(ws.sent).toEqual([{ type: 'stream.list', id: 'now' }]);
    expect(out).toEqual(['in session.ready', 'out stream.list']);
  });

  describe('token provider', () => {
    it('asks getToken before each attempt, and for a fresh token after 4401', async () => {
      const getToken = jest.fn(async ({ refresh }: { refresh: boolean }) => (refresh ? 'new' : 'old'));
      make({ getToken });
      upper.work = true;
      transport.ensureSocket();
      const ws1 = await nextSocket();
      expect(getToken).toHaveBeenLastCalledWith({ refresh: false });
      expect(ws1.protocols).toEqual(['chat.v1', 'bearer.old']);
      ws1.serverClose(4401);
      // Attempt 1 (never reached session.ready): 0.5 × 1000 ms.
      expect(transport.state).toMatchObject({ status: 'reconnecting', attempt: 1, nextAttemptAt: Date.now() + 500 });
      await jest.advanceTimersByTimeAsync(500);
      expect(getToken).toHaveBeenLastCalledWith({ refresh: true });
      expect(FakeWebSocket.last.protocols).toEqual(['chat.v1', 'bearer.new']);
      // The fresh token served: the next attempt asks normally again.
      FakeWebSocket.last.ready();
      await jest.advanceTimersByTimeAsync(10_000); // up 10 s: the backoff starts over
      FakeWebSocket.last.serverClose(1006);
      await jest.advanceTimersByTimeAsync(250);
      expect(getToken).toHaveBeenLastCalledWith({ refresh: false });
    });

    it('an `unauthorized` error for the connection (no id) makes the next attempt refresh, whatever the close code', async () => {
      const getToken = jest.fn(async () => 'tok');
      make({ getToken });
      upper.work = true;
      transport.ensureSocket();
      const ws = await nextSocket();
      ws.ready();
      ws.receive({ type: 'error', code: 'unauthorized', message: 'expired' });
      ws.serverClose(1006);
      await jest.advanceTimersByTimeAsync(250);
      expect(getToken).toHaveBeenLastCalledWith({ refresh: true });
    });

    it('a refresh that yields nothing stops with unauthorized and the provider’s message', async () => {
      make({ getToken: ({ refresh }) => (refresh ? Promise.reject(new Error('signed out')) : 'tok') });
      upper.work = true;
      transport.ensureSocket();
      (await nextSocket()).serverClose(4401);
      await jest.advanceTimersByTimeAsync(500);
      expect(upper.stopped).toEqual([expect.objectContaining({ code: 'unauthorized', message: 'signed out' })]);
      expect(transport.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } });
    });
  });

  describe('after a close', () => {
    it('with work: backs off with a growing delay while attempts fail, and starts over once a socket stayed up 10 s', async () => {
      make();
      upper.work = true;
      transport.ensureSocket();
      (await nextSocket()).serverClose(1006);
      expect(transport.state).toMatchObject({ status: 'reconnecting', attempt: 1, nextAttemptAt: Date.now() + 500, lastClose: { code: 1006 } });
      await jest.advanceTimersByTimeAsync(499);
      expect(FakeWebSocket.instances).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      FakeWebSocket.last.serverClose(1011);
      expect(transport.state).toMatchObject({ attempt: 2, nextAttemptAt: Date.now() + 1000 });
      await jest.advanceTimersByTimeAsync(1000);
      FakeWebSocket.last.ready();
      await jest.advanceTimersByTimeAsync(10_000);
      FakeWebSocket.last.serverClose(1006);
      expect(transport.state).toMatchObject({ status: 'reconnecting', attempt: 0, nextAttemptAt: Date.now() + 250 });
      expect(upper.lost).toBe(3);
    });

    it('asks the layer above after telling it the socket is lost: work that ended there means idle, no reconnect', async () => {
      make();
      upper.work = true;
      transport.ensureSocket();
      const ws = await nextSocket();
      ws.ready();
      upper.onLost = () => (upper.work = false);
      ws.serverClose(1006);
      expect(transport.state).toMatchObject({ status: 'idle', lastClose: { code: 1006 } });
      await jest.advanceTimersByTimeAsync(60_000);
      expect(FakeWebSocket.instances).toHaveLength(1);
    });

    it('without work but after connect(): reconnects; an idle close (4002) ends that', async () => {
      make();
      const session = transport.connect();
      (await nextSocket()).ready();
      await expect(session).resolves.toMatchObject({ type: 'session.ready' });
      FakeWebSocket.last.serverClose(1006);
      expect(transport.state.status).toBe('reconnecting');
      await jest.advanceTimersByTimeAsync(250);
      FakeWebSocket.last.ready();
      FakeWebSocket.last.serverClose(4002);
      expect(transport.state.status).toBe('idle');
    });

    it('1012 waits what session.draining said, without backoff', async () => {
      make();
      upper.work = true;
      transport.ensureSocket();
      const ws = await nextSocket();
      ws.ready();
      ws.receive({ type: 'session.draining', reconnect_after_ms: 730 });
      ws.serverClose(1012);
      expect(transport.state).toMatchObject({ status: 'reconnecting', attempt: 0, nextAttemptAt: Date.now() + 730 });
    });

    it.each([
      [4403, 'forbidden'],
      [1009, 'connection_closed'],
    ])('%i stops for good, even with no work: the layer above fails its work with %s', async (code, errorCode) => {
      make();
      transport.ensureSocket();
      (await nextSocket()).serverClose(code);
      expect(upper.stopped).toEqual([expect.objectContaining({ code: errorCode, closeCode: code })]);
      expect(transport.state).toMatchObject({ status: 'closed', lastClose: { code } });
      await jest.advanceTimersByTimeAsync(120_000);
      expect(FakeWebSocket.instances).toHaveLength(1);
    });

    it('work that ends while reconnecting drops the reconnect (workChanged)', async () => {
      make();
      upper.work = true;
      transport.ensureSocket();
      (await nextSocket()).serverClose(1006);
      expect(transport.state.status).toBe('reconnecting');
      upper.work = false;
      transport.workChanged();
      expect(transport.state).toMatchObject({ status: 'idle', attempt: 0 });
      await jest.advanceTimersByTimeAsync(60_000);
      expect(FakeWebSocket.instances).toHaveLength(1);
    });
  });

  describe('keepalive', () => {
    it('pings only while there is work, and abandons a socket that answers nothing within pongTimeoutMs', async () => {
      make({ pingIntervalMs: 1_000, pongTimeoutMs: 400 });
      transport.ensureSocket();
      const ws = await nextSocket();
      ws.ready();
      await jest.advanceTimersByTimeAsync(3_000);
      expect(ws.sentOfType('ping')).toHaveLength(0);
      upper.work = true;
      transport.workChanged();
      await jest.advanceTimersByTimeAsync(1_000);
      expect(ws.sentOfType('ping')).toHaveLength(1);
      ws.receive({ type: 'pong', ts: 1 });
      await jest.advanceTimersByTimeAsync(1_000);
      expect(ws.sentOfType('ping')).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(400);
      expect(ws.terminated).toBe(true);
      expect(transport.state).toMatchObject({ status: 'reconnecting', lastClose: { code: 1006 } });
    });

    it('stops pinging once the work is done', async () => {
      make({ pingIntervalMs: 1_000 });
      upper.work = true;
      transport.ensureSocket();
      const ws = await nextSocket();
      ws.ready();
      await jest.advanceTimersByTimeAsync(1_000);
      expect(ws.sentOfType('ping')).toHaveLength(1);
      ws.receive({ type: 'pong', ts: 1 });
      upper.work = false;
      transport.workChanged();
      await jest.advanceTimersByTimeAsync(10_000);
      expect(ws.sentOfType('ping')).toHaveLength(1);
      expect(ws.terminated).toBe(false);
    });

    it('a socket that never reaches session.ready is abandoned after connectTimeoutMs', async () => {
      make({ connectTimeoutMs: 3_000 });
      upper.work = true;
      transport.ensureSocket();
      const ws = await nextSocket();
      await jest.advanceTimersByTimeAsync(3_000);
      expect(ws.terminated).toBe(true);
      expect(transport.state).toMatchObject({ status: 'reconnecting', attempt: 1 });
    });
  });

  it('close() closes the socket normally and ignores it afterwards', async () => {
    make();
    upper.work = true;
    transport.ensureSocket();
    const ws = await nextSocket();
    ws.ready();
    transport.close();
    expect(ws.closedWith).toEqual({ code: 1000, reason: 'client closed' });
    expect(transport.state.status).toBe('closed');
    ws.serverClose(1006);
    expect(upper.lost).toBe(0);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});
