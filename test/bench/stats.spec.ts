/**
 * The benchmark's tail diagnostic (bench/lib/stats.js `worstWindow`): how much of a run's tail one
 * stall made. Its verdicts are read from the report, so its arithmetic is tested here.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { worstWindow } = require('../../bench/lib/stats') as {
  worstWindow(
    arrivals: ArrayLike<number>,
    values: ArrayLike<number>,
    threshold: number | null,
    windowMs?: number,
  ): { windowMs: number; tail: number; share: number | null; atMs: number | null };
};

describe('bench worstWindow', () => {
  // 100 chunks, one every 100 ms from t = 1,000 ms, each 1 ms late.
  const arrivals = Array.from({ length: 100 }, (_, i) => 1_000 + i * 100);
  const base = () => arrivals.map(() => 1);

  it('one stall: every tail chunk inside one window gives a share of 1, at that window', () => {
    const latency = base();
    // A stall 3.0–3.4 s in: five chunks 40 ms late.
    for (let i = 30; i < 35; i++) latency[i] = 40;
    expect(worstWindow(arrivals, latency, 40)).toEqual({ windowMs: 500, tail: 5, share: 1, atMs: 3_000 });
  });

  it('a tail spread over the run gives a small share', () => {
    const latency = base();
    for (const i of [5, 25, 45, 65, 85]) latency[i] = 40;
    expect(worstWindow(arrivals, latency, 40)).toMatchObject({ tail: 5, share: 0.2 });
  });

  it('counts chunks at the threshold, windows from the first arrival, and says nothing without samples', () => {
    const latency = base();
    latency[0] = 40;
    latency[99] = 39.9;
    expect(worstWindow(arrivals, latency, 40, 1_000)).toEqual({ windowMs: 1_000, tail: 1, share: 1, atMs: 0 });
    expect(worstWindow([], [], null)).toEqual({ windowMs: 500, tail: 0, share: null, atMs: null });
  });
});
