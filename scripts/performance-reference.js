#!/usr/bin/env node
/**
 * `npm run docs:performance` — the "Latest run" section of docs/performance.md, from a run:
 *
 *   npm run docs:performance -- --from bench/results/<time>/results.json [--command "…"] [--note "…"]…
 *       reduce that run to docs/performance-run.json (committed), then render the section
 *   npm run docs:performance
 *       render the section again from docs/performance-run.json
 *   npm run docs:performance -- --check
 *       write nothing; exit 1 when docs/performance.md is stale
 *
 * Figures are never typed into the page: test/docs/performance-reference.spec.ts fails when it
 * differs from the render.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { summarise, renderPage } = require('../bench/lib/performance-reference');

const ROOT = path.join(__dirname, '..');
const RUN = path.join(ROOT, 'docs', 'performance-run.json');
const PAGE = path.join(ROOT, 'docs', 'performance.md');

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
const page = fs.readFileSync(PAGE, 'utf8');
const rendered = renderPage(page, run);
if (args.includes('--check')) {
  if (rendered !== page) {
    process.stderr.write('docs/performance.md differs from docs/performance-run.json: run `npm run docs:performance`\n');
    process.exit(1);
  }
} else {
  fs.writeFileSync(PAGE, rendered);
  process.stdout.write('wrote docs/performance.md\n');
}
