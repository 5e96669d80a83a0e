'use strict';
/**
 * What the saturation phases share. They are harness-bound: past a few hundred streams the fake
 * upstream and the load client, on one CPU, cannot keep up, so their figures say which relay
 * degrades less when starved, not what a relay costs. The steady comparison is the verdict.
 */
const { measure, summaryLine } = require('../lib/measure');

const HARNESS_BOUND = '**Harness-bound**: the harness (fake upstream and load client) has one CPU and saturates first; read these as "which relay degrades less under load", never as a relay\'s cost.';

/** The relays the saturation phases compare: the naive relay, the bare relay and the gateway. */
const sweepRelays = (ctx) => ['control', 'bare', 'gateway'].filter((n) => ctx.relays[n]);

/** `direct` first, then the relays in an order that alternates with `i`. */
const order = (ctx, i) => ['direct', ...(i % 2 ? sweepRelays(ctx).reverse() : sweepRelays(ctx))];

async function runAll(ctx, label, names, spec, opts) {
  const out = {};
  for (const name of names) {
    await ctx.settle();
    out[name] = await measure(ctx, name, ctx.relays[name] || null, spec, opts);
    ctx.log(summaryLine(out[name], `  ${label} `));
  }
  return out;
}

/** Problems of a saturation run: every target delivered every chunk without error. */
function lossProblems(label, runs) {
  return Object.values(runs)
    .filter((r) => r.chunks.lost !== 0 || r.errors !== 0 || (r.chunks.expected > 0 && !(r.chunks.received > 0)))
    .map((r) => `${label} ${r.name}: ${r.chunks.lost} of ${r.chunks.expected} lost, ${r.errors} errors`);
}

module.exports = { HARNESS_BOUND, sweepRelays, order, runAll, lossProblems };
