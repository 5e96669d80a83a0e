'use strict';
/**
 * Runs a program that cannot watch its parent (redis-server) under a process that does:
 *
 *   node -r lib/die-with-parent.js lib/guard.js <program> [args…]
 *
 * When the orchestrator dies without cleaning up (SIGKILL, crash), die-with-parent makes this
 * process exit, and it takes the program with it, so no server is left holding a port. SIGTERM,
 * SIGINT and SIGHUP are passed on to the program; it exits when the program does, with its code.
 */
const { spawn } = require('node:child_process');

const [program, ...args] = process.argv.slice(2);
const child = spawn(program, args, { stdio: 'inherit' });
process.on('exit', () => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
child.on('error', (error) => {
  process.stderr.write(`${program}: ${error.message}\n`);
  process.exit(127);
});
