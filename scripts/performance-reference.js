#!/usr/bin/env node
/**
 * `npm run docs:performance` — the "Latest run" section of docs/performance.md and the sizing
 * section of docs/operations.md (bench/lib/capacity-model.js), from a run:
 *
 *   npm run docs:performance -- --from bench/results/<time>/results.json [--command "…"] [--note "…"]…
 *       reduce that run to docs/performance-run.json (committed), then render the sections
 *   npm run docs:performance
 *       render the sections again from docs/performance-run.json
 *   npm run docs:performance -- --check
 *       write nothing; exit 1 when either page is stale
 *
 * Figures are never typed into the pages: test/docs/performance-reference.spec.ts fails when one
 * differs from its render.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { summarise, renderPage } = require('../bench/lib/performance-reference');
const { renderSizingPage } = require('../bench/lib/capacity-model');

const ROOT = path.join(__dirname, '..');
const RUN = path.join(ROOT, 'docs', 'performance-run.json');
const PAGE = path.join(ROOT, 'docs', 'performance.md');
/** Its sizing section (the capacity model) is rendered from the same run. */
const OPERATIONS = path.join(ROOT, 'docs', 'operations.md');

const args = process.argv.slice(2);
const values = (flag) => args.flatMap((a, i) => (a === flag && args[i + 1] !== undefined ? [args[i + 1]] : []));
const [from] = values('--from');

if (from) {
  const results = JSON.parse(fs.readFileSync(path.resolve(from), 'utf8'));
  const run = summarise(results, { command: values('--command')[0], notes: values('--note') });
  fs.writeFileSync(RUN, `${JSON.stringify(run, null, 2)}\n`);
  process.stdout.write(`wrote ${path.relative(ROOT, RUN)} from ${from}\n`);
}
const run = JSON.parse(fs.readFileSync(RUN, 'utf8'));
const pages = [
  [PAGE, renderPage],
  [OPERATIONS, renderSizingPage],
];
let stale = false;
for (const [file, render] of pages) {
  const page = fs.readFileSync(file, 'utf8');
  const rendered = render(page, run);
  const name = path.relative(ROOT, file);
  if (args.includes('--check')) {
    if (rendered !== page) {
      process.stderr.write(`${name} differs from docs/performance-run.json: run \`npm run docs:performance\`\n`);
      stale = true;
    }
  } else {
    fs.writeFileSync(file, rendered);
    process.stdout.write(`wrote ${name}\n`);
  }
}
if (stale) process.exit(1);
