/**
 * One copy of `ws` in the tree: the server Nest's WsAdapter builds (`@nestjs/platform-ws`, which
 * pins its own exact `ws` version) must be the very `ws` the app depends on and tests against, so a
 * `ws` fix or option upgrade reaches the production sockets. package.json `overrides` makes
 * `@nestjs/platform-ws` use the top-level `ws`; this keeps a lockfile refresh from undoing it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

describe('ws', () => {
  it('resolves to the same file from the app and from @nestjs/platform-ws', () => {
    const fromApp = require.resolve('ws', { paths: [ROOT] });
    const platformWsDir = dirname(require.resolve('@nestjs/platform-ws/package.json', { paths: [ROOT] }));
    const fromPlatformWs = require.resolve('ws', { paths: [platformWsDir] });
    expect(fromPlatformWs).toBe(fromApp);
    expect(existsSync(join(platformWsDir, 'node_modules', 'ws'))).toBe(false);
  });

  it('is the version package.json asks for, pinned for @nestjs/platform-ws by an override', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.overrides?.['@nestjs/platform-ws']?.ws).toBe('$ws');
    const installed = JSON.parse(readFileSync(join(dirname(require.resolve('ws/package.json', { paths: [ROOT] })), 'package.json'), 'utf8'));
    const wanted = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(manifest.dependencies.ws as string);
    expect(wanted).not.toBeNull();
    const [major, minor, patch] = (installed.version as string).split('.').map(Number);
    expect(major).toBe(Number(wanted![1]));
    expect(minor! * 1e6 + patch!).toBeGreaterThanOrEqual(Number(wanted![2]) * 1e6 + Number(wanted![3]));
  });

  it('appears once in package-lock.json', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    const copies = Object.keys(lock.packages as Record<string, unknown>).filter((path) => /(^|\/)node_modules\/ws$/.test(path));
    expect(copies).toEqual(['node_modules/ws']);
  });
});
