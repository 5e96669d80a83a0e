/**
 * The Vue entry (`./vue`) in Node with Vue's own APIs: effect scopes stand for a component's
 * lifetime, `watch` + `nextTick` observe what a template would re-render on, and Vue's server
 * renderer runs a real component's `setup()` (no DOM needed). The client talks to a scripted socket.
 */
import type { ChatMessage } from '@holysheep/protocol';
import { createSSRApp, effectScope, h, nextTick, watch } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { Conversation } from '../src/conversation';
import { PERSIST_INTERVAL_MS } from '../src/conversation-store';
import { useChat, useConnectionState } from '../src/vue';
import { useFakeClients } from './support/fake-clients';
import { chunkFrame, doneFrame, FakeWebSocket, startedFrame } from './support/fake-socket';

const delta = (id: string, s: number, x: string) => ({ t: 'd', id, s, x });

describe('useChat (Vue)', () => {
  const fake = useFakeClients('ws://gw/v1/ws');
  const make = () => fake.make();
  const { nextSocket } = fake;

  it('returns refs that follow the conversation; disposing the scope (unmount) stops the answer', async () => {
    const client = make();
    const scope = effectScope();
    const chat = scope.run(() => useChat(client, { settings: { system: 'From Vue.' } }))!;
    const connection = scope.run(() => useConnectionState(client))!;
    const seen: string[] = [];
    scope.run(() => watch(() => chat.messages.value.map((m) => `${m.role}:${m.status}:${m.content}`).join('|'), (now) => seen.push(now)));
    expect(chat.messages.value).toEqual([]);
    expect(chat.busy.value).toBe(false);

    const handle = chat.send('Hi')!;
    const ws = await nextSocket();
    expect(connection.value.status).toBe('open');
    expect(ws.sentOfType('chat.request')[0]!.messages).toEqual<ChatMessage[]>([
      { role: 'system', content: 'From Vue.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(chat.busy.value).toBe(true);
    ws.receive(startedFrame(handle.id, 'str_v'));
    ws.receive(chunkFrame(handle.id, 2, 'Hel', 'str_v'));
    ws.receive(delta(handle.id, 3, 'lo'));
    await nextTick();
    expect(seen[seen.length - 1]).toBe('user:done:Hi|assistant:streaming:Hello');
    expect(chat.snapshot.value).toBe(chat.conversation.getSnapshot());

    scope.stop();
    expect(ws.sentOfType('chat.cancel')).toEqual([{ type: 'chat.cancel', id: handle.id }]);
    ws.receive(doneFrame(handle.id, 4, 'str_v', 'cancelled'));
    // Disposed: the refs no longer follow (nothing re-renders an unmounted component).
    expect(chat.messages.value[1]!.status).toBe('streaming');
    expect(chat.conversation.getSnapshot().messages[1]!.status).toBe('cancelled');
  });

  it('with a persistKey the refs start with the kept conversation and the answer goes on after a reload', async () => {
    const before = new Conversation(make(), { persistKey: 'vue' });
    const handle = before.send('Tell me')!;
    const ws1 = await nextSocket();
    ws1.receive(startedFrame(handle.id, 'str_1'));
    ws1.receive(delta(handle.id, 2, 'Once '));
    await jest.advanceTimersByTimeAsync(PERSIST_INTERVAL_MS);
    fake.clients[0]!.close({ keepStreams: true }); // the page goes away

    const scope = effectScope();
    const chat = scope.run(() => useChat(make(), { persistKey: 'vue' }))!;
    expect(chat.busy.value).toBe(true);
    expect(chat.messages.value.map((m) => m.content)).toEqual(['Tell me', 'Once ']);
    const ws2 = await nextSocket();
    expect(ws2.sentOfType('stream.resume')).toEqual([{ type: 'stream.resume', stream_id: 'str_1', after_seq: 2, id: handle.id, format: 'text' }]);
    ws2.receive(delta(handle.id, 2, 'Once '));
    ws2.receive(delta(handle.id, 3, 'upon a time'));
    ws2.receive(doneFrame(handle.id, 4, 'str_1'));
    await nextTick();
    expect(chat.busy.value).toBe(false);
    expect(chat.messages.value[1]).toMatchObject({ content: 'Once upon a time', status: 'done' });
    expect(FakeWebSocket.instances.flatMap((ws) => ws.sentOfType('chat.request'))).toHaveLength(1);
    scope.stop();
  });

  it('works in a component: setup() renders the kept conversation (Vue server renderer)', async () => {
    const client = make();
    const kept = new Conversation(client, { persistKey: 'ssr' });
    const handle = kept.send('Hello Vue')!;
    const ws = await nextSocket();
    ws.receive(startedFrame(handle.id, 'str_s'));
    ws.receive(chunkFrame(handle.id, 2, 'Hi there', 'str_s'));
    ws.receive(doneFrame(handle.id, 3, 'str_s'));
    const App = {
      setup() {
        const { messages, busy } = useChat(client, { persistKey: 'ssr' });
        const connection = useConnectionState(client);
        return () =>
          h('main', [
            h('p', { id: 'status' }, `${connection.value.status} ${busy.value ? 'busy' : 'idle'}`),
            h('ul', messages.value.map((m) => h('li', { key: m.id, 'data-role': m.role }, m.content))),
          ]);
      },
    };
    const html = await renderToString(createSSRApp(App));
    expect(html).toContain('<li data-role="user">Hello Vue</li><li data-role="assistant">Hi there</li>');
    expect(html).toContain('open idle');
  });
});
