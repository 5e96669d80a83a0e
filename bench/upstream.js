'use strict';
/**
 * Fake OpenAI-compatible upstream for the benchmark.
 *
 *   POST /v1/chat/completions   (also /chat/completions)
 *     -> text/event-stream: `data: {chat.completion.chunk}\n\n` per chunk, a final chunk with
 *        finish_reason "stop", a usage chunk when stream_options.include_usage, then
 *        `data: [DONE]\n\n`.
 *   GET  /clock                 -> {"ts": <wall clock ms>}     (client clock-offset check)
 *   GET  /stats                 -> counters since the last reset, incl. pacing lateness
 *   POST /stats/reset
 *
 * Shape of a run, read from the request (the gateway forwards `user` and `max_tokens` only):
 *   user: "bench:chunks=100,interval=20"   chunks = content chunks, interval = ms between them
 *                                          (0 = burst: as fast as the socket drains)
 *   max_tokens                             chunk count when `user` does not set one
 *
 * Every chunk carries `bench_ts` (wall clock ms, sub-ms: performance.timeOrigin +
 * performance.now(), taken right before the write) and, on content chunks, `bench_seq` (1..N).
 *
 * Pacing: the first content chunk is written at once (so time-to-first-chunk measures only the
 * relay), chunk i at t0 + i * interval. All paced streams share ONE 1 ms tick (a timer wheel keyed
 * by due millisecond), not a timer per stream; each stream keeps the phase it started with, so
 * load is spread the way real, unsynchronised streams spread it. `lateness` in /stats (actual
 * write time minus due time) shows whether the upstream itself fell behind.
 *
 * Prints {"port": N} on stdout once listening on 127.0.0.1.
 */
require('./lib/die-with-parent');
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { Samples, summarize } = require('./lib/stats');

const HOST = '127.0.0.1';
const port = Number(process.env.BENCH_UPSTREAM_PORT || 0);
const wallNow = () => performance.timeOrigin + performance.now();

// ---- counters for /stats ---------------------------------------------------------------------
let stats;
let eluStart;
function resetStats() {
  // connections: TCP connections opened (a relay that reuses its keep-alive sockets opens none).
  stats = { requests: 0, connections: 0, active: 0, peakActive: 0, completed: 0, aborted: 0, chunksSent: 0, lateness: new Samples(4096) };
  eluStart = performance.eventLoopUtilization();
}
resetStats();

// ---- one shared tick for every paced stream --------------------------------------------------
/** due millisecond (integer, performance.now() clock) -> streams due then */
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
  let list = wheel.get(slot);
  if (!list) wheel.set(slot, (list = []));
  list.push(stream);
}

function tick() {
  const now = Math.floor(performance.now());
  for (let t = lastTick + 1; t <= now; t++) {
    const list = wheel.get(t);
    if (list === undefined) continue;
    wheel.delete(t);
    for (let i = 0; i < list.length; i++) list[i].next();
  }
  lastTick = now;
  if (wheel.size === 0) {
    clearInterval(wheelTimer);
    wheelTimer = null;
  }
}

// ---- the stream ----------------------------------------------------------------------------
const WORDS = ['The', ' quick', ' brown', ' fox', ' jumps', ' over', ' the', ' lazy', ' dog', '.', ' Lorem', ' ipsum', ' dolor', ' sit', ' amet', ','];

function parseShape(body) {
  const shape = { chunks: 20, interval: 20 };
  if (Number.isInteger(body.max_tokens) && body.max_tokens > 0) shape.chunks = body.max_tokens;
  const m = typeof body.user === 'string' ? /bench:([\w=,.-]*)/.exec(body.user) : null;
  if (m) {
    for (const pair of m[1].split(',')) {
      const [k, v] = pair.split('=');
      const n = Number(v);
      if (k === 'chunks' && Number.isInteger(n) && n >= 0) shape.chunks = n;
      if (k === 'interval' && Number.isFinite(n) && n >= 0) shape.interval = n;
    }
  }
  shape.chunks = Math.min(shape.chunks, 1_000_000);
  return shape;
}

let streamCounter = 0;

class Stream {
  constructor(req, res, body, shape) {
    this.res = res;
    this.chunks = shape.chunks;
    this.interval = shape.interval;
    this.includeUsage = Boolean(body.stream_options && body.stream_options.include_usage);
    this.seq = 0;
    this.closed = false;
    this.t0 = performance.now();
    const model = typeof body.model === 'string' ? body.model.replace(/[^\w.:/-]/g, '') : 'bench-model';
    const id = `chatcmpl-bench${++streamCounter}`;
    const created = Math.floor(Date.now() / 1000);
    // Everything but the delta and the two bench fields is constant: build it once.
    this.head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"${model}","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":`;
    this.usage = `{"prompt_tokens":8,"completion_tokens":${this.chunks},"total_tokens":${this.chunks + 8}}`;
    stats.requests++;
    stats.active++;
    if (stats.active > stats.peakActive) stats.peakActive = stats.active;

    res.on('close', () => {
      if (!this.closed) {
        this.closed = true;
        stats.active--;
        stats.aborted++;
      }
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': id,
    });
    if (res.socket) res.socket.setNoDelay(true);
  }

  contentChunk(seq) {
    const delta = seq === 1 ? `{"role":"assistant","content":"${WORDS[0]}"}` : `{"content":"${WORDS[seq % WORDS.length]}"}`;
    return `${this.head}${delta},"logprobs":null,"finish_reason":null}],"bench_seq":${seq},"bench_ts":${wallNow()}}\n\n`;
  }

  tail() {
    let out = `${this.head}{},"logprobs":null,"finish_reason":"stop"}],"bench_ts":${wallNow()}}\n\n`;
    if (this.includeUsage) {
      // OpenAI's usage chunk: empty choices, usage set.
      out += `${this.head.slice(0, this.head.indexOf('"choices":['))}"choices":[],"usage":${this.usage},"bench_ts":${wallNow()}}\n\n`;
    }
    return `${out}data: [DONE]\n\n`;
  }

  finish() {
    if (this.closed) return;
    this.closed = true;
    stats.active--;
    stats.completed++;
    this.res.end(this.tail());
  }

  /** Paced: write chunk seq+1, schedule the one after. */
  next() {
    if (this.closed) return;
    const seq = ++this.seq;
    if (seq > this.chunks) return this.finish();
    const due = this.t0 + (seq - 1) * this.interval;
    stats.lateness.push(performance.now() - due);
    stats.chunksSent++;
    if (seq === this.chunks) {
      // Last content chunk, the finish chunk, usage and [DONE] leave together.
      this.closed = true;
      stats.active--;
      stats.completed++;
      this.res.end(this.contentChunk(seq) + this.tail());
      return;
    }
    this.res.write(this.contentChunk(seq));
    schedule(this, this.t0 + seq * this.interval);
  }

  /** Burst: write until the socket pushes back, continue on 'drain'. */
  burst() {
    const res = this.res;
    while (!this.closed) {
      const seq = ++this.seq;
      if (seq > this.chunks) return this.finish();
      stats.chunksSent++;
      if (!res.write(this.contentChunk(seq))) {
        res.once('drain', () => this.burst());
        return;
      }
    }
  }

  start() {
    if (this.chunks === 0) return this.finish();
    if (this.interval > 0) this.next();
    else this.burst();
  }
}

// ---- HTTP ----------------------------------------------------------------------------------
function readBody(req, cb) {
  const parts = [];
  let size = 0;
  req.on('data', (d) => {
    size += d.length;
    if (size > 1 << 20) return req.destroy();
    parts.push(d);
  });
  req.on('end', () => cb(Buffer.concat(parts).toString('utf8')));
}

function json(res, status, obj) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/chat/completions')) {
    readBody(req, (text) => {
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        return json(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      }
      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return json(res, 400, { error: { message: 'messages is required', type: 'invalid_request_error' } });
      }
      new Stream(req, res, body, parseShape(body)).start();
    });
    return;
  }
  if (req.method === 'GET' && path === '/clock') return json(res, 200, { ts: wallNow() });
  if (req.method === 'GET' && path === '/stats') {
    const { lateness, ...counters } = stats;
    const elu = performance.eventLoopUtilization(eluStart);
    return json(res, 200, { ...counters, latenessMs: summarize(lateness.values()), elu: Math.round(elu.utilization * 1000) / 1000 });
  }
  if (req.method === 'POST' && path === '/stats/reset') {
    resetStats();
    return json(res, 200, { ok: true });
  }
  json(res, 404, { error: { message: 'not found' } });
});

// Relays keep upstream connections alive between runs; never close one under them mid-reuse.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.requestTimeout = 0;
server.on('connection', () => stats.connections++);
server.listen({ host: HOST, port, backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, pid: process.pid })}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
