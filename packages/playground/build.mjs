#!/usr/bin/env node
/**
 * Bundles the playground into dist/: one script (the SDK as a consumer gets it — its built
 * package, markdown-it and this page's code) and one stylesheet. The service's build copies dist/
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
  format: 'iife',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
cpSync(join(HERE, 'src', 'playground.css'), join(OUT, 'playground.css'));
