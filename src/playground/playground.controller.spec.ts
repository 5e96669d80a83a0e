import { NotFoundException } from '@nestjs/common';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayConfig } from '../config/config.schema';
import {
  contentSecurityPolicy,
  PLAYGROUND_ASSETS,
  PLAYGROUND_ASSETS_DIR,
  PLAYGROUND_HTML_PATH,
  PlaygroundController,
  playgroundAssets,
} from './playground.controller';

/** Just enough of the config for the controller: the playground flag. */
function configWith(enabled: boolean): GatewayConfig {
  return { playground: { enabled } } as GatewayConfig;
}

/** Records the headers the controller sets. */
function fakeResponse() {
  const headers: Record<string, string> = {};
  return { headers, res: { setHeader: (name: string, value: string) => (headers[name.toLowerCase()] = value) } };
}

describe('PlaygroundController', () => {
  it('serves the playground page as UTF-8 HTML when enabled', () => {
    const controller = new PlaygroundController(configWith(true));
    const { headers, res } = fakeResponse();

    const html = controller.index(res as never);

    expect(html).toBe(readFileSync(PLAYGROUND_HTML_PATH, 'utf8'));
    expect(html).toContain('id="prompt"');
    expect(headers['content-type']).toBe('text/html; charset=utf-8');
    expect(headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers 404 when disabled, without touching the response, for the page and its bundle', () => {
    const controller = new PlaygroundController(configWith(false));
    const { headers, res } = fakeResponse();

    expect(() => controller.index(res as never)).toThrow(NotFoundException);
    expect(() => controller.asset('playground.js', res as never)).toThrow(NotFoundException);
    expect(headers).toEqual({});
  });

  it('allows only the gateway’s own script and stylesheet (no inline code) through its Content-Security-Policy', () => {
    const { headers, res } = fakeResponse();
    new PlaygroundController(configWith(true)).index(res as never);

    const csp = headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).toMatch(/connect-src [^;]*ws:/);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
  });

  it('adds the hash of an inline block to the policy (and never unsafe-inline)', () => {
    const csp = contentSecurityPolicy('<style>a{}</style><script>1</script>');
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+';/);
    expect(csp).toMatch(/style-src 'self' 'sha256-[A-Za-z0-9+/=]+';/);
  });

  it('serves a page that loads its bundle from the gateway only, and keeps the ids browser tests rely on', () => {
    const html = readFileSync(PLAYGROUND_HTML_PATH, 'utf8');
    for (const id of ['prompt', 'send', 'stop', 'model', 'temperature', 'max-tokens', 'system', 'token', 'output', 'status', 'log', 'drop', 'announcer']) {
      expect(html).toContain(`id="${id}"`);
    }
    // A module script: the bundle loads its code-language chunks with import().
    expect(html).toContain('<script type="module" src="/playground/playground.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="/playground/playground.css">');
    // Nothing from anywhere else, and no inline code (the CSP would refuse it).
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>(?!<\/script>)|<style>| on[a-z]+=| style=/i);
  });

  it('serves the built bundle with its types; any other name is 404', () => {
    // `npm test` builds first; the bundle is what `npm run build` produced.
    if (!existsSync(join(PLAYGROUND_ASSETS_DIR, 'playground.js'))) throw new Error('run `npm run build` first (npm test does)');
    const controller = new PlaygroundController(configWith(true));
    const served = playgroundAssets();
    for (const name of Object.keys(PLAYGROUND_ASSETS)) expect(served).toHaveProperty([name]);
    // The code-language chunks, each with its source map.
    expect(Object.keys(served).filter((name) => /^typescript-\w+\.js(\.map)?$/.test(name))).toHaveLength(2);
    for (const [name, type] of Object.entries(served)) {
      const { headers, res } = fakeResponse();
      expect(controller.asset(name, res as never)).toBe(readFileSync(join(PLAYGROUND_ASSETS_DIR, name), 'utf8'));
      expect(headers['content-type']).toBe(type);
    }
    const { res } = fakeResponse();
    for (const name of ['../index.html', 'index.html', '..%2Fpackage.json', 'playground.ts', 'typescript.js', 'x-ABCDEFGH.js.txt']) {
      expect(() => controller.asset(name, res as never)).toThrow(NotFoundException);
    }
  });

  it('bundles no URL the page would fetch at run time', () => {
    if (!existsSync(join(PLAYGROUND_ASSETS_DIR, 'playground.js'))) throw new Error('run `npm run build` first (npm test does)');
    const css = readFileSync(join(PLAYGROUND_ASSETS_DIR, 'playground.css'), 'utf8');
    expect(css).not.toMatch(/@import|url\(/);
    const served = playgroundAssets();
    let imports = 0;
    for (const name of Object.keys(served).filter((file) => file.endsWith('.js'))) {
      const js = readFileSync(join(PLAYGROUND_ASSETS_DIR, name), 'utf8');
      expect(js).not.toMatch(/importScripts|new Worker/);
      // Modules import only the bundle's own files, beside them (served from /playground/).
      const specifiers = [...js.matchAll(/\bimport\s*\(\s*([^)]*)\)|\b(?:import|export)\s*\{[^}]*\}\s*from\s*("[^"]*")/g)].map((m) => (m[1] ?? m[2])!);
      for (const specifier of specifiers) {
        expect(specifier).toMatch(/^"\.\/[\w.-]+"$/);
        expect(served).toHaveProperty([specifier.slice(3, -1)]);
        imports += 1;
      }
    }
    // The grammars' import() calls, at least, were found and checked.
    expect(imports).toBeGreaterThanOrEqual(17);
  });
});
