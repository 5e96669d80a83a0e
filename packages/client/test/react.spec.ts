/**
 * The React hook in Node (React's server renderer: the first render, no DOM): with a persistKey
 * the first render already shows the kept conversation and the answer in flight is resumed, not
 * asked again. Effects (the unmount stop, StrictMode's remount) need a DOM: they are held by
 * test/browser/reload.e2e-spec.ts and test/browser/playground.e2e-spec.ts in Chromium.
 */
import { createElement as h, type ReactElement } from 'react';
import { createClient, type StreamClient } from '../src/client';
import { Conversation } from '../src/conversation';
import { PERSIST_INTERVAL_MS } from '../src/conversation-store';
import { useChat } from '../src/react';
import { MemoryStorage } from '../src/storage';
import { RESUME_READY as RESUME } from './support/fake-clients';
import { doneFrame, FakeWebSocket, startedFrame } from './support/fake-socket';

// react-dom ships no types and @types/react-dom is not a dependency: the one function used, typed here.
const { renderToString } = require('react-dom/server') as { renderToString(element: ReactElement): string };

const delta = (id: string, s: number, x: string) => ({ t: 'd', id, s, x });

describe('useChat (React) with a persistKey', () => {
  const clients: StreamClient[] = [];
  beforeEach(() => {
    jest.useFakeTimers({ now: 5_000_000 });
    FakeWebSocket.reset();
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    jest.useRealTimers();
  });

  it('renders the kept conversation on the first render and resumes the answer in flight from its seq', async () => {
    const storage = new MemoryStorage();
    const make = () => {
      const client = createClient({ url: 'ws://gw/v1/ws', WebSocket: FakeWebSocket, random: () => 0, storage });
      clients.push(client);
      return client;
    };
    const before = new Conversation(make(), { persistKey: 'react' });
    const handle = before.send('Hello React')!;
    await jest.advanceTimersByTimeAsync(0);
    FakeWebSocket.last.ready(RESUME);
    FakeWebSocket.last.receive(startedFrame(handle.id, 'str_r'));
    FakeWebSocket.last.receive(delta(handle.id, 2, 'Hi '));
    await jest.advanceTimersByTimeAsync(PERSIST_INTERVAL_MS);
    clients[0]!.close({ keepStreams: true }); // the page goes away

    const client = make();
    let seen: ReturnType<typeof useChat> | undefined;
    function App() {
      seen = useChat(client, { persistKey: 'react' });
      return h('ul', null, seen.messages.map((m) => h('li', { key: m.id, 'data-status': m.status }, m.content)));
    }
    const html = renderToString(h(App));
    expect(html).toBe('<ul><li data-status="done">Hello React</li><li data-status="streaming">Hi </li></ul>');
    expect(seen!.busy).toBe(true);

    await jest.advanceTimersByTimeAsync(0);
    const ws = FakeWebSocket.last;
    ws.ready(RESUME);
    expect(ws.sent).toEqual([{ type: 'stream.resume', stream_id: 'str_r', after_seq: 2, id: handle.id, format: 'text' }]);
    ws.receive(delta(handle.id, 3, 'there'));
    ws.receive(doneFrame(handle.id, 4, 'str_r'));
    expect(seen!.conversation.getSnapshot().messages[1]).toMatchObject({ content: 'Hi there', status: 'done' });
    expect(FakeWebSocket.instances.flatMap((s) => s.sentOfType('chat.request'))).toHaveLength(1);
  });
});
