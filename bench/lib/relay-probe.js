'use strict';
/**
 * Preloaded into every relay under test (gateway, control and bare alike; they run with
 * --expose-gc). It lets the orchestrator look inside a relay without touching the relay's code:
 *
 * - SIGUSR2: a full garbage collection. The orchestrator sends it right before the RSS samples of
 *   the memory figures, so they measure what the process keeps alive rather than how much garbage
 *   happened to be pending at that moment. (The handler is installed even without --expose-gc, so
 *   the signal can never terminate the process.)
 * - SIGWINCH: the pauses since the previous SIGWINCH, written to `$BENCH_PROBE_DIR/<pid>.json`
 *   (whole, by rename): every garbage collection's pause (PerformanceObserver 'gc' entries: the
 *   main thread stood still for each) and the event loop's delay (monitorEventLoopDelay: how late
 *   a 10 ms tick ran, so a stall can show up to 10 ms short), then both start again. The
 *   orchestrator sends one when a measured window opens and one when it closes, so a window's
 *   figures are the relay's own while it relayed those streams: issue 13 asks which of GC and loop
 *   stalls make the tail, and the harness answers it in every run.
 *
 * Costs in the relay: one 10 ms timer, and one callback per batch of GC entries. It changes nothing
 * else in the process.
 */
const fs = require('node:fs');
const path = require('node:path');
const { PerformanceObserver, monitorEventLoopDelay, constants } = require('node:perf_hooks');
const { summarize } = require('./stats');

process.on('SIGUSR2', () => {
  if (typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
});

const dir = process.env.BENCH_PROBE_DIR;
if (dir) {
  /** GC kinds as the report names them: scavenges (young generation) and the rest (old). */
  const MINOR = constants.NODE_PERFORMANCE_GC_MINOR;
  const RESOLUTION_MS = 10;
  const loopDelay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  loopDelay.enable();
  let pauses = [];
  let minor = 0;
  let since = performance.now();
  let seq = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      pauses.push(entry.duration);
      const kind = entry.detail ? entry.detail.kind : entry.kind;
      if (kind === MINOR) minor++;
    }
  }).observe({ entryTypes: ['gc'] });

  process.on('SIGWINCH', () => {
    const now = performance.now();
    const gc = summarize(pauses);
    let total = 0;
    for (const ms of pauses) total += ms;
    // The histogram holds the time between two of its 10 ms ticks: the delay is what exceeds 10 ms.
    const ms = (ns) => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
    const report = {
      seq: ++seq,
      windowMs: Math.round(now - since),
      gc: { count: gc.n, minor, totalMs: Math.round(total * 100) / 100, p99Ms: gc.p99, maxMs: gc.max },
      loopDelay: loopDelay.count > 0 ? { p50Ms: ms(loopDelay.percentile(50)), p99Ms: ms(loopDelay.percentile(99)), maxMs: ms(loopDelay.max) } : null,
    };
    pauses = [];
    minor = 0;
    since = now;
    loopDelay.reset();
    const file = path.join(dir, `${process.pid}.json`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(report));
    fs.renameSync(`${file}.tmp`, file);
  });
}
