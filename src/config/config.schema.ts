/**
 * The one configuration schema. The flat environment is validated once at boot and mapped into the
 * nested, typed {@link GatewayConfig}; every invalid value is reported at once as `NAME: problem`.
 * The variables themselves (validation, defaults, meaning) are listed in `env-variables.ts`, from
 * which docs/configuration.md and `.env.example` are generated.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { envVariables } from './env-variables';

export { envVariables };

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
      issuer?: string;
      audience?: string;
    };

export type LogLevel = z.infer<typeof envVariables>['LOG_LEVEL'];

export interface GatewayConfig {
  env: 'development' | 'production' | 'test';
  http: {
    port: number;
    host: string;
    /** Whole request headers (an upgrade included) must arrive within this; slowloris costs nothing. */
    headersTimeoutMs: number;
    requestTimeoutMs: number;
  };
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
    /** permessage-deflate offered by a client is accepted (see `gateway/deflate-options.ts`). */
    permessageDeflate: boolean;
    /** With permessage-deflate: frames under this many bytes are not compressed. */
    deflateThresholdBytes: number;
  };
  drain: { timeoutMs: number };
  playground: { enabled: boolean };
  simulator: { tokensPerSecond: number };
  auth: AuthConfig;
  /** `['*']` allows every origin; otherwise exact origins, or `https://*.example.com` patterns. */
  allowedOrigins: string[];
  limits: {
    maxConnections: number;
    maxConnectionsPerPrincipal: number;
    requestsPerMinute: number;
    framesPerSecond: number;
    /** Empty = any model. */
    allowedModels: string[];
    maxMessages: number;
    maxPromptBytes: number;
    maxTools: number;
    /** `max_completion_tokens` sent when a request names no cap, and the largest one accepted; 0 = no cap. */
    maxCompletionTokens: number;
    /** A stream still running after this long ends with `chat.error` `upstream_timeout`; 0 = no cap. */
    maxStreamDurationMs: number;
  };
  /** Bounds on what one inbound frame may cost before it is validated (docs/protocol.md "Limits"). */
  frames: {
    maxJsonDepth: number;
    maxJsonValues: number;
    maxPingTsBytes: number;
    /** Inbound bytes per second per principal, all its sockets together; beyond, its sockets are read slower. */
    inboundBytesPerSecond: number;
  };
  retry: { maxRetries: number; baseDelayMs: number; maxDelayMs: number };
  fallbackModels: string[];
  backpressure: { highWaterBytes: number; slowClientTimeoutMs: number; slowClientCloseGraceMs: number };
  /** Streams that outlive their socket (docs/protocol.md "Resume"). */
  resume: {
    /** A stream with no socket attached keeps running this long; 0 = abort at once. */
    graceMs: number;
    /** An ended stream stays resumable this long. */
    retentionMs: number;
    /** Frames kept per stream (oldest go first; the upstream pauses while a reader still needs them). */
    maxStreamBytes: number;
    /** Frames kept in memory by all streams of this instance. */
    maxTotalBytes: number;
    /** Streams of one principal running with no socket attached; beyond, the oldest is aborted. */
    maxDetachedPerPrincipal: number;
    /** How long a resume past what a live stream has logged waits for the log to get there. */
    waitTimeoutMs: number;
    /** Sustained resumes per minute, per socket and per principal. */
    perMinute: number;
    /** Resumes one socket may send at once (never below `maxStreamsPerConnection`); a principal, 4×. */
    burst: number;
  };
  /** Shared log, limits and cancel across replicas; undefined = this instance alone (in memory). */
  redis: { url: string; batchMs: number; leaseMs: number } | undefined;
  /** Tracing is on only when an OTLP endpoint is configured. */
  tracing: { endpoint: string | undefined; serviceName: string };
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
  const result = envVariables.safeParse(env);
  const issues = result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  // Cross-variable rules read the raw values, so they are reported together with the
  // per-variable problems above rather than only once those are fixed.
  const raw = (name: string) => env[name]?.trim() || undefined;
  const production = raw('NODE_ENV') === 'production';
  if (production && !raw('HOLYSHEEP_API_KEY')) {
    issues.push('HOLYSHEEP_API_KEY: is required when NODE_ENV=production (the built-in simulated upstream is for development only)');
  }
  const auth = parseAuth(raw, production, issues);
  if (!result.success || issues.length > 0) throw new ConfigValidationError(issues);
  return toGatewayConfig(result.data, auth);
}

/** The flat, validated environment as the nested config. */
function toGatewayConfig(e: z.infer<typeof envVariables>, auth: AuthConfig): GatewayConfig {
  const simulated = !e.HOLYSHEEP_API_KEY && e.NODE_ENV !== 'production';
  return {
    env: e.NODE_ENV,
    http: { port: e.PORT, host: e.HOST, headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS, requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS },
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
      permessageDeflate: e.WS_PERMESSAGE_DEFLATE ?? false,
      deflateThresholdBytes: e.WS_DEFLATE_THRESHOLD_BYTES,
    },
    drain: { timeoutMs: e.DRAIN_TIMEOUT_MS },
    playground: { enabled: e.PLAYGROUND_ENABLED ?? e.NODE_ENV !== 'production' },
    simulator: { tokensPerSecond: e.SIMULATOR_TOKENS_PER_SECOND },
    auth,
    allowedOrigins: e.ALLOWED_ORIGINS,
    limits: {
      maxConnections: e.MAX_CONNECTIONS,
      maxConnectionsPerPrincipal: e.MAX_CONNECTIONS_PER_PRINCIPAL,
      requestsPerMinute: e.RATE_LIMIT_REQUESTS_PER_MINUTE,
      framesPerSecond: e.MAX_FRAMES_PER_SECOND,
      allowedModels: e.ALLOWED_MODELS,
      maxMessages: e.MAX_MESSAGES_PER_REQUEST,
      maxPromptBytes: e.MAX_PROMPT_BYTES,
      maxTools: e.MAX_TOOLS_PER_REQUEST,
      maxCompletionTokens: e.MAX_COMPLETION_TOKENS,
      maxStreamDurationMs: e.MAX_STREAM_DURATION_MS,
    },
    frames: {
      maxJsonDepth: e.MAX_JSON_DEPTH,
      maxJsonValues: e.MAX_JSON_VALUES,
      maxPingTsBytes: e.MAX_PING_TS_BYTES,
      inboundBytesPerSecond: e.INBOUND_BYTES_PER_SECOND,
    },
    retry: { maxRetries: e.UPSTREAM_MAX_RETRIES, baseDelayMs: e.UPSTREAM_RETRY_BASE_DELAY_MS, maxDelayMs: e.UPSTREAM_RETRY_MAX_DELAY_MS },
    fallbackModels: e.FALLBACK_MODELS,
    backpressure: {
      highWaterBytes: e.SEND_BUFFER_HIGH_WATER_BYTES,
      slowClientTimeoutMs: e.SLOW_CLIENT_TIMEOUT_MS,
      slowClientCloseGraceMs: e.SLOW_CLIENT_CLOSE_GRACE_MS,
    },
    resume: {
      graceMs: e.RESUME_GRACE_MS,
      retentionMs: e.STREAM_RETENTION_MS,
      maxStreamBytes: e.STREAM_BUFFER_MAX_BYTES,
      maxTotalBytes: e.STREAM_LOG_MAX_BYTES,
      maxDetachedPerPrincipal: e.MAX_DETACHED_STREAMS_PER_PRINCIPAL,
      waitTimeoutMs: e.RESUME_WAIT_TIMEOUT_MS,
      perMinute: e.RESUMES_PER_MINUTE,
      // The SDK resumes every stream of a socket at once after a reconnect: that burst always passes.
      burst: Math.max(e.RESUME_BURST, e.MAX_STREAMS_PER_CONNECTION),
    },
    redis: e.REDIS_URL === undefined ? undefined : { url: e.REDIS_URL, batchMs: e.STREAM_LOG_BATCH_MS, leaseMs: e.INSTANCE_LEASE_MS },
    tracing: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
  };
}

/** The auth section, including the files it names; problems go to `issues` as `NAME: message`. */
function parseAuth(raw: (name: string) => string | undefined, production: boolean, issues: string[]): AuthConfig {
  // Outside production the development default is "no auth"; in production it must be chosen.
  const mode = raw('AUTH_MODE') ?? (production ? undefined : 'none');
  if (mode !== undefined && mode !== 'none' && mode !== 'api_key' && mode !== 'jwt') return { mode: 'none' }; // reported by the schema
  const e = {
    AUTH_API_KEYS: raw('AUTH_API_KEYS'),
    AUTH_API_KEYS_FILE: raw('AUTH_API_KEYS_FILE'),
    AUTH_JWT_SECRET: raw('AUTH_JWT_SECRET'),
    AUTH_JWT_PUBLIC_KEY: raw('AUTH_JWT_PUBLIC_KEY'),
    AUTH_JWT_JWKS_FILE: raw('AUTH_JWT_JWKS_FILE'),
    AUTH_JWT_ISSUER: raw('AUTH_JWT_ISSUER'),
    AUTH_JWT_AUDIENCE: raw('AUTH_JWT_AUDIENCE'),
  };
  if (mode === undefined) {
    issues.push('AUTH_MODE: is required when NODE_ENV=production (none, api_key or jwt)');
    return { mode: 'none' };
  }
  if (mode === 'none') return { mode };
  if (mode === 'api_key') return parseApiKeys(e, issues);
  return parseJwt(e, issues);
}

type AuthVariables = Record<'AUTH_API_KEYS' | 'AUTH_API_KEYS_FILE' | 'AUTH_JWT_SECRET' | 'AUTH_JWT_PUBLIC_KEY' | 'AUTH_JWT_JWKS_FILE' | 'AUTH_JWT_ISSUER' | 'AUTH_JWT_AUDIENCE', string | undefined>;

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
        else keys.push({ principal, key });
      });
  }
  if (keys.length === 0 && !sources.some(([, text]) => text)) issues.push('AUTH_API_KEYS: at least one principal:key pair is required when AUTH_MODE=api_key (or AUTH_API_KEYS_FILE)');
  return { mode: 'api_key', keys };
}

function parseJwt(e: AuthVariables, issues: string[]): Extract<AuthConfig, { mode: 'jwt' }> {
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
  if (e.AUTH_JWT_JWKS_FILE) {
    const text = readFile('AUTH_JWT_JWKS_FILE', e.AUTH_JWT_JWKS_FILE, issues);
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as { keys?: unknown };
        if (!Array.isArray(parsed.keys)) throw new Error('no keys');
        jwt.jwks = { keys: parsed.keys };
      } catch {
        issues.push('AUTH_JWT_JWKS_FILE: must be a JWKS JSON document ({"keys":[…]})');
      }
    }
  }
  if (!e.AUTH_JWT_SECRET && !e.AUTH_JWT_PUBLIC_KEY && !e.AUTH_JWT_JWKS_FILE) {
    issues.push('AUTH_JWT_SECRET: AUTH_MODE=jwt needs AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_JWKS_FILE');
  }
  return jwt;
}

function readFile(name: string, path: string, issues: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    issues.push(`${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}
