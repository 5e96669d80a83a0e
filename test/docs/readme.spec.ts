/**
 * The README says what the service is and how to start, test, configure and deploy it, and links
 * to docs/ for the rest (each fact in one place): it stays short, and its links lead somewhere.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('README.md', () => {
  it('is at most 12 KB: details belong in docs/', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(12 * 1024);
  });

  it('every relative link names a file that exists', () => {
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/.test(t));
    expect(targets.length).toBeGreaterThan(5);
    for (const target of targets) expect({ target, exists: existsSync(join(ROOT, target)) }).toEqual({ target, exists: true });
  });

  it('links the configuration reference and the protocol\'s authentication section', () => {
    expect(readme).toContain('(docs/configuration.md)');
    expect(readme).toContain('(docs/protocol.md#authentication-and-origin)');
  });
});
