import { z } from 'zod';
import {
  FORWARDED_REQUEST_FIELDS,
  type AuthRefreshFrame,
  type ChatCancelFrame,
  type ChatRequestFrame,
  type ClientFrame,
  type ErrorCode,
  type PingFrame,
  type StreamListFrame,
  type StreamResumeFrame,
} from '@holysheep/protocol';
import type { GatewayConfig } from '../config/config.schema';
import { isValidTraceparent } from '../tracing/tracing.service';
import { checkJsonShape } from './json-shape';

/**
 * Validation of client frames (docs/protocol.md "Client → server"). Every failure becomes the
 * protocol's `error` frame fields; nothing here throws. Unknown extra fields are dropped by the
 * schemas (zod strips them), so they can never reach the upstream.
 *
 * Every frame costs bounded time whatever its shape (issue #8): its nesting depth and value count
 * are measured on the raw bytes before `JSON.parse`, and array lengths are checked before zod, so
 * zod only ever walks a few hundred elements and never builds an issue per element of a huge array.
 */

/** What one frame may hold; see {@link frameLimits}. */
export interface FrameLimits {
  maxJsonDepth: number;
  maxJsonValues: number;
  maxPingTsBytes: number;
  maxMessages: number;
  maxTools: number;
}

export function frameLimits(config: GatewayConfig): FrameLimits {
  const { frames, limits } = config;
  return {
    maxJsonDepth: frames.maxJsonDepth,
    maxJsonValues: frames.maxJsonValues,
    maxPingTsBytes: frames.maxPingTsBytes,
    maxMessages: limits.maxMessages,
    maxTools: limits.maxTools,
  };
}

/** Validation problems listed in one `error` frame; the rest are not even formatted. */
const MAX_REPORTED_ISSUES = 5;
/** Largest `stop` list (OpenAI's own limit is 4). */
const MAX_STOP_SEQUENCES = 16;

export type FrameParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; id?: string };

const clientId = z.string().min(1, 'must be 1–128 characters').max(128, 'must be 1–128 characters');

/**
 * OpenAI chat message fields the gateway forwards. A message is passed on with these keys only,
 * so nothing a client invents reaches the upstream; the upstream validates their contents.
 */
const MESSAGE_FIELDS = ['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'refusal', 'audio', 'function_call'] as const;

const message = z
  .object({ role: z.string().min(1, 'must be a non-empty string') }, { invalid_type_error: 'must be an object' })
  .passthrough()
  .transform((m) => {
    const out: Record<string, unknown> = {};
    for (const key of MESSAGE_FIELDS) if (m[key] !== undefined) out[key] = m[key];
    return out as ChatRequestFrame['messages'][number];
  });

/** `chat.request` / `stream.resume` `format` (issue 23): which rendering of content deltas this socket gets. */
const format = z.enum(['json', 'text'], { errorMap: () => ({ message: 'must be "json" or "text"' }) }).optional();

const finite = z.number({ invalid_type_error: 'must be a number' }).finite();
const int = z.number({ invalid_type_error: 'must be an integer' }).int('must be an integer');

const chatRequest = z.object({
  type: z.literal('chat.request'),
  id: clientId,
  model: z.string().min(1, 'must be a non-empty string').max(256).optional(),
  messages: z.array(message, { invalid_type_error: 'must be an array' }).min(1, 'must be a non-empty array'),
  temperature: finite.optional(),
  top_p: finite.optional(),
  max_tokens: int.positive('must be positive').optional(),
  max_completion_tokens: int.positive('must be positive').optional(),
  stop: z.union([z.string(), z.array(z.string()).max(MAX_STOP_SEQUENCES), z.null()], { errorMap: () => ({ message: 'must be a string, an array of strings, or null' }) }).optional(),
  presence_penalty: finite.optional(),
  frequency_penalty: finite.optional(),
  seed: int.optional(),
  tools: z.array(z.unknown(), { invalid_type_error: 'must be an array' }).optional(),
  tool_choice: z.union([z.string(), z.record(z.unknown())], { errorMap: () => ({ message: 'must be a string or an object' }) }).optional(),
  response_format: z.record(z.unknown(), { invalid_type_error: 'must be an object' }).optional(),
  user: z.string({ invalid_type_error: 'must be a string' }).max(256).optional(),
  // Optional trace context; anything that is not a valid traceparent is dropped, not rejected.
  traceparent: z.unknown().optional().transform((v) => (isValidTraceparent(v) ? v : undefined)),
  format,
}) satisfies z.ZodType<ChatRequestFrame, z.ZodTypeDef, unknown>;

const chatCancel = z.object({ type: z.literal('chat.cancel'), id: clientId }) satisfies z.ZodType<ChatCancelFrame, z.ZodTypeDef, unknown>;

const streamResume = z.object({
  type: z.literal('stream.resume'),
  stream_id: z.string().min(1, 'must be a non-empty string').max(256),
  // A seq past 2^53 cannot be told from its neighbours: never a seq this gateway logged.
  after_seq: int.min(0, 'must be ≥ 0').max(Number.MAX_SAFE_INTEGER, 'must be a safe integer'),
  id: clientId.optional(),
  format,
}) satisfies z.ZodType<StreamResumeFrame, z.ZodTypeDef, unknown>;

// `ts` is "any JSON" and echoed as is; `passthrough` is not used, so only `ts` survives.
const ping = z.object({ type: z.literal('ping'), ts: z.unknown().optional() }) satisfies z.ZodType<PingFrame, z.ZodTypeDef, unknown>;

const streamList = z.object({ type: z.literal('stream.list'), id: clientId.optional() }) satisfies z.ZodType<StreamListFrame, z.ZodTypeDef, unknown>;

// The token is length-checked here and verified by the auth service; zod's messages name the
// field, never its value, so a refused token is not echoed.
const authRefresh = z.object({
  type: z.literal('auth.refresh'),
  id: clientId.optional(),
  token: z.string({ invalid_type_error: 'must be a string', required_error: 'is required' }).min(1, 'must be a non-empty string').max(16 * 1024, 'is too long'),
}) satisfies z.ZodType<AuthRefreshFrame, z.ZodTypeDef, unknown>;

const schemas: Record<ClientFrame['type'], z.ZodType<ClientFrame, z.ZodTypeDef, unknown>> = {
  'auth.refresh': authRefresh,
  'chat.request': chatRequest,
  'chat.cancel': chatCancel,
  'stream.resume': streamResume,
  ping,
  'stream.list': streamList,
};

/** Parses and validates one inbound WebSocket message. */
export function parseClientFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, limits: FrameLimits): FrameParseResult {
  if (isBinary) return { ok: false, code: 'bad_request', message: 'Binary frames are not supported; send JSON text frames' };
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  const shape = checkJsonShape(bytes, { maxDepth: limits.maxJsonDepth, maxValues: limits.maxJsonValues });
  if (shape) {
    const message =
      shape.kind === 'depth'
        ? `Frame nests objects and arrays more than ${shape.limit} levels deep`
        : `Frame holds more than ${shape.limit} JSON values`;
    return { ok: false, code: 'bad_request', message, id: peekFrameHead(bytes).id };
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, code: 'bad_request', message: 'Frame is not valid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, code: 'bad_request', message: 'Frame must be a JSON object' };
  }
  const raw = value as Record<string, unknown>;
  const id = typeof raw.id === 'string' && raw.id.length > 0 && raw.id.length <= 128 ? raw.id : undefined;
  if (typeof raw.type !== 'string') return { ok: false, code: 'bad_request', message: 'Frame needs a string field "type"', id };
  const schema = Object.prototype.hasOwnProperty.call(schemas, raw.type) ? schemas[raw.type as ClientFrame['type']] : undefined;
  if (!schema) return { ok: false, code: 'unknown_type', message: `Unknown frame type "${truncate(raw.type, 64)}"`, id };
  const oversized = sizeProblem(raw, limits);
  if (oversized) return { ok: false, code: 'bad_request', message: `Invalid ${raw.type}: ${oversized}`, id };
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => `${issue.path.join('.') || '(frame)'}: ${issue.message}`);
    return { ok: false, code: 'bad_request', message: `Invalid ${raw.type}: ${problems.join('; ')}`, id };
  }
  return { ok: true, frame: result.data };
}

/** The caps that bound what zod has to walk, checked on the parsed value before zod sees it. */
function sizeProblem(raw: Record<string, unknown>, limits: FrameLimits): string | undefined {
  if (raw.type === 'chat.request') {
    const { messages, tools } = raw;
    if (Array.isArray(messages) && messages.length > limits.maxMessages) return `messages: at most ${limits.maxMessages} messages per request`;
    if (Array.isArray(tools) && tools.length > limits.maxTools) return `tools: at most ${limits.maxTools} tools per request`;
  } else if (raw.type === 'ping' && raw.ts !== undefined) {
    // The pong echoes ts: without a cap a client could make the gateway send back whatever it sends.
    // (A string longer than the cap is over it whatever its JSON: no need to serialise it to know.)
    const ts = raw.ts;
    if ((typeof ts === 'string' && ts.length > limits.maxPingTsBytes) || Buffer.byteLength(JSON.stringify(ts)) > limits.maxPingTsBytes) {
      return `ts: at most ${limits.maxPingTsBytes} bytes of JSON`;
    }
  }
  return undefined;
}

/**
 * The body sent upstream: the model plus only the protocol's listed request fields. When the
 * client set no output cap, `maxCompletionTokens` (if not 0) is sent as `max_completion_tokens`, so
 * one request cannot bill without limit (OpenAI's current name; `max_tokens` is deprecated and
 * refused by its reasoning models).
 */
export function toUpstreamRequest(frame: ChatRequestFrame, defaultModel: string, maxCompletionTokens = 0) {
  const body: Record<string, unknown> = { model: frame.model ?? defaultModel, messages: frame.messages };
  for (const field of FORWARDED_REQUEST_FIELDS) if (frame[field] !== undefined) body[field] = frame[field];
  if (maxCompletionTokens > 0 && frame.max_tokens === undefined && frame.max_completion_tokens === undefined) {
    body.max_completion_tokens = maxCompletionTokens;
  }
  return body as { model: string; messages: ChatRequestFrame['messages'] };
}

/** How far into an unparsed frame {@link peekFrameHead} looks. */
const HEAD_BYTES = 1024;
/** `"type":"…"` / `"id":"…"` as top-level members, before any nested object or array. */
const HEAD_MEMBER = /"(type|id)"\s*:\s*"((?:[^"\\\u0000-\u001f]|\\.){1,128})"/g;

/**
 * The `type` and `id` of a frame that will not be parsed (refused for its shape, or dropped by the
 * flood guard), when they appear among its first top-level members, as clients usually write
 * them. Lets the answer carry the request's id without paying for a parse.
 */
export function peekFrameHead(bytes: Buffer): { type?: string; id?: string } {
  const text = bytes.subarray(0, HEAD_BYTES).toString('utf8');
  const start = text.indexOf('{') + 1;
  if (start === 0) return {};
  const nested = text.slice(start).search(/[[{]/);
  const head = nested < 0 ? text.slice(start) : text.slice(start, start + nested);
  const found: { type?: string; id?: string } = {};
  for (const [, key, raw] of head.matchAll(HEAD_MEMBER)) {
    let value: unknown;
    try {
      value = JSON.parse(`"${raw}"`);
    } catch {
      continue;
    }
    if (typeof value === 'string' && value.length > 0 && value.length <= 128) found[key as 'type' | 'id'] ??= value;
  }
  return found;
}

const truncate = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…` : s);
