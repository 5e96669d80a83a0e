/**
 * docs/sdk.md against the code: its error table names every code a ChatError can carry (the
 * gateway's and the SDK's own), its links lead to files and headings that exist, and it has a
 * migration note for every version in the SDK's changelog.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ERROR_CODES } from '@holysheep/protocol';

const ROOT = join(__dirname, '..', '..');
const DOC = join(ROOT, 'docs', 'sdk.md');
const doc = readFileSync(DOC, 'utf8');
const changelog = readFileSync(join(ROOT, 'packages', 'client', 'CHANGELOG.md'), 'utf8');
const version = JSON.parse(readFileSync(join(ROOT, 'packages', 'client', 'package.json'), 'utf8')).version as string;

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchors = (markdown: string) =>
  new Set([...markdown.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));

describe('docs/sdk.md', () => {
  it('tells what to do for every error code a ChatError can carry, and nothing else', () => {
    const section = doc.slice(doc.indexOf('## Errors and what to do'), doc.indexOf('## Token refresh'));
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \| (yes|no) \| (.+) \|$/gm)];
    const clientCodes = ['connection_closed', 'connect_failed', 'timeout', 'unsupported'];
    expect(rows.map((r) => r[1]).sort()).toEqual([...Object.keys(ERROR_CODES), ...clientCodes].sort());
    for (const [, code, retryable] of rows) {
      if (code! in ERROR_CODES) expect(`${code} ${retryable}`).toBe(`${code} ${ERROR_CODES[code as keyof typeof ERROR_CODES].retryable ? 'yes' : 'no'}`);
    }
  });

  it('has a migration note for every version in the changelog, the current one first', () => {
    const versions = [...changelog.matchAll(/^## (\d+\.\d+\.\d+)$/gm)].map((m) => m[1]);
    expect(versions[0]).toBe(version);
    const notes = [...doc.matchAll(/^### (?:(\d+\.\d+\.\d+) → )?(\d+\.\d+\.\d+)$/gm)].map((m) => m[2]);
    expect(notes).toEqual(versions);
  });

  it('links to files and headings that exist', () => {
    const links = [...doc.matchAll(/\]\(([^)#\s]+)(?:#([^)\s]+))?\)/g)].filter(([, target]) => !/^https?:/.test(target!));
    expect(links.length).toBeGreaterThan(3);
    for (const [, target, anchor] of links) {
      const file = join(dirname(DOC), target!);
      expect(`${target} ${existsSync(file)}`).toBe(`${target} true`);
      if (anchor) expect(`${target}#${anchor} ${anchors(readFileSync(file, 'utf8')).has(anchor)}`).toBe(`${target}#${anchor} true`);
    }
  });
});
