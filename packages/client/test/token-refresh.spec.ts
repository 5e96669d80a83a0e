/**
 * Refreshing the socket's credential ahead of expiry (`auth.refresh`), against a scripted socket and
 * a fake clock: a refused refresh, or a `getToken` that throws, is tried again with backoff, a
 * bounded number of times, never past the credential's expiry.
 */
import { createClient, type StreamClient } from '../src/client';
import type { TokenRequest } from '../src/client-types';
import { MAX_REFRESH_RETRIES, REFRESH_RETRY_BASE_MS } from '../src/token-refresh';
import { FakeWebSocket } from './support/fake-socket';

/** A 2-minute credential is refreshed when a quarter of it is left: after 90 s. */
const EXPIRES_IN_MS = 120_000;
const REFRESH_AT_MS = 90_000;

describe('token refresh ahead of expiry', () => {
  let client: StreamClient;
  let asked: TokenRequest[];
  let answers: Array<string | null | Error>;
  beforeEach(() => {
    jest.useFakeTimers({ now: 5_000_000 });
    FakeWebSocket.reset();
    asked = [];
    answers = [];
    client = createClient({
      url: 'ws://gw/v1/ws',
      WebSocket: FakeWebSocket,
      getToken: (request) => {
        asked.push(request);
        const answer = request.reason === 'expiring' ? answers.shift() : 'first-token';
        if (answer instanceof Error) throw answer;
        return answer;
      },
    });
  });
  afterEach(() => {
    client.close();
    jest.useRealTimers();
  });
  const open = async () => {
    void client.connect();
    await jest.advanceTimersByTimeAsync(0);
    const ws = FakeWebSocket.last;
    ws.ready({ expires_in_ms: EXPIRES_IN_MS });
    return ws;
  };
  const refreshes = (ws: FakeWebSocket) => ws.sentOfType('auth.refresh');

  it('a refused refresh is asked again after 1 s, with a new token from getToken; success schedules the next one', async () => {
    answers = ['refused-token', 'good-token'];
    const ws = await open();
    await jest.advanceTimersByTimeAsync(REFRESH_AT_MS);
    expect(refreshes(ws)).toEqual([{ type: 'auth.refresh', id: 'auth_1', token: 'refused-token' }]);
    ws.receive({ type: 'error', id: 'auth_1', code: 'unauthorized', message: 'token refused' });
    await jest.advanceTimersByTimeAsync(REFRESH_RETRY_BASE_MS - 1);
    expect(refreshes(ws)).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(refreshes(ws)[1]).toEqual({ type: 'auth.refresh', id: 'auth_2', token: 'good-token' });
    expect(asked.filter((r) => r.reason === 'expiring')).toEqual([
      { refresh: true, reason: 'expiring' },
      { refresh: true, reason: 'expiring' },
    ]);
    ws.receive({ type: 'auth.refreshed', id: 'auth_2', expires_at: '2026-12-07T12:00:00Z', expires_in_ms: EXPIRES_IN_MS });
    answers = ['next-token'];
    await jest.advanceTimersByTimeAsync(REFRESH_AT_MS);
    expect(refreshes(ws)[2]).toMatchObject({ token: 'next-token' });
    expect(client.state.status).toBe('open');
  });

  it('retries are bounded and back off (1 s, 2 s, 4 s); a getToken that throws counts as a failure too', async () => {
    answers = [new Error('identity provider away'), 'bad-1', 'bad-2', 'bad-3', 'never-asked'];
    const ws = await open();
    await jest.advanceTimersByTimeAsync(REFRESH_AT_MS);
    expect(refreshes(ws)).toHaveLength(0); // getToken threw
    await jest.advanceTimersByTimeAsync(REFRESH_RETRY_BASE_MS);
    expect(refreshes(ws).map((f) => f.token)).toEqual(['bad-1']);
    ws.receive({ type: 'error', id: 'auth_1', code: 'unauthorized', message: 'refused' });
    await jest.advanceTimersByTimeAsync(2 * REFRESH_RETRY_BASE_MS);
    expect(refreshes(ws).map((f) => f.token)).toEqual(['bad-1', 'bad-2']);
    ws.receive({ type: 'error', id: 'auth_2', code: 'unauthorized', message: 'refused' });
    await jest.advanceTimersByTimeAsync(4 * REFRESH_RETRY_BASE_MS);
    expect(refreshes(ws).map((f) => f.token)).toEqual(['bad-1', 'bad-2', 'bad-3']);
    ws.receive({ type: 'error', id: 'auth_3', code: 'unauthorized', message: 'refused' });
    await jest.advanceTimersByTimeAsync(EXPIRES_IN_MS);
    expect(MAX_REFRESH_RETRIES).toBe(3);
    expect(refreshes(ws)).toHaveLength(3);
    expect(answers).toEqual(['never-asked']);
  });

  it('never retries past the expiry, and a getToken that returns null is not asked again on this socket', async () => {
    answers = [null, 'not-asked'];
    const ws = await open();
    await jest.advanceTimersByTimeAsync(REFRESH_AT_MS + 10 * REFRESH_RETRY_BASE_MS);
    expect(refreshes(ws)).toEqual([]);
    expect(answers).toEqual(['not-asked']);

    // A credential of 1.5 s: refreshed at ~1.1 s, refused; a retry 1 s later would land after expiry.
    FakeWebSocket.reset();
    answers = ['refused'];
    client.close();
    void client.connect();
    await jest.advanceTimersByTimeAsync(0);
    const short = FakeWebSocket.last;
    short.ready({ expires_in_ms: 1_500 });
    await jest.advanceTimersByTimeAsync(1_125);
    expect(refreshes(short)).toHaveLength(1);
    short.receive({ type: 'error', id: refreshes(short)[0]!.id, code: 'unauthorized', message: 'refused' });
    answers = ['too-late'];
    await jest.advanceTimersByTimeAsync(5_000);
    expect(refreshes(short)).toHaveLength(1);
    expect(answers).toEqual(['too-late']);
  });
});
