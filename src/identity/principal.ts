/**
 * What a principal may look like, in every auth mode. Principals name Redis keys (limits, the
 * stream log) and appear in logs and traces, so whatever a token, a proxy header or a key file
 * says is checked before it becomes one.
 */
import { createHash } from 'node:crypto';

/** Longest principal accepted: a JWT `sub` is at most 255 characters by OIDC's own rule. */
export const MAX_PRINCIPAL_LENGTH = 256;

/**
 * C0 and C1 controls, DEL, and the Unicode line/paragraph separators (they break log lines), and
 * `{` / `}`: Redis Cluster hashes only what is inside the first `{…}` of a key, and keys will carry
 * the principal inside such a hash tag.
 */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029{}]/;

/** Why `value` cannot be a principal, or undefined when it can. Never quotes the value. */
export function principalProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_PRINCIPAL_LENGTH) return `is longer than ${MAX_PRINCIPAL_LENGTH} characters`;
  if (FORBIDDEN.test(value)) return 'contains a control character, "{" or "}"';
  return undefined;
}

/** True when `value` can be a principal (see {@link principalProblem}). */
export function isValidPrincipal(value: string): boolean {
  return principalProblem(value) === undefined;
}

/** Prefix of every anonymous principal; no other mode can produce it (see `AuthService`). */
export const ANONYMOUS_PRINCIPAL_PREFIX = 'anon:';

/** The credential prefix of an anonymous key (`anon.<random>`), as the SDK generates it. */
export const ANONYMOUS_KEY_PREFIX = 'anon.';

/**
 * An anonymous key: `anon.` and 16–128 URL-safe characters. The SDK sends 22 (128 random bits); a
 * shorter key would be guessable, and then someone else could list and read that session's
 * streams, so it is not a key at all.
 */
const ANONYMOUS_KEY = /^anon\.[A-Za-z0-9_-]{16,128}$/;

/** Whether `token` is shaped like an anonymous key (it is never a JWT or an API key). */
export function isAnonymousKey(token: string): boolean {
  return ANONYMOUS_KEY.test(token);
}

/** Whether `token` claims to be an anonymous key, well-formed or not. */
export function looksAnonymous(token: string): boolean {
  return token.slice(0, ANONYMOUS_KEY_PREFIX.length).toLowerCase() === ANONYMOUS_KEY_PREFIX;
}

/**
 * The principal of an anonymous key: `anon:` + 32 hex digits of its SHA-256 (128 bits, as many as
 * the key holds). The key itself is never kept or logged: the principal shows in logs and Redis
 * keys, and must not let anyone who reads them become that session.
 */
export function anonymousPrincipal(key: string): string {
  return `${ANONYMOUS_PRINCIPAL_PREFIX}${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32)}`;
}

/** Whether `principal` is an anonymous one (limits then also hold per client address). */
export function isAnonymousPrincipal(principal: string): boolean {
  return principal.startsWith(ANONYMOUS_PRINCIPAL_PREFIX);
}
