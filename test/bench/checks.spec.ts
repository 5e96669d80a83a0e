/**
 * The benchmark's own checks (each phase's check(), bench/smoke.js's check()) are what makes the
 * smoke test able to fail: a broken pipeline must produce problems, not a run that "passes" with
 * figures missing. Fed here with a run that is whole, then broken one way at a time.
 */
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
const steady = require('../../bench/phases/steady') as { check(res: any, ctx: any): string[]; pairsFor(names: string[], ab: any[]): any[] };
const { comparisons, byRep } = require('../../bench/lib/summary') as { comparisons(reps: any[], pairs: any[]): any[]; byRep(runs: any[], reps: number): any[] };
const { check: smokeCheck } = require('../../bench/smoke') as { check(json: any): string[] };

const NAMES = ['direct', 'control', 'bare', 'gateway', 'gateway+redis'];

function run(name: string, rep: number): any {
  const relay = name === 'direct' ? undefined : { cpuMsPerChunk: 0.1 + NAMES.indexOf(name) / 100, syscwPerChunk: 1, pauses: { gc: { totalMs: 1, maxMs: 1 }, loopDelay: { p99Ms: 1 } } };
  const redis = name === 'gateway+redis' ? { commandsPerChunk: 0.5, cpuMsPerChunk: 0.01 } : undefined;
  return { name, rep, chunks: { expected: 100, received: 100, lost: 0 }, errors: 0, wireBytesPerToken: 300, latencyMs: { p99: 10 + rep }, relay, redis };
}

function whole(): any {
  const runs = [0, 1].flatMap((rep) => NAMES.map((n) => run(n, rep)));
  return { reps: 2, order: NAMES, runs, comparisons: comparisons(byRep(runs, 2), steady.pairsFor(NAMES, [])) };
}
const ctx = { ab: [], redisNames: ['gateway+redis'] };
const problems = (res: any) => steady.check(res, ctx);

describe('bench checks', () => {
  it('find nothing wrong with a whole run', () => {
    expect(problems(whole())).toEqual([]);
  });

  it('fail a run whose relay delivered no chunks, lost some, or whose probe did not answer', () => {
    const res = whole();
    res.runs[1].chunks = { expected: 100, received: 0, lost: 100 };
    res.runs[2].relay.pauses = null;
    expect(problems(res)).toEqual(['steady #1 control: 0 chunks, 100 lost, 0 errors', "steady #1 bare: the relay's probe did not answer"]);
  });

  it('fail a run without write syscalls, bytes on the wire or Redis commands', () => {
    const res = whole();
    res.runs[3].relay.syscwPerChunk = 0;
    res.runs[0].wireBytesPerToken = null;
    res.runs[4].redis = undefined;
    expect(problems(res)).toEqual(['steady #1 direct: no bytes on the wire counted', 'steady #1 gateway: no write syscalls counted', 'steady #1 gateway+redis: no Redis commands counted']);
  });

  it('fail a run where a comparison has no value (a relay that used no CPU)', () => {
    const runs = whole().runs.map((r: any) => (r.name === 'bare' ? { ...r, relay: { ...r.relay, cpuMsPerChunk: 0 } } : r));
    const cs = comparisons(byRep(runs, 2), steady.pairsFor(NAMES, []));
    expect(cs.find((c) => c.label.startsWith('gateway ÷ bare')).median).toBeNull();
    expect(problems({ ...whole(), runs, comparisons: cs })).toEqual(['steady: 8 of 8 comparisons, some without a value']);
  });

  it('smoke: fail a run that left out a target, a phase or a repetition', () => {
    const json = { targets: ['control', 'gateway', 'gateway+redis'].map((name) => ({ name })), results: { steady: whole() }, problems: ['from the run'], machine: { nproc: 2 }, pinned: true };
    json.results.steady.runs.pop();
    const found = smokeCheck(json);
    expect(found[0]).toBe('from the run');
    expect(found).toContain('targets ["control","gateway","gateway+redis"], expected ["control","bare","gateway","gateway+redis","gateway-text","gateway-deflate","gateway+cluster","gateway+redis@50/s","gateway+redis2","gateway+redis2@50/s"]');
    // No gateway-text figures: its compact frames' bytes per token are not shown to be small.
    expect(found).toContain("gateway-text: undefined bytes per token, not under half the gateway's undefined");
    expect(found).toContain('phase levels: no results');
    expect(found).toContain('steady gateway+redis: 1 runs, expected one per repetition');
  });
});
