'use strict';
/**
 * The pinned steady comparison (`npm run bench`): every target at a load none saturates (300
 * streams × 100 chunks, one every 50 ms by default), relays on the relay CPU, the harness on the
 * other; repetitions in rotating order, each figure per repetition, then their median and min–max.
 */
const { measure, summaryLine } = require('../lib/measure');
const { byRep, targetFigures, comparisons, BEHIND_SYSCW } = require('../lib/summary');
const { table, fmt, range } = require('../lib/markdown');

/** The comparisons the run reports; A/B pairs (--baseline, --variant) come from the run's targets. */
function pairsFor(names, ab) {
  const pairs = [
    ['gateway ÷ bare relay, CPU per chunk', 'gateway', 'bare', 'cpu'],
    ['gateway ÷ naive relay, CPU per chunk', 'gateway', 'control', 'cpu'],
    ['gateway-text ÷ bare relay, CPU per chunk', 'gateway-text', 'bare', 'cpu'],
    ['gateway-text ÷ gateway, CPU per chunk', 'gateway-text', 'gateway', 'cpu'],
    ['gateway-deflate ÷ gateway, CPU per chunk', 'gateway-deflate', 'gateway', 'cpu'],
    ['bare ÷ naive relay, CPU per chunk', 'bare', 'control', 'cpu'],
    ['Redis log ÷ in-memory log, CPU per chunk (Redis server included)', 'gateway+redis', 'gateway', 'cost'],
    ['Redis log ÷ in-memory log, gateway CPU only', 'gateway+redis', 'gateway', 'cpu'],
    ['Redis log format 2 ÷ in-memory log, CPU per chunk (Redis server included)', 'gateway+redis2', 'gateway', 'cost'],
    ['Redis Cluster ÷ one Redis, CPU per chunk (Redis servers included)', 'gateway+cluster', 'gateway+redis', 'cost'],
    ['gateway p99 − bare relay p99 (ms)', 'gateway', 'bare', 'p99'],
    ['gateway+redis p99 − bare relay p99 (ms)', 'gateway+redis', 'bare', 'p99'],
    ['gateway+redis2 p99 − bare relay p99 (ms)', 'gateway+redis2', 'bare', 'p99'],
    ['naive relay p99 − bare relay p99 (ms)', 'control', 'bare', 'p99'],
  ];
  for (const { variant, baseline } of ab) {
    pairs.push([`${variant} ÷ ${baseline}, CPU per chunk`, variant, baseline, 'cost']);
    pairs.push([`${variant} − ${baseline}, p99 (ms)`, variant, baseline, 'p99']);
  }
  return pairs.filter(([, a, b]) => names.includes(a) && names.includes(b));
}

async function run(ctx) {
  const { streams, chunks, interval, reps } = ctx.opts;
  // Starts spread over half a stream's life: no thundering herd, all streams together for the second half.
  const spec = { mode: 'stream', streams, chunks, interval, rampMs: Math.round((chunks * interval) / 2) };
  const names = ['direct', ...ctx.relayNames];
  ctx.log(`  warm-up: ${Math.min(streams, 100)} streams × 20 chunks per target (not measured)`);
  // A target's own client options (gateway-text asks for format "text").
  const specFor = (name, s) => ({ ...s, ...ctx.relays[name]?.def.client });
  for (const name of names) await measure(ctx, name, ctx.relays[name] || null, specFor(name, { ...spec, streams: Math.min(streams, 100), chunks: 20, rampMs: 0 }));
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const name of names.map((_, i) => names[(i + rep) % names.length])) {
      await ctx.settle();
      const r = await measure(ctx, name, ctx.relays[name] || null, specFor(name, spec), { settleMs: ctx.opts.windowSettleMs });
      runs.push({ rep, ...r, client: undefined });
      ctx.log(summaryLine(r, `  #${rep + 1} `));
    }
  }
  return derive({ spec, reps, order: names, runs }, ctx);
}

/** The figures of a run, from its runs (also for `run.js --render` of an earlier run's results). */
function derive(res, ctx) {
  const perRep = byRep(res.runs, res.reps);
  return { ...res, targets: targetFigures(perRep, res.order), comparisons: comparisons(perRep, pairsFor(res.order, ctx.ab)) };
}

function report(res) {
  const t = res.targets;
  const names = Object.keys(t);
  const lines = [
    `${res.spec.streams} streams × ${res.spec.chunks} chunks every ${res.spec.interval} ms (${Math.round(1000 / res.spec.interval)} chunks/s per stream), ${res.reps} repetitions in rotating order. Median [min–max] over repetitions.`,
    '',
    `**Comparisons**, each computed per repetition (values in order; \\* = one of the two fell behind in that repetition: fewer than ${BEHIND_SYSCW} write syscalls per chunk, so it batched writes and its CPU per chunk fell as its latency rose). *Kept*: the median over the repetitions where both kept up.`,
    '',
    ...table(
      ['comparison', 'median', 'min–max', 'kept (reps)', 'per repetition'],
      res.comparisons.map((c) => [c.label, fmt(c.median), range(c), `${fmt(c.keptMedian)} (${c.keptReps})`, c.perRep.map((v, i) => `${fmt(v)}${c.behind[i] ? '\\*' : ''}`).join(' · ')]),
    ),
    '',
    '**Per target**:',
    '',
    ...table(
      ['target', 'CPU ms/chunk', 'share of CPU 1 %', 'write syscalls/chunk', 'reps behind', 'bytes/token', 'p99 ms', 'p99 − bare ms', 'Redis cmd/chunk', 'Redis CPU ms/chunk', 'lost'],
      names.map((n) => [n, ...['cpuMsPerChunk', 'cpuSharePct', 'syscwPerChunk'].map((k) => cell(t[n][k])), n === 'direct' ? '—' : t[n].repsBehind, ...['wireBytesPerToken', 'p99Ms', 'p99MinusBareMs', 'redisCommandsPerChunk', 'redisCpuMsPerChunk'].map((k) => cell(t[n][k])), fmt(t[n].lost && t[n].lost.max)]),
    ),
    '',
    '**Inside each relay, and the machine** (medians): GC pause time per 1,000 chunks, longest GC pause, event-loop delay p99; CPU 0 (harness) and CPU 1 (relay) busy, what ran on CPU 1 besides the relay (other tenants), steal, the harness\'s CPU.',
    '',
    ...table(
      ['target', 'GC ms/1k chunks', 'GC max ms', 'loop p99 ms', 'CPU 0 %', 'CPU 1 %', 'others on CPU 1 %', 'steal %', 'harness %'],
      names.map((n) => [n, fmt(t[n].gcMsPerChunk && t[n].gcMsPerChunk.median * 1000), ...['gcMaxMs', 'loopDelayP99Ms', 'cpu0BusyPct', 'cpu1BusyPct', 'othersOnCpu1Pct', 'stealPct', 'harnessPct'].map((k) => fmt(t[n][k] && t[n][k].median))]),
    ),
  ];
  return lines;
}

const cell = (s) => (s ? `${fmt(s.median)} [${range(s)}]` : '—');

/** What a run must have produced: the smoke test fails on any of these. */
function check(res, ctx) {
  const problems = [];
  for (const run of res.runs) {
    const at = `steady #${run.rep + 1} ${run.name}`;
    if (!(run.chunks.received > 0) || run.chunks.lost !== 0 || run.errors !== 0) problems.push(`${at}: ${run.chunks.received} chunks, ${run.chunks.lost} lost, ${run.errors} errors`);
    if (!(run.wireBytesPerToken > 0)) problems.push(`${at}: no bytes on the wire counted`);
    if (run.name !== 'direct' && !(run.relay && run.relay.pauses && run.relay.pauses.gc)) problems.push(`${at}: the relay's probe did not answer`);
    if (run.relay && !(run.relay.syscwPerChunk > 0)) problems.push(`${at}: no write syscalls counted`);
    if (ctx.redisNames.includes(run.name) && !(run.redis && run.redis.commandsPerChunk > 0)) problems.push(`${at}: no Redis commands counted`);
  }
  const want = pairsFor(res.order, ctx.ab).length;
  if (res.comparisons.length !== want || res.comparisons.some((c) => c.median === null)) problems.push(`steady: ${res.comparisons.length} of ${want} comparisons, some without a value`);
  return problems;
}

module.exports = { name: 'steady', title: 'pinned steady comparison', harnessBound: false, run, derive, report, check, pairsFor };
