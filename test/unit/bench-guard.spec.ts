/**
 * The benchmark's guard (bench/lib/guard.js): a program that cannot watch its parent (the private
 * redis-server) must not outlive a benchmark that was killed. Real processes: a stand-in for the
 * orchestrator starts the guard the way bench/run.js does, with `sleep` as the program, and is
 * SIGKILLed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

const BENCH_LIB = path.join(__dirname, '..', '..', 'bench', 'lib');
const DIE_WITH_PARENT = path.join(BENCH_LIB, 'die-with-parent.js');
const GUARD = path.join(BENCH_LIB, 'guard.js');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Polls `check` until it holds or `ms` pass: process exits have no event to wait on from here. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

/** The pid of `parent`'s one child, once it has started. */
async function childOf(parent: number): Promise<number> {
  let pid = 0;
  const found = await eventually(() => {
    pid = Number(spawnSync('pgrep', ['-P', String(parent)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
    return pid > 0;
  }, 5_000);
  if (!found) throw new Error(`no child of ${parent}`);
  return pid;
}

describe('bench guard', () => {
  const hasPgrep = spawnSync('pgrep', ['--version']).status === 0;
  const maybe = hasPgrep ? it : it.skip;
  /** Everything a test started, killed after it whatever happened (a failed test must not leave a process holding jest open). */
  const started: number[] = [];
  afterEach(() => {
    for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  maybe('stops its program when the orchestrator is killed without cleaning up', async () => {
    // The stand-in orchestrator: starts the guard as bench/run.js does, prints the guard's pid, waits.
    const script = `const c = require('node:child_process').spawn(process.execPath, ['-r', ${JSON.stringify(DIE_WITH_PARENT)}, ${JSON.stringify(GUARD)}, 'sleep', '60'], { stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1000);`;
    const orchestrator = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(orchestrator.pid!);
    const [line] = (await once(createInterface({ input: orchestrator.stdout! }), 'line')) as [string];
    const guard = Number(line);
    started.push(guard);
    const program = await childOf(guard);
    started.push(program);
    expect(alive(program)).toBe(true);

    orchestrator.kill('SIGKILL');
    // die-with-parent looks every 500 ms; the guard then kills the program on its way out.
    expect(await eventually(() => !alive(guard) && !alive(program), 5_000)).toBe(true);
  });

  maybe('passes SIGTERM on to its program and exits with it', async () => {
    const guard = spawn(process.execPath, [GUARD, 'sleep', '60'], { stdio: 'ignore' });
    started.push(guard.pid!);
    const program = await childOf(guard.pid!);
    started.push(program);
    const exited = once(guard, 'exit');
    guard.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(1); // sleep died of SIGTERM: a signal, not a clean exit
    expect(await eventually(() => !alive(program), 2_000)).toBe(true);
  });
});
