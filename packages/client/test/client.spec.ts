/**
 * StreamClient against a scripted socket: events, dedupe by seq across reconnects, cancel and
 * abort, finding requests that were pending at the drop (stream.list), watch and streams().
 */
import type { ChatMessage } from '@holysheep/protocol';
import { createClient, type StreamClient } from '../src/client';
import type { ChatEvent } from '../src/chat-handle';
import { ChatError } from '../src/errors';
import { RESUME_READY as RESUME } from './support/fake-clients';
import { chunkFrame, doneFrame, FakeWebSocket, startedFrame } from './support/fake-socket';

// Typed: a bare literal widens role to string, which ChatMessage (known roles only) refuses.
const hello: ChatMessage[] = [{ role: 'user', content: 'hi' }];

describe('StreamClient', () => {
  let client: StreamClient;
  beforeEach(() => {
    jest.useFakeTimers({ now: 5_000_000 });
    FakeWebSocket.reset();
    client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, random: () => 0 });
  });
  afterEach(() => {
    client.close();
    jest.useRealTimers();
  });
  const nextSocket = async () => {
    await jest.advanceTimersByTimeAsync(0);
    return FakeWebSocket.last;
  };
  const collect = async (iterable: AsyncIterable<ChatEvent>) => {
    const out: ChatEvent[] = [];
    for await (const event of iterable) out.push(event);
    return out;
  };

  it('yields typed events, text deltas and the whole text; exposes stream_id and seq', async () => {
    const answer = client.chat({ messages: hello, model: 'gpt-4.1-mini', temperature: 0.3 });
    expect(answer.id).toMatch(/^c_/);
    const ws = await nextSocket();
    ws.ready();
    expect(ws.sent).toEqual([{ type: 'chat.request', id: answer.id, messages: hello, model: 'gpt-4.1-mini', temperature: 0.3, format: 'text' }]);
    const deltas: string[] = [];
    const reading = (async () => {
      for await (const d of answer.textStream()) deltas.push(d);
    })();
    ws.receive(startedFrame(answer.id, 'str_9', 'gpt-4.1-mini'));
    ws.receive(chunkFrame(answer.id, 2, 'Hel', 'str_9'));
    expect(answer).toMatchObject({ stream_id: 'str_9', seq: 2, model: 'gpt-4.1-mini', status: 'streaming', currentText: 'Hel' });
    ws.receive(chunkFrame(answer.id, 3, 'lo', 'str_9'));
    ws.receive({ ...doneFrame(answer.id, 4, 'str_9'), usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
    await reading;
    expect(deltas).toEqual(['Hel', 'lo']);
    await expect(answer.result).resolves.toEqual({
      text: 'Hello',
      finish_reason: 'stop',
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      model: 'gpt-4.1-mini',
      stream_id: 'str_9',
    });
    // Every iterator starts from the first event.
    expect((await collect(answer)).map((e) => e.type)).toEqual(['started', 'chunk', 'chunk', 'done']);
  });

  it('drops frames whose seq was already delivered, across two reconnects: each piece exactly once', async () => {
    const answer = client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready(RESUME);
    ws1.receive(startedFrame('a'));
    ws1.receive(chunkFrame('a', 2, 'one '));
    ws1.receive(chunkFrame('a', 3, 'two '));
    ws1.receive(chunkFrame('a', 3, 'two ')); // a duplicate on the same socket, too
    ws1.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    const ws2 = FakeWebSocket.last;
    ws2.ready(RESUME);
    expect(ws2.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_1', after_seq: 3, id: 'a', format: 'text' }]);
    // A server replaying more than asked must not duplicate anything.
    ws2.receive(startedFrame('a'));
    ws2.receive(chunkFrame('a', 2, 'one '));
    ws2.receive(chunkFrame('a', 3, 'two '));
    ws2.receive(chunkFrame('a', 4, 'three '));
    ws2.serverClose(1011);
    await jest.advanceTimersByTimeAsync(0);
    const ws3 = FakeWebSocket.last;
    ws3.ready(RESUME);
    expect(ws3.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_1', after_seq: 4, id: 'a', format: 'text' }]);
    ws3.receive(chunkFrame('a', 4, 'three '));
    ws3.receive(chunkFrame('a', 5, 'four'));
    ws3.receive(doneFrame('a', 6));
    ws3.receive(doneFrame('a', 6));
    await expect(answer.text()).resolves.toBe('one two three four');
    const events = await collect(answer);
    expect(events.map((e) => ('seq' in e ? e.seq : -1))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a stream the server lost after the drop ends with its error; the partial text is kept', async () => {
    const answer = client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready(RESUME);
    ws1.receive(startedFrame('a'));
    ws1.receive(chunkFrame('a', 2, 'partial'));
    ws1.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    FakeWebSocket.last.ready(RESUME);
    FakeWebSocket.last.receive({
      type: 'chat.error',
      id: 'a',
      stream_id: 'str_1',
      code: 'stream_not_found',
      message: 'Stream not found or no longer resumable',
      retryable: false,
    });
    const error = await answer.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatError);
    expect(error).toMatchObject({ code: 'stream_not_found', partialText: 'partial', streamId: 'str_1' });
    expect(answer.status).toBe('error');
  });

  describe('requests pending (no chat.started) when the socket dropped', () => {
    it('are found with stream.list by request id and resumed from seq 0, not sent twice', async () => {
      const answer = client.chat({ id: 'p', messages: hello });
      const ws1 = await nextSocket();
      ws1.ready(RESUME);
      ws1.serverClose(1006);
      await jest.advanceTimersByTimeAsync(0);
      const ws2 = FakeWebSocket.last;
      ws2.ready(RESUME);
      const [list] = ws2.sentOfType('stream.list');
      expect(ws2.sentOfType('chat.request')).toHaveLength(0);
      ws2.receive({
        type: 'stream.list.result',
        id: list!.id,
        streams: [
          { stream_id: 'str_other', id: 'someone-else', model: 'm', state: 'streaming', last_seq: 9, started_at: '2026-01-01T00:00:00Z' },
          { stream_id: 'str_p', id: 'p', model: 'm', state: 'pending', last_seq: 0, started_at: '2026-01-01T00:00:00Z' },
        ],
      });
      expect(ws2.sentOfType('stream.resume')).toEqual([{ type: 'stream.resume', stream_id: 'str_p', after_seq: 0, id: 'p', format: 'text' }]);
      ws2.receive(startedFrame('p', 'str_p'));
      ws2.receive(chunkFrame('p', 2, 'ok', 'str_p'));
      ws2.receive(doneFrame('p', 3, 'str_p'));
      await expect(answer.text()).resolves.toBe('ok');
    });

    it('are sent again when the list does not know them', async () => {
      client.chat({ id: 'p', messages: hello });
      const ws1 = await nextSocket();
      ws1.ready(RESUME);
      ws1.serverClose(1006);
      await jest.advanceTimersByTimeAsync(0);
      const ws2 = FakeWebSocket.last;
      ws2.ready(RESUME);
      ws2.receive({ type: 'stream.list.result', id: ws2.sentOfType('stream.list')[0]!.id, streams: [] });
      expect(ws2.sentOfType('chat.request')).toEqual([{ type: 'chat.request', id: 'p', messages: hello, format: 'text' }]);
    });

    it('are sent again when the gateway does not know stream.list (unknown_type)', async () => {
      client.chat({ id: 'p', messages: hello });
      const ws1 = await nextSocket();
      ws1.ready(RESUME);
      ws1.serverClose(1006);
      await jest.advanceTimersByTimeAsync(0);
      const ws2 = FakeWebSocket.last;
      ws2.ready(RESUME);
      ws2.receive({ type: 'error', code: 'unknown_type', message: 'Unknown frame type', id: ws2.sentOfType('stream.list')[0]!.id });
      expect(ws2.sentOfType('chat.request')).toHaveLength(1);
    });

    it('are sent again directly by a gateway without resume (it aborted them with the socket)', async () => {
      client.chat({ id: 'p', messages: hello });
      const ws1 = await nextSocket();
      ws1.ready();
      ws1.serverClose(1006);
      await jest.advanceTimersByTimeAsync(0);
      const ws2 = FakeWebSocket.last;
      ws2.ready();
      expect(ws2.sent).toEqual([{ type: 'chat.request', id: 'p', messages: hello, format: 'text' }]);
    });
  });

  it('a request refused with shutting_down (draining instance) goes out again on the next socket', async () => {
    const answer = client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready();
    ws1.receive({ type: 'error', code: 'shutting_down', message: 'draining', id: 'a' });
    ws1.receive({ type: 'session.draining', reconnect_after_ms: 10 });
    ws1.serverClose(1012);
    await jest.advanceTimersByTimeAsync(100); // a server-given delay has a 100 ms floor
    const ws2 = FakeWebSocket.last;
    ws2.ready();
    expect(ws2.sent).toEqual([{ type: 'chat.request', id: 'a', messages: hello, format: 'text' }]);
    expect(answer.status).toBe('pending');
  });

  it('other refusals of a request end it with that code', async () => {
    const answer = client.chat({ id: 'a', messages: hello, model: 'nope' });
    const ws = await nextSocket();
    ws.ready();
    ws.receive({ type: 'error', code: 'model_not_allowed', message: 'no', id: 'a' });
    await expect(answer.result).rejects.toMatchObject({ code: 'model_not_allowed', retryable: false });
  });

  describe('cancel and abort', () => {
    it('abort sends chat.cancel; the stream ends with done cancelled and the text so far', async () => {
      const controller = new AbortController();
      const answer = client.chat({ id: 'a', messages: hello }, { signal: controller.signal });
      const ws = await nextSocket();
      ws.ready();
      ws.receive(startedFrame('a'));
      ws.receive(chunkFrame('a', 2, 'so far'));
      controller.abort();
      expect(ws.sentOfType('chat.cancel')).toEqual([{ type: 'chat.cancel', id: 'a' }]);
      ws.receive(doneFrame('a', 3, 'str_1', 'cancelled'));
      await expect(answer.result).resolves.toMatchObject({ finish_reason: 'cancelled', text: 'so far' });
      expect(answer.status).toBe('cancelled');
    });

    it('abort while reconnecting ends the stream here and never reconnects for it', async () => {
      const controller = new AbortController();
      const answer = client.chat({ id: 'a', messages: hello }, { signal: controller.signal });
      const ws1 = await nextSocket();
      ws1.ready();
      ws1.receive(startedFrame('a'));
      ws1.serverClose(1006);
      expect(client.state.status).toBe('reconnecting');
      controller.abort();
      await expect(answer.result).resolves.toMatchObject({ finish_reason: 'cancelled' });
      expect(client.state.status).toBe('idle');
      await jest.advanceTimersByTimeAsync(120_000);
      expect(FakeWebSocket.instances).toHaveLength(1);
    });

    it('a request aborted before any socket took it drops the reconnect in waiting', async () => {
      const controller = new AbortController();
      const answer = client.chat({ id: 'a', messages: hello }, { signal: controller.signal });
      (await nextSocket()).serverClose(1006); // never ready: 'a' was never sent
      expect(client.state.status).toBe('reconnecting');
      controller.abort();
      await expect(answer.result).resolves.toMatchObject({ finish_reason: 'cancelled' });
      expect(client.state.status).toBe('idle');
      await jest.advanceTimersByTimeAsync(120_000);
      expect(FakeWebSocket.instances).toHaveLength(1);
    });

    it('a cancelled stream whose socket closes before the confirmation ends cancelled, without reconnecting', async () => {
      const answer = client.chat({ id: 'a', messages: hello });
      const ws1 = await nextSocket();
      ws1.ready();
      ws1.receive(startedFrame('a'));
      answer.cancel();
      ws1.serverClose(1006);
      await expect(answer.result).resolves.toMatchObject({ finish_reason: 'cancelled' });
      await jest.advanceTimersByTimeAsync(0);
      expect(client.state.status).not.toBe('connecting');
    });

    it('an already-aborted signal never sends anything', async () => {
      const controller = new AbortController();
      controller.abort();
      const answer = client.chat({ messages: hello }, { signal: controller.signal });
      await expect(answer.result).resolves.toMatchObject({ finish_reason: 'cancelled' });
      await jest.advanceTimersByTimeAsync(1_000);
      expect(FakeWebSocket.instances).toHaveLength(0);
    });

    it('a stream aborted while offline is cancelled on the next socket if one opens anyway', async () => {
      const a = new AbortController();
      client.chat({ id: 'a', messages: hello }, { signal: a.signal });
      client.chat({ id: 'b', messages: hello });
      const ws1 = await nextSocket();
      ws1.ready(RESUME);
      ws1.receive(startedFrame('a', 'str_a'));
      ws1.receive(startedFrame('b', 'str_b'));
      ws1.serverClose(1006);
      a.abort();
      await jest.advanceTimersByTimeAsync(0);
      const ws2 = FakeWebSocket.last;
      ws2.ready(RESUME);
      const resumeA = ws2.sentOfType('stream.resume').find((f) => f.stream_id === 'str_a')!;
      expect(resumeA.id).not.toBe('a');
      expect(ws2.sentOfType('chat.cancel')).toEqual([{ type: 'chat.cancel', id: resumeA.id }]);
    });
  });

  it('after connect() it stays connected without work: a drop reconnects; an idle close (4002) does not', async () => {
    const session = client.connect();
    const ws1 = await nextSocket();
    ws1.ready();
    await expect(session).resolves.toMatchObject({ type: 'session.ready' });
    ws1.serverClose(1006);
    expect(client.state.status).toBe('reconnecting');
    await jest.advanceTimersByTimeAsync(0);
    FakeWebSocket.last.ready();
    FakeWebSocket.last.serverClose(4002);
    expect(client.state.status).toBe('idle');
  });

  it('without connect(), a drop with nothing in flight just goes idle', async () => {
    const answer = client.chat({ id: 'a', messages: hello });
    const ws = await nextSocket();
    ws.ready();
    ws.receive(startedFrame('a'));
    ws.receive(doneFrame('a', 2));
    await answer.result;
    ws.serverClose(1006);
    expect(client.state.status).toBe('idle');
  });

  it('watch() follows a stream started elsewhere, and resumes it after a drop', async () => {
    const watched = client.watch('str_x', { after_seq: 0 });
    const ws1 = await nextSocket();
    ws1.ready(RESUME);
    expect(ws1.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_x', after_seq: 0, id: watched.id, format: 'text' }]);
    ws1.receive(startedFrame(watched.id, 'str_x'));
    ws1.receive(chunkFrame(watched.id, 2, 'A', 'str_x'));
    ws1.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    FakeWebSocket.last.ready(RESUME);
    expect(FakeWebSocket.last.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_x', after_seq: 2, id: watched.id, format: 'text' }]);
    FakeWebSocket.last.receive(chunkFrame(watched.id, 3, 'B', 'str_x'));
    FakeWebSocket.last.receive(doneFrame(watched.id, 4, 'str_x'));
    await expect(watched.text()).resolves.toBe('AB');
  });

  it('streams() lists resumable streams; an older gateway answers unsupported', async () => {
    const listing = client.streams();
    const ws = await nextSocket();
    ws.ready(RESUME);
    const [frame] = ws.sentOfType('stream.list');
    const streams = [{ stream_id: 's', id: 'r', model: 'm', state: 'done' as const, last_seq: 5, started_at: '2026-01-01T00:00:00Z' }];
    ws.receive({ type: 'stream.list.result', id: frame!.id, streams });
    await expect(listing).resolves.toEqual(streams);
    expect((await listing).partial).toBe(false);

    // A gateway that could not read every replica's streams in time says so.
    const partly = client.streams();
    const partial = ws.sentOfType('stream.list')[1]!;
    ws.receive({ type: 'stream.list.result', id: partial.id, streams, partial: true });
    expect((await partly).partial).toBe(true);

    const again = client.streams();
    const second = ws.sentOfType('stream.list')[2]!;
    ws.receive({ type: 'error', code: 'unknown_type', message: 'Unknown frame type "stream.list"', id: second.id });
    await expect(again).rejects.toMatchObject({ code: 'unsupported' });
  });

  it('reports every frame in and out, for developer tools', async () => {
    const seen: string[] = [];
    client.on('frame', ({ direction, frame }) => seen.push(`${direction} ${frame.type}`));
    client.chat({ id: 'a', messages: hello });
    const ws = await nextSocket();
    ws.ready();
    expect(seen).toEqual(['in session.ready', 'out chat.request']);
  });

  it('puts a token that a subprotocol cannot carry in the query instead; header on request', async () => {
    const c1 = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, token: 'abc/def=' });
    c1.chat({ messages: hello });
    expect((await nextSocket()).url).toBe('ws://gw/v1/ws?access_token=abc%2Fdef%3D');
    c1.close();
    const c2 = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, token: 'tok', tokenIn: 'header' });
    c2.chat({ messages: hello });
    const ws = await nextSocket();
    expect(ws.protocols).toEqual(['chat.v1']);
    expect(ws.options).toEqual({ headers: { Authorization: 'Bearer tok' } });
    c2.close();
  });
});
