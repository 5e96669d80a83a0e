'use strict';
/**
 * Load client: drives N concurrent streams against one target and measures, per chunk, arrival
 * time minus the upstream's `bench_ts` (both wall clock ms, same machine), time to first chunk per
 * stream, chunks lost, errors, and the bytes it received (framing included).
 *
 *   node bench/load-client.js '<json config>'
 *
 * targets: `gateway` (docs/protocol.md: session.ready → chat.request → chat.started / chat.chunk /
 * chat.done | chat.error), `control` and `bare` (the same frames, minus seq/stream_id), and
 * `direct`: HTTP SSE straight from the fake upstream, parsed as a relay must (split on "\n",
 * JSON-parse each `data:` line), the floor every relay's latency is compared with.
 *
 * config: { target, url, mode: 'stream'|'idle', streams, perSocket, rounds, chunks, interval,
 *   rampMs, connectConcurrency, timeoutMs, thinkMs, format, deflate }
 *
 * `deflate: true` (gateway only) offers permessage-deflate, which the gateway accepts with
 * `WS_PERMESSAGE_DEFLATE=true`: bytes per token are then the compressed bytes on the socket.
 *
 * `format: "text"` (gateway only, issue 23) asks for compact content deltas (`{"t":"d",…}`) and
 * the upstream's content chunks without bench fields (they would keep every chunk whole): chunks
 * are counted by their frame seq, bytes per token as ever, and no latency is sampled (the compact
 * frame carries no timestamp). Run it beside the usual gateway run, e.g.:
 *   node bench/upstream.js & npm start (HOLYSHEEP_BASE_URL at it), then
 *   node bench/load-client.js '{"target":"gateway","url":"ws://127.0.0.1:8080/v1/ws","streams":50,"format":"text"}'
 *   and type "go" (then "close") on its stdin: the result line has wireBytes and received.
 *
 * stdout, one JSON line each: {"event":"ready"} once every socket is open (WS: session.ready
 * received); then it waits for "go\n" on stdin (the orchestrator opens its measured window in
 * between); {"event":"result", …} when every stream ended; then it waits for "close\n".
 */
require('./lib/die-with-parent');
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const WebSocket = require('ws');
const { BENCH_CLIENT_HEADERS } = require('./lib/gateway-launch');
const { Samples, summarize, round3, worstWindow } = require('./lib/stats');

const cfg = { mode: 'stream', streams: 1, perSocket: 1, rounds: 1, chunks: 50, interval: 20, rampMs: 0, connectConcurrency: 128, timeoutMs: 60_000, thinkMs: 0, ...JSON.parse(process.argv[2] || '{}') };
const wallNow = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const errors = Object.create(null);
const countError = (code) => (errors[code] = (errors[code] || 0) + 1);

// ---- commands from the orchestrator on stdin; it going away ends us --------------------------
const waiters = { go: [], close: [] };
let stdinBuf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  stdinBuf += d;
  for (let i; (i = stdinBuf.indexOf('\n')) >= 0; ) {
    const cmd = stdinBuf.slice(0, i).trim();
    stdinBuf = stdinBuf.slice(i + 1);
    for (const fn of (waiters[cmd] || []).splice(0)) fn();
  }
});
process.stdin.on('end', () => process.exit(0));
const waitFor = (cmd) => new Promise((resolve) => waiters[cmd].push(resolve));

// ---- measurements ----------------------------------------------------------------------------
const latency = new Samples(1 << 16);
/** Each chunk's arrival (wall ms), beside its latency: when a run's tail happened. */
const arrivals = new Samples(1 << 16);
const ttfb = new Samples(1024);
const ttfbAfterFirstRound = new Samples(1024);
const counts = { received: 0, duplicates: 0, unexpectedFrames: 0, ok: 0, failed: 0, incomplete: 0, ended: 0, started: 0, directBytes: 0 };
const totalStreams = cfg.streams * cfg.rounds;
let timedOut = false;
let allDone;
const allDonePromise = new Promise((resolve) => (allDone = resolve));

/** One stream (one chat.request, or one direct HTTP request). */
class Stream {
  constructor(slot, round) {
    Object.assign(this, { slot, round, id: `s${slot.index}r${round}`, seen: new Uint8Array(cfg.chunks + 1), received: 0, sentAt: 0, firstAt: 0, ended: false });
  }

  onChunk(chunk, t) {
    const seq = chunk.bench_seq;
    if (typeof seq !== 'number') return; // finish and usage chunks carry no seq
    latency.push(t - chunk.bench_ts);
    this.count(seq, t);
  }

  /** Chunk `seq` (1..chunks) arrived at `t`: counted once. */
  count(seq, t) {
    if (this.firstAt === 0) {
      this.firstAt = t;
      ttfb.push(t - this.sentAt);
      if (this.round > 0) ttfbAfterFirstRound.push(t - this.sentAt);
    }
    arrivals.push(t);
    if (seq < 1 || seq > cfg.chunks || this.seen[seq]) return void counts.duplicates++;
    this.seen[seq] = 1;
    this.received++;
    counts.received++;
  }

  end(errorCode) {
    if (this.ended) return;
    this.ended = true;
    if (errorCode) countError(errorCode);
    counts[errorCode ? 'failed' : this.received === cfg.chunks ? 'ok' : 'incomplete']++;
    this.slot.onStreamEnd();
  }
}

const requestShape = () => ({
  model: 'bench-model',
  messages: [{ role: 'user', content: 'Benchmark: stream some tokens.' }],
  max_tokens: cfg.chunks,
  user: `bench:chunks=${cfg.chunks},interval=${cfg.interval}${cfg.format === 'text' ? ',plain=1' : ''}`,
  ...(cfg.format === 'text' ? { format: 'text' } : {}),
});

// ---- WebSocket targets -------------------------------------------------------------------------
class Socket {
  constructor(index) {
    Object.assign(this, { index, streams: new Map(), ready: false, ws: null, closing: false });
  }

  open() {
    return new Promise((settle) => {
      const ws = (this.ws = new WebSocket(cfg.url, { headers: BENCH_CLIENT_HEADERS, perMessageDeflate: cfg.deflate === true, handshakeTimeout: 15_000 }));
      ws.on('message', (data) => this.onMessage(data, settle));
      ws.on('error', (err) => {
        if (!this.ready) countError(`connect:${err.code || err.message}`);
        settle(false);
      });
      ws.on('close', (code) => {
        if (!this.ready || !this.closing) countError(`${this.ready ? 'socket_closed' : 'connect_close'}:${code}`);
        settle(false);
        for (const s of this.streams.values()) s.end(`socket_closed:${code}`);
        this.streams.clear();
      });
    });
  }

  /** The stream a terminal frame ends, taken out of the socket's map. */
  take(id) {
    const s = this.streams.get(id);
    this.streams.delete(id);
    return s;
  }

  onMessage(data, settle) {
    const t = wallNow();
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return void countError('bad_json_frame');
    }
    if (f.t === 'd') {
      // A compact content delta: chunk k of the upstream is frame seq k + 1 (seq 1 is chat.started).
      const s = this.streams.get(f.id);
      return void (s ? s.count(f.s - 1, t) : counts.unexpectedFrames++);
    }
    const s = f.type === 'chat.chunk' ? this.streams.get(f.id) : ['chat.done', 'chat.error', 'error'].includes(f.type) && f.id !== undefined ? this.take(f.id) : undefined;
    // format text: the first chunk (it has a role) stays whole, without bench fields.
    if (f.type === 'chat.chunk' && s && f.chunk && cfg.format === 'text' && f.chunk.choices?.[0]?.delta?.role) s.count(f.seq - 1, t);
    else if (f.type === 'chat.chunk' && s && f.chunk) s.onChunk(f.chunk, t);
    else if (f.type === 'chat.done' && s) s.end(null);
    else if ((f.type === 'chat.error' || f.type === 'error') && s) s.end(`${f.type}:${f.code}`);
    else if (f.type === 'error') countError(`error:${f.code}`);
    else if (f.type === 'session.ready') settle((this.ready = true));
    else if (f.type !== 'chat.started' && f.type !== 'pong') counts.unexpectedFrames++;
  }

  startStream(stream) {
    this.streams.set(stream.id, stream);
    const frame = JSON.stringify({ type: 'chat.request', id: stream.id, ...requestShape() });
    stream.sentAt = wallNow();
    this.ws.send(frame);
  }

  bytesRead() {
    return this.ws && this.ws._socket ? this.ws._socket.bytesRead : 0;
  }

  close() {
    this.closing = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else if (this.ws) this.ws.terminate();
  }
}

// ---- direct target ---------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 100_000, scheduling: 'lifo' });

function onDirectResponse(stream, res) {
  if (res.statusCode !== 200) {
    res.resume();
    return stream.end(`http_status:${res.statusCode}`);
  }
  res.setEncoding('utf8');
  let buffer = '';
  let done = false;
  res.on('data', (part) => {
    buffer += part;
    const lines = buffer.split('\n');
    buffer = lines.pop();
    for (const line of lines) {
      if (!line.startsWith('data: ')) continue;
      const t = wallNow();
      const payload = line.slice(6).trim();
      if (payload === '[DONE]') done = true;
      else stream.onChunk(JSON.parse(payload), t);
    }
  });
  res.on('end', () => stream.end(done ? null : 'upstream_disconnected'));
  res.on('error', (err) => stream.end(`http:${err.code || err.message}`));
}

function startDirect(stream) {
  const body = JSON.stringify({ ...requestShape(), stream: true, stream_options: { include_usage: true } });
  const url = new URL(`${cfg.url.replace(/\/+$/, '')}/chat/completions`);
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), accept: 'text/event-stream', authorization: 'Bearer bench-not-a-secret' };
  const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers });
  // Bytes on the wire, HTTP framing included: a keep-alive socket serves one request at a time.
  req.on('socket', (socket) => {
    const start = socket.bytesRead;
    req.on('close', () => (counts.directBytes += socket.bytesRead - start));
  });
  stream.sentAt = wallNow();
  req.end(body);
  req.on('error', (err) => stream.end(`http:${err.code || err.message}`));
  req.on('response', (res) => onDirectResponse(stream, res));
}

// ---- slots: where a sequence of streams runs ---------------------------------------------------
class Slot {
  constructor(index, socket) {
    Object.assign(this, { index, socket, round: 0 });
  }

  start() {
    const stream = new Stream(this, this.round);
    counts.started++;
    if (!this.socket) return startDirect(stream);
    if (this.socket.ws.readyState === WebSocket.OPEN) return this.socket.startStream(stream);
    stream.sentAt = wallNow();
    stream.end('socket_not_open');
  }

  onStreamEnd() {
    counts.ended++;
    if (++this.round < cfg.rounds && !timedOut) setTimeout(() => this.start(), cfg.thinkMs > 0 ? Math.random() * cfg.thinkMs : 0);
    if (counts.ended === totalStreams) allDone();
  }
}

// ---- main ------------------------------------------------------------------------------------
async function connectAll(sockets) {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < sockets.length) if (!(await sockets[next++].open())) failed++;
  };
  await Promise.all(Array.from({ length: Math.min(cfg.connectConcurrency, sockets.length) }, worker));
  return failed;
}

/** Starts every slot, spread evenly over rampMs (no thundering herd), and waits for them all. */
async function runStreams(slots, t0) {
  const step = cfg.rampMs / slots.length;
  let launched = 0;
  await new Promise((resolve) => {
    const launch = () => {
      while (launched < slots.length && launched * step <= performance.now() - t0) slots[launched++].start();
      if (launched < slots.length) setTimeout(launch, 1);
      else resolve();
    };
    launch();
  });
  const timer = setTimeout(() => {
    timedOut = true;
    allDone();
  }, cfg.timeoutMs);
  await allDonePromise;
  clearTimeout(timer);
}

function result(sockets, connect, t0, cpu0, elu0, bytes0) {
  const durationMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const expected = cfg.mode === 'stream' ? totalStreams * cfg.chunks : 0;
  const latencyMs = summarize(latency.values());
  const wireBytes = sockets.length ? sockets.reduce((a, s) => a + s.bytesRead(), 0) - bytes0 : counts.directBytes;
  return {
    event: 'result',
    ...{ target: cfg.target, streams: cfg.streams, sockets: sockets.length, perSocket: cfg.perSocket, rounds: cfg.rounds, chunksPerStream: cfg.chunks, intervalMs: cfg.interval },
    connectMs: round3(connect.ms),
    connectFailed: connect.failed,
    durationMs: round3(durationMs),
    timedOut,
    streamCounts: { started: counts.started, ok: counts.ok, failed: counts.failed, incomplete: counts.incomplete, stillOpen: totalStreams - counts.ended },
    chunks: { expected, received: counts.received, lost: expected - counts.received, duplicates: counts.duplicates, unexpectedFrames: counts.unexpectedFrames },
    wireBytes,
    errors,
    latencyMs,
    latencyTail: worstWindow(arrivals.values(), latency.values(), latencyMs.p99),
    ttfbMs: summarize(ttfb.values()),
    ttfbAfterFirstRoundMs: summarize(ttfbAfterFirstRound.values()),
    client: { cpuSec: round3((cpu.user + cpu.system) / 1e6), cpuPct: round3((cpu.user + cpu.system) / 10 / durationMs), elu: round3(performance.eventLoopUtilization(elu0).utilization) },
  };
}

async function main() {
  const isWs = cfg.target !== 'direct';
  const sockets = isWs ? Array.from({ length: Math.ceil(cfg.streams / cfg.perSocket) }, (_, i) => new Socket(i)) : [];
  const tc0 = performance.now();
  const connect = { failed: isWs ? await connectAll(sockets) : 0 };
  connect.ms = performance.now() - tc0;
  out({ event: 'ready', sockets: sockets.length, connectMs: round3(connect.ms), connectFailed: connect.failed });
  await waitFor('go');
  const [elu0, cpu0, t0, bytes0] = [performance.eventLoopUtilization(), process.cpuUsage(), performance.now(), sockets.reduce((a, s) => a + s.bytesRead(), 0)];
  if (cfg.mode === 'stream') await runStreams(Array.from({ length: cfg.streams }, (_, i) => new Slot(i, isWs ? sockets[Math.floor(i / cfg.perSocket)] : null)), t0);
  out(result(sockets, connect, t0, cpu0, elu0, bytes0));
  await waitFor('close');
  // Thousands of idle sockets need no close handshake: the kernel closes them on exit.
  if (cfg.mode === 'idle') process.exit(0);
  for (const s of sockets) s.close();
  agent.destroy();
  // Let the close handshakes go out, but a server that never answers must not hold us.
  for (const deadline = Date.now() + 3000; sockets.some((s) => s.ws && s.ws.readyState !== WebSocket.CLOSED) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`load-client: ${err && err.stack}\n`);
  process.exit(1);
});
