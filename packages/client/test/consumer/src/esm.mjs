// Node ES modules: import the three entries (the `import` condition, dist/*.js), render the React
// hook with the project's own React, as a server-rendered page would, and run the Vue composable
// in an effect scope with the project's own Vue.
import assert from 'node:assert/strict';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { effectScope } from 'vue';
import { CLOSE_CODES, Conversation, createClient, unknownRole } from '@holysheep/stream-client';
import { useChat, useConnectionState } from '@holysheep/stream-client/react';
import * as vue from '@holysheep/stream-client/vue';

assert.ok(import.meta.resolve('@holysheep/stream-client').endsWith('/dist/index.js'));
assert.equal(CLOSE_CODES.SERVICE_RESTART.code, 1012);
assert.equal(unknownRole('critic'), 'critic');
const client = createClient({ url: 'ws://127.0.0.1:9/v1/ws', WebSocket: class {} });
function App() {
  const chat = useChat(client);
  const state = useConnectionState(client);
  return createElement('p', null, `${state.status} ${chat.messages.length} ${chat.busy}`);
}
assert.equal(renderToString(createElement(App)), '<p>idle 0 false</p>');
const scope = effectScope();
const chat = scope.run(() => vue.useChat(client));
assert.equal(scope.run(() => vue.useConnectionState(client)).value.status, 'idle');
assert.deepEqual([chat.messages.value, chat.busy.value], [[], false]);
assert.ok(chat.conversation instanceof Conversation);
scope.stop();
client.close();
console.log('esm ok');
