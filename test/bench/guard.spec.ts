/**
 * The benchmark's guard (bench/lib/guard.js): a program that cannot watch its parent (the private
 * redis-server) must not outlive a benchmark that was killed. Real processes: a stand-in for the
 * orchestrator starts the guard the way bench/lib/children.js does, with a node one-liner that prints its
 * pid and waits as the program, and is SIGKILLed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

const BENCH_LIB = path.join(__dirname, '..', '..', 'bench', 'lib');
const DIE_WITH_PARENT = path.join(BENCH_LIB, 'die-with-parent.js');
const GUARD = path.join(BENCH_LIB, 'guard.js');
/** The guarded program: prints its pid, then waits to be stopped. */
const PROGRAM = [process.execPath, '-e', 'console.log(process.pid); setInterval(() => {}, 1000);'];

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Polls `check` until it holds or `ms` pass: another process's exit has no event to wait on from here. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

/** The pids printed on `output`, one per line, as they come. */
function pidsFrom(output: Readable): () => Promise<number> {
  const lines = createInterface({ input: output })[Symbol.asyncIterator]();
  return async () => Number((await lines.next()).value);
}

describe('bench guard', () => {
  /** Everything a test started, killed after it whatever happened (a failed test must not leave a process holding jest open). */
  const started: number[] = [];
  afterEach(() => {
    for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('stops its program when the orchestrator is killed without cleaning up', async () => {
    // The stand-in orchestrator: starts the guard as bench/lib/children.js does, prints the guard's pid, waits;
    // the program's own line (its pid) follows on the same output.
    const script = `const c = require('node:child_process').spawn(process.execPath, ['-r', ${JSON.stringify(DIE_WITH_PARENT)}, ${JSON.stringify(GUARD)}, ...${JSON.stringify(PROGRAM)}], { stdio: ['ignore', 'inherit', 'inherit'] }); console.log(c.pid); setInterval(() => {}, 1000);`;
    const orchestrator = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(orchestrator.pid!);
    const nextPid = pidsFrom(orchestrator.stdout!);
    const guard = await nextPid();
    started.push(guard);
    const program = await nextPid();
    started.push(program);
    expect(alive(program)).toBe(true);

    orchestrator.kill('SIGKILL');
    // die-with-parent looks every 500 ms; the guard then kills the program on its way out.
    expect(await eventually(() => !alive(guard) && !alive(program), 5_000)).toBe(true);
  });

  it('passes SIGTERM on to its program and exits with it', async () => {
    const guard = spawn(process.execPath, [GUARD, ...PROGRAM], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(guard.pid!);
    const program = await pidsFrom(guard.stdout!)();
    started.push(program);
    const exited = once(guard, 'exit');
    guard.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(1); // the program died of SIGTERM: a signal, not a clean exit
    expect(await eventually(() => !alive(program), 2_000)).toBe(true);
  });
});
