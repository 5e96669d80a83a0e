/**
 * A reload mid-answer (issue 24) in real headless Chromium against the real gateway and the fake
 * upstream: the page keeps its conversation in sessionStorage (`Conversation({ persistKey })`),
 * and after the reload the answer goes on where it was — the whole text exactly once, and the
 * upstream asked exactly once. Once for the playground (GET /), once for a React app on
 * `useChat` under StrictMode (whose development build unmounts and remounts every component once:
 * that must not cancel the resumed answer). Without Chromium these tests warn `SKIPPED: …` and
 * pass, unless REQUIRE_BROWSER=1.
 */
import { build } from 'esbuild';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chunk, FakeUpstream, usageChunk, type UpstreamCall } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { launchChromium, openPage, screenshot, type WatchedPage } from './support/browser';

jest.setTimeout(60_000);

/** Sixty distinct words: a repeated or missing one shows in the text. */
const PIECES = Array.from({ length: 60 }, (_, i) => `w${i} `);
const FULL = PIECES.join('').trim();
/** How many pieces are sent before the reload, and how many while the page is away. */
const BEFORE = 20;
const WHILE_AWAY = 40;

/** The rest of the answer after the reload: the pieces not sent yet, then a normal end. */
async function finish(call: UpstreamCall, from: number): Promise<void> {
  for (const piece of PIECES.slice(from)) await call.event(chunk({ content: piece }));
  await call.event(chunk({}, 'stop'));
  await call.event(usageChunk());
  await call.event('[DONE]');
  call.res.end();
}

/** Starts the answer and sends its first `BEFORE` pieces. */
async function startAnswer(call: UpstreamCall): Promise<void> {
  call.startSse();
  await call.event(chunk({ role: 'assistant', content: '' }));
  for (const piece of PIECES.slice(0, BEFORE)) await call.event(chunk({ content: piece }));
}

describe('a reload mid-answer in Chromium (e2e)', () => {
  let browser: Browser | undefined;
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  const opened: WatchedPage[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    if (!browser) return;
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0' });
  });
  afterEach(async () => {
    if (!browser) return;
    const problems = opened.flatMap((o) => o.problems);
    for (const { page } of opened.splice(0)) await page.context().close();
    await gateway.close();
    await upstream.close();
    expect(problems).toEqual([]);
  });

  it('the playground keeps the conversation and the answer goes on where it was: the full text once, one upstream request', async () => {
    if (!browser) return;
    const watched = await openPage(browser, `${gateway.httpUrl}/`);
    opened.push(watched);
    const { page } = watched;
    await page.waitForSelector('#status[data-state="open"]');
    await page.fill('#prompt', 'count to sixty');
    await page.keyboard.press('Enter');
    const call = await upstream.nextCall();
    await startAnswer(call);
    await page.waitForSelector(`.msg-assistant:has-text("w${BEFORE - 1}")`);

    await page.reload({ waitUntil: 'domcontentloaded' });
    // Generated while the page is away: the gateway keeps it for the resume.
    for (const piece of PIECES.slice(BEFORE, WHILE_AWAY)) await call.event(chunk({ content: piece }));
    await page.waitForSelector('html[data-ready]');
    // Back at once, from sessionStorage: the question and the answer so far.
    expect(await page.locator('.msg-user').allTextContents()).toEqual([expect.stringContaining('count to sixty')]);
    await page.waitForSelector(`.msg-assistant:has-text("w${WHILE_AWAY - 1}")`);
    expect(await page.locator('.msg-assistant').last().getAttribute('data-status')).toBe('streaming');

    await finish(call, WHILE_AWAY);
    await page.waitForSelector('.msg-assistant:last-child[data-status="done"]');
    expect((await assistantText(page, '.msg-assistant .markdown')).trim()).toBe(FULL);
    expect(await page.locator('.msg-assistant').count()).toBe(1);
    expect(upstream.calls).toHaveLength(1);
    await screenshot(page, 'reload-resumed');
  });

  it('a React app on useChat({ persistKey }) under StrictMode goes on with the answer after a reload, once', async () => {
    if (!browser) return;
    const server = await serveReactApp(gateway.wsUrl);
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems: string[] = [];
      opened.push({ page, problems });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      await page.goto(server.url);
      await page.fill('#input', 'count to sixty');
      await page.click('#send');
      const call = await upstream.nextCall();
      await startAnswer(call);
      await page.waitForSelector(`li[data-role="assistant"]:text("w${BEFORE - 1}")`);

      await page.reload({ waitUntil: 'domcontentloaded' });
      for (const piece of PIECES.slice(BEFORE, WHILE_AWAY)) await call.event(chunk({ content: piece }));
      await page.waitForSelector(`li[data-role="assistant"][data-status="streaming"]:text("w${WHILE_AWAY - 1}")`);
      await finish(call, WHILE_AWAY);
      await page.waitForSelector('li[data-role="assistant"][data-status="done"]');
      expect(await page.locator('li').allTextContents()).toEqual(['count to sixty', PIECES.join('')]);
      expect(upstream.calls).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

async function assistantText(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).last().textContent()) ?? '';
}

/**
 * A minimal React app (StrictMode, React's development build) on `useChat` with a persistKey,
 * bundled from the SDK's sources and served from loopback (Chromium refuses loopback sockets to
 * pages of public or unknown origin; sessionStorage needs a real origin).
 */
async function serveReactApp(gatewayUrl: string): Promise<{ url: string; close: () => Promise<void> }> {
  const app = `
    import { createElement as h, StrictMode, useState } from 'react';
    import { createRoot } from 'react-dom/client';
    import { createClient } from '../../../packages/client/src/index';
    import { useChat } from '../../../packages/client/src/react';
    const client = createClient({ url: window.GATEWAY_URL });
    function App() {
      const { messages, busy, send } = useChat(client, { persistKey: 'react-reload' });
      const [text, setText] = useState('');
      return h('main', null,
        h('ul', null, messages.map((m) => h('li', { key: m.id, 'data-role': m.role, 'data-status': m.status }, m.content))),
        h('label', { htmlFor: 'input' }, 'Message'),
        h('input', { id: 'input', value: text, onChange: (e) => setText(e.target.value) }),
        h('button', { id: 'send', disabled: busy, onClick: () => (send(text), setText('')) }, 'Send'));
    }
    createRoot(document.getElementById('root')).render(h(StrictMode, null, h(App)));
  `;
  const bundle = await build({
    stdin: { contents: app, resolveDir: join(__dirname, 'fixtures'), loader: 'js' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.text;
  const html = `<!doctype html><html lang="en"><title>reload</title><div id="root"></div><script>window.GATEWAY_URL = ${JSON.stringify(gatewayUrl)};</script><script src="/app.js"></script>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': req.url === '/app.js' ? 'text/javascript' : 'text/html' });
    res.end(req.url === '/app.js' ? script : html);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
