/**
 * The service's version is stated in a few places that a release must move together: package.json,
 * the CHANGELOG's latest release, the image tag in the kustomize base (the Dockerfile's VERSION
 * default is checked in test/deploy). A release that forgets one fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const version = JSON.parse(read('package.json')).version as string;

describe('release', () => {
  it('package.json has a semantic version', () => {
    expect(version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  });

  it('CHANGELOG.md has an Unreleased section, then the current version as its latest release, dated', () => {
    const releases = [...read('CHANGELOG.md').matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)].map((m) => ({ name: m[1], date: m[2] }));
    expect(releases[0]).toEqual({ name: 'Unreleased', date: undefined });
    expect(releases[1].name).toBe(version);
    expect(releases[1].date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('the kustomize base deploys the image of that version', () => {
    const kustomization = parse(read('deploy/kubernetes/base/kustomization.yaml'));
    expect(kustomization.images).toEqual([expect.objectContaining({ name: 'holysheep-stream-gateway', newTag: version })]);
  });
});
