'use strict';
/** Latency and CPU per chunk as concurrency grows (20 ms pacing), up to saturation. Harness-bound. */
const { HARNESS_BOUND, order, runAll, lossProblems } = require('./sweep-common');
const { table, fmt } = require('../lib/markdown');

async function run(ctx) {
  const rows = [];
  for (const [i, streams] of ctx.opts.sweep.levels.entries()) {
    const { chunks, interval } = ctx.opts.sweep;
    const spec = { mode: 'stream', streams, chunks, interval, rampMs: streams > 1 ? Math.round((chunks * interval) / 2) : 0 };
    rows.push({ streams, runs: await runAll(ctx, `${streams} streams`, order(ctx, i), spec, {}) });
  }
  return { rows };
}

function report(res) {
  const relays = Object.keys(res.rows[0].runs).filter((n) => n !== 'direct');
  const cells = (r, direct) => `${fmt(r.latencyMs.p99 - direct.latencyMs.p99)} / ${fmt(r.relay.cpuMsPerChunk)} / ${fmt(r.relay.cpuSharePct)}`;
  return [
    HARNESS_BOUND,
    '',
    'Per relay: added p99 over direct (ms) / CPU ms per chunk / share of CPU 1 (%); the harness: client event-loop utilisation, CPU 0 busy.',
    '',
    ...table(
      ['streams', 'direct p99 ms', ...relays, 'client ELU (direct)', 'CPU 0 % (direct)'],
      res.rows.map(({ streams, runs }) => [streams, fmt(runs.direct.latencyMs.p99), ...relays.map((n) => cells(runs[n], runs.direct)), fmt(runs.direct.harness.clientElu), fmt(runs.direct.cpus.cpu0 && runs.direct.cpus.cpu0.busyPct)]),
    ),
  ];
}

const check = (res) => res.rows.flatMap(({ streams, runs }) => lossProblems(`levels ${streams}`, runs));

module.exports = { name: 'levels', title: 'latency sweep (harness-bound)', harnessBound: true, run, report, check };
