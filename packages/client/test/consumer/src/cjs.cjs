// Node CommonJS: require() both entries (the `require` condition, dist/cjs/*.cjs), and render the
// hook with the project's own React, as a server-rendered page would.
const assert = require('node:assert/strict');
const { createElement } = require('react');
const { renderToString } = require('react-dom/server');
const sdk = require('@holysheep/stream-client');
const { useChat, useConnectionState } = require('@holysheep/stream-client/react');

assert.ok(require.resolve('@holysheep/stream-client').endsWith('/dist/cjs/index.cjs'));
assert.equal(sdk.CLOSE_CODES.SERVICE_RESTART.code, 1012);
assert.equal(sdk.unknownRole('critic'), 'critic');
const client = sdk.createClient({ url: 'ws://127.0.0.1:9/v1/ws', WebSocket: class {} });
function App() {
  const chat = useChat(client);
  const state = useConnectionState(client);
  return createElement('p', null, `${state.status} ${chat.messages.length} ${chat.busy}`);
}
assert.equal(renderToString(createElement(App)), '<p>idle 0 false</p>');
client.close();
console.log('cjs ok');
