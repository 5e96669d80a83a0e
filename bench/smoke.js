#!/usr/bin/env node
'use strict';
/**
 * Smoke test of the benchmark harness: a few-second end-to-end run (`run.js --smoke`) into a
 * temporary directory, then checks that every figure is there and nothing was lost.
 * Includes the gateway when dist/main.js exists (else direct + control only).
 *
 *   node bench/smoke.js [--gateway | --no-gateway] [--keep]     exit 0 = pass, 1 = fail
 *
 * From a test:  const { runSmoke } = require('../bench/smoke');
 *               const { json, problems } = await runSmoke();   // rejects on a failed run
 *               expect(problems).toEqual([]);
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const RUN = path.join(__dirname, 'run.js');
const GATEWAY_MAIN = path.join(__dirname, '..', 'dist', 'main.js');

/**
 * @param {{ gateway?: boolean | 'auto', timeoutMs?: number, keep?: boolean }} [options]
 * @returns {Promise<{ json: object, problems: string[], dir: string, output: string, gateway: boolean }>}
 */
function runSmoke({ gateway = 'auto', timeoutMs = 90_000, keep = false } = {}) {
  const withGateway = gateway === 'auto' ? fs.existsSync(GATEWAY_MAIN) : Boolean(gateway);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-bench-smoke-'));
  // gateway === true: run.js's default, which fails when dist/main.js is missing.
  const args = [RUN, '--smoke', '--out', dir];
  if (gateway !== true) args.push(withGateway ? '--gateway-if-built' : '--no-gateway');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGTERM'); // run.js kills its own children on SIGTERM
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const cleanup = () => {
        if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      };
      if (code !== 0) {
        cleanup();
        return reject(new Error(`bench --smoke failed (exit ${code}${signal ? `, ${signal}` : ''}):\n${output}`));
      }
      try {
        const json = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8'));
        const problems = check(json, dir, withGateway);
        cleanup();
        resolve({ json, problems, dir, output, gateway: withGateway });
      } catch (err) {
        cleanup();
        reject(new Error(`bench --smoke wrote no readable results: ${err.message}\n${output}`));
      }
    });
  });
}

/** Everything a full run reports must be present, sane, and loss-free at smoke load. */
function check(json, dir, withGateway) {
  const problems = [];
  const expect = (ok, what) => {
    if (!ok) problems.push(what);
  };
  const num = (v) => typeof v === 'number' && Number.isFinite(v);
  const targets = withGateway ? ['control', 'gateway'] : ['control'];

  for (const f of ['latest.md', 'latest.svg']) {
    const p = path.join(dir, f);
    expect(fs.existsSync(p) && fs.statSync(p).size > 200, `${f} missing or empty`);
  }
  const svg = fs.existsSync(path.join(dir, 'latest.svg')) ? fs.readFileSync(path.join(dir, 'latest.svg'), 'utf8') : '';
  expect(svg.startsWith('<svg') && svg.trim().endsWith('</svg>'), 'latest.svg is not an SVG document');
  expect(JSON.stringify(json.targets) === JSON.stringify(targets), `targets ${JSON.stringify(json.targets)}, expected ${JSON.stringify(targets)}`);
  expect(json.machine && json.machine.cores > 0 && typeof json.machine.node === 'string', 'machine info missing');

  const runOk = (label, c, withAdded) => {
    if (!c) return problems.push(`${label}: no result`);
    expect(c.chunks.expected > 0 && c.chunks.lost === 0, `${label}: ${c.chunks.lost} of ${c.chunks.expected} chunks lost`);
    expect(c.errorCount === 0 && c.streamsFailed === 0 && !c.timedOut, `${label}: errors ${JSON.stringify(c.errors)}, failed ${c.streamsFailed}, timedOut ${c.timedOut}`);
    expect(c.latencyMs.n === c.chunks.received && num(c.latencyMs.p50) && num(c.latencyMs.p99), `${label}: latency samples missing`);
    expect(c.latencyMs.p50 > -5 && c.latencyMs.p50 < 10_000, `${label}: latency p50 ${c.latencyMs.p50} ms is not plausible (clock problem?)`);
    expect(c.ttfbMs.n > 0 && num(c.ttfbMs.p50), `${label}: time to first chunk missing`);
    if (withAdded) expect(c.addedMs && num(c.addedMs.p99), `${label}: added latency missing`);
  };
  expect(Array.isArray(json.sweep) && json.sweep.length > 0, 'sweep missing');
  for (const row of json.sweep || []) {
    runOk(`sweep ${row.streams} direct`, row.direct, false);
    for (const t of targets) runOk(`sweep ${row.streams} ${t}`, row[t], true);
  }
  for (const t of targets) {
    if (json.multiplex && json.multiplex.direct) runOk(`multiplex ${t}`, json.multiplex[t], true);
    const s = json.summary && json.summary[t];
    if (!s) {
      problems.push(`summary for ${t} missing`);
      continue;
    }
    expect(num(s.cpuSecPer1000ChunksBurst) && s.cpuSecPer1000ChunksBurst >= 0, `${t}: CPU per 1,000 chunks missing`);
    expect(num(s.kibPerIdleConnection), `${t}: RSS per idle connection missing`);
    expect(num(s.kibPerActiveStream), `${t}: RSS per active stream missing`);
    expect(num(s.peakRssKiB) && s.peakRssKiB > 0, `${t}: peak RSS missing`);
    expect(num(s.addedTtfbP50Ms), `${t}: added time to first chunk missing`);
    expect(json.idle[t] && json.idle[t].connectFailed === 0 && json.idle[t].sockets === json.config.idle, `${t}: idle sockets did not all open`);
  }
  if (withGateway) {
    // Six classic targets, one tail target per moderate level and the paced CPU one.
    const moderate = (json.repeated && json.repeated.moderate) || [];
    expect(Array.isArray(json.goals) && json.goals.length === 6 + moderate.length + 1, 'target evaluation missing');
    const rc = json.repeated && json.repeated.resumeCost;
    const levels = [...moderate.map((level) => [`moderate ${level.streams}`, level]), ['paced key load', rc]];
    for (const [label, level] of levels) {
      if (!level) {
        problems.push(`${label}: missing`);
        continue;
      }
      for (const name of Object.keys(json.relays || {})) {
        const r = level.relays[name];
        if (!r) {
          problems.push(`${label} ${name}: no result`);
          continue;
        }
        expect(r.lost === 0 && r.errors === 0, `${label} ${name}: ${r.lost} lost, ${r.errors} errors`);
        expect(num(r.addedMs.p99) && num(r.cpuSecPer1000Chunks), `${label} ${name}: added latency or CPU missing`);
        expect(r.tailInWorstWindowPerRep.every((share) => share > 0 && share <= 1), `${label} ${name}: tail-in-worst-window share missing`);
        // Every repetition's relay probe answered (bench/lib/relay-probe.js).
        const p = r.pauses;
        expect(p && p.reps === level.reps && num(p.gcCount) && num(p.gcMsPer1000Chunks) && num(p.loopDelayP99Ms) && num(p.loopDelayMaxMs), `${label} ${name}: GC pauses or event-loop delay missing (${JSON.stringify(p)})`);
        if (json.relays[name].redis) expect(num(r.redisCommandsPerChunk) && r.redisCommandsPerChunk > 0, `${label} ${name}: Redis commands not counted`);
      }
    }
  }
  return problems;
}

module.exports = { runSmoke, check };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const gateway = argv.includes('--gateway') ? true : argv.includes('--no-gateway') ? false : 'auto';
  const started = Date.now();
  runSmoke({ gateway, keep: argv.includes('--keep') }).then(
    ({ problems, dir, gateway: g, json }) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (problems.length) {
        process.stderr.write(`bench smoke: FAIL (${secs} s)\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
        process.exit(1);
      }
      process.stdout.write(
        `bench smoke: ok in ${secs} s (${g ? 'direct + control + gateway' : 'direct + control; gateway not built'}; ${json.sweep.length} levels)${argv.includes('--keep') ? `, results in ${dir}` : ''}\n`,
      );
    },
    (err) => {
      process.stderr.write(`bench smoke: FAIL\n${err.message}\n`);
      process.exit(1);
    },
  );
}
