'use strict';
/**
 * The bare relay: the least work a Node relay of this shape can do per chunk, to tell what Node's own
 * I/O costs (one HTTP/1.1 upstream connection per stream, one WebSocket per client) from what a
 * relay adds on top. Not a relay anyone should run: no validation (an upstream's bytes go to the
 * client unchecked), no limits, no cancel, no backpressure, no ids of its own, no error handling
 * beyond an error frame.
 *
 * Per chunk it does only what any relay must: read the upstream socket (node:http, a keep-alive
 * pool like the gateway's), find the `data:` payload in the decoded text, and send it inside a
 * frame string with one `ws.send`. No JSON.parse, no JSON.stringify, no SSE library.
 *
 * Speaks the control's subset of docs/protocol.md, takes the same env (UPSTREAM_BASE_URL,
 * UPSTREAM_API_KEY, PORT) and prints {"port": N} once listening on 127.0.0.1.
 */
require('./lib/die-with-parent');
const http = require('node:http');
const { WebSocketServer } = require('ws');
const { upstreamBody } = require('./lib/upstream-body');

const UPSTREAM = new URL(`${(process.env.UPSTREAM_BASE_URL || 'http://127.0.0.1:8000/v1').replace(/\/+$/, '')}/chat/completions`);
const AUTHORIZATION = `Bearer ${process.env.UPSTREAM_API_KEY || 'bench-not-a-secret'}`;
// A pool that keeps its connections between streams (Node's default keeps only 256 idle ones).
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4096, scheduling: 'lifo' });

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.env.PORT || 0) });

wss.on('listening', () => {
  process.stdout.write(`${JSON.stringify({ port: wss.address().port, pid: process.pid })}\n`);
});

wss.on('connection', (ws) => {
  ws.send('{"type":"session.ready"}');
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.type === 'chat.request') relay(ws, msg);
  });
});

function relay(ws, msg) {
  const id = JSON.stringify(msg.id);
  const head = `{"type":"chat.chunk","id":${id},"chunk":`;
  const body = upstreamBody(msg);
  const fail = (message) => ws.send(JSON.stringify({ type: 'chat.error', id: msg.id, code: 'upstream_error', message }));
  const req = http.request(
    UPSTREAM,
    { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: AUTHORIZATION } },
    (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return fail(`upstream answered ${res.statusCode}`);
      }
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (text) => {
        pending += text;
        // Events end with a blank line; each of the fake upstream's is one `data: …` line.
        let end;
        while ((end = pending.indexOf('\n\n')) !== -1) {
          const start = pending.startsWith('data: ') ? 6 : pending.startsWith('data:') ? 5 : -1;
          if (start !== -1) {
            const payload = pending.slice(start, end);
            ws.send(payload === '[DONE]' ? `{"type":"chat.done","id":${id}}` : head + payload + '}');
          }
          pending = pending.slice(end + 2);
        }
      });
      res.on('error', (err) => fail(String(err.message)));
    },
  );
  req.on('error', (err) => fail(String(err.message)));
  req.end(body);
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
