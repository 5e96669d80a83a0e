'use strict';
/** A run's artifacts: results.json (every figure of every repetition) and summary.md (what to read). */
const fs = require('node:fs');
const path = require('node:path');

function summary(run, phases) {
  const m = run.machine;
  const lines = [
    `# Benchmark run ${m.date}`,
    '',
    `${m.nproc} CPUs (${m.cpuModel}), kernel ${m.kernel}, node ${m.node}, load average ${m.loadAvg.join(' ')}; CPUs busy in the second before the run: ${Object.entries(m.busyPctBeforeRun).map(([c, v]) => `${c} ${v} %`).join(', ')}.`,
    run.pinned ? 'Relays pinned to CPU 1 (all threads); fake upstream, load client, orchestrator and redis-server on CPU 0.' : '**Not pinned** (--no-pin): relays and harness share every CPU; not comparable with pinned runs.',
    `Targets: direct, ${run.targets.map((t) => t.name).join(', ')}.`,
  ];
  for (const phase of phases) lines.push('', `## ${phase.title}`, '', ...phase.report(run.results[phase.name]));
  if (run.problems.length) lines.push('', '## Problems', '', ...run.problems.map((p) => `- ${p}`));
  return `${lines.join('\n')}\n`;
}

function writeResults(dir, run, phases) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify(run, null, 1)}\n`);
  fs.writeFileSync(path.join(dir, 'summary.md'), summary(run, phases));
}

module.exports = { writeResults, summary };
