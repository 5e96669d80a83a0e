#!/usr/bin/env node
/**
 * Shows a stream surviving the loss of its instance, on your machine, with no internet:
 *
 *   npm run build && npm run demo:failover        (or: node scripts/demo-failover.js "your prompt")
 *   npm run demo:failover -- --keep               then leave two instances and Redis running
 *
 * It starts a private redis-server on a free port (or uses REDIS_URL when set), two gateway
 * instances A and B (`node dist/main.js`, development mode: each answers from its built-in
 * simulated upstream, slowly enough that an answer takes a few seconds), and a WebSocket client.
 * The client starts a stream on A and prints it as it arrives; A gets SIGTERM mid-answer (as in a
 * rolling deploy); the client sees `session.draining` and close 1012, reconnects to B, sends
 * `stream.resume` with the last seq it saw, and prints the rest. A summary follows (chunks before
 * and after, every seq exactly once, A's exit code), then every process it started is stopped.
 *
 * With --keep, after the demo a second instance replaces A, and both instances and Redis stay up
 * (playground on) for trying resume and failover by hand: open both playground URLs, start an
 * answer on one, `kill -TERM <pid>` that instance (or press "drop connection"), and watch the
 * answer resume; `GATEWAY_URL=ws://… npm run demo` streams from either. Ctrl-C stops everything.
 *
 * Environment:
 *   REDIS_URL                     use this Redis instead of a private one (keys `hsg:*` are written)
 *   SIMULATOR_TOKENS_PER_SECOND   pace of the simulated answer (default 20)
 *
 * Needs `npm run build` first (it runs dist/main.js) and, without REDIS_URL, `redis-server` on PATH.
 * The answer goes to stdout, the commentary to stderr. Exit status: 0 when the answer arrived whole
 * across the failover, 1 otherwise.
 */
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const { once } = require('node:events');
const { existsSync } = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const WebSocket = require('ws');

const ROOT = path.join(__dirname, '..');
const MAIN = path.join(ROOT, 'dist', 'main.js');
const DEFAULT_PROMPT = 'Explain in a few sentences why a stream should survive a rolling deploy.';
const REQUEST_ID = 'failover-1';
/** A gets SIGTERM once this many chunks have arrived from it. */
const CHUNKS_BEFORE_SIGTERM = 12;
const TOKENS_PER_SECOND = process.env.SIMULATOR_TOKENS_PER_SECOND || '20';
/** The whole demo gives up (and cleans up) after this long. */
const DEMO_TIMEOUT_MS = 60_000;

const keep = process.argv.includes('--keep');
const prompt = process.argv.slice(2).filter((arg) => arg !== '--keep').join(' ').trim() || DEFAULT_PROMPT;
/** What --keep leaves running after the demo: the Redis URL and the surviving instance. */
const kept = {};
const tty = process.stderr.isTTY;
const color = (code, text) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const info = (text) => process.stderr.write(`${color('2', text)}\n`);
const step = (text) => process.stderr.write(`${color('1', text)}\n`);
const problem = (text) => process.stderr.write(`${color('31', text)}\n`);

/** Every child process started here, stopped on the way out whatever happens. */
const children = new Set();
let atLineStart = true;

function write(text, code) {
  if (!text) return;
  process.stdout.write(process.stdout.isTTY && code ? `\x1b[${code}m${text}\x1b[0m` : text);
  atLineStart = text.endsWith('\n');
}
function newline() {
  if (!atLineStart) write('\n');
}

async function main() {
  if (!existsSync(MAIN)) {
    problem('dist/main.js is missing: run `npm run build` first.');
    return 1;
  }
  const redisUrl = process.env.REDIS_URL || (await startRedis());
  if (!redisUrl) return 1;

  step('Starting two gateway instances on that Redis (development mode: built-in simulated upstream)…');
  const [a, b] = await Promise.all([startGateway('A', redisUrl), startGateway('B', redisUrl)]);
  Object.assign(kept, { redisUrl, b });
  info(`  A: ${a.url} (pid ${a.child.pid})`);
  info(`  B: ${b.url} (pid ${b.child.pid})`);

  const frames = []; // every frame of the stream, in arrival order, with where it came from
  const seen = new Set();
  let duplicates = 0;
  let streamId;
  let lastSeq = 0;
  const record = (frame, from) => {
    if (seen.has(frame.seq)) duplicates += 1;
    seen.add(frame.seq);
    frames.push({ frame, from });
    lastSeq = Math.max(lastSeq, frame.seq);
  };

  // --- On A: start the stream, SIGTERM A mid-answer, until A closes the socket with 1012.
  step(`\nConnecting to A and asking: ${prompt}`);
  const onA = await connect(a.url);
  onA.send({ type: 'chat.request', id: REQUEST_ID, messages: [{ role: 'user', content: prompt }] });
  let signalledAt = 0;
  let drainingAfterMs;
  let endedOnA;
  const closeA = await onA.until((frame) => {
    if (frame.type === 'session.draining') {
      drainingAfterMs = Date.now() - signalledAt;
      newline();
      step(`  ← session.draining from A (reconnect_after_ms ${frame.reconnect_after_ms})`);
      return;
    }
    if (frame.id !== REQUEST_ID) return;
    record(frame, 'A');
    if (frame.type === 'chat.started') streamId = frame.stream_id;
    if (frame.type === 'chat.chunk') write(frame.chunk?.choices?.[0]?.delta?.content ?? '');
    if (frame.type === 'chat.done' || frame.type === 'chat.error') endedOnA = frame;
    const chunksFromA = frames.filter((f) => f.frame.type === 'chat.chunk').length;
    if (!signalledAt && chunksFromA === CHUNKS_BEFORE_SIGTERM) {
      signalledAt = Date.now();
      newline();
      step(`  ✂ SIGTERM → instance A (pid ${a.child.pid}) after ${chunksFromA} chunks, mid-answer`);
      a.child.kill('SIGTERM');
    }
  });
  newline();
  if (endedOnA) {
    problem(`The answer ended on A (${endedOnA.type}) before the failover: lower SIMULATOR_TOKENS_PER_SECOND.`);
    return 1;
  }
  step(`  ← A closed the socket: ${closeA.code}${closeA.reason ? ` (${closeA.reason})` : ''}, ${Date.now() - signalledAt} ms after SIGTERM`);
  const beforeCount = frames.filter((f) => f.frame.type === 'chat.chunk').length;

  // --- On B: resume from the last seq seen, print the rest.
  step(`\nReconnecting to B and sending stream.resume { stream_id: ${streamId}, after_seq: ${lastSeq} }`);
  const resumeFrom = lastSeq;
  const onB = await connect(b.url);
  onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: resumeFrom, id: REQUEST_ID });
  let terminal;
  let firstFromB = true;
  await onB.until((frame) => {
    if (frame.id !== REQUEST_ID) return;
    if (firstFromB) {
      firstFromB = false;
      info(`  first frame from B: ${frame.type} seq ${frame.seq}`);
    }
    record(frame, 'B');
    if (frame.type === 'chat.chunk') write(frame.chunk?.choices?.[0]?.delta?.content ?? '', '36');
    if (frame.type === 'chat.done' || frame.type === 'chat.error') {
      terminal = frame;
      return 'stop';
    }
  });
  newline();
  onB.close();

  const aExit = await a.exit;
  const afterCount = frames.filter((f) => f.frame.type === 'chat.chunk' && f.from === 'B').length;
  const seqs = frames.map((f) => f.frame.seq);
  const contiguous = seqs.every((seq, i) => seq === i + 1);
  const whole = terminal?.type === 'chat.done' && duplicates === 0 && contiguous;

  step('\nSummary');
  info(`  stream ${streamId}: ${frames.length} frames, seq 1..${lastSeq}`);
  info(`  chunks from A before its socket closed: ${beforeCount}; chunks from B after stream.resume (after_seq ${resumeFrom}): ${afterCount}`);
  info(`  duplicate seq: ${duplicates}; missing seq: ${contiguous ? 0 : missing(seqs).join(', ')}`);
  info(`  terminal frame: ${terminal ? `${terminal.type}${terminal.finish_reason ? ` (finish_reason ${terminal.finish_reason})` : ` (${terminal.code})`}` : 'none'}`);
  info(`  A: session.draining ${drainingAfterMs} ms after SIGTERM, exited with code ${aExit.code}${aExit.signal ? ` (signal ${aExit.signal})` : ''} once it had finished the answer into Redis`);
  if (whole && aExit.code === 0) step(color('32', '  ✓ the answer arrived whole across the failover: every seq exactly once, in order'));
  else problem('  ✗ the answer did not arrive whole across the failover');
  return whole && aExit.code === 0 ? 0 : 1;
}

function missing(seqs) {
  const present = new Set(seqs);
  const gaps = [];
  for (let seq = 1; seq <= Math.max(...seqs); seq++) if (!present.has(seq)) gaps.push(seq);
  return gaps;
}

/** A private redis-server on a free port, nothing kept on disk; its URL, or undefined (after saying why). */
async function startRedis() {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
    problem('redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL.');
    return undefined;
  }
  const port = await freePort();
  step(`Starting a private redis-server on 127.0.0.1:${port}…`);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  await waitForPort(port, child);
  return `redis://127.0.0.1:${port}`;
}

/** `node dist/main.js` with only the settings the demo needs (no .env, no inherited configuration). */
async function startGateway(name, redisUrl) {
  const child = spawn(process.execPath, [MAIN], {
    cwd: path.dirname(MAIN),
    env: {
      PATH: process.env.PATH,
      NO_COLOR: '1',
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      REDIS_URL: redisUrl,
      SIMULATOR_TOKENS_PER_SECOND: TOKENS_PER_SECOND,
      // --keep leaves the instances up for trying by hand, in a browser too.
      PLAYGROUND_ENABLED: keep ? 'true' : 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const output = [];
  const exit = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  const port = await new Promise((resolve, reject) => {
    const check = (data) => {
      output.push(data.toString());
      const match = /listening on http:\/\/[\d.]+:(\d+)/.exec(output.join(''));
      if (match) resolve(Number(match[1]));
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    exit.then(({ code }) => reject(new Error(`instance ${name} exited with ${code} before listening:\n${output.join('')}`)));
  });
  return { name, child, exit, output, url: `ws://127.0.0.1:${port}/v1/ws` };
}

/**
 * A WebSocket client that has received `session.ready`. `until(onFrame)` feeds it every later frame
 * and resolves with the close (code, reason), or as soon as `onFrame` returns 'stop'.
 */
async function connect(url) {
  const ws = new WebSocket(url, ['chat.v1']);
  const queue = [];
  let wake;
  let closed;
  ws.on('message', (data) => {
    queue.push(JSON.parse(data.toString('utf8')));
    wake?.();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString('utf8') };
    wake?.();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = async () => {
    while (queue.length === 0 && !closed) await new Promise((resolve) => (wake = resolve));
    return queue.shift();
  };
  const ready = await next();
  if (ready?.type !== 'session.ready') throw new Error(`expected session.ready from ${url}, got ${JSON.stringify(ready ?? closed)}`);
  return {
    send: (frame) => ws.send(JSON.stringify(frame)),
    close: () => ws.close(1000, 'demo finished'),
    async until(onFrame) {
      for (;;) {
        const frame = await next();
        if (!frame) return closed;
        if (onFrame(frame) === 'stop') return undefined;
      }
    },
  };
}

/** --keep: a new instance in place of A, then wait (for Ctrl-C) with both up on the same Redis. */
async function keepRunning() {
  clearTimeout(timeout);
  const a2 = await startGateway('A2', kept.redisUrl);
  step('\nLeft running for you (Ctrl-C stops them all):');
  info(`  Redis:       ${kept.redisUrl}${process.env.REDIS_URL ? ' (yours)' : ''}`);
  for (const [name, instance] of [['instance A2', a2], ['instance B ', kept.b]]) {
    info(`  ${name}: ${instance.url.replace(/^ws/, 'http').replace(/\/v1\/ws$/, '/')}  (WebSocket ${instance.url}, pid ${instance.child.pid})`);
  }
  info('  Try: start an answer in one playground, `kill -TERM <its pid>`, reconnect to the other and resume;');
  info(`       or \`GATEWAY_URL=${kept.b.url} npm run demo\`.`);
  await new Promise(() => {}); // until SIGINT, whose handler stops everything and exits
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Stops every child still running: SIGTERM, then SIGKILL after 5 s. */
async function cleanUp() {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port, child) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const connected = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Whatever happens (an error, Ctrl-C, the overall timeout), no child outlives the demo.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
process.on('SIGINT', () => {
  problem('\ninterrupted: stopping everything the demo started');
  cleanUp().then(() => process.exit(130));
});
const timeout = setTimeout(() => {
  problem(`\nno result after ${DEMO_TIMEOUT_MS / 1000} s: stopping everything the demo started`);
  cleanUp().then(() => process.exit(1));
}, DEMO_TIMEOUT_MS);
timeout.unref();

main()
  .catch((error) => {
    problem(`demo failed: ${error.message}`);
    return 1;
  })
  .then(async (code) => {
    if (keep && code === 0) await keepRunning();
    await cleanUp();
    info(children.size === 0 ? 'every process the demo started has stopped' : 'some processes could not be stopped');
    process.exit(code);
  });
