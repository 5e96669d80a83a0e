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

module.exports = { Samples, pct, summarize, round3 };
