import { Controller, Get, Logger, NotFoundException, Param, Res } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Response } from 'express';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';

/**
 * The playground page. Two levels up from this file is the project root both from `src/playground`
 * (ts-jest) and from `dist/playground` (after `tsc`), so `public/` must ship beside `dist/`.
 */
export const PLAYGROUND_HTML_PATH = join(__dirname, '..', '..', 'public', 'index.html');

/**
 * The page's script and stylesheet: the @holysheep/playground package (packages/playground: the SDK,
 * markdown-it, highlight.js and the page's code), which `npm run build` bundles and copies into
 * dist/playground/assets/, found from src/ and dist/ alike.
 */
export const PLAYGROUND_ASSETS_DIR = join(__dirname, '..', '..', 'dist', 'playground', 'assets');

/** The bundle's fixed files, and their types. */
export const PLAYGROUND_ASSETS: Readonly<Record<string, string>> = {
  'playground.js': 'text/javascript; charset=utf-8',
  'playground.css': 'text/css; charset=utf-8',
  'playground.js.map': 'application/json; charset=utf-8',
  'playground.js.LEGAL.txt': 'text/plain; charset=utf-8',
};

/**
 * The bundle's chunks (`typescript-OIX23AUF.js`: a code language's grammar, loaded by the page
 * when an answer first uses it; shared code), named by content hash, and their source maps.
 */
export const PLAYGROUND_CHUNK = /^[a-z0-9_]+-[A-Z0-9]{8}\.js(\.map)?$/;

/**
 * The files served under /playground/ and their types: the fixed ones and the chunks found in
 * the assets folder at startup. Nothing else is ever read from disk.
 */
export function playgroundAssets(dir = PLAYGROUND_ASSETS_DIR): Record<string, string> {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // No bundle at all: the fixed names are reported missing below.
  }
  const chunks = names.filter((name) => PLAYGROUND_CHUNK.test(name));
  return {
    ...PLAYGROUND_ASSETS,
    ...Object.fromEntries(chunks.map((name) => [name, name.endsWith('.map') ? PLAYGROUND_ASSETS['playground.js.map']! : PLAYGROUND_ASSETS['playground.js']!])),
  };
}

/** A file as served: its body and the response headers that go with it. */
interface Served {
  body: string;
  headers: Record<string, string>;
}

const COMMON_HEADERS = {
  // Small files that change with every deploy; revalidating (ETag) costs nothing.
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Serves the browser playground at `GET /` and its bundle at `GET /playground/<file>` when
 * `gateway.playground.enabled` is true (PLAYGROUND_ENABLED; on by default outside production),
 * and 404 otherwise.
 *
 * Everything is read once at startup. A missing page fails the boot instead of the first visitor;
 * a missing bundle (the server compiled without `npm run build`'s web step) is logged, and the
 * page itself tells its visitor to run `npm run build`.
 */
@Controller()
export class PlaygroundController {
  private readonly page: Served | undefined;
  private readonly assets = new Map<string, Served>();

  constructor(@InjectConfig() config: GatewayConfig) {
    if (!config.playground.enabled) return;
    this.page = loadPage(PLAYGROUND_HTML_PATH);
    const missing: string[] = [];
    for (const [name, type] of Object.entries(playgroundAssets())) {
      try {
        this.assets.set(name, { body: readFileSync(join(PLAYGROUND_ASSETS_DIR, name), 'utf8'), headers: { 'content-type': type, ...COMMON_HEADERS } });
      } catch {
        missing.push(name);
      }
    }
    if (missing.includes('playground.js') || missing.includes('playground.css')) {
      new Logger('Playground').warn(`The playground bundle is missing from ${PLAYGROUND_ASSETS_DIR} (run npm run build): the page at / cannot run`);
    }
  }

  /**
   * @returns the page's HTML, with `content-type: text/html; charset=utf-8`.
   * @throws NotFoundException when the playground is disabled.
   */
  @Get()
  index(@Res({ passthrough: true }) res: Pick<Response, 'setHeader'>): string {
    // Headers are set here rather than with @Header(): Nest applies those before the handler runs,
    // so a disabled playground's JSON 404 would go out labelled text/html.
    return serve(this.page, res);
  }

  /**
   * @returns one file of the bundle (`playground.js`, `playground.css`, a chunk…).
   * @throws NotFoundException when the playground is disabled or the name is not one of them.
   */
  @Get('playground/:file')
  asset(@Param('file') file: string, @Res({ passthrough: true }) res: Pick<Response, 'setHeader'>): string {
    return serve(this.page ? this.assets.get(file) : undefined, res);
  }
}

function serve(file: Served | undefined, res: Pick<Response, 'setHeader'>): string {
  if (!file) throw new NotFoundException();
  for (const [name, value] of Object.entries(file.headers)) res.setHeader(name, value);
  return file.body;
}

function loadPage(path: string): Served {
  let html: string;
  try {
    html = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new Error(
      `The playground is enabled but its page cannot be read at ${path} (${reason}): ship public/ beside dist/, or set PLAYGROUND_ENABLED=false`,
    );
  }
  return {
    body: html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': contentSecurityPolicy(html),
      ...COMMON_HEADERS,
    },
  };
}

/**
 * Allows the gateway's own script and stylesheet (the bundle under /playground/), any inline
 * `<script>` or `<style>` block of the page by hash, WebSockets, and nothing else: the page handles
 * a bearer token and renders model output, so injected script must not run, inline event handlers
 * and `style` attributes included.
 */
export function contentSecurityPolicy(html: string): string {
  const hashes = (tag: 'script' | 'style') =>
    [...html.matchAll(new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'gi'))]
      .filter(([, body]) => body!.trim() !== '')
      .map(([, body]) => ` 'sha256-${createHash('sha256').update(body!, 'utf8').digest('base64')}'`)
      .join('');
  return [
    "default-src 'none'",
    `script-src 'self'${hashes('script')}`,
    `style-src 'self'${hashes('style')}`,
    // 'self' covers same-host ws:/wss: in CSP Level 3 only; older Safari needs the schemes.
    "connect-src 'self' ws: wss:",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
