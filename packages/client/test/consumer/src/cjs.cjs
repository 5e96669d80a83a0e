// Node CommonJS: require() the three entries (the `require` condition, dist/cjs/*.cjs), render the
// React hook with the project's own React, as a server-rendered page would, and run the Vue
// composable in an effect scope with the project's own Vue.
const assert = require('node:assert/strict');
const { createElement } = require('react');
const { renderToString } = require('react-dom/server');
const sdk = require('@holysheep/stream-client');
const { useChat, useConnectionState } = require('@holysheep/stream-client/react');
const { effectScope } = require('vue');
const vue = require('@holysheep/stream-client/vue');

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
const scope = effectScope();
const chat = scope.run(() => vue.useChat(client));
assert.equal(scope.run(() => vue.useConnectionState(client)).value.status, 'idle');
assert.deepEqual([chat.messages.value, chat.busy.value], [[], false]);
// One Conversation class whichever entry made it: vue.cjs uses index.cjs's code.
assert.ok(chat.conversation instanceof sdk.Conversation);
scope.stop();
client.close();
console.log('cjs ok');
