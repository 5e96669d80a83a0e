/**
 * The playground (GET /) in real headless Chromium (Debian's, driven by playwright-core) against the
 * real gateway in-process and the fake upstream, which scripts every chunk of every answer.
 * Screenshots go to test-artifacts/browser/. Without Chromium these tests warn `SKIPPED: …` and
 * pass, unless REQUIRE_BROWSER=1 (.ci/run sets it after installing Chromium).
 */
import { build } from 'esbuild';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { createClient } from '../../packages/client/src/client';
import { chunk, FakeUpstream, usageChunk, type UpstreamCall } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { TcpProxy } from '../../packages/client/test/support/tcp-proxy';
import { composeAnswer, tokenize } from '../../src/upstream/simulator/simulated-answer';
import { axeViolations, launchChromium, openPage, screenshot, type WatchedPage } from './support/browser';

jest.setTimeout(60_000);

const MARKDOWN_ANSWER = [
  '# Streaming, explained\n\n',
  'Tokens arrive **one by one**, so reading starts ',
  'at once.\n\n',
  '- first point\n- second point\n\n',
  '```js\nconst socket = new WebSocket(url);\n```\n\n',
  '| size | cost |\n|:---:|---:|\n| small | 1 |\n| large | 10 |\n',
];

describe('playground in Chromium (e2e)', () => {
  let browser: Browser | undefined;
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  let opened: WatchedPage[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    if (!browser) return;
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0', ALLOWED_MODELS: 'gpt-4.1,gpt-4.1-mini' });
  });
  afterEach(async () => {
    if (!browser) return;
    const problems = opened.flatMap((o) => o.problems);
    for (const { page } of opened.splice(0)) await page.context().close();
    await gateway.close();
    await upstream.close();
    // No script error, console error or CSP violation on any page of the test.
    expect(problems).toEqual([]);
  });

  const open = async (options?: Parameters<typeof openPage>[2]) => {
    const watched = await openPage(browser!, `${gateway.httpUrl}/`, options);
    opened.push(watched);
    await watched.page.waitForSelector('#status[data-state="open"]');
    return watched.page;
  };
  const lastAnswer = (page: Page) => page.locator('.msg-assistant').last();
  const answerDone = (page: Page) => page.waitForSelector('.msg-assistant:last-child[data-status="done"]');

  /** Sends `pieces` as an answer, one SSE event each, then a normal end. */
  async function answer(call: UpstreamCall, pieces: string[]): Promise<void> {
    await call.streamText(pieces);
  }

  it('sends with Enter (Shift+Enter adds a line), streams the answer in, renders Markdown safely formatted', async () => {
    if (!browser) return;
    const page = await open({ permissions: ['clipboard-read', 'clipboard-write'] });
    await expect(page.locator('#prompt')).toBeFocusedSoon();
    await page.keyboard.type('first line');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('second line');
    expect(await page.inputValue('#prompt')).toBe('first line\nsecond line');
    expect(upstream.calls).toHaveLength(0);
    await page.keyboard.press('Enter');

    const call = await upstream.nextCall();
    expect(call.body.messages).toEqual([{ role: 'user', content: 'first line\nsecond line' }]);
    expect(await page.inputValue('#prompt')).toBe('');
    call.startSse();
    await call.event(chunk({ role: 'assistant', content: '' }));
    await call.event(chunk({ content: MARKDOWN_ANSWER[0] }));
    await call.event(chunk({ content: MARKDOWN_ANSWER[1] }));
    // Visible while the answer is still being written.
    await page.waitForSelector('.msg-assistant h1:has-text("Streaming, explained")');
    await page.waitForSelector('.msg-assistant strong:has-text("one by one")');
    expect(await lastAnswer(page).getAttribute('data-status')).toBe('streaming');
    expect(await page.isVisible('#stop')).toBe(true);
    expect(await page.isVisible('#send')).toBe(false);

    for (const piece of MARKDOWN_ANSWER.slice(2)) await call.event(chunk({ content: piece }));
    await call.event(chunk({}, 'stop'));
    await call.event(usageChunk());
    await call.event('[DONE]');
    call.res.end();
    await answerDone(page);

    const body = lastAnswer(page).locator('.markdown');
    expect(await body.locator('li').allTextContents()).toEqual(['first point', 'second point']);
    expect(await body.locator('pre code.language-js').textContent()).toBe('const socket = new WebSocket(url);\n');
    expect(await body.locator('th.align-center').textContent()).toBe('size');
    expect(await body.locator('td.align-right').first().textContent()).toBe('1');
    // Live timing, then the final figures.
    expect(await lastAnswer(page).locator('.stats').textContent()).toMatch(/first token \d+ ms · [\d.]+ tokens\/s · 3 tokens/);
    // The screen reader hears the whole answer once it completes.
    await page.waitForFunction(() => document.getElementById('announcer')!.textContent!.startsWith('Answer complete. Streaming, explained'));
    // Read out without the code block's header ("js", "Copy code").
    expect(await page.locator('#announcer').textContent()).toContain('second point\n\nconst socket = new WebSocket(url);');
    expect(await page.locator('#announcer').textContent()).not.toContain('Copy code');
    await screenshot(page, 'chat-light');

    // Copy buttons: the code block's, and the answer's.
    await body.locator('[data-copy-code]').click();
    await page.waitForSelector('[data-copy-code]:has-text("Copied")');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('const socket = new WebSocket(url);\n');
    await lastAnswer(page).locator('button[data-action="copy-answer"]').click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(MARKDOWN_ANSWER.join(''));
  });

  it('never puts raw HTML from the model into the DOM', async () => {
    if (!browser) return;
    const page = await open();
    await page.fill('#prompt', 'attack me');
    await page.keyboard.press('Enter');
    const call = await upstream.nextCall();
    await answer(call, [
      'Look: <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>\n\n',
      '[click me](javascript:window.__pwned=3) <a href="javascript:alert(1)">raw</a> ',
      '<iframe src="/metrics"></iframe> <b style="color:red" onclick="window.__pwned=4">bold?</b>\n\n',
      '![tracker](http://127.0.0.1:9/pixel.png)\n',
    ]);
    await answerDone(page);
    const body = lastAnswer(page).locator('.markdown');
    for (const tag of ['img', 'script', 'iframe', 'b', 'a[href^="javascript"]', '[onclick]', '[onerror]', '[style]']) {
      expect(await body.locator(tag).count()).toBe(0);
    }
    expect(await body.textContent()).toContain('<script>window.__pwned=2</script>');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('Esc stops the answer: the upstream request is aborted and the page says so', async () => {
    if (!browser) return;
    const page = await open();
    await page.fill('#prompt', 'tell me a long story');
    await page.keyboard.press('Enter');
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'Once upon a time' }));
    await page.waitForSelector('.msg-assistant:has-text("Once upon a time")');
    await page.keyboard.press('Escape');
    await call.aborted;
    await page.waitForSelector('.msg-assistant:last-child[data-status="cancelled"]');
    expect(await lastAnswer(page).locator('.problem').textContent()).toContain('Stopped');
    expect(await page.isVisible('#send')).toBe(true);
    await page.waitForFunction(() => document.getElementById('announcer')!.textContent === 'Stopped.');
  });

  it('multi-turn, with the system prompt, model picker (from session.ready), temperature and max tokens', async () => {
    if (!browser) return;
    const page = await open();
    // The picker lists session.ready.models: the default and the allowed ones.
    expect(await page.locator('#model option').allTextContents()).toEqual(['Default (gpt-4.1)', 'gpt-4.1', 'gpt-4.1-mini', 'Other…']);
    await page.click('#settings summary');
    await page.selectOption('#model', 'gpt-4.1-mini');
    await page.fill('#temperature', '0.3');
    await page.fill('#max-tokens', '64');
    await page.fill('#system', 'Be brief.');
    await page.fill('#prompt', 'Hi');
    await page.keyboard.press('Enter');
    let call = await upstream.nextCall();
    expect(call.body).toMatchObject({
      model: 'gpt-4.1-mini',
      temperature: 0.3,
      max_tokens: 64,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
    });
    await answer(call, ['Hello!']);
    await answerDone(page);
    await page.fill('#prompt', 'And again?');
    await page.keyboard.press('Enter');
    call = await upstream.nextCall();
    expect(call.body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'And again?' },
    ]);
    await answer(call, ['Again: hello!']);
    await page.waitForSelector('.msg-assistant:nth-of-type(4)[data-status="done"]');

    // Regenerate replaces the last answer (same history, a new request).
    await lastAnswer(page).locator('button[data-action="regenerate"]').click();
    call = await upstream.nextCall();
    expect(call.body.messages.at(-1)).toEqual({ role: 'user', content: 'And again?' });
    await answer(call, ['A second take.']);
    await page.waitForSelector('.msg-assistant:last-child[data-status="done"]:has-text("A second take.")');
    expect(await page.locator('.msg-assistant').count()).toBe(2);

    // Clear empties the conversation (rendered at the next animation frame).
    await page.click('#clear');
    await page.waitForFunction(() => document.querySelectorAll('.msg').length === 0);
    expect(await page.isVisible('#empty')).toBe(true);
  });

  it('shows plain-language errors with a next step, never raw codes', async () => {
    if (!browser) return;
    const page = await open();
    await page.fill('#prompt', 'fail please');
    await page.keyboard.press('Enter');
    let call = await upstream.nextCall();
    call.json(400, { error: { message: 'Invalid value for temperature', type: 'invalid_request_error', param: null, code: null } });
    await page.waitForSelector('.msg-assistant:last-child[data-status="error"]');
    const problem = lastAnswer(page).locator('.problem');
    expect(await problem.textContent()).toContain('The model service refused this request.');
    const pageText = (await page.locator('body').innerText()).toLowerCase();
    for (const code of ['upstream_error', 'unauthorized', 'stream_not_found', 'chat.error']) expect(pageText).not.toContain(code);
    // One way to ask again: "Try again" beside the message, no "Regenerate" beside it.
    expect(await lastAnswer(page).locator('button[data-action="regenerate"]').allTextContents()).toEqual(['Try again']);
    expect(await lastAnswer(page).locator('button:has-text("Regenerate")').count()).toBe(0);

    // "Try again" sends the same request; the failed answer is replaced.
    await problem.locator('button[data-action="regenerate"]').click();
    call = await upstream.nextCall();
    await answer(call, ['Worked this time.']);
    await page.waitForSelector('.msg-assistant:last-child[data-status="done"]:has-text("Worked this time.")');
    expect(await page.locator('.msg-assistant').count()).toBe(1);
  });

  it('says "token not accepted" in plain words when the gateway refuses the token, and recovers with a new one', async () => {
    if (!browser) return;
    await gateway.close();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, AUTH_MODE: 'api_key', AUTH_API_KEYS: 'alice:alice-key-7Qm2vX9pL4' });
    const watched = await openPage(browser, `${gateway.httpUrl}/`);
    opened.push(watched);
    const { page } = watched;
    await page.waitForSelector('#status[data-state="closed"]');
    const badge = (await page.locator('#status').innerText()).toLowerCase();
    expect(badge).toContain('access token was not accepted');
    expect(badge).not.toContain('unauthorized');
    await page.click('#settings summary');
    await page.fill('#token', 'alice-key-7Qm2vX9pL4');
    await page.locator('#token').press('Tab'); // change event
    await page.waitForSelector('#status[data-state="open"]');
    // A 4401 on the first connection is reported by Chromium's console as nothing worse than a close.
    watched.problems.splice(0, watched.problems.length, ...watched.problems.filter((p) => !/WebSocket/.test(p)));
  });

  it('"Drop connection" mid-answer: the answer survives the reconnect and completes exactly once', async () => {
    if (!browser) return;
    const probe = createClient({ url: gateway.wsUrl, WebSocket });
    const session = await probe.connect();
    probe.close();
    expect(session.resume?.enabled).toBe(true);

    const page = await open();
    await page.fill('#prompt', 'survive a drop');
    await page.keyboard.press('Enter');
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'Part one. ' }));
    await page.waitForSelector('.msg-assistant:has-text("Part one.")');
    await page.click('#drop');
    await call.event(chunk({ content: 'Part two. ' }));
    await page.waitForSelector('#status[data-state="open"]');
    await call.event(chunk({ content: 'Part three.' }, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    await answerDone(page);
    expect(await lastAnswer(page).locator('.markdown').innerText()).toBe('Part one. Part two. Part three.');
    expect(upstream.calls).toHaveLength(1);
    await page.click('#devtools summary');
    expect(await page.locator('#log').innerText()).toContain('"type":"stream.resume"');
    await screenshot(page, 'after-drop');
  });

  it('shows "Reconnecting in N s" with "Retry now" while the gateway is unreachable, then reconnects', async () => {
    if (!browser) return;
    // The page is served through a relay that can lose the gateway, as a network would.
    const proxy = await TcpProxy.start(gateway.port);
    try {
      const watched = await openPage(browser, `http://127.0.0.1:${proxy.port}/`);
      opened.push(watched);
      const { page } = watched;
      await page.waitForSelector('#status[data-state="open"]');
      proxy.target = 1; // nothing listens there: every attempt fails (1006)
      proxy.cut();
      await page.waitForFunction(() => /^Reconnecting in \d+ s$/.test(document.getElementById('status-text')!.textContent!), undefined, { timeout: 20_000 });
      expect(await page.isVisible('#retry-now')).toBe(true);
      await screenshot(page, 'reconnecting');
      // "Retry now" goes when less than a second is left (the SDK then tries on its own): click it
      // with more than two seconds to go, so the click is what reconnects.
      await page.waitForFunction(() => /^Reconnecting in ([3-9]|\d\d+) s$/.test(document.getElementById('status-text')!.textContent!), undefined, { timeout: 40_000 });
      proxy.target = gateway.port;
      await page.click('#retry-now');
      await page.waitForSelector('#status[data-state="open"]');
      expect(await page.locator('#status-text').textContent()).toBe('Connected');
      // Chromium reports each refused attempt on the console; that is expected here.
      watched.problems.splice(0, watched.problems.length, ...watched.problems.filter((p) => !/WebSocket connection to .* failed/.test(p)));
    } finally {
      await proxy.close();
    }
  });

  it('is usable at 390 px wide (no sideways scrolling; the composer stays on screen)', async () => {
    if (!browser) return;
    const page = await open({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await page.fill('#prompt', 'Show me a wide table and a long code line');
    await page.keyboard.press('Enter');
    const call = await upstream.nextCall();
    await answer(call, [
      ...MARKDOWN_ANSWER,
      '\n```\n' + 'x'.repeat(200) + '\n```\n\n',
      '| a | b | c | d | e | f |\n|---|---|---|---|---|---|\n| ' + 'wide cell content '.repeat(3) + '| 2 | 3 | 4 | 5 | 6 |\n\n',
      'A_very_long_unbroken_word_' + 'y'.repeat(120),
    ]);
    await answerDone(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const composer = await page.locator('#composer').boundingBox();
    expect(composer!.y + composer!.height).toBeLessThanOrEqual(844);
    expect(composer!.width).toBeLessThanOrEqual(390);
    await screenshot(page, 'mobile-390');
  });

  it('follows the dark colour scheme', async () => {
    if (!browser) return;
    const page = await open({ colorScheme: 'dark' });
    await page.fill('#prompt', 'dark please');
    await page.keyboard.press('Enter');
    await answer(await upstream.nextCall(), MARKDOWN_ANSWER);
    await answerDone(page);
    const [bg, fg] = await page.evaluate(() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]);
    expect(luminance(bg)).toBeLessThan(0.1);
    expect(luminance(fg)).toBeGreaterThan(0.6);
    await screenshot(page, 'chat-dark');
  });

  it.each(['light', 'dark'] as const)('has no axe-core violations (%s, with a conversation and both panels open)', async (colorScheme) => {
    if (!browser) return;
    const page = await open({ colorScheme });
    await page.fill('#prompt', 'accessibility check');
    await page.keyboard.press('Enter');
    await answer(await upstream.nextCall(), MARKDOWN_ANSWER);
    await answerDone(page);
    await page.fill('#prompt', 'and an error');
    await page.keyboard.press('Enter');
    (await upstream.nextCall()).json(503, { error: { message: 'overloaded', type: 'server_error', param: null, code: null } });
    await page.waitForSelector('.msg-assistant:last-child[data-status="error"]');
    // Highlighted code too: its colours must keep their contrast in both schemes.
    await page.waitForSelector('.msg-assistant pre code.hljs .hljs-keyword');
    await page.click('#settings summary');
    await page.click('#devtools summary');
    await screenshot(page, `panels-open-${colorScheme}`);
    expect(await axeViolations(page)).toEqual([]);
  });

  it('works from the keyboard alone: Tab order reaches settings, composer and message actions', async () => {
    if (!browser) return;
    const page = await open();
    await page.keyboard.type('keyboard only');
    await page.keyboard.press('Enter');
    await answer(await upstream.nextCall(), ['Done with the keyboard.']);
    await answerDone(page);
    const reached = new Set<string>();
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press('Tab');
      reached.add(
        await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          return el ? el.id || el.dataset.action || el.textContent?.trim() || el.tagName : '';
        }),
      );
    }
    for (const stop of ['Settings', 'drop', 'clear', 'copy-answer', 'regenerate', 'prompt', 'send']) expect([...reached]).toContain(stop);
    // Settings open with the keyboard.
    await page.focus('#settings summary');
    await page.keyboard.press('Enter');
    expect(await page.locator('#settings').getAttribute('open')).not.toBeNull();
  });
  // ---------------------------------------------------------------------------------- issue 24

  /** Where the streaming cursor is in the last answer, as a person would see it. */
  const cursorReport = (page: Page) =>
    page.evaluate(() => {
      const body = document.querySelector('.msg-assistant:last-child .markdown')!;
      const cursors = body.querySelectorAll('.cursor');
      const cursor = cursors[0];
      if (!cursor) return { count: 0 };
      // The text after the cursor, to the end of the answer: none may be visible.
      const after = document.createRange();
      after.setStartAfter(cursor);
      after.setEnd(body, body.childNodes.length);
      // The last visible character before it, to compare their positions on screen.
      let node: Node | null = cursor;
      let text: Text | undefined;
      while (node && node !== body && !text) {
        if (node.previousSibling) {
          node = node.previousSibling;
          while (node.lastChild) node = node.lastChild;
          if (node.nodeType === Node.TEXT_NODE && /\S/.test((node as Text).data)) text = node as Text;
        } else node = node.parentNode;
      }
      const end = text ? text.data.trimEnd().length : 0;
      const char = document.createRange();
      if (text) char.setStart(text, end - 1), char.setEnd(text, end);
      const c = char.getBoundingClientRect();
      const k = cursor.getBoundingClientRect();
      return {
        count: cursors.length,
        textAfter: after.toString(),
        textBefore: text?.data.slice(0, end).slice(-12) ?? '',
        in: cursor.parentElement!.closest('pre code') ? 'code' : (cursor.parentElement!.closest('li, td, th, p, h1, h2, h3')?.tagName.toLowerCase() ?? 'body'),
        // Same line: bottoms within half a line; just right of the character.
        sameLine: !!text && Math.abs(c.bottom - k.bottom) < c.height / 2 && k.left >= c.right - 1 && k.left - c.right < 20,
        styled: body.querySelectorAll('[style]').length,
      };
    });

  it('highlights code by class, renders tables, and keeps the cursor after the last character while the simulator’s Markdown answer streams', async () => {
    if (!browser) return;
    const page = await open();
    const requested: string[] = [];
    page.on('request', (request) => requested.push(new URL(request.url()).pathname));
    // The page's "Show me some Markdown" suggestion fills in the prompt.
    await page.click('button:has-text("Show me some Markdown")');
    const prompt = await page.inputValue('#prompt');
    await page.keyboard.press('Enter');
    const call = await upstream.nextCall();
    call.startSse();
    // The simulator's own answer to that prompt, in the simulator's own pieces (fence markers and
    // table rows cut in two), with stops where the text ends in a list item, code, a table cell.
    const pieces = tokenize(composeAnswer(prompt));
    // `after`: the Markdown sent so far ends so; `shows`: the text drawn before the cursor then.
    const stops: Array<{ after: string; shows: string; in: string }> = [
      { after: 'naïve', shows: 'café, naïve', in: 'li' },
      { after: '  name: string;', shows: 'name: string;', in: 'code' },
      { after: "greet({ name: 'Zoë'", shows: "greet({ name: 'Zoë'", in: 'code' },
      { after: '| `**text**` | bold', shows: 'bold', in: 'td' },
      { after: '"stream": true', shows: '"stream": true', in: 'code' },
    ];
    let sent = '';
    for (const piece of pieces) {
      await call.event(chunk({ content: piece }));
      sent += piece;
      const stop = stops.find((s) => sent.endsWith(s.after));
      if (!stop) continue;
      // Drawn at the next animation frame; code is highlighted once its grammar has loaded.
      await page.waitForFunction(
        ([shows, inCode]) => {
          const body = document.querySelector('.msg-assistant:last-child .markdown');
          const cursor = body?.querySelector('.cursor');
          if (!cursor) return false;
          const before = document.createRange();
          before.setStart(body!, 0);
          before.setEndBefore(cursor);
          return before.toString().endsWith(shows) && (!inCode || cursor.closest('code.hljs') !== null);
        },
        [stop.shows, stop.in === 'code'] as const,
        { timeout: 10_000 },
      ).catch(async (error) => {
        throw new Error(`${stop.after}: ${JSON.stringify(await cursorReport(page))}: ${error}`);
      });
      const report = await cursorReport(page);
      expect({ stop: stop.after, ...report }).toMatchObject({ stop: stop.after, count: 1, in: stop.in, sameLine: true, styled: 0 });
      expect(report.textAfter!.trim()).toBe('');
      expect(stop.shows.endsWith(report.textBefore!.slice(-4))).toBe(true);
      // Remember the first heading's node: blocks already written are kept, not drawn again per chunk.
      if (stop === stops[2]) await screenshot(page, 'cursor-in-code');
      if (stop === stops[0]) await page.evaluate(() => ((window as unknown as { heading: Element }).heading = document.querySelector('.msg-assistant:last-child .markdown h2')!));
    }
    await call.event(chunk({}, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    await answerDone(page);
    await screenshot(page, 'markdown-answer');

    const body = lastAnswer(page).locator('.markdown');
    expect(await body.locator('h2').first().textContent()).toBe('Markdown at a glance');
    expect(await body.locator('h2').first().evaluate((h2) => h2 === (window as unknown as { heading: Element }).heading)).toBe(true);
    expect(await body.locator('table th').allTextContents()).toEqual(['Syntax', 'Gives', 'Example']);
    expect(await body.locator('table tbody tr').count()).toBe(3);
    expect(await body.locator('pre code.hljs.language-ts span.hljs-keyword').first().textContent()).toBe('interface');
    expect(await body.locator('pre code.hljs.language-json span.hljs-attr').first().textContent()).toBe('"model"');
    // The highlighted code is the answer's code, character for character.
    expect(await body.locator('pre code.language-json').textContent()).toBe('{ "model": "gpt-4.1", "stream": true, "greeting": "你好，世界" }\n');
    expect(await body.locator('[style]').count()).toBe(0);
    expect(await body.locator('.cursor').count()).toBe(0);
    // Coloured by the stylesheet (class rules), not by the default text colour.
    const [keyword, text] = await body.locator('pre code.language-ts').evaluate((code) => [
      getComputedStyle(code.querySelector('.hljs-keyword')!).color,
      getComputedStyle(code).color,
    ]);
    expect(keyword).not.toBe(text);
    // Grammars are loaded for the languages the answer used, and only those.
    expect(requested.filter((path) => /^\/playground\/[a-z]+-\w{8}\.js$/.test(path)).map((path) => path.split('/')[2]!.split('-')[0]).sort()).toEqual([
      'json',
      'typescript',
    ]);
    expect(await axeViolations(page)).toEqual([]);
  });

  it('answers "Show me some Markdown" in Markdown from the built-in simulator (a fresh clone without an API key)', async () => {
    if (!browser) return;
    await gateway.close();
    gateway = await startGateway({ NODE_ENV: 'development', HOLYSHEEP_API_KEY: '', SIMULATOR_TOKENS_PER_SECOND: '400' });
    const page = await open();
    await page.click('button:has-text("Show me some Markdown")');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.msg-assistant:last-child[data-status="done"]', { timeout: 30_000 });
    const body = lastAnswer(page).locator('.markdown');
    await page.waitForSelector('.msg-assistant .markdown pre code.language-json.hljs');
    expect(await body.locator('table').count()).toBe(1);
    expect(await body.locator('pre code.hljs.language-ts .hljs-keyword').allTextContents()).toEqual(['interface', 'function', 'return']);
    expect(await body.locator('ul li').count()).toBe(3);
    expect(await body.textContent()).toContain('你好，世界');
  });

  it('says in the answer itself when the connection drops mid-answer, then resumes it whole, exactly once', async () => {
    if (!browser) return;
    // The page is served through a relay that can lose the gateway, as a network would.
    const proxy = await TcpProxy.start(gateway.port);
    try {
      const watched = await openPage(browser, `http://127.0.0.1:${proxy.port}/`);
      opened.push(watched);
      const { page } = watched;
      await page.waitForSelector('#status[data-state="open"]');
      await page.fill('#prompt', 'survive an outage');
      await page.keyboard.press('Enter');
      const call = await upstream.nextCall();
      call.startSse();
      await call.event(chunk({ content: 'Before the outage. ' }));
      await page.waitForSelector('.msg-assistant:has-text("Before the outage.")');
      // The live region is in the page before it has anything to say (so it is announced when it does).
      const notice = lastAnswer(page).locator('.outage [role="status"]');
      expect(await notice.textContent()).toBe('');

      proxy.target = 1; // nothing listens there: every attempt fails (1006)
      proxy.cut();
      // While the gateway is unreachable the answer keeps being written upstream.
      await call.event(chunk({ content: 'During the outage. ' }));
      // The sentence with its countdown, and "Retry now" beside it (one snapshot of the page: the
      // button goes when less than a second is left).
      await page.waitForFunction(
        () => {
          const outage = document.querySelector('.msg-assistant:last-child .outage');
          const retry = outage?.querySelector<HTMLElement>('button[data-action="reconnect"]');
          return /^Connection lost — reconnecting in \d+ s…$/.test(outage?.querySelector('[role="status"]')?.textContent ?? '') && retry?.offsetParent !== null;
        },
        undefined,
        { timeout: 20_000 },
      );
      expect(await lastAnswer(page).getAttribute('data-status')).toBe('streaming');
      // Seen where the answer is: right below its text, inside the answer.
      const [text, outage] = [await lastAnswer(page).locator('.markdown').boundingBox(), await lastAnswer(page).locator('.outage').boundingBox()];
      expect(outage!.y).toBeGreaterThanOrEqual(text!.y + text!.height - 1);
      expect(outage!.height).toBeGreaterThan(10);
      // The countdown is for the eyes; a screen reader hears the sentence once.
      expect(await notice.locator('[aria-hidden="true"]').textContent()).toMatch(/^ in \d+ s…$/);
      await screenshot(page, 'outage-inline');

      // The SDK's next attempt reaches the gateway again (within the countdown just shown), and resumes.
      proxy.target = gateway.port;
      await page.waitForSelector('#status[data-state="open"]', { timeout: 30_000 });
      await page.waitForSelector('.msg-assistant:last-child .outage[data-active="false"]', { state: 'attached' });
      expect(await notice.textContent()).toBe('');
      await call.event(chunk({ content: 'After it.' }, 'stop'));
      await call.event('[DONE]');
      call.res.end();
      await answerDone(page);
      expect(await lastAnswer(page).locator('.markdown').innerText()).toBe('Before the outage. During the outage. After it.');
      expect(upstream.calls).toHaveLength(1);
      expect(await page.locator('.msg-assistant').count()).toBe(1);
      // Chromium reports each refused attempt on the console; that is expected here.
      watched.problems.splice(0, watched.problems.length, ...watched.problems.filter((p) => !/WebSocket connection to .* failed/.test(p)));
    } finally {
      await proxy.close();
    }
  });

  it('keeps the keyboard focus on "Try again" while the page redraws for a reconnect countdown', async () => {
    if (!browser) return;
    const proxy = await TcpProxy.start(gateway.port);
    try {
      const watched = await openPage(browser, `http://127.0.0.1:${proxy.port}/`);
      opened.push(watched);
      const { page } = watched;
      await page.waitForSelector('#status[data-state="open"]');
      await page.fill('#prompt', 'fail, then lose the connection');
      await page.keyboard.press('Enter');
      (await upstream.nextCall()).json(503, { error: { message: 'overloaded', type: 'server_error', param: null, code: null } });
      const tryAgain = lastAnswer(page).locator('.problem button[data-action="regenerate"]');
      await tryAgain.focus();
      proxy.target = 1;
      proxy.cut();
      // Two different countdown texts: the page has been drawn again at least twice since.
      const seen = new Set<string>();
      while (seen.size < 2) {
        await page.waitForFunction((known) => {
          const text = document.getElementById('status-text')!.textContent!;
          return /^Reconnecting in \d+ s$/.test(text) && !known.includes(text);
        }, [...seen], { timeout: 20_000 });
        seen.add((await page.locator('#status-text').textContent())!);
      }
      expect(await tryAgain.evaluate((el) => el === document.activeElement)).toBe(true);
      watched.problems.splice(0, watched.problems.length, ...watched.problems.filter((p) => !/WebSocket connection to .* failed/.test(p)));
    } finally {
      await proxy.close();
    }
  });

  it('folds the header and panels on a phone: the conversation gets most of the screen', async () => {
    if (!browser) return;
    const page = await open({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await page.fill('#prompt', 'Show me a table');
    await page.keyboard.press('Enter');
    await answer(await upstream.nextCall(), MARKDOWN_ANSWER);
    await answerDone(page);

    const menu = page.getByRole('button', { name: 'Menu' });
    expect(await menu.getAttribute('aria-expanded')).toBe('false');
    for (const folded of ['#panels', '#top-actions', '#drop', '#clear', '#settings summary']) expect(await page.isVisible(folded)).toBe(false);
    const header = (await page.locator('header').boundingBox())!;
    const main = (await page.locator('#conversation').boundingBox())!;
    expect(header.height).toBeLessThanOrEqual(48);
    expect(main.height / 844).toBeGreaterThanOrEqual(0.75);
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    await screenshot(page, 'phone-folded');
    expect(await axeViolations(page)).toEqual([]);

    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('true');
    for (const shown of ['#panels', '#drop', '#clear', '#settings summary', '#devtools summary']) expect(await page.isVisible(shown)).toBe(true);
    await page.click('#settings summary');
    await page.waitForSelector('#temperature', { state: 'visible' });
    await screenshot(page, 'phone-menu-open');
    expect(await axeViolations(page)).toEqual([]);
    await menu.click();
    expect(await page.isVisible('#panels')).toBe(false);
  });

  it('shows the actions and panels without a menu on a wide screen', async () => {
    if (!browser) return;
    const page = await open();
    expect(await page.isVisible('#menu')).toBe(false);
    for (const shown of ['#panels', '#drop', '#clear', '#settings summary']) expect(await page.isVisible(shown)).toBe(true);
  });

});

describe('React hook (client/react) in Chromium (e2e)', () => {
  let browser: Browser | undefined;
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    browser = await launchChromium();
    if (!browser) return;
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0' });
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
  });

  it('useChat streams an answer into a component and stops it; useConnectionState follows the socket', async () => {
    if (!browser) return;
    const bundle = await build({
      entryPoints: [join(__dirname, 'fixtures', 'react-chat.mjs')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]!.text;
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    // Served from a loopback server: Chromium refuses loopback sockets to pages of public (or unknown) origin.
    const html = `<!doctype html><html lang="en"><title>hook</title><div id="root"></div><script>window.GATEWAY_URL = ${JSON.stringify(gateway.wsUrl)};</script><script src="/app.js"></script>`;
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': req.url === '/app.js' ? 'text/javascript' : 'text/html' });
      res.end(req.url === '/app.js' ? script : html);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const closeServer = () => new Promise((resolve) => server.close(resolve));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForSelector('#connection');
    await page.fill('#input', 'Hello hook');
    await page.click('#send');
    let call = await upstream.nextCall();
    expect(call.body.messages).toEqual([
      { role: 'system', content: 'From React.' },
      { role: 'user', content: 'Hello hook' },
    ]);
    await page.waitForSelector('#connection:text("open")');
    await call.streamText(['Hello ', 'from ', 'React']);
    await page.waitForSelector('li[data-role="assistant"][data-status="done"]:text("Hello from React")');

    await page.fill('#input', 'Long one');
    await page.click('#send');
    call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'Partial' }));
    await page.waitForSelector('li[data-role="assistant"][data-status="streaming"]:text("Partial")');
    await page.click('#stop');
    await call.aborted;
    await page.waitForSelector('li[data-role="assistant"][data-status="cancelled"]');
    expect(problems).toEqual([]);
    await context.close();
    await closeServer();
  });
});

/** Relative luminance (0 black … 1 white) of a CSS rgb() colour. */
function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? ['0', '0', '0']).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace jest {
    interface Matchers<R> {
      toBeFocusedSoon(): Promise<R>;
    }
  }
}

expect.extend({
  async toBeFocusedSoon(locator: { evaluate<T>(fn: (el: Element) => T): Promise<T> }) {
    for (let i = 0; i < 50; i++) {
      if (await locator.evaluate((el) => el === document.activeElement)) return { pass: true, message: () => 'focused' };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { pass: false, message: () => 'expected the element to receive focus' };
  },
});
