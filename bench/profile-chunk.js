#!/usr/bin/env node
'use strict';
/**
 * Instructions per relayed chunk, counted by valgrind's callgrind: a figure that does not move with
 * the other processes on the machine, unlike CPU time (issue 23). For each relay (bare, naive,
 * gateway as `npm run bench` starts it: the image's V8 flags, NODE_ENV=production; gateway-text, the
 * same gateway with the load client asking for compact frames, `format: "text"`) it runs the fake
 * upstream and the load client as usual and the relay alone under callgrind, instrumented only
 * inside the measured windows. After warm-up rounds it measures two runs of the same streams with
 * different chunk counts; the difference of their instructions over the difference of their chunks
 * is the cost of one more chunk, with connecting, starting streams and booting cancelled out, and
 * what the relay does per second anyway (measured idle, then scaled to the runs' difference in
 * duration) taken off.
 *
 *   node bench/profile-chunk.js [--targets bare,control,gateway] [--streams 10] [--chunks 30,150]
 *     [--interval 250] [--warmup 100] [--warmup-rounds 4] [--main dist/main.js] [--node-flags '…'] [--keep DIR]
 *   (--targets: any of bare, control, gateway, gateway-text, e.g. `--targets gateway,gateway-text`; --main: another checkout's build (its dist/main.js reads ../package.json); --node-flags: more flags for node, e.g. `-r ./patch.js`; --keep: leave the callgrind dumps there, for callgrind_annotate)
 *
 * Callgrind runs a relay some 50× slower: the pace must leave it idle between chunks (a relay that
 * falls behind reads several chunks at once and looks cheaper; watch the p99 each run prints). The
 * defaults (10 streams, a chunk every 250 ms, 30 and 150 chunks) keep up on a busy 2-CPU machine;
 * run to run, the gateway's figure moves by about ±6 % (JIT tiering): it resolves large cuts only.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn, execFileSync } = require('node:child_process');
const { track, startServer, stopProcess, tailText, ROOT, BENCH_DIR } = require('./lib/children');
const { GATEWAY_NODE_FLAGS, freePort } = require('./lib/gateway-launch');
const { HOST, gatewayEnv } = require('./lib/relays');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const TARGETS = arg('targets', 'bare,control,gateway').split(',');
const STREAMS = Number(arg('streams', 10));
const [SMALL, LARGE] = arg('chunks', '30,150').split(',').map(Number);
const INTERVAL = Number(arg('interval', 250));
const WARMUP = Number(arg('warmup', 100));
const WARMUP_ROUNDS = Number(arg('warmup-rounds', 4));
const IDLE_MS = 10_000;
const NODE_FLAGS = arg('node-flags', '').split(/\s+/).filter(Boolean);
const MAIN = path.resolve(arg('main', path.join(ROOT, 'dist', 'main.js')));
const WARMUP_INTERVAL = Math.max(20, INTERVAL / 5);
const OUT = arg('keep', null) || fs.mkdtempSync(path.join(os.tmpdir(), 'profile-chunk-'));
fs.mkdirSync(OUT, { recursive: true });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Targets that are another relay's process with something more in the load client's config (as bench/run.js defines them). */
const VARIANTS = { 'gateway-text': { relay: 'gateway', client: { format: 'text' } } };
const relayOf = (target) => (VARIANTS[target] ? VARIANTS[target].relay : target);

/** The relay under callgrind, counting nothing until the first window opens. */
async function startRelay(target, upstreamPort) {
  const kind = relayOf(target);
  const port = await freePort(HOST);
  const script = kind === 'gateway' ? MAIN : path.join(BENCH_DIR, `${kind}-relay.js`);
  const env = kind === 'gateway' ? gatewayEnv(port, upstreamPort, {}) : { ...process.env, PORT: String(port), UPSTREAM_BASE_URL: `http://${HOST}:${upstreamPort}/v1` };
  // Optimised code is installed as soon as V8 decides to optimise, not whenever a background thread
  // gets to it: the same code then runs in the same tier from one run to the next.
  const nodeArgs = [...(kind === 'gateway' ? GATEWAY_NODE_FLAGS : []), '--no-concurrent-recompilation', ...NODE_FLAGS];
  const cg = ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${path.join(OUT, `${target}.%p`)}`];
  const child = track(target, spawn('valgrind', [...cg, process.execPath, ...nodeArgs, '-r', path.join(__dirname, 'lib', 'die-with-parent.js'), script], { cwd: ROOT, env, stdio: 'pipe' }));
  child.stdout.resume();
  const ready = kind === 'gateway' ? `http://${HOST}:${port}/health/ready` : null;
  for (const deadline = Date.now() + 300_000; ; await sleep(500)) {
    if (child.exitInfo) throw new Error(`${kind} exited during startup${tailText(child)}`);
    const ok = ready ? (await fetch(ready).then((r) => r.status, () => 0)) === 200 : await canConnect(port);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${kind} did not start within 300 s${tailText(child)}`);
  }
  // valgrind names the pipe callgrind_control talks through after $HOST (the gateway's listen address).
  child.host = env.HOST;
  child.url = kind === 'gateway' ? `ws://${HOST}:${port}/v1/ws` : `ws://${HOST}:${port}`;
  return child;
}

const canConnect = (port) =>
  new Promise((resolve) => {
    const s = require('node:net').connect(port, HOST, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

const control = (relay, ...args) => execFileSync('callgrind_control', [...args, String(relay.pid)], { encoding: 'utf8', env: relay.host ? { ...process.env, HOST: relay.host } : process.env });

/** V8's optimising compilers: how much of their work lands in a window depends on warm-up, not on the chunks. */
const COMPILER = /compiler::|maglev|turboshaft/i;

/** The instructions counted since the last zeroing (all, and those outside V8's compilers), from the dump it writes. */
function dumpTotal(relay) {
  const before = new Set(fs.readdirSync(OUT));
  control(relay, '-d');
  const file = fs.readdirSync(OUT).find((f) => !before.has(f) && f.startsWith(`${relay.name}.${relay.pid}`));
  const lines = execFileSync('callgrind_annotate', ['--threshold=100', path.join(OUT, file)], { encoding: 'utf8', maxBuffer: 256 << 20 }).split('\n');
  let all = 0;
  let compiler = 0;
  for (const line of lines) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$/.exec(line);
    if (!m || m[2].startsWith('PROGRAM TOTALS')) continue;
    const ir = Number(m[1].replace(/,/g, ''));
    all += ir;
    if (COMPILER.test(m[2])) compiler += ir;
  }
  return { all, runtime: all - compiler };
}

/** One load-client run; `measured`: zero the counters at "go", dump them at the result. */
async function run(relay, kind, chunks, measured, interval = INTERVAL) {
  const cfg = { target: relayOf(kind), url: relay.url, streams: STREAMS, chunks, interval, timeoutMs: chunks * interval * 4 + 300_000, ...(VARIANTS[kind] ? VARIANTS[kind].client : {}) };
  const client = track('load-client', spawn(process.execPath, [path.join(BENCH_DIR, 'load-client.js'), JSON.stringify(cfg)], { stdio: 'pipe' }));
  let result;
  let started = 0;
  for await (const line of readline.createInterface({ input: client.stdout })) {
    const msg = JSON.parse(line);
    if (msg.event === 'ready') {
      if (measured) control(relay, '-z');
      started = performance.now();
      client.stdin.write('go\n');
    } else if (msg.event === 'result') {
      const seconds = (performance.now() - started) / 1000;
      const instructions = measured ? dumpTotal(relay) : null;
      result = { chunks: msg.chunks.received, lost: msg.chunks.lost, errors: msg.errors, p99: msg.latencyMs.p99, seconds, instructions };
      client.stdin.write('close\n');
    }
  }
  if (!result) throw new Error(`load client ended without a result${tailText(client)}`);
  return result;
}

/**
 * A measured run, again (up to 3 times) when a stream was lost: under callgrind a busy machine can
 * time out a WebSocket handshake, and a lost stream changes what is counted.
 */
async function measuredRun(relay, kind, chunks) {
  for (let attempt = 1; ; attempt++) {
    const result = await run(relay, kind, chunks, true);
    // Chunks seconds late: the relay fell behind (a busy machine), and what it did per chunk changed.
    if (result.p99 > 5 * INTERVAL) process.stderr.write(`profile-chunk: ${kind}: p99 ${Math.round(result.p99)} ms, the relay fell behind: do not trust this figure\n`);
    if (result.lost === 0 && Object.keys(result.errors).length === 0) return result;
    process.stderr.write(`profile-chunk: ${kind}: run lost chunks (${JSON.stringify(result.errors)}), again\n`);
    if (attempt === 3) throw new Error(`${kind}: chunks lost in 3 runs: slow the pace (--interval) or use fewer --streams`);
  }
}

/** What the relay runs per second with no stream: its timers (and with it, callgrind's own pace). */
async function idleWindow(relay) {
  control(relay, '-z');
  const started = performance.now();
  await sleep(IDLE_MS);
  const seconds = (performance.now() - started) / 1000;
  const counted = dumpTotal(relay);
  return { all: counted.all / seconds, runtime: counted.runtime / seconds };
}

async function profile(kind, upstreamPort) {
  const relay = await startRelay(kind, upstreamPort);
  try {
    // Uncounted: until V8 has optimised the per-chunk path, its compiler would be most of the count.
    // Per-stream code (a request, a stream's start and end) gets hot only over several rounds of streams.
    for (let round = 0; round < WARMUP_ROUNDS; round++) await run(relay, kind, WARMUP, false, WARMUP_INTERVAL);
    control(relay, '-i', 'on');
    const idle = await idleWindow(relay);
    const small = await measuredRun(relay, kind, SMALL);
    const large = await measuredRun(relay, kind, LARGE);
    // The larger run also lasts longer: what the relay does per second anyway (its timers, which
    // callgrind's slowness makes weigh ~100× more per chunk than at the bench's pace) is taken off.
    const per = (key) => Math.round((large.instructions[key] - small.instructions[key] - idle[key] * (large.seconds - small.seconds)) / (large.chunks - small.chunks));
    return { kind, idlePerSecond: idle, small, large, instructionsPerChunk: per('runtime'), withCompilerPerChunk: per('all') };
  } finally {
    await stopProcess(relay, 10_000);
  }
}

async function main() {
  const upstream = await startServer('upstream', 'upstream.js');
  const results = [];
  for (const kind of TARGETS) {
    const r = await profile(kind, upstream.port);
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  await stopProcess(upstream);
  const by = Object.fromEntries(results.map((r) => [r.kind, r.instructionsPerChunk]));
  if (by.gateway && by.bare) process.stdout.write(`gateway ÷ bare ${(by.gateway / by.bare).toFixed(2)}${by.control ? `, gateway ÷ naive ${(by.gateway / by.control).toFixed(2)}, bare ÷ naive ${(by.bare / by.control).toFixed(2)}` : ''}\n`);
  if (by.gateway && by['gateway-text']) process.stdout.write(`gateway-text ÷ gateway ${(by['gateway-text'] / by.gateway).toFixed(2)}\n`);
  process.stdout.write(`callgrind dumps: ${OUT}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`profile-chunk: ${err.stack}\n`);
    process.exit(1);
  },
);
