/**
 * The persistence seam (issue 24) against a scripted socket: what a client keeps in its storage
 * (request id, stream id, last seq; never a token), what a new client over the same storage does
 * with it (resume from that seq, never the request again; a stream the gateway no longer has fails
 * `stream_not_found` and is forgotten), and a `Conversation` with a `persistKey` across a "reload".
 */
import type { ChatMessage } from '@holysheep/protocol';
import { createClient } from '../src/client';
import { Conversation } from '../src/conversation';
import { MAX_PERSISTED_MESSAGES, PERSIST_INTERVAL_MS } from '../src/conversation-store';
import { MemoryStorage } from '../src/storage';
import { MAX_STORED_STREAMS, STREAM_STORAGE_PREFIX, StreamStore } from '../src/stream-store';
import { useFakeClients } from './support/fake-clients';
import { chunkFrame, doneFrame, FakeWebSocket, startedFrame } from './support/fake-socket';

const hello: ChatMessage[] = [{ role: 'user', content: 'hi' }];
const URL = 'ws://gw/v1/ws';
const delta = (id: string, s: number, x: string) => ({ t: 'd', id, s, x });

describe('StreamStore', () => {
  it('keeps id, stream id and seq per stream, updates in place, forgets, and caps the count (oldest out)', () => {
    const storage = new MemoryStorage();
    const store = new StreamStore(storage, `${URL}?access_token=secret`);
    store.save({ id: 'a', seq: 0 });
    store.save({ id: 'a', stream_id: 'str_a', seq: 3 });
    store.save({ id: 'b', seq: 0 });
    expect(store.list()).toEqual([
      { id: 'a', stream_id: 'str_a', seq: 3 },
      { id: 'b', seq: 0 },
    ]);
    // Keyed by the gateway's URL without its query: a token there never reaches the storage.
    expect(storage.getItem(`${STREAM_STORAGE_PREFIX}${URL}`)).not.toBeNull();
    expect(JSON.stringify([...(storage as unknown as { items: Map<string, string> }).items])).not.toContain('secret');
    store.forget('a');
    expect(store.list()).toEqual([{ id: 'b', seq: 0 }]);
    for (let i = 0; i < MAX_STORED_STREAMS + 5; i++) store.save({ id: `s${i}`, seq: i });
    const kept = store.list();
    expect(kept).toHaveLength(MAX_STORED_STREAMS);
    expect(kept[kept.length - 1]).toEqual({ id: `s${MAX_STORED_STREAMS + 4}`, seq: MAX_STORED_STREAMS + 4 });
    expect(kept.map((s) => s.id)).not.toContain('b');
  });

  it('reads a corrupt or foreign entry as nothing, and survives a storage that throws', () => {
    const storage = new MemoryStorage();
    storage.setItem(`${STREAM_STORAGE_PREFIX}${URL}`, '{not json');
    expect(new StreamStore(storage, URL).list()).toEqual([]);
    storage.setItem(`${STREAM_STORAGE_PREFIX}${URL}`, JSON.stringify({ v: 1, streams: [{ id: 'x', seq: -1 }, { id: 'y', seq: 2 }, 'z'] }));
    expect(new StreamStore(storage, URL).list()).toEqual([{ id: 'y', seq: 2 }]);
    const refusing = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError'); }, removeItem: () => { throw new Error('denied'); } };
    const store = new StreamStore(refusing, URL);
    expect(() => store.save({ id: 'a', seq: 1 })).not.toThrow();
    expect(() => store.forget('a')).not.toThrow();
  });
});

describe('StreamClient storage', () => {
  const fake = useFakeClients(URL);
  const { make, nextSocket } = fake;
  const stored = () => new StreamStore(fake.storage, URL).list();

  it('records each chat from its request on: stream id and last seq, never the token; forgets it at its end', async () => {
    const client = make({ token: 'tok-SECRET-123' });
    const answer = client.chat({ id: 'a', messages: hello });
    const ws = await nextSocket();
    expect(stored()).toEqual([{ id: 'a', seq: 0 }]);
    ws.receive(startedFrame('a', 'str_a'));
    ws.receive(chunkFrame('a', 2, 'Hel', 'str_a'));
    ws.receive(delta('a', 3, 'lo'));
    expect(stored()).toEqual([{ id: 'a', stream_id: 'str_a', seq: 3 }]);
    const everything = JSON.stringify([...(fake.storage as unknown as { items: Map<string, string> }).items]);
    expect(everything).not.toContain('SECRET');
    expect(everything).not.toContain('Hel'); // no text either: the application keeps its own
    ws.receive(doneFrame('a', 4, 'str_a'));
    await answer.result;
    expect(stored()).toEqual([]);
  });

  it('a "reload" (close with keepStreams) keeps the stream; the next client resumes it from its seq, never sending the request again', async () => {
    const first = make();
    first.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.receive(startedFrame('a', 'str_a'));
    ws1.receive(delta('a', 2, 'one '));
    first.close({ keepStreams: true });
    expect(ws1.sentOfType('chat.cancel')).toEqual([]);
    expect(stored()).toEqual([{ id: 'a', stream_id: 'str_a', seq: 2 }]);

    const second = make();
    expect(second.storedStreams()).toEqual([{ id: 'a', stream_id: 'str_a', seq: 2 }]);
    const [resumed] = second.restore();
    expect(resumed!.id).toBe('a');
    const ws2 = await nextSocket();
    expect(ws2.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_a', after_seq: 2, id: 'a', format: 'text' }]);
    ws2.receive(delta('a', 2, 'one ')); // already delivered before the reload: dropped
    ws2.receive(delta('a', 3, 'two'));
    ws2.receive(doneFrame('a', 4, 'str_a'));
    await expect(resumed!.result).resolves.toMatchObject({ text: 'two', finish_reason: 'stop' });
    expect(stored()).toEqual([]);
    // Already followed: restore() again resumes nothing, resume() of a followed id returns its handle.
    expect(second.restore()).toEqual([]);
  });

  it('a stream the gateway no longer has fails stream_not_found (typed) and is forgotten', async () => {
    new StreamStore(fake.storage, URL).save({ id: 'gone', stream_id: 'str_gone', seq: 7 });
    const client = make();
    const [handle] = client.restore();
    const ws = await nextSocket();
    ws.receive({ type: 'chat.error', id: 'gone', stream_id: 'str_gone', code: 'stream_not_found', message: 'Unknown or expired stream', retryable: false });
    await expect(handle!.result).rejects.toMatchObject({ code: 'stream_not_found', streamId: 'str_gone', retryable: false });
    expect(stored()).toEqual([]);
  });

  it('a request that had not started at the reload is found by id with stream.list, or fails stream_not_found', async () => {
    const store = new StreamStore(fake.storage, URL);
    store.save({ id: 'p', seq: 0 });
    store.save({ id: 'q', seq: 0 });
    const client = make();
    const [p, q] = client.restore();
    const ws = await nextSocket();
    const [list] = ws.sentOfType('stream.list');
    expect(ws.sentOfType('chat.request')).toEqual([]);
    ws.receive({ type: 'stream.list.result', id: list!.id, streams: [{ stream_id: 'str_p', id: 'p', model: 'm', state: 'pending', last_seq: 0, started_at: '2026-12-07T10:00:00Z' }] });
    expect(ws.sentOfType('stream.resume')).toEqual([{ type: 'stream.resume', stream_id: 'str_p', after_seq: 0, id: 'p', format: 'text' }]);
    await expect(q!.result).rejects.toMatchObject({ code: 'stream_not_found' });
    expect(stored()).toEqual([{ id: 'p', stream_id: 'str_p', seq: 0 }]);
    ws.receive(startedFrame('p', 'str_p'));
    ws.receive(delta('p', 2, 'found'));
    ws.receive(doneFrame('p', 3, 'str_p'));
    await expect(p!.text()).resolves.toBe('found');
    expect(ws.sentOfType('chat.request')).toEqual([]);
  });

  it('close() cancels and forgets; cancel() forgets; storage: null keeps nothing', async () => {
    const client = make();
    const a = client.chat({ id: 'a', messages: hello });
    client.chat({ id: 'b', messages: hello });
    const ws = await nextSocket();
    ws.receive(startedFrame('a', 'str_a'));
    ws.receive(startedFrame('b', 'str_b'));
    a.cancel();
    ws.receive(doneFrame('a', 2, 'str_a', 'cancelled'));
    expect(stored().map((s) => s.id)).toEqual(['b']);
    client.close();
    expect(ws.sentOfType('chat.cancel').map((f) => f.id)).toEqual(['a', 'b']);
    expect(stored()).toEqual([]);

    const off = make({ storage: null });
    expect(off.storage).toBeUndefined();
    off.chat({ id: 'c', messages: hello });
    await nextSocket();
    expect(stored()).toEqual([]);
  });

  it('without a storage option: sessionStorage when it works, memory when it throws (sandboxed iframe, privacy mode)', () => {
    const session = new MemoryStorage();
    const descriptor = { configurable: true, get: () => session };
    Object.defineProperty(globalThis, 'sessionStorage', descriptor);
    try {
      expect(createClient({ url: URL, WebSocket: FakeWebSocket }).storage).toBe(session);
      Object.defineProperty(globalThis, 'sessionStorage', { configurable: true, get: () => { throw new Error('SecurityError'); } });
      expect(createClient({ url: URL, WebSocket: FakeWebSocket }).storage).toBeInstanceOf(MemoryStorage);
      const full = { ...session, getItem: () => null, removeItem: () => undefined, setItem: () => { throw new Error('QuotaExceededError'); } };
      Object.defineProperty(globalThis, 'sessionStorage', { configurable: true, get: () => full });
      expect(createClient({ url: URL, WebSocket: FakeWebSocket }).storage).toBeInstanceOf(MemoryStorage);
    } finally {
      delete (globalThis as { sessionStorage?: unknown }).sessionStorage;
    }
  });

  it('a storage given for the streams keeps the anonymous key too: the next client is the same principal', async () => {
    make().chat({ id: 'a', messages: hello });
    const first = await nextSocket();
    const second = createClient({ url: URL, WebSocket: FakeWebSocket, storage: fake.storage });
    fake.clients.push(second);
    second.chat({ id: 'b', messages: hello });
    const next = await nextSocket();
    expect(next).not.toBe(first);
    expect(next.protocols).toEqual(first.protocols);
    expect(JSON.stringify(first.protocols)).toMatch(/anon\./);
  });
});

/** `pagehide` listeners the conversation store installs (a browser's `addEventListener`; Node has none). */
const pageHide: Array<() => void> = [];
beforeAll(() => {
  (globalThis as { addEventListener?: unknown }).addEventListener = (type: string, listener: () => void) => type === 'pagehide' && pageHide.push(listener);
});
afterAll(() => {
  delete (globalThis as { addEventListener?: unknown }).addEventListener;
});

describe('Conversation with a persistKey', () => {
  const fake = useFakeClients(URL);
  const make = () => fake.make();
  const { nextSocket } = fake;

  it('after a reload shows the conversation and goes on with the answer: kept text + the rest, exactly once, one request', async () => {
    const before = new Conversation(make(), { persistKey: 'chat' });
    const handle = before.send('Tell me')!;
    const ws1 = await nextSocket();
    ws1.receive(startedFrame(handle.id, 'str_1'));
    ws1.receive(chunkFrame(handle.id, 2, 'Once ', 'str_1'));
    ws1.receive(delta(handle.id, 3, 'upon '));
    await jest.advanceTimersByTimeAsync(PERSIST_INTERVAL_MS); // the streamed text is saved
    fake.clients[0]!.close({ keepStreams: true }); // the page goes away

    const after = new Conversation(make(), { persistKey: 'chat' });
    expect(after.getSnapshot().busy).toBe(true);
    expect(after.getSnapshot().messages).toMatchObject([
      { role: 'user', content: 'Tell me', status: 'done' },
      { role: 'assistant', content: 'Once upon ', status: 'streaming', request_id: handle.id, stream_id: 'str_1', seq: 3 },
    ]);
    const ws2 = await nextSocket();
    expect(ws2.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_1', after_seq: 3, id: handle.id, format: 'text' }]);
    // The gateway replays from after_seq; an overlap is dropped by seq all the same.
    ws2.receive(delta(handle.id, 3, 'upon '));
    ws2.receive(delta(handle.id, 4, 'a '));
    ws2.receive(delta(handle.id, 5, 'time'));
    ws2.receive(doneFrame(handle.id, 6, 'str_1'));
    expect(after.getSnapshot().busy).toBe(false);
    expect(after.getSnapshot().messages[1]).toMatchObject({ content: 'Once upon a time', status: 'done', seq: 6 });
    expect(FakeWebSocket.instances.flatMap((ws) => ws.sentOfType('chat.request'))).toHaveLength(1);

    // A third load shows the finished conversation, resumes nothing, and sends on with new ids.
    const third = new Conversation(make(), { persistKey: 'chat' });
    expect(third.getSnapshot()).toMatchObject({ busy: false, messages: [{ content: 'Tell me' }, { content: 'Once upon a time', status: 'done' }] });
    third.send('More');
    const ids = third.getSnapshot().messages.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    const ws3 = await nextSocket();
    expect(ws3.sentOfType('chat.request')[0]!.messages).toEqual([
      { role: 'user', content: 'Tell me' },
      { role: 'assistant', content: 'Once upon a time' },
      { role: 'user', content: 'More' },
    ]);
  });

  it('a reload before the streamed text was saved resumes from the older seq: the replay rebuilds the same text, once', async () => {
    const before = new Conversation(make(), { persistKey: 'chat' });
    const handle = before.send('Tell me')!;
    const ws1 = await nextSocket();
    ws1.receive(startedFrame(handle.id, 'str_1'));
    ws1.receive(delta(handle.id, 2, 'Once '));
    await jest.advanceTimersByTimeAsync(PERSIST_INTERVAL_MS);
    ws1.receive(delta(handle.id, 3, 'upon ')); // shown, not saved yet
    ws1.receive(delta(handle.id, 4, 'a '));
    expect(before.getSnapshot().messages[1]!.content).toBe('Once upon a ');
    fake.clients[0]!.close({ keepStreams: true });

    const after = new Conversation(make(), { persistKey: 'chat' });
    expect(after.getSnapshot().messages[1]).toMatchObject({ content: 'Once ', seq: 2 });
    const ws2 = await nextSocket();
    expect(ws2.sentOfType('stream.resume')).toEqual([expect.objectContaining({ after_seq: 2 })]);
    for (const [s, x] of [[3, 'upon '], [4, 'a '], [5, 'time']] as const) ws2.receive(delta(handle.id, s, x));
    ws2.receive(doneFrame(handle.id, 6, 'str_1'));
    expect(after.getSnapshot().messages[1]).toMatchObject({ content: 'Once upon a time', status: 'done' });
    // The end is saved at once: a reload now shows it whole.
    expect(new Conversation(make(), { persistKey: 'chat' }).getSnapshot().messages[1]).toMatchObject({ content: 'Once upon a time', status: 'done' });
  });

  it('pagehide (a reload, a navigation) saves the streamed text at once', async () => {
    const before = new Conversation(make(), { persistKey: 'chat' });
    const handle = before.send('Tell me')!;
    const ws = await nextSocket();
    ws.receive(startedFrame(handle.id, 'str_1'));
    ws.receive(delta(handle.id, 2, 'Once '));
    ws.receive(delta(handle.id, 3, 'upon '));
    const saved = () => JSON.parse(fake.storage.getItem('holysheep.conversation:chat')!).messages[1];
    expect(saved()).toMatchObject({ content: '', seq: 1 });
    expect(pageHide).toHaveLength(1); // one listener for every conversation
    pageHide[0]!();
    expect(saved()).toMatchObject({ content: 'Once upon ', seq: 3 });
  });

  it('an answer the gateway no longer has ends as an error the UI can show (stream_not_found); the rest is kept', async () => {
    const before = new Conversation(make(), { persistKey: 'chat' });
    const handle = before.send('Tell me')!;
    const ws1 = await nextSocket();
    ws1.receive(startedFrame(handle.id, 'str_1'));
    ws1.receive(delta(handle.id, 2, 'Once '));
    await jest.advanceTimersByTimeAsync(PERSIST_INTERVAL_MS);
    fake.clients[0]!.close({ keepStreams: true });

    const after = new Conversation(make(), { persistKey: 'chat' });
    const ws2 = await nextSocket();
    ws2.receive({ type: 'chat.error', id: handle.id, stream_id: 'str_1', code: 'stream_not_found', message: 'expired', retryable: false });
    expect(after.getSnapshot().busy).toBe(false);
    expect(after.getSnapshot().messages[1]).toMatchObject({ status: 'error', content: 'Once ', error: { code: 'stream_not_found' } });
    // The error survives the next reload as code and message.
    const again = new Conversation(make(), { persistKey: 'chat' });
    expect(again.getSnapshot().messages[1]!.error).toMatchObject({ code: 'stream_not_found', message: 'expired' });
    // regenerate() asks anew: a new request, the user's choice.
    again.regenerate();
    const ws3 = await nextSocket();
    expect(ws3.sentOfType('chat.request')).toHaveLength(1);
  });

  it('keeps at most the newest MAX_PERSISTED_MESSAGES; clear() forgets the kept conversation; without persistKey nothing is kept', async () => {
    const client = make();
    const conversation = new Conversation(client, { persistKey: 'long' });
    for (let i = 0; i < MAX_PERSISTED_MESSAGES / 2 + 3; i++) {
      const handle = conversation.send(`q${i}`)!;
      const ws = await nextSocket();
      ws.receive(startedFrame(handle.id, `str_${i}`));
      ws.receive(doneFrame(handle.id, 2, `str_${i}`));
    }
    const kept = JSON.parse(fake.storage.getItem('holysheep.conversation:long')!).messages;
    expect(kept).toHaveLength(MAX_PERSISTED_MESSAGES);
    expect(kept[kept.length - 2].content).toBe(`q${MAX_PERSISTED_MESSAGES / 2 + 2}`);
    conversation.clear();
    expect(fake.storage.getItem('holysheep.conversation:long')).toBeNull();

    new Conversation(client).send('not kept');
    expect([...(fake.storage as unknown as { items: Map<string, string> }).items.keys()].filter((k) => k.startsWith('holysheep.conversation'))).toEqual([]);
  });
});
