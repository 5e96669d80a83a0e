/**
 * Holds the configuration reference to the code: docs/configuration.md and .env.example are what
 * the table of variables renders, every variable the code reads is in it, and the defaults it
 * prints are the ones the service applies.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseConfig } from '../../src/config/config.schema';
import { GENERATED_FILES, REGENERATE_COMMAND } from '../../src/config/configuration-reference';
import { ENV_VARIABLES, envVariables, type EnvVariable } from '../../src/config/env-variables';

const ROOT = join(__dirname, '..', '..');
const REFERENCE = 'docs/configuration.md';
const variables: Array<[string, EnvVariable]> = Object.entries(ENV_VARIABLES);

/** Why `path` is stale (its first differing line and the command that fixes it), or undefined when current. */
function staleness(path: string, generated: string): string | undefined {
  const committed = readFileSync(join(ROOT, path), 'utf8');
  if (committed === generated) return undefined;
  const have = committed.split('\n');
  const want = generated.split('\n');
  const line = want.findIndex((text, index) => have[index] !== text);
  const at = line < 0 ? have.length : line;
  return `${path} differs from what src/config/env-variables.ts renders (first at line ${at + 1}: committed ${JSON.stringify(have[at])}, generated ${JSON.stringify(want[at])}); run \`${REGENERATE_COMMAND}\``;
}

/** Names read as `process.env.NAME`, `process.env['NAME']` or `const { NAME } = process.env`. */
function envReads(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/process\.env(?:\?\.|\.)([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1]!);
  for (const m of source.matchAll(/process\.env(?:\?\.)?\[\s*['"`]([^'"`]+)['"`]\s*\]/g)) names.add(m[1]!);
  for (const m of source.matchAll(/\{([^{}]*)\}\s*=\s*process\.env\b/g)) {
    for (const part of m[1]!.split(',')) {
      const name = /^\s*(?:\.\.\.)?\s*([A-Za-z_][A-Za-z0-9_]*)/.exec(part)?.[1];
      // `...rest` copies the environment rather than reading a variable by name.
      if (name && !part.trim().startsWith('...')) names.add(name);
    }
  }
  return [...names];
}

/** The service's own sources: specs are left out, as what a test reads is not service configuration. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !/\.(spec|e2e-spec)\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** The config a given environment yields, or the validation messages it fails with. */
function outcome(env: Record<string, string>): unknown {
  try {
    return parseConfig(env);
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Valid values for the variables production requires, so the rest can be checked one by one. */
const PRODUCTION_SAMPLES: Record<string, string> = { HOLYSHEEP_API_KEY: 'sk-test-key', AUTH_MODE: 'none' };
/** The smallest production environment the service accepts: NODE_ENV plus what production requires. */
const PRODUCTION_ENV: Record<string, string> = { NODE_ENV: 'production', ...PRODUCTION_SAMPLES };

describe('configuration reference', () => {
  it.each(Object.entries(GENERATED_FILES))('%s is what the table of variables renders', (path, render) => {
    expect(staleness(path, render())).toBeUndefined();
  });

  it(`${REFERENCE} has one row per variable the schema validates, and no other`, () => {
    const rows = [...readFileSync(join(ROOT, REFERENCE), 'utf8').matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1]);
    expect([...rows].sort()).toEqual(Object.keys(envVariables.shape).sort());
  });

  it('lists every variable the code in src/ reads from process.env', () => {
    const reads = sourceFiles(join(ROOT, 'src')).flatMap((file) => envReads(readFileSync(file, 'utf8')).map((name) => ({ file: relative(ROOT, file), name })));
    const missing = reads.filter(({ name }) => !(name in ENV_VARIABLES));
    expect(missing).toEqual([]);
  });

  it('finds process.env reads in each form the check above looks for', () => {
    const source = [
      'const a = process.env.ALPHA;',
      "const b = process.env['BRAVO'] ?? process.env?.CHARLIE;",
      'const { DELTA, ECHO: e = "x", ...rest } = process.env;',
      'parseConfig(process.env);',
    ].join('\n');
    expect(envReads(source).sort()).toEqual(['ALPHA', 'BRAVO', 'CHARLIE', 'DELTA', 'ECHO']);
  });

  it('gives every variable a one-line description', () => {
    for (const [name, v] of variables) {
      expect({ name, oneLine: v.description.length > 0 && !v.description.includes('\n') && v.description.endsWith('.') }).toEqual({ name, oneLine: true });
    }
  });

  it('prints the defaults the service applies: setting a variable to its documented default changes nothing', () => {
    const development = outcome({});
    const production = outcome(PRODUCTION_ENV);
    expect(production).not.toHaveProperty('error');
    for (const [name, v] of variables) {
      if (v.default === undefined) continue;
      expect({ name, config: outcome({ [name]: v.default }) }).toEqual({ name, config: development });
      // NODE_ENV is what tells the two apart, so production cannot set it to the development default.
      if (name !== 'NODE_ENV') expect({ name, config: outcome({ ...PRODUCTION_ENV, [name]: v.default }) }).toEqual({ name, config: production });
    }
  });

  it('prints the per-environment defaults parseConfig applies, and production requires exactly what it says', () => {
    const required = variables.filter(([, v]) => v.byEnvironment && 'required' in v.byEnvironment.production).map(([name]) => name);
    expect([...required].sort()).toEqual(Object.keys(PRODUCTION_SAMPLES).sort());
    const production = PRODUCTION_ENV;
    expect(outcome(production)).not.toHaveProperty('error');
    for (const name of required) {
      const { [name]: _omitted, ...without } = production;
      expect(() => parseConfig(without)).toThrow(new RegExp(`^  - ${name}: is required when NODE_ENV=production`, 'm'));
    }
    for (const [name, v] of variables) {
      if (!v.byEnvironment) continue;
      const { development: inDevelopment, production: inProduction } = v.byEnvironment;
      if (inDevelopment !== undefined) expect({ name, config: outcome({ [name]: inDevelopment }) }).toEqual({ name, config: outcome({}) });
      if ('default' in inProduction) {
        expect({ name, config: outcome({ ...production, [name]: inProduction.default }) }).toEqual({ name, config: outcome(production) });
        // A default documented per environment must really differ between them.
        expect({ name, config: outcome({ [name]: inProduction.default }) }).not.toEqual({ name, config: outcome({}) });
      }
    }
  });
});

