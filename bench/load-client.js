'use strict';
/**
 * Load client: drives N concurrent streams against one target and measures, per chunk,
 * arrival time minus the upstream's `bench_ts` (both wall clock ms, same machine), plus
 * time to first chunk per stream, chunks lost and errors.
 *
 *   node bench/load-client.js '<json config>'
 *
 * targets:
 *   gateway  ws://…/v1/ws speaking docs/protocol.md (session.ready → chat.request → chat.started /
 *            chat.chunk / chat.done | chat.error)
 *   control  the control relay (same frames, minus seq/stream_id)
 *   bare     the bare relay (bench/bare-relay.js): the control's frames
 *   direct   HTTP SSE straight from the fake upstream, parsed the way a relay has to (split on
 *            "\n", JSON-parse each `data:` line): the floor every relay figure is compared with.
 *
 * config (JSON): { target, name, url, upstreamUrl, mode: 'stream'|'idle', streams, perSocket, rounds,
 *   chunks, interval, rampMs, connectConcurrency, waitGo, timeoutMs, thinkMs }  (name: the relay's
 *   name in the run, e.g. gateway+redis; target is what it speaks)
 *
 * env BENCH_TRACE_DIR: also write every chunk's [arrival ms, latency ms, …] to DIR/<name>-<streams>-<pid>.json.
 *
 * stdout, one JSON object per line:
 *   {"event":"ready", ...}   every socket open (WS: session.ready received); with waitGo the
 *                            client then waits for "go\n" on stdin (the orchestrator samples /proc
 *                            of the relay in between, so CPU is attributed to streaming only)
 *   {"event":"result", ...}  after every stream ended or timeoutMs; then, with waitGo, waits for
 *                            "close\n" before closing sockets and exiting.
 */
require('./lib/die-with-parent');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const WebSocket = require('ws');
const { Samples, summarize, round3, worstWindow } = require('./lib/stats');

const cfg = {
  mode: 'stream',
  streams: 1,
  perSocket: 1,
  rounds: 1,
  chunks: 50,
  interval: 20,
  rampMs: 0,
  connectConcurrency: 128,
  waitGo: false,
  timeoutMs: 60_000,
  thinkMs: 0,
  ...JSON.parse(process.argv[2] || '{}'),
};

const wallNow = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const errors = Object.create(null);
const countError = (code) => {
  errors[code] = (errors[code] || 0) + 1;
};

// ---- stdin commands from the orchestrator ----------------------------------------------------
const waiters = { go: [], close: [] };
let stdinBuf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  stdinBuf += d;
  let i;
  while ((i = stdinBuf.indexOf('\n')) >= 0) {
    const cmd = stdinBuf.slice(0, i).trim();
    stdinBuf = stdinBuf.slice(i + 1);
    for (const fn of waiters[cmd] || []) fn();
    if (waiters[cmd]) waiters[cmd] = [];
  }
});
// The orchestrator went away: nothing to report to.
if (cfg.waitGo) process.stdin.on('end', () => process.exit(0));
else process.stdin.pause();
const waitFor = (cmd) => (cfg.waitGo ? new Promise((resolve) => waiters[cmd].push(resolve)) : Promise.resolve());

// ---- measurements ----------------------------------------------------------------------------
const latency = new Samples(1 << 16);
const ttfb = new Samples(1024);
const ttfbAfterFirstRound = new Samples(1024);
/** Each chunk's arrival (wall ms), beside its latency: when a run's tail happened. */
const arrivals = new Samples(1 << 16);
let chunksReceived = 0;
let duplicates = 0;
let unexpectedFrames = 0;

/** One stream (one chat.request or one direct HTTP request). */
class Stream {
  constructor(slot, round) {
    this.slot = slot;
    this.round = round;
    this.id = `s${slot.index}r${round}`;
    this.seen = new Uint8Array(cfg.chunks + 1);
    this.received = 0;
    this.sentAt = 0;
    this.firstAt = 0;
    this.ended = false;
  }

  onChunk(chunk, t) {
    const seq = chunk.bench_seq;
    if (typeof seq !== 'number') return; // finish / usage chunks carry no seq
    if (this.firstAt === 0) {
      this.firstAt = t;
      const v = t - this.sentAt;
      ttfb.push(v);
      if (this.round > 0) ttfbAfterFirstRound.push(v);
    }
    latency.push(t - chunk.bench_ts);
    arrivals.push(t);
    if (seq < 1 || seq > cfg.chunks || this.seen[seq]) {
      duplicates++;
      return;
    }
    this.seen[seq] = 1;
    this.received++;
    chunksReceived++;
  }

  end(errorCode) {
    if (this.ended) return;
    this.ended = true;
    if (errorCode) {
      countError(errorCode);
      streamsFailed++;
    } else if (this.received !== cfg.chunks) {
      streamsIncomplete++;
    } else {
      streamsOk++;
    }
    this.slot.onStreamEnd(this);
  }
}

let streamsOk = 0;
let streamsFailed = 0;
let streamsIncomplete = 0;
let streamsEnded = 0;
let streamsStarted = 0;
const totalStreams = cfg.streams * cfg.rounds;
let allDone;
const allDonePromise = new Promise((resolve) => (allDone = resolve));

const requestShape = () => ({
  model: 'bench-model',
  messages: [{ role: 'user', content: 'Benchmark: stream some tokens.' }],
  max_tokens: cfg.chunks,
  user: `bench:chunks=${cfg.chunks},interval=${cfg.interval}`,
});

// ---- WebSocket targets (gateway, control) ----------------------------------------------------
class Socket {
  constructor(index) {
    this.index = index;
    this.streams = new Map();
    this.ready = false;
    this.ws = null;
    this.closing = false;
  }

  open() {
    return new Promise((resolve) => {
      const ws = new WebSocket(cfg.url, {
        perMessageDeflate: false,
        handshakeTimeout: 15_000,
        headers: cfg.token ? { authorization: `Bearer ${cfg.token}` } : undefined,
      });
      this.ws = ws;
      let settled = false;
      const settle = (ok) => {
        if (settled) return;
        settled = true;
        resolve(ok);
      };
      ws.on('message', (data, isBinary) => this.onMessage(data, isBinary, settle));
      ws.on('error', (err) => {
        if (!this.ready) countError(`connect:${err.code || err.message}`);
        settle(false);
      });
      ws.on('close', (code) => {
        if (!this.ready) {
          countError(`connect_close:${code}`);
          settle(false);
        } else if (!this.closing) {
          countError(`socket_closed:${code}`);
        }
        for (const s of this.streams.values()) s.end(`socket_closed:${code}`);
        this.streams.clear();
      });
    });
  }

  onMessage(data, isBinary, settle) {
    const t = wallNow();
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      countError('bad_json_frame');
      return;
    }
    switch (f.type) {
      case 'chat.chunk': {
        const s = this.streams.get(f.id);
        if (s && f.chunk) s.onChunk(f.chunk, t);
        else unexpectedFrames++;
        return;
      }
      case 'chat.done':
      case 'chat.error': {
        const s = this.streams.get(f.id);
        if (!s) return void unexpectedFrames++;
        this.streams.delete(f.id);
        s.end(f.type === 'chat.error' ? `chat.error:${f.code}` : null);
        return;
      }
      case 'session.ready':
        this.ready = true;
        if (f.limits && f.limits.max_concurrent_streams !== undefined) sessionLimits = f.limits;
        settle(true);
        return;
      case 'error': {
        const s = f.id !== undefined ? this.streams.get(f.id) : undefined;
        if (s) {
          this.streams.delete(f.id);
          s.end(`error:${f.code}`);
        } else countError(`error:${f.code}`);
        return;
      }
      case 'chat.started':
      case 'pong':
        return;
      default:
        unexpectedFrames++;
    }
  }

  startStream(stream) {
    this.streams.set(stream.id, stream);
    const frame = JSON.stringify({ type: 'chat.request', id: stream.id, ...requestShape() });
    stream.sentAt = wallNow();
    this.ws.send(frame);
  }

  close() {
    this.closing = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else if (this.ws) this.ws.terminate();
  }
}
let sessionLimits = null;

// ---- direct target (HTTP SSE from the fake upstream) -----------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 100_000, scheduling: 'lifo' });

function startDirect(stream) {
  const body = JSON.stringify({ ...requestShape(), stream: true, stream_options: { include_usage: true } });
  const url = new URL(`${cfg.url.replace(/\/+$/, '')}/chat/completions`);
  const req = http.request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    agent,
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      accept: 'text/event-stream',
      authorization: 'Bearer bench-not-a-secret',
    },
  });
  stream.sentAt = wallNow();
  req.end(body);
  let done = false;
  req.on('error', (err) => stream.end(`http:${err.code || err.message}`));
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      return stream.end(`http_status:${res.statusCode}`);
    }
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (part) => {
      buffer += part;
      const lines = buffer.split('\n');
      buffer = lines.pop();
      for (const line of lines) {
        if (!line.startsWith('data: ')) continue;
        const t = wallNow();
        const payload = line.slice(6).trim();
        if (payload === '[DONE]') {
          done = true;
          continue;
        }
        let chunk;
        try {
          chunk = JSON.parse(payload);
        } catch {
          countError('bad_sse_json');
          continue;
        }
        stream.onChunk(chunk, t);
      }
    });
    res.on('end', () => stream.end(done ? null : 'upstream_disconnected'));
    res.on('error', (err) => stream.end(`http:${err.code || err.message}`));
  });
}

// ---- slots: where streams run (a socket's share, or an HTTP request sequence) ----------------
class Slot {
  constructor(index, socket) {
    this.index = index;
    this.socket = socket;
    this.round = 0;
  }

  start() {
    const stream = new Stream(this, this.round);
    streamsStarted++;
    if (this.socket) {
      if (this.socket.ws.readyState !== WebSocket.OPEN) {
        stream.sentAt = wallNow();
        return stream.end('socket_not_open');
      }
      this.socket.startStream(stream);
    } else startDirect(stream);
  }

  onStreamEnd() {
    streamsEnded++;
    this.round++;
    if (this.round < cfg.rounds && !timedOut) {
      const think = cfg.thinkMs > 0 ? Math.random() * cfg.thinkMs : 0;
      setTimeout(() => this.start(), think);
    }
    if (streamsEnded === totalStreams) allDone();
  }
}

// ---- clock check against the upstream --------------------------------------------------------
function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch (e) {
            reject(e);
          }
        });
      })
      .on('error', reject);
  });
}

/** NTP-style: offset = upstream clock - local clock, from the round trip with the smallest RTT. */
async function clockOffset() {
  if (!cfg.upstreamUrl) return null;
  let best = null;
  for (let i = 0; i < 7; i++) {
    const t0 = wallNow();
    const { ts } = await getJson(`${cfg.upstreamUrl.replace(/\/v1\/?$/, '')}/clock`);
    const t1 = wallNow();
    if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: ts - (t0 + t1) / 2 };
  }
  return { offsetMs: round3(best.offset), rttMs: round3(best.rtt) };
}

// ---- main ------------------------------------------------------------------------------------
let timedOut = false;

async function connectAll(sockets) {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < sockets.length) {
      const s = sockets[next++];
      if (!(await s.open())) failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.connectConcurrency, sockets.length) }, worker));
  return failed;
}

async function main() {
  const clock = await clockOffset().catch((err) => ({ error: String(err.message) }));
  const isWs = cfg.target !== 'direct';
  const socketCount = Math.ceil(cfg.streams / cfg.perSocket);
  const sockets = isWs ? Array.from({ length: socketCount }, (_, i) => new Socket(i)) : [];

  const tc0 = performance.now();
  const connectFailed = isWs ? await connectAll(sockets) : 0;
  const connectMs = performance.now() - tc0;
  out({ event: 'ready', sockets: sockets.length, connectMs: round3(connectMs), connectFailed, limits: sessionLimits });

  await waitFor('go');

  const slots = [];
  if (cfg.mode === 'stream') {
    for (let i = 0; i < cfg.streams; i++) slots.push(new Slot(i, isWs ? sockets[Math.floor(i / cfg.perSocket)] : null));
  }

  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();

  if (cfg.mode === 'stream' && slots.length > 0) {
    // Spread the starts evenly over rampMs (no thundering herd), one shared 1 ms launcher.
    const step = cfg.rampMs / slots.length;
    let launched = 0;
    await new Promise((resolve) => {
      const launch = () => {
        const elapsed = performance.now() - t0;
        while (launched < slots.length && launched * step <= elapsed) slots[launched++].start();
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

  const durationMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  loopDelay.disable();

  const stillOpen = totalStreams - streamsEnded;
  const expected = cfg.mode === 'stream' ? totalStreams * cfg.chunks : 0;
  const latencyMs = summarize(latency.values());
  out({
    event: 'result',
    target: cfg.target,
    mode: cfg.mode,
    streams: cfg.streams,
    sockets: sockets.length,
    perSocket: cfg.perSocket,
    rounds: cfg.rounds,
    chunksPerStream: cfg.chunks,
    intervalMs: cfg.interval,
    connectMs: round3(connectMs),
    connectFailed,
    durationMs: round3(durationMs),
    timedOut,
    streamsStarted,
    streamsOk,
    streamsFailed,
    streamsIncomplete,
    streamsStillOpen: stillOpen,
    chunks: { expected, received: chunksReceived, lost: expected - chunksReceived, duplicates, unexpectedFrames },
    errors,
    latencyMs,
    latencyTail: worstWindow(arrivals.values(), latency.values(), latencyMs.p99),
    ttfbMs: summarize(ttfb.values()),
    ttfbAfterFirstRoundMs: summarize(ttfbAfterFirstRound.values()),
    client: {
      cpuSec: round3((cpu.user + cpu.system) / 1e6),
      cpuPct: round3(((cpu.user + cpu.system) / 1e3 / durationMs) * 100),
      elu: round3(elu.utilization),
      loopDelayP99Ms: round3(loopDelay.percentile(99) / 1e6),
      loopDelayMaxMs: round3(loopDelay.max / 1e6),
    },
    clock,
  });
  // BENCH_TRACE_DIR: every chunk's arrival and latency, for a closer look at when the tail happened.
  const traceDir = process.env.BENCH_TRACE_DIR;
  if (traceDir) {
    const [at, lat] = [arrivals.values(), latency.values()];
    const pairs = new Array(2 * lat.length);
    for (let i = 0; i < lat.length; i++) [pairs[2 * i], pairs[2 * i + 1]] = [round3(at[i]), round3(lat[i])];
    fs.writeFileSync(path.join(traceDir, `${cfg.name || cfg.target}-${cfg.streams}-${process.pid}.json`), JSON.stringify(pairs));
  }

  await waitFor('close');
  if (cfg.mode === 'idle') {
    // Thousands of idle sockets: no close handshakes to wait for; the kernel closes them on exit.
    process.exit(0);
  }
  for (const s of sockets) s.close();
  agent.destroy();
  // Let close handshakes go out, then leave (a server that never answers must not hold us).
  const deadline = Date.now() + 3000;
  while (sockets.some((s) => s.ws && s.ws.readyState !== WebSocket.CLOSED) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`load-client: ${err && err.stack}\n`);
  process.exit(1);
});
