/**
 * The kinds of value an environment variable may hold. Each builder returns the zod schema that
 * validates the raw string together with what the configuration reference prints about it (type,
 * default, allowed values), so the two are derived from the same arguments and cannot drift.
 */
import { z } from 'zod';

/** How one variable is validated, and how the reference describes that validation. */
export interface ValueSpec<S extends z.ZodTypeAny = z.ZodTypeAny> {
  /** Validates (and maps) the raw string; its issues are reported as `NAME: message`. */
  readonly schema: S;
  /** The type as the reference names it. */
  readonly type: 'integer' | 'boolean' | 'enum' | 'list' | 'URL' | 'string';
  /** The value used when the variable is unset or empty, written as it would be in an env file. */
  readonly default?: string;
  /** What is accepted beyond the type itself. */
  readonly allowed?: Allowed;
}

/** The values a variable accepts: a closed set, a range of whole numbers, or a short phrase. */
export type Allowed = { readonly values: readonly string[] } | { readonly min: number; readonly max: number } | { readonly text: string };

/** Unset and empty are the same thing: Kubernetes manifests often carry `value: ""`. */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** Node's timers hold at most 2^31-1 ms; a larger delay would silently fire after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A whole number within `[min, max]`; `max` defaults to what a Node timer can hold. */
export function integer(defaultValue: number, min: number, max = MAX_TIMER_MS) {
  const schema = optionalString.pipe(
    z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
      .optional()
      .transform((v) => v ?? defaultValue),
  );
  return { schema, type: 'integer', default: String(defaultValue), allowed: { min, max } } as const satisfies ValueSpec;
}

const TRUE_WORDS = ['true', '1', 'yes'] as const;
const BOOLEAN_WORDS = ['true', 'false', '1', '0', 'yes', 'no'] as const;

/** `true`/`false` (also `1`/`0`, `yes`/`no`); unset stays undefined so the caller picks a default per environment. */
export function boolean() {
  const schema = optionalString.pipe(
    z
      .enum(BOOLEAN_WORDS, { errorMap: () => ({ message: 'must be true or false' }) })
      .optional()
      .transform((v) => (v === undefined ? undefined : (TRUE_WORDS as readonly string[]).includes(v))),
  );
  return { schema, type: 'boolean', allowed: { values: BOOLEAN_WORDS } } as const satisfies ValueSpec;
}

/** One of `values`; `message` replaces zod's own wording when given. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, options: { default: T[number]; message?: string }): ValueSpec<z.ZodType<T[number], z.ZodTypeDef, string | undefined>>;
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, options?: { message?: string }): ValueSpec<z.ZodType<T[number] | undefined, z.ZodTypeDef, string | undefined>>;
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, options: { default?: T[number]; message?: string } = {}): ValueSpec {
  const { default: defaultValue, message } = options;
  const choice = message === undefined ? z.enum(values as unknown as [string, ...string[]]) : z.enum(values as unknown as [string, ...string[]], { errorMap: () => ({ message }) });
  const optional = choice.optional();
  const schema = optionalString.pipe(defaultValue === undefined ? optional : optional.transform((v) => v ?? defaultValue));
  return { schema, type: 'enum', default: defaultValue, allowed: { values } };
}

/** Free text, trimmed; `defaultValue` when unset. */
export function text(): { schema: typeof optionalString; type: 'string' };
export function text(defaultValue: string): { schema: z.ZodEffects<typeof optionalString, string, string | undefined>; type: 'string'; default: string };
export function text(defaultValue?: string): ValueSpec {
  return defaultValue === undefined
    ? { schema: optionalString, type: 'string' }
    : { schema: optionalString.transform((v) => v ?? defaultValue), type: 'string', default: defaultValue };
}

/** Comma-separated list, entries trimmed and empty entries dropped; `defaultValue` when unset. */
export function list(defaultValue?: string) {
  const schema = optionalString.transform((v) => split(v ?? defaultValue));
  return { schema, type: 'list', default: defaultValue, allowed: { text: 'comma-separated' } } as const satisfies ValueSpec;
}

function split(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((item) => item.trim()).filter(Boolean);
}

/** An absolute http(s) URL, trailing slashes removed. */
export function httpUrl(defaultValue: string) {
  const schema = optionalString.pipe(
    z
      .string()
      .optional()
      .transform((v) => v ?? defaultValue)
      .superRefine((value, ctx) => {
        let url: URL;
        try {
          url = new URL(value);
        } catch {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an absolute http(s) URL' });
          return;
        }
        if (url.protocol === 'ws:' || url.protocol === 'wss:') {
          // The tutorial server this replaces was often configured with wss://: the upstream is
          // plain HTTPS + SSE, never a WebSocket.
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be http(s), not ${url.protocol}// (the upstream speaks HTTPS + Server-Sent Events)` });
        } else if (url.protocol !== 'http:' && url.protocol !== 'https:') {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an absolute http(s) URL' });
        }
      })
      .transform((v) => v.replace(/\/+$/, '')),
  );
  return { schema, type: 'URL', default: defaultValue, allowed: { text: '`http://` or `https://`' } } as const satisfies ValueSpec;
}

/** An absolute http(s) URL with no default; unset stays undefined. */
export function optionalHttpUrl() {
  const schema = optionalString.pipe(
    z
      .string()
      .refine(isHttpUrl, 'must be an absolute http(s) URL')
      .optional(),
  );
  return { schema, type: 'URL', allowed: { text: '`http://` or `https://`' } } as const satisfies ValueSpec;
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** A `redis://` or `rediss://` URL; unset stays undefined. */
export function redisUrl() {
  const schema = optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL')
      .optional(),
  );
  return { schema, type: 'URL', allowed: { text: '`redis://` or `rediss://`' } } as const satisfies ValueSpec;
}

/** A comma-separated list of `host:port` (a Redis Cluster's or Sentinels' addresses); unset = empty. */
export function hostPorts() {
  const hostPort = /^[^\s:,]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/;
  const schema = optionalString.transform((v) => split(v)).pipe(
    z
      .array(z.string().regex(hostPort, 'must be host:port, comma-separated'))
      .transform((entries) => entries.map(parseHostPort)),
  );
  return { schema, type: 'list', allowed: { text: '`host:port`, comma-separated' } } as const satisfies ValueSpec;
}

function parseHostPort(entry: string): { host: string; port: number } {
  const at = entry.lastIndexOf(':');
  return { host: entry.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(entry.slice(at + 1)) };
}
