/**
 * The `AUTH_*` part of the configuration: which mode, and the keys, files, URLs and proxies it
 * names. Problems are reported as `NAME: message` lines, never quoting a key or a secret.
 */
import { readFileSync } from 'node:fs';
import { parseAddressRanges } from '../identity/address-ranges';
import { principalProblem } from '../identity/principal';

/** Where `jwt` mode fetches its keys from: a JWKS URL, or one found by OIDC discovery. */
export interface RemoteKeysConfig {
  /** `AUTH_JWT_JWKS_URL`; undefined = discover it from `discoveryIssuer`. */
  url?: string;
  /** `AUTH_JWT_ISSUER`, when the JWKS URL is to be found at `<issuer>/.well-known/openid-configuration`. */
  discoveryIssuer?: string;
  /** Background refresh interval (`AUTH_JWT_JWKS_CACHE_MS`). */
  cacheMs: number;
  /** Least time between two refetches caused by unknown `kid`s (`AUTH_JWT_JWKS_COOLDOWN_MS`). */
  cooldownMs: number;
  /** One fetch's timeout (`AUTH_JWT_JWKS_TIMEOUT_MS`). */
  timeoutMs: number;
}

export type AuthConfig =
  | { mode: 'none' }
  | { mode: 'api_key'; keys: Array<{ principal: string; key: string }> }
  | {
      mode: 'jwt';
      /** HS256 shared secret. */
      secret?: string;
      /** RS256 / ES256 public key, PEM (SPKI). */
      publicKeyPem?: string;
      /** A JWKS document (parsed JSON) read from AUTH_JWT_JWKS_FILE. */
      jwks?: { keys: unknown[] };
      /** Keys fetched from a URL and refreshed in the background. */
      remoteKeys?: RemoteKeysConfig;
      issuer?: string;
      audience?: string;
    }
  | {
      mode: 'trusted_header';
      /** Lower-case header name (Node lower-cases incoming header names). */
      header: string;
      /** Only requests from these peers (`AUTH_TRUSTED_PROXIES`, CIDR ranges) may name a user. */
      proxies: string[];
    };

const AUTH_VARIABLE_NAMES = [
  'AUTH_API_KEYS',
  'AUTH_API_KEYS_FILE',
  'AUTH_JWT_SECRET',
  'AUTH_JWT_PUBLIC_KEY',
  'AUTH_JWT_JWKS_FILE',
  'AUTH_JWT_JWKS_URL',
  'AUTH_JWT_ISSUER',
  'AUTH_JWT_AUDIENCE',
  'AUTH_TRUSTED_HEADER',
  'AUTH_TRUSTED_PROXIES',
] as const;
type AuthVariables = Record<(typeof AUTH_VARIABLE_NAMES)[number], string | undefined>;

/** Timings of a remote key set; the schema has validated them (defaults as in env-variables.ts). */
export type RemoteKeyTimings = Pick<RemoteKeysConfig, 'cacheMs' | 'cooldownMs' | 'timeoutMs'>;

/** `AUTH_TRUSTED_PROXIES`, each entry checked; a bad entry is reported (ranges are not secrets: quoted). */
export function parseTrustedProxies(value: string | undefined, issues: string[]): string[] {
  const entries = (value ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const problem of parseAddressRanges(entries).problems) issues.push(`AUTH_TRUSTED_PROXIES: ${problem}`);
  return entries;
}

/** The auth section, including the files it names; problems go to `issues` as `NAME: message`. */
export function parseAuth(raw: (name: string) => string | undefined, production: boolean, proxies: string[], timings: RemoteKeyTimings, issues: string[]): AuthConfig {
  // Outside production the development default is "no auth"; in production it must be chosen.
  const mode = raw('AUTH_MODE') ?? (production ? undefined : 'none');
  if (mode !== undefined && !['none', 'api_key', 'jwt', 'trusted_header'].includes(mode)) return { mode: 'none' }; // reported by the schema
  const e = Object.fromEntries(AUTH_VARIABLE_NAMES.map((name) => [name, raw(name)])) as AuthVariables;
  if (mode === undefined) {
    issues.push('AUTH_MODE: is required when NODE_ENV=production (none, api_key, jwt or trusted_header)');
    return { mode: 'none' };
  }
  if (mode === 'none') return { mode };
  if (mode === 'api_key') return parseApiKeys(e, issues);
  if (mode === 'trusted_header') return parseTrustedHeader(e, proxies, issues);
  return parseJwt(e, timings, issues);
}

function parseTrustedHeader(e: AuthVariables, proxies: string[], issues: string[]): AuthConfig {
  // Without a trusted range, anyone could send the header: refuse to start rather than trust all.
  if (proxies.length === 0) issues.push('AUTH_TRUSTED_PROXIES: AUTH_MODE=trusted_header needs the address ranges of the proxy that sets the user header');
  const header = (e.AUTH_TRUSTED_HEADER ?? 'x-auth-request-user').toLowerCase();
  if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) issues.push('AUTH_TRUSTED_HEADER: must be an HTTP header name');
  else if (['authorization', 'cookie', 'host', 'sec-websocket-protocol', 'x-forwarded-for'].includes(header)) issues.push(`AUTH_TRUSTED_HEADER: ${header} cannot name the user`);
  return { mode: 'trusted_header', header, proxies };
}

function parseApiKeys(e: AuthVariables, issues: string[]): Extract<AuthConfig, { mode: 'api_key' }> {
  const sources: Array<[string, string | undefined]> = [['AUTH_API_KEYS', e.AUTH_API_KEYS]];
  if (e.AUTH_API_KEYS_FILE) sources.push(['AUTH_API_KEYS_FILE', readFile('AUTH_API_KEYS_FILE', e.AUTH_API_KEYS_FILE, issues)]);
  const keys: Array<{ principal: string; key: string }> = [];
  for (const [name, text] of sources) {
    if (!text) continue;
    text
      .split(/[,\n]/)
      .map((entry) => entry.trim())
      .filter((entry) => entry && !entry.startsWith('#'))
      .forEach((entry, index) => {
        const colon = entry.indexOf(':');
        const principal = colon > 0 ? entry.slice(0, colon).trim() : '';
        const key = colon > 0 ? entry.slice(colon + 1).trim() : '';
        // The entry itself is never echoed: it contains a key.
        if (!principal || key.length < 16) issues.push(`${name}: entry ${index + 1} must be principal:key with a key of at least 16 characters`);
        else if (principalProblem(principal)) issues.push(`${name}: entry ${index + 1}: the principal ${principalProblem(principal)}`);
        else keys.push({ principal, key });
      });
  }
  if (keys.length === 0 && !sources.some(([, text]) => text)) issues.push('AUTH_API_KEYS: at least one principal:key pair is required when AUTH_MODE=api_key (or AUTH_API_KEYS_FILE)');
  return { mode: 'api_key', keys };
}

function parseJwt(e: AuthVariables, timings: RemoteKeyTimings, issues: string[]): Extract<AuthConfig, { mode: 'jwt' }> {
  const jwt: Extract<AuthConfig, { mode: 'jwt' }> = { mode: 'jwt', issuer: e.AUTH_JWT_ISSUER, audience: e.AUTH_JWT_AUDIENCE };
  if (e.AUTH_JWT_SECRET) {
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
    if (Buffer.byteLength(e.AUTH_JWT_SECRET) < 32) issues.push('AUTH_JWT_SECRET: must be at least 32 bytes for HS256');
    else jwt.secret = e.AUTH_JWT_SECRET;
  }
  if (e.AUTH_JWT_PUBLIC_KEY) {
    // Multi-line PEMs are often passed with literal "\n" in env files.
    const pem = e.AUTH_JWT_PUBLIC_KEY.replace(/\\n/g, '\n');
    if (!pem.includes('-----BEGIN PUBLIC KEY-----')) issues.push('AUTH_JWT_PUBLIC_KEY: must be a PEM public key (-----BEGIN PUBLIC KEY-----)');
    else jwt.publicKeyPem = pem;
  }
  if (e.AUTH_JWT_JWKS_FILE) jwt.jwks = readJwksFile(e.AUTH_JWT_JWKS_FILE, issues);
  const localSource = e.AUTH_JWT_SECRET || e.AUTH_JWT_PUBLIC_KEY || e.AUTH_JWT_JWKS_FILE;
  if (e.AUTH_JWT_JWKS_URL) jwt.remoteKeys = { url: e.AUTH_JWT_JWKS_URL, ...timings };
  // Discovery only when nothing else names a key: an issuer set next to a secret is a claim check.
  else if (!localSource && e.AUTH_JWT_ISSUER) jwt.remoteKeys = { discoveryIssuer: discoveryBase(e.AUTH_JWT_ISSUER, issues), ...timings };
  else if (!localSource) {
    issues.push('AUTH_JWT_SECRET: AUTH_MODE=jwt needs AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY, AUTH_JWT_JWKS_FILE, AUTH_JWT_JWKS_URL, or AUTH_JWT_ISSUER for OIDC discovery');
  }
  return jwt;
}

/** The issuer must be a URL for discovery to find anything under it. */
function discoveryBase(issuer: string, issues: string[]): string {
  try {
    const { protocol } = new URL(issuer);
    if (protocol !== 'https:' && protocol !== 'http:') throw new Error('not http');
  } catch {
    issues.push('AUTH_JWT_ISSUER: OIDC discovery (no other key source is set) needs an http(s) issuer URL');
  }
  return issuer;
}

function readJwksFile(path: string, issues: string[]): { keys: unknown[] } | undefined {
  const text = readFile('AUTH_JWT_JWKS_FILE', path, issues);
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(parsed.keys)) throw new Error('no keys');
    return { keys: parsed.keys };
  } catch {
    issues.push('AUTH_JWT_JWKS_FILE: must be a JWKS JSON document ({"keys":[…]})');
    return undefined;
  }
}

function readFile(name: string, path: string, issues: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    issues.push(`${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}
