import { spawnSync } from 'node:child_process';

/**
 * For tests that need something outside npm (a binary such as `promtool`, a Redis server, a
 * browser). When it is missing, the test must neither fail on a developer's machine that lacks it
 * nor pass silently in CI, where its absence is a broken setup:
 *
 * - available → returns true: run the check;
 * - missing, `envVar` not set to `1` → logs a loud `SKIPPED: …` warning and returns false: the
 *   caller returns early and the test passes without having checked anything;
 * - missing, `envVar=1` (CI sets it) → throws, so the test fails.
 *
 * @example
 * it('the rules pass promtool', () => {
 *   if (!requireTool('promtool', hasCommand('promtool'), 'REQUIRE_PROMTOOL')) return;
 *   …
 * });
 */
export function requireTool(name: string, available: boolean, envVar: string): boolean {
  if (available) return true;
  const what = `${name} is not available`;
  if (process.env[envVar] === '1') throw new Error(`${what}, and ${envVar}=1 requires it`);
  console.warn(`SKIPPED: ${what}; this check did not run (set ${envVar}=1 to make its absence fail the test)`);
  return false;
}

/** Whether `command` can be run from PATH (it exits, whatever its status, when given `args`). */
export function hasCommand(command: string, args: string[] = ['--version']): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 });
  return result.error === undefined;
}
