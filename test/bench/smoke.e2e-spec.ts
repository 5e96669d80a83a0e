/**
 * A few-second run of every benchmark phase (bench/run.js --smoke) against the built gateway, with
 * the private Redis: the harness keeps working end to end, every figure is produced (CPU, write
 * syscalls, bytes on the wire, Redis commands, relay probes, every comparison) and nothing is lost.
 * The benchmark itself (`npm run bench`) is not part of the tests: its figures are ratios only a
 * pinned, repeated run can decide (docs/performance.md).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runSmoke } = require('../../bench/smoke') as {
  runSmoke(options?: { timeoutMs?: number }): Promise<{ problems: string[]; json: { targets: { name: string }[]; results: Record<string, unknown> } }>;
};

describe('benchmark smoke run (e2e)', () => {
  it('runs direct, the naive and bare relays and every gateway target (in-memory, Redis, compact frames, deflate, Cluster, 50 chunks/s) through every phase, with every figure present and 0 chunks lost', async () => {
    // Eight targets (a private Redis Cluster among them) on a loaded CI machine: more than the default.
    const { problems, json } = await runSmoke({ timeoutMs: 230_000 });
    expect(json.targets.map((t) => t.name)).toEqual(['control', 'bare', 'gateway', 'gateway+redis', 'gateway-text', 'gateway-deflate', 'gateway+cluster', 'gateway+redis@50/s', 'gateway+redis2', 'gateway+redis2@50/s']);
    expect(Object.keys(json.results)).toEqual(['steady', 'levels', 'idle', 'burst', 'ttfc']);
    expect(problems).toEqual([]);
  }, 250_000);
});
