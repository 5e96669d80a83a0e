// Node ES modules: import both entries (the `import` condition, dist/*.js), and render the hook
// with the project's own React, as a server-rendered page would.
import assert from 'node:assert/strict';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { CLOSE_CODES, createClient, unknownRole } from '@holysheep/stream-client';
import { useChat, useConnectionState } from '@holysheep/stream-client/react';

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
client.close();
console.log('esm ok');
