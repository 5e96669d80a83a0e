/**
 * Renders the configuration reference (docs/configuration.md) and `.env.example` from the one
 * table of variables, so neither is kept by hand. `npm run docs:config` writes them; a test fails
 * when the committed files differ from what this renders.
 */
import { MAX_TIMER_MS, type Allowed } from './env-types';
import { ENV_GROUPS, ENV_VARIABLES, secretVariables, type EnvVariable } from './env-variables';

/** The command that rewrites the generated files; named in the test's failure message. */
export const REGENERATE_COMMAND = 'npm run docs:config';

/** The files generated from the table, by path from the repository root. */
export const GENERATED_FILES = {
  'docs/configuration.md': renderConfigurationReference,
  '.env.example': renderEnvExample,
} as const satisfies Record<string, () => string>;

type Variables = Record<string, EnvVariable>;

const SOURCE = 'src/config/env-variables.ts';

/** The variables of each group, groups in reference order, variables in table order. */
function byGroup(variables: Variables): Array<{ title: string; entries: Array<[string, EnvVariable]> }> {
  return Object.entries(ENV_GROUPS)
    .map(([group, title]) => ({ title, entries: Object.entries(variables).filter(([, v]) => v.group === group) }))
    .filter(({ entries }) => entries.length > 0);
}

const code = (value: string) => `\`${value}\``;

/** The unit a name's suffix promises: the variables follow `_MS` / `_BYTES` naming. */
function unit(name: string): string | undefined {
  if (name.endsWith('_MS')) return 'ms';
  if (name.endsWith('_BYTES_PER_SECOND')) return 'bytes per second';
  if (name.endsWith('_BYTES')) return 'bytes';
  return undefined;
}

function typeCell(name: string, v: EnvVariable): string {
  const u = v.type === 'integer' ? unit(name) : undefined;
  return u ? `${v.type} (${u})` : v.type;
}

function allowedCell(allowed: Allowed | undefined): string {
  if (!allowed) return '';
  if ('values' in allowed) return allowed.values.map(code).join(', ');
  if ('min' in allowed) return `${allowed.min} – ${allowed.max}`;
  return allowed.text;
}

function defaultCell(v: EnvVariable): string {
  if (v.byEnvironment) {
    const { development, production } = v.byEnvironment;
    const inProduction = 'required' in production ? 'required' : code(production.default);
    return `${development === undefined ? '—' : code(development)}; production: ${inProduction}`;
  }
  return v.default === undefined ? '—' : code(v.default);
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** docs/configuration.md: one table per group, one row per variable. */
export function renderConfigurationReference(variables: Variables = ENV_VARIABLES): string {
  const secrets = secretVariables(variables).map(code).join(', ');
  const lines = [
    '# Configuration reference',
    '',
    `<!-- Generated from ${SOURCE} by \`${REGENERATE_COMMAND}\`: edit that file, not this one. -->`,
    '',
    'Every setting of the gateway is an environment variable. The whole environment is validated once',
    'at boot: every invalid value is reported at once as `NAME: problem` and the process exits 1.',
    'Unset and empty both mean "use the default". A `.env` file in the working directory is read',
    'too (real environment variables win); [`.env.example`](../.env.example) is generated from the',
    'same table as this page.',
    '',
    'Where production and development differ, the default column gives both: with',
    '`NODE_ENV=production` the upstream key and the auth mode must be set, and the playground is off.',
    '',
    '**Secrets** (marked *secret* below) belong in a secret store (in Kubernetes the Secret,',
    '[`deploy/kubernetes/base/secret.yaml`](../deploy/kubernetes/base/secret.yaml)), never in the ConfigMap or',
    `a committed file: ${secrets}.`,
  ];
  for (const { title, entries } of byGroup(variables)) {
    lines.push('', `## ${title}`, '', '| variable | type | default | allowed | meaning |', '|---|---|---|---|---|');
    for (const [name, v] of entries) {
      const label = v.secret ? `${code(name)} *secret*` : code(name);
      lines.push(`| ${[label, typeCell(name, v), defaultCell(v), allowedCell(v.allowed), v.description].map(cell).join(' | ')} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Markdown code spans read as plain text in a shell-style comment. */
const plain = (markdown: string) => markdown.replace(/`/g, '');

/** What `.env.example` says about a value beyond the description: allowed set, per-environment default. */
function envNotes(v: EnvVariable): string[] {
  const notes: string[] = [];
  if (v.type === 'enum' && v.allowed && 'values' in v.allowed) notes.push(`One of ${v.allowed.values.join(', ')}.`);
  // A timer's ceiling is no limit anyone picks; only a deliberate maximum is worth a line here.
  if (v.allowed && 'max' in v.allowed && v.allowed.max !== MAX_TIMER_MS) notes.push(`Range ${v.allowed.min} – ${v.allowed.max}.`);
  if (v.byEnvironment) {
    const { development, production } = v.byEnvironment;
    const inProduction = 'required' in production ? 'required in production' : `${production.default} in production`;
    notes.push(development === undefined ? `${inProduction[0]!.toUpperCase()}${inProduction.slice(1)}.` : `Default: ${development} outside production; ${inProduction}.`);
  }
  return notes;
}

/** `.env.example`: every variable with its default (empty where it depends on NODE_ENV or has none). */
export function renderEnvExample(variables: Variables = ENV_VARIABLES): string {
  const lines = [
    '# HolySheep stream gateway: every variable, its default and what it means.',
    `# Generated from ${SOURCE} by \`${REGENERATE_COMMAND}\` (the full reference is docs/configuration.md).`,
    '# Copy to .env for local development (real environment variables win over .env).',
    '# An empty value means "use the default".',
  ];
  for (const { title, entries } of byGroup(variables)) {
    lines.push('', `# --- ${title} `.padEnd(80, '-'));
    for (const [name, v] of entries) {
      const comment = [v.secret ? 'Secret.' : undefined, plain(v.description), ...envNotes(v)].filter(Boolean).join(' ');
      lines.push(`# ${comment}`, `${name}=${v.byEnvironment ? '' : (v.default ?? '')}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
