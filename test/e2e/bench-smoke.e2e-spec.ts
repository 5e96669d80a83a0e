/**
 * A few-second run of the load benchmark (bench/run.js --smoke) against the built gateway: the
 * harness itself keeps working, every figure is produced and nothing is lost. The real benchmark
 * (`npm run bench`) is not part of the tests: its figures are only meaningful as ratios within
 * one run on a quiet machine.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runSmoke } = require('../../bench/smoke') as {
  runSmoke(options: { gateway: boolean }): Promise<{ problems: string[]; gateway: boolean }>;
};

describe('benchmark smoke run (e2e)', () => {
  it('runs direct, control and gateway end to end with every figure present and 0 chunks lost', async () => {
    const { problems, gateway } = await runSmoke({ gateway: true });
    expect(gateway).toBe(true);
    expect(problems).toEqual([]);
  }, 120_000);
});
