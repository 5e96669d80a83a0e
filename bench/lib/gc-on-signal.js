'use strict';
/**
 * Preloaded into the relays under test (gateway and control alike), which run with --expose-gc:
 * SIGUSR2 makes the process run a full garbage collection. The orchestrator uses it right before
 * the RSS samples of the memory figures, so they measure what the process keeps alive rather than
 * how much garbage happened to be pending at that moment. It does nothing else. (The handler is
 * installed even without --expose-gc, so the signal can never terminate the process.)
 */
process.on('SIGUSR2', () => {
  if (typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
});
