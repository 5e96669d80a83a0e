import { NotFoundException } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../../src/config/config.schema';
import { PLAYGROUND_HTML_PATH, PlaygroundController } from '../../src/playground/playground.controller';

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
  });

  it('answers 404 when disabled, without touching the response', () => {
    const controller = new PlaygroundController(configWith(false));
    const { headers, res } = fakeResponse();

    expect(() => controller.index(res as never)).toThrow(NotFoundException);
    expect(headers).toEqual({});
  });

  it('allows exactly the page’s own inline script and style through its Content-Security-Policy', () => {
    const { headers, res } = fakeResponse();
    const html = new PlaygroundController(configWith(true)).index(res as never);
    const hash = (tag: string) => {
      const body = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(html)![1];
      return `'sha256-${createHash('sha256').update(body, 'utf8').digest('base64')}'`;
    };

    const csp = headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`script-src ${hash('script')};`);
    expect(csp).toContain(`style-src ${hash('style')};`);
    expect(csp).toMatch(/connect-src [^;]*ws:/);
  });

  it('serves a self-contained page that keeps the ids browser tests rely on', () => {
    const html = readFileSync(PLAYGROUND_HTML_PATH, 'utf8');
    for (const id of ['prompt', 'model', 'token', 'send', 'cancel', 'output', 'status', 'log']) {
      expect(html).toContain(`id="${id}"`);
    }
    // No external resources: everything the page needs is inline (CSP default-src 'none').
    expect(html).not.toMatch(/\b(?:src|href)="(?!data:|#)/);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain("['chat.v1']");
  });
});
