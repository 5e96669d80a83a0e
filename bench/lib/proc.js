'use strict';
/**
 * What the kernel knows about a process, from /proc (Linux only): CPU time (utime + stime, 10 ms
 * ticks), write system calls (`syscw` in /proc/<pid>/io: a figure no other tenant can disturb),
 * memory, CPU affinity of every thread, and per-CPU busy / steal time from /proc/stat.
 */
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

let clkTck;
/** Clock ticks per second (`getconf CLK_TCK`; Linux's 100 when getconf is absent). */
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

/** { ticks, cpuSec }: user + system time of the whole process (threads included, children not). */
function readCpu(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces: split after its closing parenthesis; utime is field 14, stime 15.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return { ticks, cpuSec: ticks / clockTicks() };
}

/** { syscw, wchar }: write-family system calls and bytes written, over the process's life. */
function readIo(pid) {
  const text = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)[1]);
  return { syscw: field('syscw'), wchar: field('wchar') };
}

/** { rssKiB, hwmKiB } from /proc/<pid>/status. */
function readMem(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text) || [])[1]) || null;
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** The distinct CPU lists the threads of `pid` may run on, e.g. ['1'] for a process pinned whole. */
function threadAffinity(pid) {
  const lists = new Set();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      lists.add(/^Cpus_allowed_list:\s*(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))[1]);
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return [...lists];
}

/** Per CPU ('cpu' = all of them, 'cpu0', 'cpu1', …): { total, idle, steal } jiffies since boot. */
function readCpuTimes() {
  const out = {};
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const [name, ...v] = line.trim().split(/\s+/);
    const n = v.map(Number);
    out[name] = { total: n.reduce((a, b) => a + b, 0), idle: n[3] + (n[4] || 0), steal: n[7] || 0 };
  }
  return out;
}

/** { busyPct, stealPct } of one CPU between two readCpuTimes() samples (100 = the whole CPU). */
function cpuBusy(before, after, name) {
  const [a, b] = [before[name], after[name]];
  const total = Math.max(1, b.total - a.total);
  return { busyPct: (100 * (total - (b.idle - a.idle))) / total, stealPct: (100 * (b.steal - a.steal)) / total };
}

module.exports = { clockTicks, readCpu, readIo, readMem, threadAffinity, readCpuTimes, cpuBusy };
