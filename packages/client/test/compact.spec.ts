/**
 * `format: 'text'` (issue 23): the client asks for compact content deltas on every request and
 * resume, and hands out the same events as with `chat.chunk` frames: a delta's chunk is rebuilt,
 * its seq deduplicated and resumed from like any other.
 */
import { createClient, type StreamClient } from '../src/client';
import type { ChatEvent } from '../src/chat-handle';
import { RESUME_READY as RESUME } from './support/fake-clients';
import { chunkFrame, doneFrame, FakeWebSocket, startedFrame } from './support/fake-socket';
import type { ChatMessage } from '@holysheep/protocol';

const hello: ChatMessage[] = [{ role: 'user', content: 'hi' }];
const delta = (id: string, s: number, x: string) => ({ t: 'd', id, s, x });

describe('the format a client asks for', () => {
  afterEach(() => jest.useRealTimers());
  it.each([
    [{}, { format: 'text' }],
    [{ format: 'text' as const }, { format: 'text' }],
    [{ format: 'json' as const }, {}],
  ])('createClient(%j) sends %j on chat.request (text by default since 0.3.0)', async (options, field) => {
    jest.useFakeTimers();
    FakeWebSocket.reset();
    const client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, ...options });
    client.chat({ id: 'a', messages: hello });
    await jest.advanceTimersByTimeAsync(0);
    FakeWebSocket.last.ready();
    expect(FakeWebSocket.last.sent).toEqual([{ type: 'chat.request', id: 'a', messages: hello, ...field }]);
    client.close();
  });
});

describe('StreamClient with format: text', () => {
  let client: StreamClient;
  beforeEach(() => {
    jest.useFakeTimers({ now: 5_000_000 });
    FakeWebSocket.reset();
    client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, random: () => 0, format: 'text' });
  });
  afterEach(() => {
    client.close();
    jest.useRealTimers();
  });
  const nextSocket = async () => {
    await jest.advanceTimersByTimeAsync(0);
    return FakeWebSocket.last;
  };

  it('asks for it, and turns compact deltas into the chunk events a chat.chunk would have given', async () => {
    const answer = client.chat({ id: 'a', messages: hello });
    const frames: string[] = [];
    client.on('frame', ({ direction, frame }) => frames.push(`${direction} ${frame.type}`));
    const ws = await nextSocket();
    ws.ready();
    expect(ws.sent).toEqual([{ type: 'chat.request', id: 'a', messages: hello, format: 'text' }]);
    ws.receive(startedFrame('a', 'str_9', 'm'));
    ws.receive(chunkFrame('a', 2, 'Hel', 'str_9'));
    ws.receive(delta('a', 3, 'lo'));
    ws.receive(delta('a', 3, 'lo')); // a duplicate seq is dropped, as for chat.chunk
    ws.receive(doneFrame('a', 4, 'str_9'));
    await expect(answer.result).resolves.toMatchObject({ text: 'Hello', finish_reason: 'stop' });
    const events: ChatEvent[] = [];
    for await (const event of answer) events.push(event);
    const chunks = events.filter((e): e is Extract<ChatEvent, { type: 'chunk' }> => e.type === 'chunk');
    expect(chunks.map((c) => [c.seq, c.delta])).toEqual([
      [2, 'Hel'],
      [3, 'lo'],
    ]);
    // The whole chunk's envelope, the delta's text.
    expect(chunks[1]!.chunk).toEqual({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: null }] });
    expect(frames.filter((f) => f.startsWith('in'))).toEqual(['in session.ready', 'in chat.started', 'in chat.chunk', 'in chat.chunk', 'in chat.chunk', 'in chat.done']);
  });

  it('resumes in the same format from the last seq a compact frame delivered', async () => {
    const answer = client.chat({ id: 'a', messages: hello });
    const ws1 = await nextSocket();
    ws1.ready(RESUME);
    ws1.receive(startedFrame('a'));
    ws1.receive(delta('a', 2, 'one '));
    ws1.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    const ws2 = FakeWebSocket.last;
    ws2.ready(RESUME);
    expect(ws2.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_1', after_seq: 2, id: 'a', format: 'text' }]);
    ws2.receive(delta('a', 2, 'one '));
    ws2.receive(delta('a', 3, 'two'));
    ws2.receive(doneFrame('a', 4));
    await expect(answer.result).resolves.toMatchObject({ text: 'one two' });
  });
});
