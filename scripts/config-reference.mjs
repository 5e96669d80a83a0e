#!/usr/bin/env node
/**
 * Writes docs/configuration.md and .env.example from the table of variables in
 * src/config/env-variables.ts (`npm run docs:config`). test/docs/configuration-reference.spec.ts
 * fails when the committed files differ from what this writes.
 *
 *   node scripts/config-reference.mjs           write both files
 *   node scripts/config-reference.mjs --check   write nothing; exit 1 naming each stale file
 */
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The renderer is TypeScript beside the schema it reads; esbuild bundles it (zod stays in
 * node_modules) so this runs on plain Node without a build of the whole service.
 */
async function loadRenderer() {
  const { outputFiles } = await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/config/configuration-reference.ts'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    write: false,
    logLevel: 'warning',
  });
  const module = { exports: {} };
  const require = createRequire(join(ROOT, 'src', 'config', 'configuration-reference.js'));
  new Function('module', 'exports', 'require', outputFiles[0].text)(module, module.exports, require);
  return module.exports;
}

const { GENERATED_FILES, REGENERATE_COMMAND } = await loadRenderer();
const check = process.argv.includes('--check');
const stale = [];
for (const [path, render] of Object.entries(GENERATED_FILES)) {
  const file = join(ROOT, path);
  const text = render();
  let current;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) continue;
  stale.push(path);
  if (!check) writeFileSync(file, text);
}
if (check && stale.length > 0) {
  console.error(`${stale.join(', ')} differ from src/config/env-variables.ts: run \`${REGENERATE_COMMAND}\``);
  process.exit(1);
}
console.log(check ? 'configuration reference up to date' : stale.length > 0 ? `wrote ${stale.join(', ')}` : 'configuration reference already up to date');
