/**
 * The one configuration schema. The flat environment is validated once at boot and mapped into the
 * nested, typed {@link GatewayConfig}; every invalid value is reported at once as `NAME: problem`.
 * The variables themselves (validation, defaults, meaning) are listed in `env-variables.ts`, from
 * which docs/configuration.md and `.env.example` are generated.
 */
import type { z } from 'zod';
import { parseAuth, parseTrustedProxies, type AuthConfig } from './auth-config';
import { envVariables } from './env-variables';

export type { AuthConfig } from './auth-config';

/** `STREAM_LOG_FORMAT`: where the Redis log keeps a stream's meta (`src/streams/redis/redis-log-format.ts` says what each is). */
export type LogFormat = 1 | 2;

export { envVariables };

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
  /** `AUTH_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` (and, in `trusted_header`, user header) is believed. */
  trustedProxies: string[];
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
  redis: ({ batchMs: number; leaseMs: number; logFormat: LogFormat } & RedisTopology) | undefined;
  /** Tracing is on only when an OTLP endpoint is configured. */
  tracing: { endpoint: string | undefined; serviceName: string };
}

/** `host:port` of a Redis node or Sentinel. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Credentials and TLS for the nodes of a Cluster or behind Sentinels (a `REDIS_URL` carries its own). */
export interface RedisAccess {
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

/** Which Redis: one server (`REDIS_URL`), a Cluster (`REDIS_CLUSTER_NODES`), or a primary named by Sentinels (`REDIS_SENTINELS`). */
export type RedisTopology =
  | { mode: 'single'; url: string }
  | ({ mode: 'cluster'; nodes: RedisNode[] } & RedisAccess)
  | ({ mode: 'sentinel'; sentinels: RedisNode[]; name: string; sentinelPassword: string | undefined } & RedisAccess);

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
  const trustedProxies = parseTrustedProxies(raw('AUTH_TRUSTED_PROXIES'), issues);
  const timings = {
    cacheMs: result.success ? result.data.AUTH_JWT_JWKS_CACHE_MS : 600_000,
    cooldownMs: result.success ? result.data.AUTH_JWT_JWKS_COOLDOWN_MS : 30_000,
    timeoutMs: result.success ? result.data.AUTH_JWT_JWKS_TIMEOUT_MS : 5_000,
  };
  const auth = parseAuth(raw, production, trustedProxies, timings, issues);
  checkRedisTopology(raw, issues);
  if (!result.success || issues.length > 0) throw new ConfigValidationError(issues);
  return toGatewayConfig(result.data, auth, trustedProxies);
}

/** The flat, validated environment as the nested config. */
function toGatewayConfig(e: z.infer<typeof envVariables>, auth: AuthConfig, trustedProxies: string[]): GatewayConfig {
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
    trustedProxies,
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
    redis: redisConfig(e),
    tracing: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
  };
}

/** At most one way to reach Redis; credentials beside a URL would be ignored, so they are refused. */
function checkRedisTopology(raw: (name: string) => string | undefined, issues: string[]): void {
  const given = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'].filter((name) => raw(name) !== undefined);
  if (given.length > 1) issues.push(`${given.join(', ')}: set only one of them (one Redis, a Redis Cluster, or Sentinels)`);
  if (given[0] === 'REDIS_URL') {
    const ignored = ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'REDIS_TLS'].filter((name) => raw(name) !== undefined);
    if (ignored.length > 0) issues.push(`${ignored.join(', ')}: apply to REDIS_CLUSTER_NODES or REDIS_SENTINELS; with REDIS_URL put credentials and TLS (rediss://) in the URL`);
  }
}

/** The Redis section: which topology, and the log's timings. */
function redisConfig(e: z.infer<typeof envVariables>): GatewayConfig['redis'] {
  const timings = { batchMs: e.STREAM_LOG_BATCH_MS, leaseMs: e.INSTANCE_LEASE_MS, logFormat: Number(e.STREAM_LOG_FORMAT) as LogFormat };
  const access = { username: e.REDIS_USERNAME, password: e.REDIS_PASSWORD, tls: e.REDIS_TLS ?? false };
  if (e.REDIS_URL !== undefined) return { mode: 'single', url: e.REDIS_URL, ...timings };
  if (e.REDIS_CLUSTER_NODES.length > 0) return { mode: 'cluster', nodes: e.REDIS_CLUSTER_NODES, ...access, ...timings };
  if (e.REDIS_SENTINELS.length > 0) {
    return { mode: 'sentinel', sentinels: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME, sentinelPassword: e.REDIS_SENTINEL_PASSWORD, ...access, ...timings };
  }
  return undefined;
}
