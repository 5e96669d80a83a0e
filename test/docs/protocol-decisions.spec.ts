/**
 * docs/protocol.md's "Where the protocol is silent" records decisions clients rely on though the
 * contract does not state them; each must name the test that holds it, so a change that breaks a
 * decision fails a test a reader can find. The identity and Redis engineers add rows there too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const protocol = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
const section = protocol.slice(protocol.indexOf('## Where the protocol is silent')).split(/\n## /)[0];
const rows = section
  .split('\n')
  .filter((line) => line.startsWith('| ') && !line.startsWith('| situation'))
  .map((line) => ({ situation: line.split('|')[1].trim(), line }));

describe('docs/protocol.md decisions where the contract is silent', () => {
  it('has decisions', () => {
    expect(rows.length).toBeGreaterThan(10);
  });

  it.each(rows.map((r) => [r.situation, r.line]))('%s: names the test that holds it, and that test exists', (_situation, line) => {
    const held = /\*Held by\* (.+?) \|$/.exec(line as string);
    expect(held).not.toBeNull();
    const files = [...held![1].matchAll(/`([^`]+\.(?:spec|e2e-spec)\.ts)`/g)].map((m) => m[1]);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect({ file, exists: existsSync(join(ROOT, file)) }).toEqual({ file, exists: true });
  });
});
