'use strict';
/**
 * The control: the thin "tutorial" relay this project replaces, kept deliberately naive so it is
 * the bar to beat. Plain `ws` server + global `fetch`, no framework, no validation, no limits, no
 * seq numbers, no cancel, no abort on disconnect, no backpressure: for each `chat.request` it
 * fetches the upstream with stream: true, splits the body on "\n", JSON-parses every `data:` line
 * and sends it on. It speaks as much of docs/protocol.md as the load client needs (session.ready,
 * chat.request → chat.chunk … chat.done | chat.error). env: UPSTREAM_BASE_URL, UPSTREAM_API_KEY, PORT
 * (default 0); prints {"port": N} once listening on 127.0.0.1.
 */
require('./lib/die-with-parent');
const { WebSocketServer } = require('ws');
const { upstreamBody } = require('./lib/upstream-body');

const UPSTREAM = (process.env.UPSTREAM_BASE_URL || 'http://127.0.0.1:8000/v1').replace(/\/+$/, '');
const API_KEY = process.env.UPSTREAM_API_KEY || 'bench-not-a-secret';

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.env.PORT || 0) });

wss.on('listening', () => {
  process.stdout.write(`${JSON.stringify({ port: wss.address().port, pid: process.pid })}\n`);
});

wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ type: 'session.ready' }));

  ws.on('message', async (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.type !== 'chat.request') return;
    const id = msg.id;
    try {
      const res = await fetch(`${UPSTREAM}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: upstreamBody(msg),
      });
      if (!res.ok) throw new Error(`upstream answered ${res.status}`);
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const part of res.body) {
        buffer += decoder.decode(part, { stream: true });
        const lines = buffer.split('\n');
        buffer = lines.pop();
        for (const line of lines) {
          if (!line.startsWith('data: ')) continue;
          const payload = line.slice(6).trim();
          if (payload === '[DONE]') {
            ws.send(JSON.stringify({ type: 'chat.done', id }));
            continue;
          }
          ws.send(JSON.stringify({ type: 'chat.chunk', id, chunk: JSON.parse(payload) }));
        }
      }
    } catch (err) {
      ws.send(JSON.stringify({ type: 'chat.error', id, code: 'upstream_error', message: String(err && err.message) }));
    }
  });
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
