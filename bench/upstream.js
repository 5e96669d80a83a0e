'use strict';
/**
 * Fake OpenAI-compatible upstream: `POST /v1/chat/completions` (or `/chat/completions`) answers
 * text/event-stream, `data: {chat.completion.chunk}\n\n` per chunk, a finish_reason "stop" chunk,
 * a usage chunk when stream_options.include_usage, then `data: [DONE]\n\n`.
 *
 * The shape rides in what the gateway forwards (`user` and `max_tokens`):
 *   user: "bench:chunks=100,interval=50"   content chunks, ms between them (0 = burst: as fast as
 *                                          the socket drains); max_tokens = chunks if user has none
 *
 * Every content chunk carries `bench_ts` (wall clock ms, sub-ms, taken right before the write) and
 * `bench_seq` (1..N). Chunk 1 leaves at once (time to first chunk measures the relay, not the
 * pacing), chunk i at t0 + (i − 1) · interval. All paced streams share ONE 1 ms tick (a timer
 * wheel keyed by due millisecond) rather than a timer each, and each keeps the phase it started
 * with, so load spreads the way unsynchronised real streams spread it.
 *
 * Prints {"port": N} on stdout once listening on 127.0.0.1.
 */
require('./lib/die-with-parent');
const http = require('node:http');
const { performance } = require('node:perf_hooks');

const wallNow = () => performance.timeOrigin + performance.now();

// ---- one shared tick for every paced stream --------------------------------------------------
/** due millisecond (integer, performance.now() clock) → streams due then */
const wheel = new Map();
let wheelTimer = null;
let lastTick = 0;

function schedule(stream, dueMs) {
  if (!wheelTimer) {
    lastTick = Math.floor(performance.now()) - 1;
    wheelTimer = setInterval(tick, 1);
  }
  // A slot already swept (the upstream is running late) would never fire: take the next one.
  const slot = Math.max(Math.ceil(dueMs), lastTick + 1);
  if (!wheel.has(slot)) wheel.set(slot, []);
  wheel.get(slot).push(stream);
}

function tick() {
  const now = Math.floor(performance.now());
  for (let t = lastTick + 1; t <= now; t++) {
    const list = wheel.get(t);
    if (list === undefined) continue;
    wheel.delete(t);
    for (const stream of list) stream.next();
  }
  lastTick = now;
  if (wheel.size === 0) {
    clearInterval(wheelTimer);
    wheelTimer = null;
  }
}

// ---- the stream ------------------------------------------------------------------------------
const WORDS = ['The', ' quick', ' brown', ' fox', ' jumps', ' over', ' the', ' lazy', ' dog', '.', ' Lorem', ' ipsum', ' dolor', ' sit', ' amet', ','];

function parseShape(body) {
  const shape = { chunks: Number.isInteger(body.max_tokens) && body.max_tokens > 0 ? body.max_tokens : 20, interval: 20 };
  const m = typeof body.user === 'string' ? /bench:([\w=,.-]*)/.exec(body.user) : null;
  for (const pair of m ? m[1].split(',') : []) {
    const [k, v] = pair.split('=');
    if ((k === 'chunks' || k === 'interval') && Number(v) >= 0) shape[k] = Number(v);
    // Content chunks without the bench fields: a gateway sends such a chunk as a compact frame
    // (`format: "text"`, issue 23), which has no room for them.
    if (k === 'plain' && v === '1') shape.plain = true;
  }
  shape.chunks = Math.min(Math.floor(shape.chunks), 1_000_000);
  return shape;
}

let streamCounter = 0;

class Stream {
  constructor(res, body, shape) {
    Object.assign(this, { res, ...shape, seq: 0, closed: false, t0: performance.now() });
    this.includeUsage = Boolean(body.stream_options && body.stream_options.include_usage);
    const model = typeof body.model === 'string' ? body.model.replace(/[^\w.:/-]/g, '') : 'bench-model';
    const id = `chatcmpl-bench${++streamCounter}`;
    // Everything but the delta and the two bench fields is constant: built once (≈ 260-byte chunks, like OpenAI's).
    this.head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${Math.floor(Date.now() / 1000)},"model":"${model}","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":`;
    res.on('close', () => (this.closed = true));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': id });
    if (res.socket) res.socket.setNoDelay(true);
  }

  contentChunk(seq) {
    const delta = seq === 1 ? `{"role":"assistant","content":"${WORDS[0]}"}` : `{"content":"${WORDS[seq % WORDS.length]}"}`;
    if (this.plain) return `${this.head}${delta},"logprobs":null,"finish_reason":null}]}\n\n`;
    return `${this.head}${delta},"logprobs":null,"finish_reason":null}],"bench_seq":${seq},"bench_ts":${wallNow()}}\n\n`;
  }

  tail() {
    let out = `${this.head}{},"logprobs":null,"finish_reason":"stop"}],"bench_ts":${wallNow()}}\n\n`;
    if (this.includeUsage) {
      const usage = `{"prompt_tokens":8,"completion_tokens":${this.chunks},"total_tokens":${this.chunks + 8}}`;
      out += `${this.head.slice(0, this.head.indexOf('"choices":['))}"choices":[],"usage":${usage},"bench_ts":${wallNow()}}\n\n`;
    }
    return `${out}data: [DONE]\n\n`;
  }

  /** Ends the response, `last` (the last content chunk, if any) leaving with the tail. */
  finish(last = '') {
    if (this.closed) return;
    this.closed = true;
    this.res.end(last + this.tail());
  }

  /** Paced: writes chunk seq + 1 and schedules the next. */
  next() {
    if (this.closed) return;
    const seq = ++this.seq;
    if (seq >= this.chunks) return this.finish(seq === this.chunks ? this.contentChunk(seq) : '');
    this.res.write(this.contentChunk(seq));
    schedule(this, this.t0 + seq * this.interval);
  }

  /** Burst: writes until the socket pushes back, and goes on at 'drain'. */
  burst() {
    while (!this.closed) {
      const seq = ++this.seq;
      if (seq > this.chunks) return this.finish();
      if (!this.res.write(this.contentChunk(seq))) return void this.res.once('drain', () => this.burst());
    }
  }

  start() {
    if (this.chunks === 0) this.finish();
    else if (this.interval > 0) this.next();
    else this.burst();
  }
}

// ---- HTTP ------------------------------------------------------------------------------------
function json(res, status, obj) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function onCompletion(req, res) {
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      return json(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) return json(res, 400, { error: { message: 'messages is required', type: 'invalid_request_error' } });
    new Stream(res, body, parseShape(body)).start();
  });
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/chat/completions')) return onCompletion(req, res);
  json(res, 404, { error: { message: 'not found' } });
});

// Relays keep upstream connections alive between runs: never close one under them.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.requestTimeout = 0;
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => process.stdout.write(`${JSON.stringify({ port: server.address().port, pid: process.pid })}\n`));

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
