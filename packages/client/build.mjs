#!/usr/bin/env node
/**
 * Builds the SDK into dist/ so that the package stands alone (it is installed by teams that have
 * neither this repository nor the unpublished @holysheep/protocol):
 *
 * - JavaScript: esbuild bundles src/ with the protocol constants it uses (read from the protocol
 *   package's TypeScript source through its "source" export condition) into dist/{index,react}.js,
 *   ES modules with a shared chunk; only `react` and `vue` stay external.
 * - CommonJS: the same sources again into dist/cjs/{index,react,vue}.cjs, for `require()` (Node
 *   CommonJS, Jest without ESM, older bundlers). CommonJS has no shared chunks, so react.cjs and
 *   vue.cjs require ./index.cjs for the SDK code they use rather than carrying a second copy: one
 *   Conversation class, one ChatError, whichever entry a program loads first.
 * - Types: tsc emits declarations of src/, which import '@holysheep/protocol'; the protocol's own
 *   declarations are copied to dist/protocol/ and those imports pointed at them. Relative
 *   specifiers get explicit `.js` paths, as Node's ES module resolution needs. The same
 *   declarations go to dist/cjs/ as `.d.cts` (imports `.cjs`): TypeScript under node16/nodenext
 *   must see CommonJS types for the `require` condition, or it calls the package ESM-only.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, 'dist');
const CJS = join(DIST, 'cjs');
const STAGING = join(DIST, '.types');
const PROTOCOL = '@holysheep/protocol';
const require = createRequire(import.meta.url);

/** What both module formats are built with: the SDK's three entries, the protocol from source, the frameworks left out. */
const FRAMEWORK_ENTRIES = ['react.ts', 'vue.ts'];
const COMMON = {
  absWorkingDir: HERE,
  entryPoints: { index: 'src/index.ts', react: 'src/react.ts', vue: 'src/vue.ts' },
  bundle: true,
  platform: 'neutral',
  conditions: ['source'],
  target: 'es2020',
  external: ['react', 'vue'],
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};

rmSync(DIST, { recursive: true, force: true });
await build({ ...COMMON, outdir: DIST, splitting: true, format: 'esm' });

// The CommonJS entries: react.cjs and vue.cjs take every SDK module they import from ./index.cjs (which
// re-exports them all: a name missing there would be undefined, and the consumer test fails).
await build({
  ...COMMON,
  outdir: CJS,
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  plugins: [
    {
      name: 'framework-entries-use-index',
      setup(pluginBuild) {
        pluginBuild.onResolve({ filter: /^\./ }, (args) =>
          FRAMEWORK_ENTRIES.some((entry) => args.importer.endsWith(join('src', entry))) ? { path: './index.cjs', external: true } : undefined,
        );
      },
    },
  ],
});

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(HERE, 'tsconfig.json')], { stdio: 'inherit' });
const protocolTypes = dirname(require.resolve(`${PROTOCOL}/package.json`));
const ESM_TYPES = { root: DIST, js: '.js', dts: '.d.ts' };
const CJS_TYPES = { root: CJS, js: '.cjs', dts: '.d.cts' };
for (const kind of [ESM_TYPES, CJS_TYPES]) {
  copyDeclarations(STAGING, kind.root, kind);
  copyDeclarations(join(protocolTypes, 'dist'), join(kind.root, 'protocol'), kind);
}
rmSync(STAGING, { recursive: true, force: true });

/** Copies every `.d.ts` below `from` to the same place below `to` (as `kind.dts`), its imports rewritten for Node. */
function copyDeclarations(from, to, kind) {
  for (const file of listFiles(from).filter((f) => f.endsWith('.d.ts'))) {
    const target = join(to, relative(from, file)).replace(/\.d\.ts$/, kind.dts);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, rewriteImports(readFileSync(file, 'utf8'), file, target, kind));
  }
}

function rewriteImports(text, file, target, kind) {
  return text.replace(/(from\s+|import\()(['"])([^'"]+)\2/g, (whole, lead, quote, spec) => {
    if (spec === PROTOCOL) {
      const next = relative(dirname(target), join(kind.root, 'protocol', `index${kind.js}`)).split('\\').join('/');
      return `${lead}${quote}${next.startsWith('.') ? next : `./${next}`}${quote}`;
    }
    if (!spec.startsWith('.')) return whole;
    const resolved = resolve(dirname(file), spec);
    if (existsSync(`${resolved}.d.ts`)) return `${lead}${quote}${spec}${kind.js}${quote}`;
    if (existsSync(join(resolved, 'index.d.ts'))) return `${lead}${quote}${spec}/index${kind.js}${quote}`;
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
