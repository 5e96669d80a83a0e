/**
 * Every environment variable the service reads: how it is validated, its default, and what it
 * means. This table is the one place a setting is described: the schema that validates the
 * environment at boot is built from it, and so are docs/configuration.md and .env.example
 * (`npm run docs:config`; a test fails when the committed files differ).
 */
import { z } from 'zod';
import { boolean, hostPorts, httpUrl, integer, list, oneOf, optionalHttpUrl, redisUrl, text, type ValueSpec } from './env-types';

/** The sections of the reference, in the order it lists them. */
export const ENV_GROUPS = {
  runtime: 'Runtime',
  upstream: 'Upstream (HolySheep AI, OpenAI-compatible)',
  sockets: 'Sockets',
  shutdown: 'Shutdown',
  development: 'Development',
  access: 'Who may connect',
  limits: 'Limits',
  frames: 'What one frame may cost (checked before it is parsed)',
  http: 'HTTP',
  resilience: 'Upstream resilience',
  backpressure: 'Backpressure',
  resume: 'Resume: streams that outlive their socket, and Redis',
  tracing: 'Tracing (OpenTelemetry)',
} as const;

/** A default that is not the same in every `NODE_ENV`: what production does instead. */
export type ProductionDefault = { readonly default: string } | { readonly required: true };

/** One environment variable: its validation (from {@link ValueSpec}) and its documentation. */
export interface EnvVariable<S extends z.ZodTypeAny = z.ZodTypeAny> extends ValueSpec<S> {
  readonly group: keyof typeof ENV_GROUPS;
  /** One line: what it does and what happens at the limit. */
  readonly description: string;
  /** A credential: kept in a secret store (the Kubernetes Secret), never in a ConfigMap or a committed file. */
  readonly secret?: true;
  /**
   * Set when unset means one thing outside production and another in it; the schema leaves such a
   * variable undefined and `parseConfig` applies the rule (a test holds the two together).
   */
  readonly byEnvironment?: { readonly development?: string; readonly production: ProductionDefault };
}

const DEFAULT_BASE_URL = 'https://api.holysheep.ai/v1';

/** Every variable the service reads, in the order problems with them are reported. */
export const ENV_VARIABLES = {
  NODE_ENV: {
    group: 'runtime',
    ...oneOf(['development', 'production', 'test'], { default: 'development' }),
    description: 'In `production`, `HOLYSHEEP_API_KEY` and `AUTH_MODE` must be set and the playground is off; `test` behaves as `development`.',
  },
  PORT: { group: 'runtime', ...integer(8080, 0, 65535), description: 'HTTP port of the WebSocket endpoint (`/v1/ws`), the health probes, `/metrics` and the playground.' },
  HOST: { group: 'runtime', ...text('0.0.0.0'), description: 'Interface to bind.' },
  LOG_LEVEL: { group: 'runtime', ...oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], { default: 'info' }), description: 'Lowest level written to the log.' },
  HOLYSHEEP_BASE_URL: {
    group: 'upstream',
    ...httpUrl(DEFAULT_BASE_URL),
    description: 'Plain HTTPS base URL of the upstream; requests go to `${HOLYSHEEP_BASE_URL}/chat/completions`. `ws://` and `wss://` are refused at boot.',
  },
  HOLYSHEEP_API_KEY: {
    group: 'upstream',
    ...text(),
    secret: true,
    byEnvironment: { production: { required: true } },
    description: 'Upstream API key. Unset outside production, the built-in simulated upstream answers instead (a `WARN` line says so).',
  },
  DEFAULT_MODEL: { group: 'upstream', ...text('gpt-4.1'), description: 'Model used when a `chat.request` names none.' },
  UPSTREAM_CONNECT_TIMEOUT_MS: { group: 'upstream', ...integer(10_000, 1), description: 'Give up connecting to the upstream after this long (`upstream_unavailable`).' },
  UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: { group: 'upstream', ...integer(60_000, 1), description: 'No first chunk within this long after the request was sent: `upstream_timeout`, request aborted.' },
  UPSTREAM_STALL_TIMEOUT_MS: { group: 'upstream', ...integer(60_000, 1), description: 'Longest silence allowed between two chunks: `upstream_timeout`, request aborted.' },
  MAX_FRAME_BYTES: { group: 'sockets', ...integer(262_144, 1024, 64 * 1024 * 1024), description: 'Largest inbound frame; a bigger one closes the socket with 1009.' },
  MAX_STREAMS_PER_CONNECTION: { group: 'sockets', ...integer(16, 1, 10_000), description: 'Streams one socket may run at once (`too_many_streams` beyond).' },
  HEARTBEAT_INTERVAL_MS: {
    group: 'sockets',
    ...integer(25_000, 10),
    description: "WebSocket ping interval (the sockets spread over it in 100 ms slices); a socket that misses one ping is closed with 4001. Keep it under your load balancer's idle timeout.",
  },
  WS_PERMESSAGE_DEFLATE: {
    group: 'sockets',
    ...boolean(),
    description:
      'Accept permessage-deflate from clients that offer it (refused when unset or `false`): small windows (2^10 bytes), no context takeover, and frames under `WS_DEFLATE_THRESHOLD_BYTES` sent uncompressed. Costs CPU per frame; compact frames (`format: "text"`) save more for tokens.',
  },
  WS_DEFLATE_THRESHOLD_BYTES: {
    group: 'sockets',
    ...integer(256, 0, 64 * 1024 * 1024),
    description: 'With `WS_PERMESSAGE_DEFLATE`: frames smaller than this go out uncompressed (a token frame gains nothing from deflate).',
  },
  IDLE_TIMEOUT_MS: { group: 'sockets', ...integer(300_000, 10), description: 'Close a socket with 4002 after this long with no inbound frame and no active stream.' },
  DRAIN_TIMEOUT_MS: { group: 'shutdown', ...integer(25_000, 0), description: 'On SIGTERM, how long in-flight streams may run on before they end with `shutting_down`.' },
  PLAYGROUND_ENABLED: {
    group: 'development',
    ...boolean(),
    byEnvironment: { development: 'true', production: { default: 'false' } },
    description: 'Serve the playground page at `GET /`.',
  },
  SIMULATOR_TOKENS_PER_SECOND: { group: 'development', ...integer(30, 1, 100_000), description: 'Pace of the built-in simulated upstream (used only without `HOLYSHEEP_API_KEY`).' },

  AUTH_MODE: {
    group: 'access',
    ...oneOf(['none', 'api_key', 'jwt', 'trusted_header'], { message: 'must be none, api_key, jwt or trusted_header' }),
    byEnvironment: { development: 'none', production: { required: true } },
    description:
      'How clients authenticate: `none` = anonymous (each browser session is its own principal, by the `anon.<random>` key it keeps), a static API key, a signed JWT, or `trusted_header` (an authenticating proxy names the user).',
  },
  AUTH_TRUSTED_PROXIES: {
    group: 'access',
    ...list(),
    description:
      'CIDR ranges (e.g. `10.0.0.0/8, fd00::/8`) of the proxies whose `AUTH_TRUSTED_HEADER` and `X-Forwarded-For` are believed. Required by `trusted_header`; empty = no proxy is trusted (the client address is the socket peer).',
  },
  AUTH_TRUSTED_HEADER: {
    group: 'access',
    ...text('x-auth-request-user'),
    description: '`trusted_header` mode: the request header naming the user (oauth2-proxy: `x-auth-request-user`; others: `x-forwarded-user`). Absent, or sent from outside `AUTH_TRUSTED_PROXIES`: refused with 4401.',
  },
  AUTH_API_KEYS: { group: 'access', ...text(), secret: true, description: '`api_key` mode: comma-separated `principal:key` pairs, keys of at least 16 characters.' },
  AUTH_API_KEYS_FILE: {
    group: 'access',
    ...text(),
    description: '`api_key` mode: path to a file of `principal:key` pairs, one per line (`#` comments allowed), instead of or in addition to `AUTH_API_KEYS`.',
  },
  AUTH_JWT_SECRET: { group: 'access', ...text(), secret: true, description: '`jwt` mode, HS256: shared secret, at least 32 bytes.' },
  AUTH_JWT_PUBLIC_KEY: { group: 'access', ...text(), description: '`jwt` mode, RS256/ES256: PEM public key (literal `\\n` line breaks are accepted).' },
  AUTH_JWT_JWKS_FILE: { group: 'access', ...text(), description: '`jwt` mode: path to a JWKS JSON file (keys selected by `kid`).' },
  AUTH_JWT_JWKS_URL: {
    group: 'access',
    ...optionalHttpUrl(),
    description:
      "`jwt` mode: your identity provider's JWKS URL, fetched and cached. Unset with no other key source and `AUTH_JWT_ISSUER` set: found by OIDC discovery (`<issuer>/.well-known/openid-configuration`).",
  },
  AUTH_JWT_JWKS_CACHE_MS: {
    group: 'access',
    ...integer(600_000, 100, 86_400_000),
    description: 'How often the fetched JWKS is refreshed, in the background. While the URL fails, the last good keys keep working (a `WARN` line and `gateway_jwks_fetch_failures_total` say so).',
  },
  AUTH_JWT_JWKS_COOLDOWN_MS: {
    group: 'access',
    ...integer(30_000, 0, 3_600_000),
    description: 'A token with an unknown `kid` refetches the JWKS at most once per this long, so made-up kids cannot hammer the provider.',
  },
  AUTH_JWT_JWKS_TIMEOUT_MS: { group: 'access', ...integer(5_000, 100, 60_000), description: 'Give up one JWKS or discovery fetch after this long.' },
  AUTH_JWT_ISSUER: { group: 'access', ...text(), description: '`jwt` mode: the `iss` claim every token must carry; unset = not checked.' },
  AUTH_JWT_AUDIENCE: { group: 'access', ...text(), description: '`jwt` mode: the `aud` claim every token must carry; unset = not checked.' },
  ALLOWED_ORIGINS: {
    group: 'access',
    ...list('*'),
    description: 'Browser origins allowed to open a socket (403 otherwise): `*` = any, `https://*.example.com` = any sub-domain. Clients that send no `Origin` are not affected.',
  },

  MAX_CONNECTIONS: { group: 'limits', ...integer(10_000, 1), description: 'Sockets per instance; at capacity readiness answers 503 and new sockets close with 1013.' },
  MAX_CONNECTIONS_PER_PRINCIPAL: { group: 'limits', ...integer(100, 1), description: 'Sockets per principal (across replicas with Redis); beyond, close 4429.' },
  RATE_LIMIT_REQUESTS_PER_MINUTE: {
    group: 'limits',
    ...integer(120, 1),
    description: '`chat.request` frames per principal per minute (across replicas with Redis); beyond, `rate_limited` with `retry_after_ms`.',
  },
  MAX_FRAMES_PER_SECOND: { group: 'limits', ...integer(50, 1), description: 'Inbound frames per second per socket; a flood gets `rate_limited`, a sustained one close 4429.' },
  ALLOWED_MODELS: { group: 'limits', ...list(), description: 'Models clients may request; empty = any (`model_not_allowed` otherwise).' },
  FALLBACK_MODELS: { group: 'resilience', ...list(), description: 'Models to try, in order, when the requested one is unavailable before its first chunk.' },
  MAX_MESSAGES_PER_REQUEST: { group: 'limits', ...integer(256, 1), description: 'Most `messages` in one `chat.request` (`bad_request` beyond).' },
  MAX_PROMPT_BYTES: { group: 'limits', ...integer(196_608, 1), description: 'Largest JSON size of the `messages` of one `chat.request` (`bad_request` beyond).' },
  MAX_TOOLS_PER_REQUEST: { group: 'limits', ...integer(128, 1), description: "Most `tools` in one `chat.request` (`bad_request` beyond; OpenAI's own limit is 128)." },
  MAX_JSON_DEPTH: { group: 'frames', ...integer(128, 16, 1_000), description: 'Deepest nesting of objects/arrays in a frame, the frame itself being level 1 (`bad_request` beyond).' },
  MAX_JSON_VALUES: { group: 'frames', ...integer(20_000, 100), description: 'Most JSON values (members and elements) in one frame (`bad_request` beyond).' },
  MAX_PING_TS_BYTES: { group: 'frames', ...integer(1024, 16, 65_536), description: 'Largest `ts` a `ping` may carry, as JSON; a larger one gets `bad_request` instead of a `pong`.' },
  INBOUND_BYTES_PER_SECOND: {
    group: 'frames',
    ...integer(1_048_576, 1024),
    description: 'Inbound bytes per second per principal, all its sockets together; beyond, its sockets are read more slowly (nothing is dropped).',
  },
  MAX_COMPLETION_TOKENS: {
    group: 'limits',
    ...integer(16_384, 0, 10_000_000),
    description: 'Sent upstream as `max_completion_tokens` when a request sets no cap; a larger `max_tokens` / `max_completion_tokens` is `bad_request`. 0 = no cap.',
  },
  MAX_STREAM_DURATION_MS: {
    group: 'limits',
    ...integer(900_000, 0),
    description: 'A stream still running after this long ends with `chat.error` `upstream_timeout` (not retryable), upstream aborted. 0 = no cap.',
  },
  HTTP_HEADERS_TIMEOUT_MS: {
    group: 'http',
    ...integer(5_000, 100, 120_000),
    description: 'Whole request headers (a WebSocket upgrade included) must arrive within this, else 408 and the connection is closed.',
  },
  HTTP_REQUEST_TIMEOUT_MS: { group: 'http', ...integer(10_000, 100, 600_000), description: 'Whole HTTP request within this.' },

  UPSTREAM_MAX_RETRIES: { group: 'resilience', ...integer(2, 0, 10), description: 'Retries before the first chunk only (never duplicated text): connection errors, 408, 409, 429, 5xx.' },
  UPSTREAM_RETRY_BASE_DELAY_MS: { group: 'resilience', ...integer(250, 1), description: 'Exponential backoff base, with full jitter.' },
  UPSTREAM_RETRY_MAX_DELAY_MS: {
    group: 'resilience',
    ...integer(10_000, 1),
    description: 'Cap on one backoff delay, and on an honoured `retry-after` (a longer one is passed to the client instead).',
  },

  SEND_BUFFER_HIGH_WATER_BYTES: { group: 'backpressure', ...integer(262_144, 1024), description: "When a socket's unsent bytes pass this, the upstream bodies that feed it stop being read until it drains." },
  SLOW_CLIENT_TIMEOUT_MS: { group: 'backpressure', ...integer(30_000, 1), description: 'A socket that stays over the high-water mark this long without draining is closed with 4008.' },
  SLOW_CLIENT_CLOSE_GRACE_MS: {
    group: 'backpressure',
    ...integer(10_000, 100, 30_000),
    description: 'After that 4008, a client that reads nothing of what is still queued for this long is dropped; one that reads gets its data, then the close frame.',
  },

  RESUME_GRACE_MS: {
    group: 'resume',
    ...integer(30_000, 0),
    description: 'A stream whose last socket closed keeps running this long for the client to come back (`stream.resume`); 0 = abort at once.',
  },
  STREAM_RETENTION_MS: { group: 'resume', ...integer(300_000, 0), description: 'An ended stream stays resumable this long.' },
  STREAM_BUFFER_MAX_BYTES: {
    group: 'resume',
    ...integer(1_048_576, 16_384, 1_073_741_824),
    description: 'Frames kept per stream; past it the oldest go (a resume from below them gets `stream_not_found`), and the upstream pauses while a watcher still needs them.',
  },
  STREAM_LOG_MAX_BYTES: {
    group: 'resume',
    ...integer(134_217_728, 1_048_576, 68_719_476_736),
    description: 'Frames kept in memory by all streams of this instance (sized for a 512 MiB pod); past it the longest-ended streams go first.',
  },
  MAX_DETACHED_STREAMS_PER_PRINCIPAL: { group: 'resume', ...integer(16, 0, 100_000), description: 'Streams of one principal running with no socket attached; beyond, the oldest is aborted at once.' },
  RESUME_WAIT_TIMEOUT_MS: {
    group: 'resume',
    ...integer(30_000, 100, 3_600_000),
    description: 'A resume past what a live stream has logged waits this long for the log to get there, then is answered `bad_request`.',
  },
  RESUMES_PER_MINUTE: { group: 'resume', ...integer(120, 1, 1_000_000), description: 'Sustained `stream.resume` rate per socket and per principal; beyond, `rate_limited` with `retry_after_ms`.' },
  RESUME_BURST: {
    group: 'resume',
    ...integer(32, 1, 100_000),
    description: 'Resumes one socket may send at once (raised to `MAX_STREAMS_PER_CONNECTION` if lower: the SDK resumes every stream after a reconnect); a principal may send 4× this.',
  },
  REDIS_URL: {
    group: 'resume',
    ...redisUrl(),
    secret: true,
    description:
      'One Redis (primary) holding the stream log, limits and cancel shared by every replica; credentials and TLS (`rediss://`) in the URL. Unset, with no `REDIS_CLUSTER_NODES` or `REDIS_SENTINELS` either = this instance alone, in memory.',
  },
  REDIS_CLUSTER_NODES: {
    group: 'resume',
    ...hostPorts(),
    description:
      'Instead of `REDIS_URL`: a Redis Cluster, `host:port` of some of its nodes (the rest are discovered). Each stream\'s keys share a hash tag; operations over many streams go per node. Credentials and TLS: `REDIS_USERNAME`, `REDIS_PASSWORD`, `REDIS_TLS`.',
  },
  REDIS_SENTINELS: {
    group: 'resume',
    ...hostPorts(),
    description:
      'Instead of `REDIS_URL`: Redis Sentinels (`host:port`, …) that name the primary `REDIS_SENTINEL_NAME`; a failover is followed without a restart. Credentials and TLS: `REDIS_USERNAME`, `REDIS_PASSWORD`, `REDIS_SENTINEL_PASSWORD`, `REDIS_TLS`.',
  },
  REDIS_SENTINEL_NAME: { group: 'resume', ...text('mymaster'), description: 'The primary\'s name in the Sentinels\' configuration (with `REDIS_SENTINELS`).' },
  REDIS_USERNAME: { group: 'resume', ...text(), description: 'ACL user on the Redis nodes (with `REDIS_CLUSTER_NODES` or `REDIS_SENTINELS`; with `REDIS_URL` it goes in the URL).' },
  REDIS_PASSWORD: {
    group: 'resume',
    ...text(),
    secret: true,
    description: 'Password (AUTH) on the Redis nodes (with `REDIS_CLUSTER_NODES` or `REDIS_SENTINELS`; with `REDIS_URL` it goes in the URL). Never logged.',
  },
  REDIS_SENTINEL_PASSWORD: { group: 'resume', ...text(), secret: true, description: 'Password (AUTH) on the Sentinels themselves, when they require one. Never logged.' },
  REDIS_TLS: {
    group: 'resume',
    ...boolean(),
    description: 'TLS to the Redis nodes (and Sentinels) of `REDIS_CLUSTER_NODES` / `REDIS_SENTINELS`, verified against the system CAs (with `REDIS_URL`, write `rediss://`). Default false.',
  },
  STREAM_LOG_BATCH_MS: { group: 'resume', ...integer(100, 1, 10_000), description: 'Frames are written to Redis in batches over this window (one entry per stream per window, pipelined).' },
  STREAM_LOG_FORMAT: {
    group: 'resume',
    ...oneOf(['1', '2'], { default: '1', message: 'must be 1 or 2' }),
    description:
      "Where a stream's meta is kept in Redis: `1` in a hash beside its log (what the previous release reads), `2` in its log's first entry (3 Redis commands per stream besides its entries instead of 7). This release reads both; set `2` once no pod of an earlier release is left (docs/operations.md, \"Upgrading\"). The next release makes `2` the default.",
  },
  INSTANCE_LEASE_MS: {
    group: 'resume',
    ...integer(5_000, 500, 600_000),
    description:
      "Each instance renews a lease in Redis; a stream whose owner's lease has been missing longer than this is ended for its watchers (`upstream_disconnected`). Also how long a pod's promise that its sockets watch a stream holds (renewed every third).",
  },

  // OpenTelemetry's own variable names (the exporter also reads OTEL_EXPORTER_OTLP_HEADERS etc.).
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    group: 'tracing',
    ...text(),
    description: 'OTLP/HTTP endpoint (e.g. `http://otel-collector:4318`); unset = tracing off. The exporter also honours `OTEL_EXPORTER_OTLP_HEADERS` and the other `OTEL_EXPORTER_OTLP_*` variables.',
  },
  OTEL_SERVICE_NAME: { group: 'tracing', ...text('holysheep-stream-gateway'), description: '`service.name` on every span.' },
} satisfies Record<string, EnvVariable>;

/** The name of a variable the service reads. */
export type EnvVariableName = keyof typeof ENV_VARIABLES;

/** Names of the variables that are credentials, in table order. */
export function secretVariables(variables: Record<string, EnvVariable> = ENV_VARIABLES): string[] {
  return Object.entries(variables)
    .filter(([, v]) => v.secret)
    .map(([name]) => name);
}

type Schemas<T extends Record<string, { schema: z.ZodTypeAny }>> = { [K in keyof T]: T[K]['schema'] };

function schemasOf<T extends Record<string, { schema: z.ZodTypeAny }>>(variables: T): Schemas<T> {
  return Object.fromEntries(Object.entries(variables).map(([name, variable]) => [name, variable.schema])) as Schemas<T>;
}

/** Every variable the service reads, validated and given its default. */
export const envVariables = z.object(schemasOf(ENV_VARIABLES));
