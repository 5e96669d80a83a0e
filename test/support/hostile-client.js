/**
 * A hostile client in a process of its own, so that the cost of attacking does not land on the
 * test process that measures the bystander. Usage: node hostile-client.js '<json options>'
 *
 * options: { url, apiKey, sockets, framesPerSecond, durationMs, frames: [kind…], pauseReading }
 * kinds:   ones     chat.request whose messages are [1,1,1,…] (~130k values)
 *          many     chat.request with 8,000 tiny valid messages
 *          deep     chat.request with response_format nested 40,000 levels
 *          bigping  ping whose ts is a 250 KB string
 *          ping     ping whose ts is a 1 KB string
 *          ping64k  ping whose ts is a 64,000-byte string
 * Each socket sends the kinds in turn at framesPerSecond, skipping a beat whenever its own send
 * buffer is not empty (TCP is pushing back). Prints one JSON line when done: frames sent and the
 * close codes seen.
 */
'use strict';
const { WebSocket } = require('ws');

const FRAME_LIMIT = 256 * 1024 - 64;

function build(kind, n) {
  const id = `mallory-${n}`;
  switch (kind) {
    case 'ones': {
      const head = `{"type":"chat.request","id":"${id}","messages":[`;
      const count = Math.floor((FRAME_LIMIT - head.length - 2) / 2);
      return head + new Array(count).fill('1').join(',') + ']}';
    }
    case 'many': {
      const message = '{"role":"user","content":"x"}';
      return `{"type":"chat.request","id":"${id}","messages":[${new Array(8_000).fill(message).join(',')}]}`;
    }
    case 'deep': {
      const depth = 40_000;
      return `{"type":"chat.request","id":"${id}","messages":[{"role":"user","content":"x"}],"response_format":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    }
    case 'bigping':
      return JSON.stringify({ type: 'ping', ts: 'x'.repeat(250_000) });
    case 'ping':
      return JSON.stringify({ type: 'ping', ts: 'x'.repeat(1_000) });
    case 'ping64k':
      return JSON.stringify({ type: 'ping', ts: 'x'.repeat(64_000) });
    default:
      throw new Error(`unknown frame kind ${kind}`);
  }
}

async function main() {
  const options = JSON.parse(process.argv[2]);
  const frames = options.frames.map((kind, n) => Buffer.from(build(kind, n)));
  for (const frame of frames) if (frame.length > 256 * 1024) throw new Error(`frame of ${frame.length} bytes is over the cap`);
  const closes = {};
  let sent = 0;
  const sockets = await Promise.all(
    Array.from({ length: options.sockets }, () => {
      // A zero mask: the attacker pays nothing to mask what it sends.
      const ws = new WebSocket(options.url, { headers: { authorization: `Bearer ${options.apiKey}` }, generateMask: (mask) => mask.fill(0) });
      ws.on('error', () => undefined);
      ws.on('close', (code) => (closes[code] = (closes[code] ?? 0) + 1));
      return new Promise((resolve, reject) => {
        ws.once('open', () => {
          if (options.pauseReading) ws.pause();
          resolve(ws);
        });
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      });
    }),
  );
  const started = Date.now();
  let turn = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() - started >= options.durationMs) {
        clearInterval(timer);
        return resolve();
      }
      const frame = frames[turn++ % frames.length];
      for (const ws of sockets) {
        if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > 0) continue;
        ws.send(frame, { binary: false });
        sent++;
      }
    }, 1000 / options.framesPerSecond);
  });
  // Closes seen during the attack only: what follows is our own doing.
  const seen = { ...closes };
  for (const ws of sockets) ws.terminate();
  process.stdout.write(`${JSON.stringify({ sent, closes: seen })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
