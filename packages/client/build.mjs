#!/usr/bin/env node
/**
 * Builds the SDK into dist/ so that the package stands alone (it is installed by teams that have
 * neither this repository nor the unpublished @holysheep/protocol):
 *
 * - JavaScript: esbuild bundles src/ with the protocol constants it uses (read from the protocol
 *   package's TypeScript source through its "source" export condition) into dist/{index,react}.js,
 *   ES modules with a shared chunk; only `react` stays external.
 * - Types: tsc emits declarations of src/, which import '@holysheep/protocol'; the protocol's own
 *   declarations are copied to dist/protocol/ and those imports pointed at them. Relative
 *   specifiers get explicit `.js` paths, as Node's ES module resolution needs.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, 'dist');
const STAGING = join(DIST, '.types');
const PROTOCOL = '@holysheep/protocol';
const require = createRequire(import.meta.url);

rmSync(DIST, { recursive: true, force: true });
await build({
  absWorkingDir: HERE,
  entryPoints: { index: 'src/index.ts', react: 'src/react.ts' },
  outdir: DIST,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'neutral',
  conditions: ['source'],
  target: 'es2020',
  external: ['react'],
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(HERE, 'tsconfig.json')], { stdio: 'inherit' });
const protocolTypes = dirname(require.resolve(`${PROTOCOL}/package.json`));
copyDeclarations(STAGING, DIST);
copyDeclarations(join(protocolTypes, 'dist'), join(DIST, 'protocol'));
rmSync(STAGING, { recursive: true, force: true });

/** Copies every `.d.ts` below `from` to the same place below `to`, its imports rewritten for Node ESM. */
function copyDeclarations(from, to) {
  for (const file of listFiles(from).filter((f) => f.endsWith('.d.ts'))) {
    const target = join(to, relative(from, file));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, rewriteImports(readFileSync(file, 'utf8'), file, target));
  }
}

function rewriteImports(text, file, target) {
  return text.replace(/(from\s+|import\()(['"])([^'"]+)\2/g, (whole, lead, quote, spec) => {
    if (spec === PROTOCOL) {
      const next = relative(dirname(target), join(DIST, 'protocol', 'index.js')).split('\\').join('/');
      return `${lead}${quote}${next.startsWith('.') ? next : `./${next}`}${quote}`;
    }
    if (!spec.startsWith('.')) return whole;
    const resolved = resolve(dirname(file), spec);
    if (existsSync(`${resolved}.d.ts`)) return `${lead}${quote}${spec}.js${quote}`;
    if (existsSync(join(resolved, 'index.d.ts'))) return `${lead}${quote}${spec}/index.js${quote}`;
    throw new Error(`${file}: ${spec} resolves to no declaration`);
  });
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}
