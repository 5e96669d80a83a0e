'use strict';
/**
 * CPU per chunk without pacing, repetitions interleaved. Without pacing several chunks share a read
 * and a write, and how many varies from run to run: the steady comparison is the cost to judge.
 */
const { HARNESS_BOUND, order, runAll, lossProblems } = require('./sweep-common');
const { spread } = require('../lib/summary');
const { table, fmt, range } = require('../lib/markdown');

async function run(ctx) {
  const { streams, chunks, reps } = ctx.opts.sweep.burst;
  const runs = [];
  for (let rep = 0; rep < reps; rep++) runs.push(await runAll(ctx, `burst #${rep + 1}`, order(ctx, rep).slice(1), { mode: 'stream', streams, chunks, interval: 0, rampMs: 0 }, {}));
  const cpu = Object.fromEntries(Object.keys(runs[0]).map((n) => [n, spread(runs.map((r) => r[n].relay.cpuMsPerChunk))]));
  return { streams, chunks, reps, cpu, runs };
}

function report(res) {
  return [
    HARNESS_BOUND,
    '',
    `${res.streams} streams × ${res.chunks} chunks, no pacing, ${res.reps} repetition(s):`,
    '',
    ...table(['relay', 'CPU ms/chunk (median)', 'min–max'], Object.entries(res.cpu).map(([n, s]) => [n, fmt(s.median), range(s)])),
  ];
}

const check = (res) => res.runs.flatMap((runs, i) => lossProblems(`burst #${i + 1}`, runs));

module.exports = { name: 'burst', title: 'burst CPU (harness-bound)', harnessBound: true, run, report, check };
