'use strict';
/** The benchmark's command line: defaults, the smoke preset, and the A/B targets (--baseline, --variant). */
const path = require('node:path');
const { ROOT, BENCH_DIR } = require('./children');

const USAGE = `usage: node bench/run.js [options]          (npm run bench: the pinned steady comparison)

  --phases LIST        steady (default), sweep (= levels,idle,burst,ttfc: harness-bound), all, or phase names
  --reps N             repetitions of the steady comparison (default 5)
  --streams N          concurrent streams (default 300)
  --chunks N           chunks per stream (default 100)
  --interval MS        ms between a stream's chunks (default 50; 20 = 50 chunks/s per stream)
  --baseline NAME=PATH another build's dist/main.js, run as NAME and NAME+redis beside this build
  --variant NAME:KEY=VALUE[,KEY=VALUE]   this build with extra environment (NODE_FLAGS=… goes on node's command line)
  --gateway-env KEY=VALUE   extra environment for every gateway (repeatable)
  --no-redis           leave out the Redis-log targets
  --no-cluster         leave out gateway+cluster (the Redis log on a private 3-primary Redis Cluster)
  --no-text            leave out gateway-text and gateway-deflate (compact frames; JSON frames over permessage-deflate)
  --no-pin             run unpinned (the figures are then not comparable with pinned ones)
  --out DIR            where results.json and summary.md go (default bench/results/<date-time>)
  --levels 1,100,…     sweep levels (default 1,100,500,1000,2000)   --idle N   idle sockets (default 10000)
  --smoke              a tiny run of every phase (seconds): does the pipeline work?
  --quiet              no progress on stderr
  --render DIR         write DIR/summary.md again from DIR/results.json`;

const DEFAULTS = {
  phases: 'steady',
  reps: 5,
  streams: 300,
  chunks: 100,
  interval: 50,
  settleMs: 200,
  windowSettleMs: 300,
  sweep: { levels: [1, 100, 500, 1000, 2000], chunks: 100, interval: 20, idle: 10_000, burst: { streams: 100, chunks: 500, reps: 3 }, ttfc: { sockets: 4, rounds: 41 } },
};
const SMOKE = { phases: 'all', reps: 2, streams: 50, chunks: 20, interval: 10, settleMs: 50, sweep: { levels: [5], chunks: 10, interval: 10, idle: 50, burst: { streams: 10, chunks: 50, reps: 1 }, ttfc: { sockets: 2, rounds: 4 } } };

const RESERVED = ['direct', 'control', 'bare', 'gateway', 'gateway+redis'];
function abName(flag, name) {
  if (!/^[\w.-]+$/.test(name) || RESERVED.includes(name)) throw new Error(`${flag}: ${JSON.stringify(name)} cannot name a target`);
  return name;
}

/** `NAME:KEY=VALUE,KEY=VALUE` → { name, env }. */
function parseVariant(spec) {
  const colon = spec.indexOf(':');
  if (colon < 1) throw new Error(`--variant wants NAME:KEY=VALUE[,KEY=VALUE], got ${spec}`);
  const env = Object.fromEntries(spec.slice(colon + 1).split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { name: abName('--variant', spec.slice(0, colon)), env };
}

function parseBaseline(kv) {
  const eq = kv.indexOf('=');
  if (eq < 1) throw new Error(`--baseline wants NAME=PATH (a built main.js), got ${kv}`);
  return { name: abName('--baseline', kv.slice(0, eq)), main: path.resolve(kv.slice(eq + 1)) };
}

const number = (flag, v) => {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${flag} wants a positive number, got ${v}`);
  return n;
};

function parseArgs(argv) {
  const o = { ...DEFAULTS, ...(argv.includes('--smoke') ? { ...SMOKE, smoke: true } : {}), main: path.join(ROOT, 'dist', 'main.js'), gatewayEnv: {}, baselines: [], variants: [], redis: true, cluster: true, text: true, pin: true, quiet: false };
  const set = { '--reps': 'reps', '--streams': 'streams', '--chunks': 'chunks', '--interval': 'interval' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : (() => { throw new Error(`${a} needs a value`); })());
    if (set[a]) o[set[a]] = number(a, val());
    else if (a === '--smoke') continue; // applied first, so flags after it refine it
    else if (a === '--phases') o.phases = val();
    else if (a === '--baseline') o.baselines.push(parseBaseline(val()));
    else if (a === '--variant') o.variants.push(parseVariant(val()));
    else if (a === '--gateway-env') {
      const kv = val();
      o.gatewayEnv[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    } else if (a === '--no-redis') o.redis = false;
    else if (a === '--no-text') o.text = false;
    else if (a === '--no-cluster') o.cluster = false;
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--levels') o.sweep = { ...o.sweep, levels: val().split(',').map((v) => number(a, v)) };
    else if (a === '--idle') o.sweep = { ...o.sweep, idle: number(a, val()) };
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--render') o.render = path.resolve(val());
    else if (a === '-h' || a === '--help') o.help = USAGE;
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  o.out = o.out || path.join(BENCH_DIR, 'results', new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19));
  return o;
}

module.exports = { parseArgs, USAGE };
