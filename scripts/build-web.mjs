#!/usr/bin/env node
/**
 * Builds what runs outside the gateway's own process (part of `npm run build`):
 *
 * 1. the client SDK, `client/dist/`: ES modules bundled by esbuild from client/src, with the
 *    gateway's protocol module (src/protocol) bundled in, plus declarations emitted by tsc and
 *    moved beside them (src/protocol's to client/dist/protocol/), so the package stands alone;
 * 2. the playground, `dist/playground/assets/`: one script and one stylesheet (the SDK,
 *    markdown-it and the page code), served by the gateway at /playground/ — nothing is fetched
 *    from anywhere else at run time.
 *
 *   node scripts/build-web.mjs                 both
 *   node scripts/build-web.mjs --client-only   the SDK only
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLIENT = join(ROOT, 'client');
const CLIENT_DIST = join(CLIENT, 'dist');
export const PLAYGROUND_ASSETS = join(ROOT, 'dist', 'playground', 'assets');
const require = createRequire(import.meta.url);

async function buildClient() {
  rmSync(CLIENT_DIST, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: { index: 'client/src/index.ts', react: 'client/src/react.ts' },
    outdir: CLIENT_DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2020',
    external: ['react'],
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  emitDeclarations();
}

/** tsc → client/dist/.types/{client/src,src/protocol}/… → client/dist/*.d.ts and client/dist/protocol/*.d.ts. */
function emitDeclarations() {
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(CLIENT, 'tsconfig.json')], { stdio: 'inherit' });
  const staging = join(CLIENT_DIST, '.types');
  const moves = [
    [join(staging, 'client', 'src'), CLIENT_DIST],
    [join(staging, 'src', 'protocol'), join(CLIENT_DIST, 'protocol')],
  ];
  const unexpected = listFiles(staging).filter((f) => !moves.some(([from]) => f.startsWith(from + sep)));
  if (unexpected.length > 0) throw new Error(`the SDK's declarations reach outside client/src and src/protocol: ${unexpected.join(', ')}`);
  for (const [from, to] of moves) {
    for (const file of listFiles(from)) {
      const target = join(to, relative(from, file));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, rewriteImports(readFileSync(file, 'utf8'), file, from, to));
    }
  }
  rmSync(staging, { recursive: true, force: true });
}

/**
 * Relative specifiers get explicit `.js` paths (ES module resolution in Node needs them), and
 * `../../src/protocol` becomes `./protocol/index.js`.
 */
function rewriteImports(text, file, fromRoot, toRoot) {
  return text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\2/g, (whole, lead, quote, spec) => {
    const resolved = resolve(dirname(file), spec);
    const staging = join(CLIENT_DIST, '.types');
    // Where the target declaration will live after the move.
    let target;
    for (const [from, to] of [
      [join(staging, 'client', 'src'), CLIENT_DIST],
      [join(staging, 'src', 'protocol'), join(CLIENT_DIST, 'protocol')],
    ]) {
      if (resolved === from || resolved.startsWith(from + sep)) target = join(to, relative(from, resolved));
    }
    if (!target) throw new Error(`${file}: cannot place the import ${spec}`);
    const here = join(toRoot, relative(fromRoot, dirname(file)));
    const asFile = existsSync(resolved + '.d.ts');
    const asIndex = !asFile && existsSync(join(resolved, 'index.d.ts'));
    if (!asFile && !asIndex) throw new Error(`${file}: ${spec} resolves to no declaration`);
    let next = relative(here, asFile ? target + '.js' : join(target, 'index.js')).split(sep).join('/');
    if (!next.startsWith('.')) next = `./${next}`;
    return `${lead}${quote}${next}${quote}`;
  });
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

async function buildPlayground() {
  rmSync(PLAYGROUND_ASSETS, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: { playground: 'src/playground/web/main.ts' },
    outdir: PLAYGROUND_ASSETS,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
  });
  cpSync(join(ROOT, 'src', 'playground', 'web', 'playground.css'), join(PLAYGROUND_ASSETS, 'playground.css'));
}

const clientOnly = process.argv.includes('--client-only');
const started = Date.now();
await buildClient();
if (!clientOnly) await buildPlayground();
console.log(`built ${clientOnly ? 'client/dist' : 'client/dist and dist/playground/assets'} in ${Date.now() - started} ms`);
