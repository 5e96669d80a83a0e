#!/usr/bin/env node
/**
 * Bundles the playground into dist/: its script (the SDK as a consumer gets it — its built
 * package, markdown-it, highlight.js's core and this page's code), one chunk per code language
 * highlight.ts can load (an ES module loaded by `import()` the first time an answer uses that
 * language: esbuild splits only ES modules, so the page loads a module script), and one
 * stylesheet. Chunks are named by content hash, flat in dist/. The service's build copies dist/
 * to its own dist/playground/assets, which the gateway serves at /playground/; nothing is fetched
 * from anywhere else at run time. The page itself (public/index.html) is the service's: it boots
 * without this bundle and tells its visitor to build it.
 */
import { build } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, 'dist');

rmSync(OUT, { recursive: true, force: true });
await build({
  absWorkingDir: HERE,
  entryPoints: { playground: 'src/main.ts' },
  outdir: OUT,
  bundle: true,
  format: 'esm',
  splitting: true,
  chunkNames: '[name]-[hash]',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
cpSync(join(HERE, 'src', 'playground.css'), join(OUT, 'playground.css'));
