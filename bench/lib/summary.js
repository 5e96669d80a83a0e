'use strict';
/**
 * From repetitions to figures: every figure is computed per repetition (targets of one repetition
 * ran minutes apart at most, so they shared the machine's weather), then reported as the median of
 * those per-repetition values with their min–max. A ratio is never a ratio of medians.
 */
const round = (v, d = 4) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** { median, min, max, perRep } of per-repetition values (missing ones stay null in perRep). */
function spread(perRep, d = 4) {
  const v = perRep.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return { median: round(median(v), d), min: v.length ? round(Math.min(...v), d) : null, max: v.length ? round(Math.max(...v), d) : null, perRep: perRep.map((x) => round(x, d)) };
}

/** a ÷ b when both are positive numbers (a ratio of noise around zero means nothing), else null. */
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 ? a / b : null);
const diff = (a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : null);

/**
 * Below this many write syscalls per chunk a relay wrote several frames per write: it fell behind
 * (starved by another tenant of its CPU), and its CPU per chunk fell with it, as its latency rose.
 * Every relay here writes each chunk on its own when it keeps up (1.01–1.07 measured on a quiet CPU).
 */
const BEHIND_SYSCW = 0.97;
const fellBehind = (r) => Boolean(r && r.relay && r.relay.syscwPerChunk < BEHIND_SYSCW);

/** Relay CPU per chunk, plus its Redis server's where it has one: what the chunk costs in all. */
const costPerChunk = (run) => (run && run.relay ? run.relay.cpuMsPerChunk + (run.redis ? run.redis.cpuMsPerChunk || 0 : 0) : null);

/** Per-target figures, each a spread over repetitions. */
const TARGET_FIGURES = {
  cpuMsPerChunk: (r) => r.relay && r.relay.cpuMsPerChunk,
  costMsPerChunkInclRedis: (r) => (r.redis ? costPerChunk(r) : null),
  cpuSharePct: (r) => r.relay && r.relay.cpuSharePct,
  syscwPerChunk: (r) => r.relay && r.relay.syscwPerChunk,
  wireBytesPerToken: (r) => r.wireBytesPerToken,
  p50Ms: (r) => r.latencyMs.p50,
  p99Ms: (r) => r.latencyMs.p99,
  p999Ms: (r) => r.latencyMs.p999,
  addedP99Ms: (r, rep) => diff(r.latencyMs.p99, rep.direct && rep.direct.latencyMs.p99),
  p99MinusBareMs: (r, rep) => (r.relay && rep.bare && r !== rep.bare ? diff(r.latencyMs.p99, rep.bare.latencyMs.p99) : null),
  redisCommandsPerChunk: (r) => r.redis && r.redis.commandsPerChunk,
  redisCpuMsPerChunk: (r) => r.redis && r.redis.cpuMsPerChunk,
  redisCpuPct: (r) => r.redis && r.redis.cpuPct,
  gcMsPerChunk: (r) => r.relay && r.relay.pauses && r.relay.pauses.gc.totalMs / Math.max(1, r.chunks.received),
  gcMaxMs: (r) => r.relay && r.relay.pauses && r.relay.pauses.gc.maxMs,
  loopDelayP99Ms: (r) => r.relay && r.relay.pauses && r.relay.pauses.loopDelay && r.relay.pauses.loopDelay.p99Ms,
  tailInWorst500ms: (r) => r.tailInWorst500ms,
  cpu0BusyPct: (r) => r.cpus.cpu0 && r.cpus.cpu0.busyPct,
  cpu1BusyPct: (r) => r.cpus.cpu1 && r.cpus.cpu1.busyPct,
  // What ran on the relay CPU besides the relay: other tenants of the machine.
  othersOnCpu1Pct: (r) => (r.cpus.cpu1 && r.relay ? r.cpus.cpu1.busyPct - r.relay.cpuSharePct : null),
  stealPct: (r) => r.cpus.cpu && r.cpus.cpu.stealPct,
  harnessPct: (r) => r.harness.upstreamPct + r.harness.clientPct + r.harness.orchestratorPct + (r.redis ? r.redis.cpuPct : 0),
  lost: (r) => r.chunks.lost,
  errors: (r) => r.errors,
};

/** runs (each with .rep and .name) → [{ direct: run, control: run, … } per repetition]. */
function byRep(runs, reps) {
  const out = Array.from({ length: reps }, () => ({}));
  for (const run of runs) out[run.rep][run.name] = run;
  return out;
}

function targetFigures(reps, names) {
  const out = {};
  for (const name of names) {
    out[name] = {};
    for (const [key, fn] of Object.entries(TARGET_FIGURES)) {
      const s = spread(reps.map((rep) => (rep[name] ? fn(rep[name], rep) : null)));
      if (s.median !== null) out[name][key] = s;
    }
    out[name].repsBehind = reps.filter((rep) => fellBehind(rep[name])).length;
  }
  return out;
}

/**
 * Comparisons, each per repetition then summarised: { label, kind: 'ratio' | 'diff', a, b, value }.
 * `pairs`: [[label, a, b, figure], …] with figure 'cost' (CPU per chunk, Redis's included) or 'p99'.
 */
function comparisons(reps, pairs) {
  const value = { cost: (r) => costPerChunk(r), cpu: (r) => r && r.relay && r.relay.cpuMsPerChunk, p99: (r) => r && r.latencyMs.p99 };
  return pairs
    .filter(([, a, b]) => reps.some((rep) => rep[a] && rep[b]))
    .map(([label, a, b, figure]) => {
      const op = figure === 'p99' ? diff : ratio;
      const perRep = reps.map((rep) => op(value[figure](rep[a]), value[figure](rep[b])));
      // The same over the repetitions where both kept up: the figure to judge when some did not.
      const behind = reps.map((rep) => fellBehind(rep[a]) || fellBehind(rep[b]));
      const kept = spread(perRep.filter((_, i) => !behind[i]), figure === 'p99' ? 2 : 3);
      return { label, a, b, figure, ...spread(perRep, figure === 'p99' ? 2 : 3), behind, keptMedian: kept.median, keptReps: behind.filter((x) => !x).length };
    });
}

module.exports = { BEHIND_SYSCW, fellBehind, median, spread, ratio, round, costPerChunk, byRep, targetFigures, comparisons };
