'use strict';
/**
 * One measured window: a load-client run against one target, with what the kernel, the relay's
 * probe and Redis say about that window. The window opens when every socket is connected (so
 * connecting is not counted) and closes `settleMs` after the client's last chunk (a Redis log
 * writes its last batch up to STREAM_LOG_BATCH_MS later).
 */
const path = require('node:path');
const readline = require('node:readline');
const { performance } = require('node:perf_hooks');
const { startNode, tailText, BENCH_DIR } = require('./children');
const { readCpu, readIo, readMem, readCpuTimes, cpuBusy } = require('./proc');
const { probe } = require('./relays');
const redisStats = require('./redis');
const { round3 } = require('./stats');

const CLIENT = path.join(BENCH_DIR, 'load-client.js');
const HOST = '127.0.0.1';
const per = (n, chunks) => (chunks > 0 ? n / chunks : null);

/** Everything read at a window's edges. */
async function edge(ctx, relay) {
  const redis = relay && relay.def.redis;
  return {
    t: performance.now(),
    cpus: readCpuTimes(),
    upstream: readCpu(ctx.upstream.pid).cpuSec,
    self: process.cpuUsage(),
    relay: relay ? { ...readCpu(relay.pid), ...readIo(relay.pid) } : null,
    redis: redis ? await redisStats.sample(redis) : null,
  };
}

/** The relay's figures over the window: CPU, its share of its CPU, write syscalls, GC and loop stalls. */
function relayFigures(a, b, chunks, sec, pauses, relay) {
  const cpuSec = b.relay.cpuSec - a.relay.cpuSec;
  return {
    cpuTicks: b.relay.ticks - a.relay.ticks,
    cpuMsPerChunk: per(cpuSec * 1000, chunks),
    cpuSharePct: (100 * cpuSec) / sec,
    syscwPerChunk: per(b.relay.syscw - a.relay.syscw, chunks),
    hwmKiB: readMem(relay.pid).hwmKiB,
    pauses,
  };
}

function figures(ctx, relay, msg, a, b, pauses) {
  const sec = (b.t - a.t) / 1000;
  const chunks = msg.chunks.received;
  const pct = (cpuSec) => (100 * cpuSec) / sec;
  const self = process.cpuUsage(a.self);
  const run = {
    windowSec: sec,
    chunks: msg.chunks,
    errors: Object.values(msg.errors).reduce((x, y) => x + y, 0),
    errorCodes: msg.errors,
    timedOut: msg.timedOut,
    latencyMs: msg.latencyMs,
    tailInWorst500ms: msg.latencyTail.share,
    ttfbMs: msg.ttfbMs,
    ttfbAfterFirstRoundMs: msg.ttfbAfterFirstRoundMs,
    wireBytesPerToken: per(msg.wireBytes, chunks),
    harness: { upstreamPct: pct(b.upstream - a.upstream), clientPct: msg.client.cpuPct, clientElu: msg.client.elu, orchestratorPct: pct((self.user + self.system) / 1e6) },
    cpus: Object.fromEntries(Object.keys(b.cpus).map((name) => [name, cpuBusy(a.cpus, b.cpus, name)])),
  };
  if (relay) run.relay = relayFigures(a, b, chunks, sec, pauses, relay);
  if (a.redis) {
    const d = redisStats.delta(a.redis, b.redis);
    run.redis = { commandsPerChunk: per(d.commands, chunks), calls: d.calls, cpuMsPerChunk: per(d.cpuSec * 1000, chunks), cpuPct: pct(d.cpuSec) };
  }
  return run;
}

/**
 * Runs the load client once. `relay`: the running relay child (null for direct). `onReady(relay)`:
 * called once the sockets are open, before the window (the idle-memory phase samples RSS there).
 */
async function measure(ctx, name, relay, spec, { settleMs = 0, onReady = null } = {}) {
  const cfg = { target: relay ? relay.def.kind : 'direct', url: relay ? relay.url : `http://${HOST}:${ctx.upstream.port}/v1`, ...spec };
  cfg.timeoutMs = Math.round((spec.rampMs || 0) + (spec.chunks || 0) * (spec.interval || 0) * (spec.rounds || 1) + 20_000);
  const child = startNode(`load-client(${name})`, [CLIENT, JSON.stringify(cfg)]);
  const hardTimer = setTimeout(() => child.kill('SIGKILL'), cfg.timeoutMs + 60_000);
  let run = null;
  let a = null;
  let extra = null;
  try {
    for await (const line of readline.createInterface({ input: child.stdout })) {
      const msg = JSON.parse(line);
      if (msg.event === 'ready') {
        extra = onReady ? await onReady(relay, msg) : null;
        if (relay) await probe(relay.pid); // opens the relay's probe window
        a = await edge(ctx, relay);
        child.stdin.write('go\n');
      } else if (msg.event === 'result') {
        if (settleMs) await new Promise((resolve) => setTimeout(resolve, settleMs));
        const b = await edge(ctx, relay);
        run = { name, ...figures(ctx, relay, msg, a, b, relay ? await probe(relay.pid) : null), client: msg, extra };
        child.stdin.write('close\n');
      }
    }
    const exit = await child.exited;
    if (!run) throw new Error(`load client (${name}) ended without a result (${JSON.stringify(exit)})${tailText(child)}`);
  } finally {
    clearTimeout(hardTimer);
    if (!child.exitInfo) child.kill('SIGKILL');
  }
  return run;
}

/** One line per run for the console. */
function summaryLine(run, prefix = '') {
  const f = (v, d = 3) => (v === null || v === undefined ? '—' : round3(v).toFixed(d));
  const bits = [
    `${prefix}${run.name.padEnd(16)}`,
    `p50/p99 ${f(run.latencyMs.p50, 1)}/${f(run.latencyMs.p99, 1)} ms`,
    run.chunks.lost || run.errors ? `LOST ${run.chunks.lost} ERR ${run.errors}` : '',
    run.relay ? `cpu ${f(run.relay.cpuMsPerChunk, 4)} ms/chunk (${f(run.relay.cpuSharePct, 0)}% of its CPU) syscw ${f(run.relay.syscwPerChunk, 2)}/chunk` : '',
    `${f(run.wireBytesPerToken, 0)} B/token`,
    run.redis ? `redis ${f(run.redis.commandsPerChunk)} cmd/chunk ${f(run.redis.cpuMsPerChunk, 4)} ms/chunk` : '',
    `cpu0 ${f(run.cpus.cpu0 && run.cpus.cpu0.busyPct, 0)}% cpu1 ${f(run.cpus.cpu1 && run.cpus.cpu1.busyPct, 0)}%`,
  ];
  return bits.filter(Boolean).join('  ');
}

module.exports = { measure, summaryLine };
