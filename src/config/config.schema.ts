/**
 * The one configuration schema. The flat environment is validated once at boot and mapped into the
 * nested, typed {@link GatewayConfig}; every invalid value is reported at once as `NAME: problem`.
 * `.env.example` and the README table list the same variables (a unit test keeps them in step).
 */
import { z } from 'zod';

const DEFAULT_BASE_URL = 'https://api.holysheep.ai/v1';

/** Unset and empty are the same thing: Kubernetes manifests often carry `value: ""`. */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const integer = (defaultValue: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  optionalString.pipe(
    z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
      .optional()
      .transform((v) => v ?? defaultValue),
  );

const boolean = () =>
  optionalString.pipe(
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { errorMap: () => ({ message: 'must be true or false' }) })
      .optional()
      .transform((v) => (v === undefined ? undefined : ['true', '1', 'yes'].includes(v))),
  );

const baseUrl = optionalString.pipe(
  z
    .string()
    .optional()
    .transform((v) => v ?? DEFAULT_BASE_URL)
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

/** Every variable the service reads, with its default. */
export const envVariables = z.object({
    NODE_ENV: optionalString.pipe(z.enum(['development', 'production', 'test']).optional().transform((v) => v ?? 'development')),
    PORT: integer(8080, 0, 65535),
    HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
    LOG_LEVEL: optionalString.pipe(
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional().transform((v) => v ?? 'info'),
    ),
    HOLYSHEEP_BASE_URL: baseUrl,
    HOLYSHEEP_API_KEY: optionalString,
    DEFAULT_MODEL: optionalString.transform((v) => v ?? 'gpt-4.1'),
    UPSTREAM_CONNECT_TIMEOUT_MS: integer(10_000, 1),
    UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: integer(60_000, 1),
    UPSTREAM_STALL_TIMEOUT_MS: integer(60_000, 1),
    MAX_FRAME_BYTES: integer(262_144, 1024, 64 * 1024 * 1024),
    MAX_STREAMS_PER_CONNECTION: integer(16, 1, 10_000),
    HEARTBEAT_INTERVAL_MS: integer(25_000, 10),
    IDLE_TIMEOUT_MS: integer(300_000, 10),
    DRAIN_TIMEOUT_MS: integer(25_000, 0),
    PLAYGROUND_ENABLED: boolean(),
    SIMULATOR_TOKENS_PER_SECOND: integer(30, 1, 100_000),
});

export const envSchema = envVariables.superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.HOLYSHEEP_API_KEY) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['HOLYSHEEP_API_KEY'],
        message: 'is required when NODE_ENV=production (the built-in simulated upstream is for development only)',
      });
    }
});

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface GatewayConfig {
  env: 'development' | 'production' | 'test';
  http: { port: number; host: string };
  log: { level: LogLevel };
  upstream: {
    /** As configured; when `simulated`, requests go to the built-in simulator instead. */
    baseUrl: string;
    apiKey: string | undefined;
    /** True when no API key is set outside production: the built-in simulator answers instead. */
    simulated: boolean;
    connectTimeoutMs: number;
    firstChunkTimeoutMs: number;
    stallTimeoutMs: number;
  };
  models: { default: string };
  socket: {
    maxFrameBytes: number;
    maxStreamsPerConnection: number;
    heartbeatIntervalMs: number;
    idleTimeoutMs: number;
  };
  drain: { timeoutMs: number };
  playground: { enabled: boolean };
  simulator: { tokensPerSecond: number };
}

export class ConfigValidationError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

/**
 * Validates the environment and maps it to {@link GatewayConfig}.
 * @throws ConfigValidationError listing every problem, one `NAME: message` per line.
 */
export function parseConfig(env: Record<string, string | undefined>): GatewayConfig {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigValidationError(
      result.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const e = result.data;
  const simulated = !e.HOLYSHEEP_API_KEY && e.NODE_ENV !== 'production';
  return {
    env: e.NODE_ENV,
    http: { port: e.PORT, host: e.HOST },
    log: { level: e.LOG_LEVEL },
    upstream: {
      baseUrl: e.HOLYSHEEP_BASE_URL,
      apiKey: e.HOLYSHEEP_API_KEY,
      simulated,
      connectTimeoutMs: e.UPSTREAM_CONNECT_TIMEOUT_MS,
      firstChunkTimeoutMs: e.UPSTREAM_FIRST_CHUNK_TIMEOUT_MS,
      stallTimeoutMs: e.UPSTREAM_STALL_TIMEOUT_MS,
    },
    models: { default: e.DEFAULT_MODEL },
    socket: {
      maxFrameBytes: e.MAX_FRAME_BYTES,
      maxStreamsPerConnection: e.MAX_STREAMS_PER_CONNECTION,
      heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
      idleTimeoutMs: e.IDLE_TIMEOUT_MS,
    },
    drain: { timeoutMs: e.DRAIN_TIMEOUT_MS },
    playground: { enabled: e.PLAYGROUND_ENABLED ?? e.NODE_ENV !== 'production' },
    simulator: { tokensPerSecond: e.SIMULATOR_TOKENS_PER_SECOND },
  };
}
