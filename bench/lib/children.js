'use strict';
/**
 * Every process the benchmark starts: spawned with die-with-parent preloaded (node) or under the
 * guard (redis-server), remembered, and killed when the orchestrator exits, fails or is signalled,
 * so no run leaves a server behind. Relays are pinned to the CPU under test here too.
 */
const path = require('node:path');
const readline = require('node:readline');
const { spawn, spawnSync } = require('node:child_process');
const { threadAffinity } = require('./proc');

const BENCH_DIR = path.join(__dirname, '..');
const ROOT = path.join(BENCH_DIR, '..');
const DIE_WITH_PARENT = path.join(__dirname, 'die-with-parent.js');
const GUARD = path.join(__dirname, 'guard.js');
const children = new Set();

function killAll() {
  // A guard is asked to stop (it then stops its program); SIGKILLed, it would leave the program behind.
  for (const c of children) c.kill(c.guard ? 'SIGTERM' : 'SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping every child process\n`);
    killAll();
    process.exit(130);
  });
}

/** Remembers a child and keeps its last 60 output lines for error messages. */
function track(name, child) {
  children.add(child);
  Object.assign(child, { name, tail: [] });
  const keep = (line) => child.tail.push(line) > 60 && child.tail.shift();
  if (child.stderr) readline.createInterface({ input: child.stderr }).on('line', keep);
  child.exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve((child.exitInfo = { code, signal }));
    }),
  );
  child.on('error', (err) => keep(`spawn error: ${err.message}`));
  return child;
}

const tailText = (child) => (child.tail.length ? `\n--- last output of ${child.name} ---\n${child.tail.join('\n')}` : '');

/**
 * Pins `pid` and all its threads to `cpu` (`taskset -a -cp`), then checks that every thread is
 * pinned there: a relay that ran a thread elsewhere would hide part of its cost.
 */
function pin(pid, cpu) {
  const r = spawnSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`taskset -a -cp ${cpu} ${pid} failed: ${r.error ? r.error.message : r.stderr}`);
  const lists = threadAffinity(pid);
  if (lists.length !== 1 || lists[0] !== String(cpu)) throw new Error(`pid ${pid}: threads allowed on CPUs ${lists.join(' | ')}, not ${cpu} alone`);
}

/**
 * A node process. `cpu`: started under `taskset -c cpu` (every thread is born there) and pinned
 * again whole once running; without it the child inherits the orchestrator's CPU (the harness's).
 */
function startNode(name, args, { env = process.env, nodeArgs = [], cpu = null } = {}) {
  const argv = [...nodeArgs, '-r', DIE_WITH_PARENT, ...args];
  const child = cpu === null ? spawn(process.execPath, argv, { cwd: ROOT, env, stdio: 'pipe' }) : spawn('taskset', ['-c', String(cpu), process.execPath, ...argv], { cwd: ROOT, env, stdio: 'pipe' });
  track(name, child);
  if (cpu !== null) child.cpu = cpu;
  return child;
}

/** A program that cannot watch its parent, under lib/guard.js, which does. */
function startGuarded(name, program, args) {
  const child = track(name, spawn(process.execPath, ['-r', DIE_WITH_PARENT, GUARD, program, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }));
  child.guard = true;
  return child;
}

/** A bench server script that prints {"port": N} on stdout once listening. */
async function startServer(name, script, { env, nodeArgs, cpu } = {}) {
  const child = startNode(name, [path.join(BENCH_DIR, script)], { env: { ...process.env, ...env }, nodeArgs, cpu });
  const lines = readline.createInterface({ input: child.stdout });
  child.port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not report its port within 10 s${tailText(child)}`)), 10_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const port = Number((/"port":(\d+)/.exec(line) || [])[1]);
      return port ? resolve(port) : reject(new Error(`${name} printed ${line} instead of its port${tailText(child)}`));
    });
    child.exited.then((info) => reject(new Error(`${name} exited (${JSON.stringify(info)})${tailText(child)}`)));
  });
  if (cpu !== undefined && cpu !== null) pin(child.pid, cpu);
  return child;
}

async function stopProcess(child, graceMs = 3000) {
  if (!child || child.exitInfo) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Fails unless `taskset` works and CPU `cpu` exists: the pinned comparison means nothing without them. */
function requirePinning(cpu) {
  const r = spawnSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
  if (r.error) throw new Error('taskset (util-linux) is not installed: the benchmark pins its processes with it (apt-get install util-linux), or pass --no-pin');
  const cpus = require('node:os').availableParallelism();
  if (cpus <= cpu) throw new Error(`the benchmark pins relays to CPU ${cpu} and the harness to CPU 0: this machine has ${cpus} CPU(s) (--no-pin runs unpinned)`);
}

module.exports = { ROOT, BENCH_DIR, track, tailText, pin, startNode, startGuarded, startServer, stopProcess, requirePinning, killAll };
