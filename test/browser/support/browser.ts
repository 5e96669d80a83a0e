import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { PLAYGROUND_ASSETS_DIR } from '../../../src/playground/playground.controller';
import { requireTool } from '../../support/requirements';

/** Debian's Chromium (`apt-get install chromium`); never a browser downloaded by Playwright. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Git-ignored; CI keeps it as the run's artefacts. */
export const ARTIFACTS_DIR = join(__dirname, '..', '..', '..', 'test-artifacts', 'browser');

/** Flags for a closed network: no background requests, no first-run or component updates. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches headless Chromium (Playwright gives it a fresh temporary --user-data-dir), or, when it
 * is not installed, warns `SKIPPED: …` and returns undefined — unless REQUIRE_BROWSER=1, which
 * makes its absence fail.
 */
export async function launchChromium(): Promise<Browser | undefined> {
  if (!requireTool(`Chromium (${CHROMIUM_PATH})`, existsSync(CHROMIUM_PATH), 'REQUIRE_BROWSER')) return undefined;
  if (!existsSync(join(PLAYGROUND_ASSETS_DIR, 'playground.js'))) {
    throw new Error(`the playground bundle is missing from ${PLAYGROUND_ASSETS_DIR}: run \`npm run build\` first (npm test does)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** A page that records what must not happen: script errors, console errors, CSP violations. */
export interface WatchedPage {
  page: Page;
  problems: string[];
}

export async function openPage(browser: Browser, url: string, options: BrowserContextOptions = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...options });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  await page.goto(url);
  try {
    await page.waitForSelector('html[data-ready]', { timeout: 10_000 });
  } catch {
    throw new Error(`the playground did not start: ${problems.join('; ') || 'no error reported'}`);
  }
  return { page, problems };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

let axeSource: string | undefined;

/** Runs axe-core (from npm, evaluated in the page) and returns its violations, summarised. */
export async function axeViolations(page: Page): Promise<Array<{ id: string; impact: string | null; help: string; targets: string[] }>> {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: unknown, options: unknown): Promise<any> } }).axe;
    const results = await axe.run(document, { resultTypes: ['violations'] });
    return results.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n: any) => String(n.target)),
    }));
  });
}
