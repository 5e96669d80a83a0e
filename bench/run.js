#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: the pinned steady comparison of the relays (docs/performance.md says what it
 * measures and why). `node bench/run.js --help` lists the options.
 *
 * The orchestrator pins itself to CPU 0, so the fake upstream, the load clients and the private
 * redis-server it starts run there too; each relay runs on CPU 1 alone, with all its threads.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { parseArgs } = require('./lib/cli');
const { pin, requirePinning, startServer, stopProcess } = require('./lib/children');
const { startRelay } = require('./lib/relays');
const { startRedis, startRedisCluster } = require('./lib/redis');
const { readCpuTimes, cpuBusy } = require('./lib/proc');
const { selectPhases } = require('./phases');
const { writeResults } = require('./lib/results');

const [HARNESS_CPU, RELAY_CPU] = [0, 1];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function preflight(opts) {
  if (process.platform !== 'linux') throw new Error('the benchmark reads /proc: it runs on Linux only');
  for (const main of [opts.main, ...opts.baselines.map((b) => b.main)]) {
    if (!fs.existsSync(main)) throw new Error(`${path.relative(process.cwd(), main)} is missing: run \`npm run build\` first (in that build's checkout for a --baseline)`);
  }
  if (opts.pin) requirePinning(RELAY_CPU);
  const nofile = Number((/Max open files\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8')) || [])[1]);
  if (nofile && nofile < opts.sweep.idle + 500) opts.sweep.idle = Math.max(50, nofile - 500);
}

/**
 * The targets beside `direct`: the naive relay, the bare relay, the gateway, the gateway with the
 * Redis log, and for each --baseline / --variant the same two; `ab` pairs each with what it is
 * compared to (a baseline: this build against it; a variant: it against this build).
 */
function relayDefs(opts, redis, cluster) {
  const defs = [{ name: 'control', kind: 'control' }, { name: 'bare', kind: 'bare' }];
  const ab = [];
  const gateway = (name, main, env) => {
    defs.push({ name, kind: 'gateway', main, env: { ...opts.gatewayEnv, ...env } });
    if (redis) defs.push({ name: `${name}+redis`, kind: 'gateway', main, env: { ...opts.gatewayEnv, ...env }, redis });
  };
  gateway('gateway', opts.main, {});
  // The same build with the load client asking for compact frames (format "text", issue 23): what a
  // token costs on the wire and in CPU when the SDK's default is on. In-memory log only.
  if (opts.text) defs.push({ name: 'gateway-text', kind: 'gateway', main: opts.main, env: { ...opts.gatewayEnv }, client: { format: 'text' } });
  // JSON frames over permessage-deflate (opt-in for clients that offer it): its CPU and bytes per token.
  if (opts.text) defs.push({ name: 'gateway-deflate', kind: 'gateway', main: opts.main, env: { ...opts.gatewayEnv, WS_PERMESSAGE_DEFLATE: 'true' }, client: { deflate: true } });
  // The Redis log at 50 chunks/s per stream (issue 23's second rate): a third of the streams, so the
  // chunks per second through the relay stay near the default load's and neither CPU saturates.
  // The same log on a Redis Cluster (issue 26): its commands and CPU summed over the primaries.
  if (cluster) defs.push({ name: 'gateway+cluster', kind: 'gateway', main: opts.main, env: { ...opts.gatewayEnv }, redis: cluster });
  if (redis) defs.push({ name: 'gateway+redis@50/s', kind: 'gateway', main: opts.main, env: { ...opts.gatewayEnv }, redis, client: { interval: 20, streams: Math.max(1, Math.round(opts.streams / 3)) } });
  // The same two with log format 2 (STREAM_LOG_FORMAT=2: the meta in the log's first entry, 3
  // commands per stream besides its entries instead of 7): the default of the next release.
  if (redis) {
    defs.push({ name: 'gateway+redis2', kind: 'gateway', main: opts.main, env: { ...opts.gatewayEnv, STREAM_LOG_FORMAT: '2' }, redis });
    defs.push({ name: 'gateway+redis2@50/s', kind: 'gateway', main: opts.main, env: { ...opts.gatewayEnv, STREAM_LOG_FORMAT: '2' }, redis, client: { interval: 20, streams: Math.max(1, Math.round(opts.streams / 3)) } });
  }
  for (const b of opts.baselines) gateway(b.name, b.main, {});
  for (const v of opts.variants) gateway(v.name, opts.main, v.env);
  const both = (a, b) => [{ variant: a, baseline: b }, ...(redis ? [{ variant: `${a}+redis`, baseline: `${b}+redis` }] : [])];
  for (const b of opts.baselines) ab.push(...both('gateway', b.name));
  for (const v of opts.variants) ab.push(...both(v.name, 'gateway'));
  return { defs, ab };
}

/** What the run's figures depend on besides the code. */
async function machine() {
  const a = readCpuTimes();
  await sleep(1000);
  const busy = Object.fromEntries(Object.keys(a).filter((n) => n !== 'cpu').map((n) => [n, Math.round(cpuBusy(a, readCpuTimes(), n).busyPct)]));
  return {
    date: new Date().toISOString(),
    nproc: os.cpus().length, // not availableParallelism(): this process is pinned to one CPU by now
    kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
    cpuModel: (os.cpus()[0] || {}).model,
    node: process.version,
    loadAvg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    busyPctBeforeRun: busy,
  };
}

/** `--render DIR`: summary.md again from DIR/results.json, with this version's figures and report. */
function render(dir) {
  const run = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
  const phases = selectPhases(Object.keys(run.results).join(','));
  for (const p of phases) if (p.derive) run.results[p.name] = p.derive(run.results[p.name], { ab: run.ab });
  writeResults(dir, run, phases);
  process.stdout.write(fs.readFileSync(path.join(dir, 'summary.md'), 'utf8'));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) return void process.stdout.write(`${opts.help}\n`);
  if (opts.render) return render(opts.render);
  const log = opts.quiet ? () => {} : (msg) => process.stderr.write(`${msg}\n`);
  preflight(opts);
  const phases = selectPhases(opts.phases);
  if (opts.pin) pin(process.pid, HARNESS_CPU); // every child started from now on inherits CPU 0
  const info = await machine();
  log(`bench: ${info.date}, ${info.nproc} CPUs, kernel ${info.kernel}, CPUs busy before start ${JSON.stringify(info.busyPctBeforeRun)} %; relays ${opts.pin ? `pinned to CPU ${RELAY_CPU}, harness to CPU ${HARNESS_CPU}` : 'NOT pinned (--no-pin)'}`);
  const upstream = await startServer('upstream', 'upstream.js');
  const redis = opts.redis ? await startRedis() : null;
  const cluster = opts.redis && opts.cluster ? await startRedisCluster() : null;
  const { defs, ab } = relayDefs(opts, redis, cluster);
  const relays = {};
  for (const def of defs) relays[def.name] = await startRelay(def, upstream.port, opts.pin ? RELAY_CPU : null);
  const ctx = { opts, log, upstream, relays, ab, relayNames: defs.map((d) => d.name), redisNames: defs.filter((d) => d.redis).map((d) => d.name), settle: () => sleep(opts.settleMs) };
  const results = {};
  for (const phase of phases) {
    log(`\n${phase.title}${phase.harnessBound ? ' — HARNESS-BOUND' : ''}`);
    const t0 = Date.now();
    results[phase.name] = { ...(await phase.run(ctx)), seconds: Math.round((Date.now() - t0) / 1000) };
  }
  for (const child of [...Object.values(relays), upstream, ...(redis ? redis.children : []), ...(cluster ? cluster.children : [])]) await stopProcess(child, 1000);
  const problems = phases.flatMap((p) => p.check(results[p.name], ctx));
  const defsOut = defs.map(({ redis: r, main, ...d }) => ({ ...d, main: main && path.relative(process.cwd(), main), redis: Boolean(r) }));
  writeResults(opts.out, { machine: info, options: { ...opts, help: undefined }, pinned: opts.pin, targets: defsOut, ab, results, problems }, phases);
  log(`\n${fs.readFileSync(path.join(opts.out, 'summary.md'), 'utf8')}\nbench: wrote ${path.relative(process.cwd(), opts.out)}/{results.json,summary.md}`);
  if (problems.length) throw new Error(`the run is incomplete:\n  - ${problems.join('\n  - ')}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`\nbench: FAILED: ${err && err.message}\n`);
    process.exit(1);
  },
);
