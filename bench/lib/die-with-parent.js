'use strict';
/**
 * Preloaded (`node -r`) into every process the benchmark starts, including the gateway: when the
 * orchestrator dies without cleaning up (SIGKILL, crash), the child notices that it has been
 * re-parented and exits, so no server is left holding ports. One unref'd 500 ms timer; it never
 * keeps a process alive and costs nothing measurable.
 */
const parent = process.ppid;
if (parent > 1) {
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 500);
  timer.unref();
}
