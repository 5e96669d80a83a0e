'use strict';
/**
 * Exact percentiles over every sample (no histogram approximation): samples live in a growable
 * Float64Array, so a run of a few hundred thousand chunks costs a few MB and one typed-array sort.
 */

class Samples {
  constructor(initial = 1024) {
    this.buf = new Float64Array(initial);
    this.n = 0;
  }

  push(v) {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }

  values() {
    return this.buf.subarray(0, this.n);
  }
}

/** Nearest-rank percentile over a sorted array. */
function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[idx];
}

const round3 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 1000) / 1000);

/** { n, p50, p90, p99, p999, max, mean } in the samples' unit, rounded to 3 decimals. */
function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { n: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return {
    n,
    p50: round3(pct(sorted, 0.5)),
    p90: round3(pct(sorted, 0.9)),
    p99: round3(pct(sorted, 0.99)),
    p999: round3(pct(sorted, 0.999)),
    max: round3(sorted[n - 1]),
    mean: round3(sum / n),
  };
}

/**
 * How much of a run's tail one stall made: of the samples at or above `threshold` (the run's p99),
 * the share that arrived within the worst `windowMs` window, and when (ms after the first arrival).
 * A share near 1 means one stall set that run's p99, whatever the relay's behaviour the rest of it.
 */
function worstWindow(arrivals, values, threshold, windowMs = 500) {
  if (threshold === null || values.length === 0) return { windowMs, tail: 0, share: null, atMs: null };
  let first = Infinity;
  for (let i = 0; i < arrivals.length; i++) if (arrivals[i] < first) first = arrivals[i];
  const counts = new Map();
  let tail = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < threshold) continue;
    tail++;
    const w = Math.floor((arrivals[i] - first) / windowMs);
    counts.set(w, (counts.get(w) || 0) + 1);
  }
  let worst = 0;
  let at = null;
  for (const [w, n] of counts) if (n > worst) [worst, at] = [n, w];
  return { windowMs, tail, share: tail ? round3(worst / tail) : null, atMs: at === null ? null : at * windowMs };
}

module.exports = { Samples, pct, summarize, round3, worstWindow };
