'use strict';
/**
 * Process figures from /proc (Linux only): CPU seconds (utime + stime) from /proc/<pid>/stat and
 * resident memory (VmRSS, VmHWM = peak RSS) from /proc/<pid>/status.
 *
 *   node bench/proc-stats.js <pid> [intervalMs]   prints one JSON line per sample
 */
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

let clkTck;
/** Clock ticks per second, from `getconf CLK_TCK`; 100 (the Linux default) if getconf is absent. */
function clockTicks() {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      clkTck = NaN;
    }
    if (!Number.isInteger(clkTck) || clkTck <= 0) clkTck = 100;
  }
  return clkTck;
}

/** { utime, stime, cpuSec } for a pid (user + system time, children not included). */
function readCpu(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const hz = clockTicks();
  return { utime, stime, cpuSec: (utime + stime) / hz };
}

/** { rssKiB, hwmKiB, threads } from /proc/<pid>/status. */
function readMem(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM'), threads: field('Threads') };
}

/** One sample: CPU and memory, with a monotonic timestamp. */
function sample(pid) {
  return { t: performance.now(), ...readCpu(pid), ...readMem(pid) };
}

/**
 * Samples RSS every `intervalMs` until stop(); returns { maxRssKiB, samples }.
 * VmHWM is the lifetime peak; this gives the peak within one window.
 */
function rssSampler(pid, intervalMs = 50) {
  let maxRssKiB = 0;
  let samples = 0;
  const tick = () => {
    try {
      const { rssKiB } = readMem(pid);
      if (rssKiB > maxRssKiB) maxRssKiB = rssKiB;
      samples++;
    } catch {
      /* process gone */
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return { maxRssKiB, samples };
    },
  };
}

/** Linux /proc/stat aggregate: total and idle jiffies (for whole-machine CPU use in a window). */
function readMachineCpu() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] || 0);
  const total = line.reduce((a, b) => a + b, 0);
  return { total, idle };
}

module.exports = { clockTicks, readCpu, readMem, sample, rssSampler, readMachineCpu };

if (require.main === module) {
  const pid = Number(process.argv[2]);
  const interval = Number(process.argv[3] || 1000);
  if (!pid) {
    console.error('usage: node bench/proc-stats.js <pid> [intervalMs]');
    process.exit(2);
  }
  const print = () => {
    try {
      console.log(JSON.stringify({ pid, clkTck: clockTicks(), ...sample(pid) }));
    } catch (err) {
      console.error(`pid ${pid}: ${err.message}`);
      process.exit(1);
    }
  };
  print();
  setInterval(print, interval);
}
