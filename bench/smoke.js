#!/usr/bin/env node
'use strict';
/**
 * The benchmark's smoke test: `run.js --smoke` (every phase at a tiny load, ~30 s) into a temporary
 * directory. It passes only when the run wrote its results and neither the run's own checks (every
 * phase's check(): chunks arrived, none lost, probes answered, syscalls, bytes and Redis commands
 * counted, every comparison has a value) nor the ones below found a problem.
 *
 *   node bench/smoke.js [--keep]          exit 0 = pass, 1 = fail
 *   const { runSmoke } = require('../bench/smoke'); const { problems } = await runSmoke();
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { PHASES } = require('./phases');

const RUN = path.join(__dirname, 'run.js');
const TARGETS = ['control', 'bare', 'gateway', 'gateway+redis', 'gateway-text', 'gateway-deflate', 'gateway+cluster', 'gateway+redis@50/s', 'gateway+redis2', 'gateway+redis2@50/s'];

/** What the run's own checks cannot see: that every phase ran and every target took part. */
function check(json) {
  const problems = [...(json.problems || [])];
  const names = (json.targets || []).map((t) => t.name);
  if (JSON.stringify(names) !== JSON.stringify(TARGETS)) problems.push(`targets ${JSON.stringify(names)}, expected ${JSON.stringify(TARGETS)}`);
  for (const p of PHASES) if (!json.results || !json.results[p.name]) problems.push(`phase ${p.name}: no results`);
  const steady = json.results && json.results.steady;
  for (const name of ['direct', ...TARGETS]) {
    const n = steady ? steady.runs.filter((r) => r.name === name).length : 0;
    if (!steady || n !== steady.reps) problems.push(`steady ${name}: ${n} runs, expected one per repetition`);
  }
  // Compact frames must be what gateway-text measured: far fewer bytes per token than JSON frames.
  const targets = (steady && steady.targets) || {};
  const bytes = (name) => targets[name] && targets[name].wireBytesPerToken && targets[name].wireBytesPerToken.median;
  if (steady && !(bytes('gateway-text') < bytes('gateway') / 2)) problems.push(`gateway-text: ${bytes('gateway-text')} bytes per token, not under half the gateway's ${bytes('gateway')}`);
  if (json.pinned && !(json.machine.nproc >= 2)) problems.push('pinned on a machine of fewer than 2 CPUs');
  return problems;
}

/** @returns {Promise<{ json: object, problems: string[], output: string }>}, rejected when the run wrote no results. */
function runSmoke({ timeoutMs = 110_000, keep = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-bench-smoke-'));
  // Pinning needs a second CPU; without one the smoke test still proves the pipeline, unpinned.
  const args = [RUN, '--smoke', '--quiet', '--out', dir, ...(os.cpus().length < 2 ? ['--no-pin'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs); // run.js kills its children on SIGTERM
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      let json = null;
      try {
        json = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
      } catch {
        /* reported below */
      }
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      if (!json) return reject(new Error(`bench --smoke wrote no results (exit ${code}${signal ? `, ${signal}` : ''}):\n${output}`));
      const problems = check(json);
      if (code !== 0 && problems.length === 0) problems.push(`run.js exited ${code}: ${output.slice(-2000)}`);
      resolve({ json, problems, output, dir });
    });
  });
}

module.exports = { runSmoke, check };

if (require.main === module) {
  const started = Date.now();
  runSmoke({ keep: process.argv.includes('--keep') }).then(
    ({ problems, dir }) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (problems.length) {
        process.stderr.write(`bench smoke: FAIL (${secs} s)\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
        process.exit(1);
      }
      process.stdout.write(`bench smoke: ok in ${secs} s${process.argv.includes('--keep') ? `, results in ${dir}` : ''}\n`);
    },
    (err) => {
      process.stderr.write(`bench smoke: FAIL\n${err.message}\n`);
      process.exit(1);
    },
  );
}
