/** Conversation: the multi-turn state the playground and the React hook are built on. */
import { createClient, type StreamClient } from '../src/client';
import { Conversation } from '../src/conversation';
import { chunkFrame, doneFrame, FakeWebSocket, startedFrame } from './support/fake-socket';

describe('Conversation', () => {
  let client: StreamClient;
  let clock = 0;
  beforeEach(() => {
    jest.useFakeTimers();
    FakeWebSocket.reset();
    clock = 1_000;
    client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket });
  });
  afterEach(() => {
    client.close();
    jest.useRealTimers();
  });
  const socket = async () => {
    await jest.advanceTimersByTimeAsync(0);
    const ws = FakeWebSocket.last;
    if (ws.readyState === 0) ws.ready();
    return ws;
  };

  it('sends the history with the system prompt and settings; tracks time to first token and tokens/s', async () => {
    const conversation = new Conversation(client, { settings: { system: 'Be brief.', model: 'm1', temperature: 0.5, max_tokens: 100 }, now: () => clock });
    const changes = jest.fn();
    conversation.subscribe(changes);
    const first = conversation.send('Hi')!;
    const ws = await socket();
    expect(ws.sentOfType('chat.request')[0]).toEqual({
      type: 'chat.request',
      id: first.id,
      model: 'm1',
      temperature: 0.5,
      max_tokens: 100,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      format: 'text',
    });
    expect(conversation.getSnapshot().busy).toBe(true);
    expect(conversation.send('not now')).toBeUndefined();

    clock = 1_300;
    ws.receive(startedFrame(first.id, 's1', 'm1'));
    ws.receive(chunkFrame(first.id, 2, 'Hel', 's1'));
    clock = 2_300;
    ws.receive(chunkFrame(first.id, 3, 'lo', 's1'));
    let answer = conversation.getSnapshot().messages[1]!;
    expect(answer).toMatchObject({ role: 'assistant', status: 'streaming', content: 'Hello', model: 'm1', stream_id: 's1' });
    expect(answer.stats).toMatchObject({ sentAt: 1_000, firstTokenAt: 1_300, ttftMs: 300, chunks: 2, tokensPerSecond: 1 });
    clock = 2_800;
    ws.receive({ ...doneFrame(first.id, 4, 's1'), usage: { prompt_tokens: 5, completion_tokens: 11, total_tokens: 16 } });
    answer = conversation.getSnapshot().messages[1]!;
    expect(answer).toMatchObject({ status: 'done', finish_reason: 'stop', stats: { completionTokens: 11, tokensPerSecond: 10 / 1.5 } });
    expect(conversation.getSnapshot().busy).toBe(false);
    expect(changes).toHaveBeenCalled();

    const second = conversation.send('More')!;
    expect(ws.sentOfType('chat.request')[1]!.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'More' },
    ]);
    expect(second.id).not.toBe(first.id);
  });

  it('stop() cancels; regenerate() replaces the last answer; clear() forgets everything', async () => {
    const conversation = new Conversation(client, { now: () => clock });
    const first = conversation.send('Tell me')!;
    const ws = await socket();
    ws.receive(startedFrame(first.id));
    ws.receive(chunkFrame(first.id, 2, 'Once'));
    conversation.stop();
    expect(ws.sentOfType('chat.cancel')).toEqual([{ type: 'chat.cancel', id: first.id }]);
    ws.receive(doneFrame(first.id, 3, 'str_1', 'cancelled'));
    expect(conversation.getSnapshot().messages[1]).toMatchObject({ status: 'cancelled', content: 'Once' });

    const again = conversation.regenerate()!;
    const request = ws.sentOfType('chat.request')[1]!;
    expect(request.id).toBe(again.id);
    expect(request.messages).toEqual([{ role: 'user', content: 'Tell me' }]);
    expect(conversation.getSnapshot().messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    ws.receive({ type: 'chat.error', id: again.id, code: 'upstream_unavailable', message: 'down', retryable: true });
    expect(conversation.getSnapshot().messages[1]).toMatchObject({ status: 'error', error: { code: 'upstream_unavailable' } });
    // A failed answer is not sent back as history.
    expect(conversation.history()).toEqual([{ role: 'user', content: 'Tell me' }]);

    conversation.clear();
    expect(conversation.getSnapshot()).toMatchObject({ messages: [], busy: false });
  });

  it('a snapshot stays the same object until something changes (useSyncExternalStore)', () => {
    const conversation = new Conversation(client);
    const a = conversation.getSnapshot();
    expect(conversation.getSnapshot()).toBe(a);
    conversation.setSettings({ temperature: 1.2 });
    expect(conversation.getSnapshot()).not.toBe(a);
    expect(conversation.getSnapshot().settings.temperature).toBe(1.2);
  });
});
