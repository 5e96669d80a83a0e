import { Controller, Get, NotFoundException, Res } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Response } from 'express';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';

/**
 * The playground page. Two levels up from this file is the project root both from `src/playground`
 * (ts-jest) and from `dist/playground` (after `tsc`), so `public/` must ship beside `dist/`.
 */
export const PLAYGROUND_HTML_PATH = join(__dirname, '..', '..', 'public', 'index.html');

/** The page as served: its HTML and the response headers that go with it. */
interface PlaygroundPage {
  html: string;
  headers: Record<string, string>;
}

/**
 * Serves the single-file browser playground at `GET /` when `gateway.playground.enabled` is true
 * (PLAYGROUND_ENABLED; on by default outside production), and 404 otherwise.
 *
 * The page is read once at startup: a missing file fails the boot instead of the first visitor.
 */
@Controller()
export class PlaygroundController {
  private readonly page: PlaygroundPage | undefined;

  constructor(@InjectConfig() config: GatewayConfig) {
    if (!config.playground.enabled) return;
    this.page = loadPage(PLAYGROUND_HTML_PATH);
  }

  /**
   * @returns the page's HTML, with `content-type: text/html; charset=utf-8`.
   * @throws NotFoundException when the playground is disabled.
   */
  @Get()
  index(@Res({ passthrough: true }) res: Pick<Response, 'setHeader'>): string {
    // Headers are set here rather than with @Header(): Nest applies those before the handler runs,
    // so a disabled playground's JSON 404 would go out labelled text/html.
    if (!this.page) throw new NotFoundException();
    for (const [name, value] of Object.entries(this.page.headers)) res.setHeader(name, value);
    return this.page.html;
  }
}

function loadPage(path: string): PlaygroundPage {
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
    html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      // The page is small and changes with every deploy; revalidating (ETag) costs nothing.
      'cache-control': 'no-cache',
      'content-security-policy': contentSecurityPolicy(html),
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
  };
}

/**
 * Allows exactly the page's own inline `<script>` and `<style>` blocks (by hash), WebSockets, and
 * nothing else: the page handles a bearer token, so injected script must not run.
 */
function contentSecurityPolicy(html: string): string {
  const hashes = (tag: 'script' | 'style') =>
    [...html.matchAll(new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'gi'))]
      .map(([, body]) => `'sha256-${createHash('sha256').update(body, 'utf8').digest('base64')}'`)
      .join(' ') || "'none'";
  return [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    // 'self' covers same-host ws:/wss: in CSP Level 3 only; older Safari needs the schemes.
    "connect-src 'self' ws: wss:",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
