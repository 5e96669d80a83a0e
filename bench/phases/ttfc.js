'use strict';
/** Time to first chunk at low load: a few sockets, sequential streams, the cold first round left out. */
const { HARNESS_BOUND, order, runAll, lossProblems } = require('./sweep-common');
const { table, fmt } = require('../lib/markdown');

async function run(ctx) {
  const { sockets, rounds } = ctx.opts.sweep.ttfc;
  const spec = { mode: 'stream', streams: sockets, rounds, chunks: 3, interval: 5, rampMs: 10, thinkMs: 5 };
  return { sockets, rounds, runs: await runAll(ctx, 'ttfc', order(ctx, 0), spec, {}) };
}

function report(res) {
  const direct = res.runs.direct.ttfbAfterFirstRoundMs;
  return [
    HARNESS_BOUND,
    '',
    `${res.sockets} sockets × ${res.rounds} sequential streams of 3 chunks:`,
    '',
    ...table(['target', 'TTFC p50 ms', 'p99 ms', 'added p50 ms'], Object.entries(res.runs).map(([n, r]) => [n, fmt(r.ttfbAfterFirstRoundMs.p50), fmt(r.ttfbAfterFirstRoundMs.p99), fmt(r.ttfbAfterFirstRoundMs.p50 - direct.p50)])),
  ];
}

const check = (res) => [...lossProblems('ttfc', res.runs), ...Object.values(res.runs).filter((r) => !(r.ttfbAfterFirstRoundMs.n > 0)).map((r) => `ttfc ${r.name}: no time to first chunk`)];

module.exports = { name: 'ttfc', title: 'time to first chunk (harness-bound)', harnessBound: true, run, report, check };
