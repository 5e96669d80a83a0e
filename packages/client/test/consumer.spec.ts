/**
 * The SDK as a team gets it: `npm pack` (which builds it, prepack) makes the tarball; a copy of the
 * fixture project in consumer/ installs its pinned tools from its own lockfile (`npm ci`) and then
 * the tarball, the one thing installed from a file. The project then uses the SDK from Node
 * CommonJS, Node ES modules (its React hook and its Vue composable), TypeScript under node10,
 * node16 and bundler resolution, and a Vite + React build. The tarball itself is checked by publint and are-the-types-wrong (pinned in the
 * fixture's lockfile, run offline on the file) and by checks of our own: every export target
 * shipped, types first in each condition, nothing but dist/ and the docs, no dependencies.
 *
 * It needs the npm registry (or npm's cache) for the fixture's pinned tools: a failed install fails
 * the suite with npm's output, it never skips.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

jest.setTimeout(300_000);

const CLIENT = join(__dirname, '..');
const FIXTURE = join(__dirname, 'consumer');
const manifest = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8'));

// The outer `npm test` exports npm_config_* and npm_lifecycle_* variables; the fixture's npm must
// read only its own project, as on a developer's machine.
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`\`${command} ${args.join(' ')}\` failed in the consumer project:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

/** The file of an installed package's command (its package.json `bin`), run with this Node. */
function bin(pkg: string, command: string): string {
  const root = join(project, 'node_modules', pkg);
  const { bin: bins } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return join(root, typeof bins === 'string' ? bins : bins[command]);
}

let dir: string;
let project: string;
let tarball: string;
let packed: string[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdk-consumer-'));
  const packDir = join(dir, 'pack');
  mkdirSync(packDir);
  run('npm', ['pack', '--pack-destination', packDir], CLIENT);
  const [name] = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  if (!name) throw new Error('npm pack made no tarball');
  tarball = join(packDir, name);
  packed = run('tar', ['-tzf', tarball], dir)
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''));

  project = join(dir, 'project');
  cpSync(FIXTURE, project, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src) });
  // --ignore-scripts: no install script from the registry runs in CI (esbuild's only checks its binary).
  run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], project);
  run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], project);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed SDK', () => {
  it('is a publishable package: not private, semver, prepack builds it, no dependencies, the protocol bundled', () => {
    expect(manifest.private).toBeUndefined();
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(manifest.scripts.prepack).toBe('node build.mjs');
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(Object.keys(manifest.peerDependencies)).toEqual(['react', 'vue']);
    for (const peer of ['react', 'vue']) expect(manifest.peerDependenciesMeta[peer].optional).toBe(true);
    expect(manifest.sideEffects).toBe(false);
    // The changelog has an entry for this version (with a migration note: docs/sdk.md links it).
    expect(readFileSync(join(CLIENT, 'CHANGELOG.md'), 'utf8')).toContain(`## ${manifest.version}`);
  });

  it('ships every file its manifest points at, and only dist/ and the docs', () => {
    const targets = [manifest.main, manifest.module, manifest.types, ...Object.values(manifest.typesVersions['*']).flat()];
    for (const entry of ['.', './react', './vue']) {
      for (const condition of ['import', 'require']) targets.push(...Object.values(manifest.exports[entry][condition]));
    }
    for (const target of targets as string[]) expect(packed).toContain(target.replace(/^\.\//, ''));
    for (const file of packed) expect(file).toMatch(/^(dist\/.+|package\.json|README\.md|CHANGELOG\.md)$/);
    expect(packed).toEqual(expect.arrayContaining(['CHANGELOG.md', 'README.md', 'dist/cjs/protocol/frames.d.cts', 'dist/protocol/frames.d.ts']));
    // types come first in each condition, as TypeScript reads conditions in order.
    for (const entry of ['.', './react', './vue']) {
      for (const condition of ['import', 'require']) expect(Object.keys(manifest.exports[entry][condition])).toEqual(['types', 'default']);
    }
  });

  // The two linters from npm, pinned by the fixture's lockfile, on the tarball itself (offline).
  it('passes publint (package.json fields, exports, files), warnings and suggestions included', () => {
    const out = run(process.execPath, [bin('publint', 'publint'), '--strict', tarball], project);
    expect(out).toContain('All good!');
  });

  it('passes are-the-types-wrong: types resolve under node10, node16 (from CommonJS and ESM) and bundler', () => {
    const out = run(process.execPath, [bin('@arethetypeswrong/cli', 'attw'), tarball, '--format', 'table-flipped'], project);
    expect(out).toContain('No problems found');
  });

  it('installs into the fixture project as exactly the packed version, adding nothing else', () => {
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', '@holysheep', 'stream-client', 'package.json'), 'utf8'));
    expect(installed.version).toBe(manifest.version);
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8'));
    const fixtureLock = JSON.parse(readFileSync(join(FIXTURE, 'package-lock.json'), 'utf8'));
    expect(lock).toEqual(fixtureLock);
    const top = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'));
    const locked = new Set(Object.keys(fixtureLock.packages).map((p) => p.replace(/^node_modules\//, '').split('/')[0]));
    // The SDK brings no dependency of its own (react and vue are the project's, peers).
    expect(top.filter((n) => !locked.has(n))).toEqual(['@holysheep']);
    expect(readdirSync(join(project, 'node_modules', '@holysheep'))).toEqual(['stream-client']);
    expect(readdirSync(join(project, 'node_modules', '@holysheep', 'stream-client'))).not.toContain('node_modules');
  });

  it('works from Node CommonJS (require, dist/cjs): renders its React hooks, runs its Vue composables', () => {
    expect(run(process.execPath, ['src/cjs.cjs'], project)).toBe('cjs ok\n');
  });

  it('works from Node ES modules (import, dist/): renders its React hooks, runs its Vue composables', () => {
    expect(run(process.execPath, ['src/esm.mjs'], project)).toBe('esm ok\n');
  });

  it.each(['node10', 'node16', 'bundler'])('type-checks under TypeScript moduleResolution %s (libraries checked; a typo’d role fails)', (resolution) => {
    run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', `tsconfig.${resolution}.json`], project);
  });

  it('builds with Vite + React, the SDK bundled in', () => {
    run(process.execPath, [join(project, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], project);
    const assets = join(project, 'dist', 'assets');
    const bundle = readdirSync(assets)
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(assets, f), 'utf8'))
      .join('\n');
    // The SDK's subprotocol and a frame type: its code is in the application's bundle.
    expect(bundle).toContain('chat.v1');
    expect(bundle).toContain('chat.request');
  });
});
