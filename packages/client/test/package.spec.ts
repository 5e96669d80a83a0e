/**
 * The built package (client/dist, from `npm run build`) stands alone: its JavaScript and its
 * declarations import nothing outside it (the gateway's protocol module is bundled in and its
 * declarations copied beside), a TypeScript project using Node's ES module resolution type-checks
 * against it, and plain Node imports it and streams through the real gateway with `ws`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FakeUpstream } from '../../../test/support/fake-upstream';
import { startGateway, type RunningGateway } from '../../../test/support/gateway-app';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..', '..');
const CLIENT = join(ROOT, 'packages', 'client');
const DIST = join(CLIENT, 'dist');
const manifest = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8'));

function distFiles(dir = DIST): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? distFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

beforeAll(() => {
  if (!existsSync(join(DIST, 'index.js'))) throw new Error('client/dist is missing: run `npm run build` first (npm test does)');
});

describe('client package (client/dist)', () => {
  it('is an ES module package whose exports map points at files that exist', () => {
    expect(manifest.type).toBe('module');
    expect(manifest.peerDependenciesMeta.react.optional).toBe(true);
    expect(manifest.peerDependenciesMeta.vue.optional).toBe(true);
    expect(manifest.dependencies ?? {}).toEqual({});
    for (const entry of ['.', './react', './vue']) {
      // Each entry: ES module types and code for `import`, CommonJS types (.d.cts) and code for `require`.
      const { import: esm, require: cjs } = manifest.exports[entry];
      expect([esm.types, esm.default, cjs.types, cjs.default].map((f: string) => f.slice(f.indexOf('.', 2)))).toEqual(['.d.ts', '.js', '.d.cts', '.cjs']);
      for (const file of [esm.types, esm.default, cjs.types, cjs.default]) expect(existsSync(join(CLIENT, file))).toBe(true);
    }
  });

  it('imports nothing from outside itself (protocol bundled; only react and vue stay external)', () => {
    for (const file of distFiles()) {
      const text = readFileSync(file, 'utf8');
      if (file.endsWith('.js')) {
        const specifiers = [...text.matchAll(/(?:^|[\s;])(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm)].map((m) => m[1] ?? m[2]);
        for (const spec of specifiers) expect(spec).toMatch(/^(\.\/chunk-[\w-]+\.js|react|vue)$/);
        expect(text).not.toMatch(/\brequire\(|node:|process\.env/);
      } else if (file.endsWith('.cjs')) {
        // The CommonJS build: react.cjs and vue.cjs share index.cjs's code rather than carrying a copy.
        for (const [, spec] of text.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) expect(spec).toMatch(/^(\.\/index\.cjs|react|vue)$/);
        expect(text).not.toMatch(/\bimport\(|node:|process\.env/);
      } else if (file.endsWith('.d.ts') || file.endsWith('.d.cts')) {
        const [js, dts] = file.endsWith('.d.ts') ? ['.js', '.d.ts'] : ['.cjs', '.d.cts'];
        for (const [, spec] of text.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
          if (spec === 'react' || spec === 'vue') continue;
          expect(spec!.startsWith('./') || spec!.startsWith('../')).toBe(true);
          expect(spec!.endsWith(js)).toBe(true);
          expect(existsSync(join(dirname(file), spec!.slice(0, -js.length) + dts))).toBe(true);
        }
      }
    }
    // The protocol's declarations travel with it, from the gateway's own module.
    expect(readFileSync(join(DIST, 'protocol', 'frames.d.ts'), 'utf8')).toContain('export interface ChatRequestFrame');
  });

  it('type-checks in a consumer project using Node ES module resolution (nodenext, strict, libs checked)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdk-consumer-'));
    try {
      mkdirSync(join(dir, 'node_modules', '@holysheep'), { recursive: true });
      mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
      symlinkSync(CLIENT, join(dir, 'node_modules', '@holysheep', 'stream-client'), 'dir');
      symlinkSync(join(ROOT, 'node_modules', '@types', 'react'), join(dir, 'node_modules', '@types', 'react'), 'dir');
      symlinkSync(join(ROOT, 'node_modules', 'csstype'), join(dir, 'node_modules', 'csstype'), 'dir');
      symlinkSync(join(ROOT, 'node_modules', 'vue'), join(dir, 'node_modules', 'vue'), 'dir');
      symlinkSync(join(ROOT, 'node_modules', '@vue'), join(dir, 'node_modules', '@vue'), 'dir');
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], strict: true, noEmit: true, skipLibCheck: false, types: [] },
          files: ['consumer.ts'],
        }),
      );
      writeFileSync(
        join(dir, 'consumer.ts'),
        [
          "import { createClient, CLOSE_CODES, ChatError, type ChatEvent, type ServerFrame, type ConnectionState } from '@holysheep/stream-client';",
          "import { useChat, useConnectionState } from '@holysheep/stream-client/react';",
          "import { useChat as useVueChat, type UseChatReturn } from '@holysheep/stream-client/vue';",
          "const vueChat = (): UseChatReturn => useVueChat(client, { persistKey: 'chat' });",
          "const client = createClient({ url: 'wss://example.test/v1/ws', getToken: async () => 'token' });",
          "const handle = client.chat({ messages: [{ role: 'user', content: 'hi' }], temperature: 0.2 });",
          'const id: string | undefined = handle.stream_id;',
          'const seq: number = handle.seq;',
          "const restart: 1012 = CLOSE_CODES.SERVICE_RESTART.code;",
          'async function main(): Promise<string> {',
          '  for await (const event of handle) {',
          "    const e: ChatEvent = event;",
          "    if (e.type === 'chunk') console.log(e.delta, e.chunk.choices[0]?.delta.content);",
          "    if (e.type === 'error' && e.error instanceof ChatError) console.log(e.error.code, e.error.retryable);",
          '  }',
          '  return handle.text();',
          '}',
          "const onFrame = (f: ServerFrame) => f.type === 'session.ready' && f.resume?.enabled;",
          'const state: ConnectionState = client.state;',
          'export { id, seq, restart, main, onFrame, state, useChat, useConnectionState, vueChat };',
          '// @ts-expect-error: a frame type the protocol does not define',
          "const bad: ServerFrame['type'] = 'chat.nope';",
          'export { bad };',
        ].join('\n'),
      );
      const tsc = require.resolve('typescript/bin/tsc');
      try {
        execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
      } catch (error) {
        throw new Error(`the consumer project does not type-check:\n${(error as { stdout?: string }).stdout}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('in plain Node (ESM, ws)', () => {
    let upstream: FakeUpstream;
    let gateway: RunningGateway;
    beforeAll(async () => {
      upstream = await FakeUpstream.start();
      gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0' });
    });
    afterAll(async () => {
      await gateway?.close();
      await upstream?.close();
    });

    it('imports the built package and streams an answer', async () => {
      const script = [
        `import { createClient } from ${JSON.stringify(join(DIST, 'index.js'))};`,
        `import { WebSocket } from ${JSON.stringify(require.resolve('ws').replace(/index\.js$/, 'wrapper.mjs'))};`,
        `const client = createClient({ url: ${JSON.stringify(gateway.wsUrl)}, WebSocket });`,
        "const answer = client.chat({ messages: [{ role: 'user', content: 'hi' }] });",
        'for await (const delta of answer.textStream()) process.stdout.write(delta);',
        'client.close();',
      ].join('\n');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const call = await upstream.nextCall();
      await call.streamText(['from ', 'dist']);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect({ code, out, err }).toEqual({ code: 0, out: 'from dist', err: '' });
    });
  });
});
