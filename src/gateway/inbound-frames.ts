import { z } from 'zod';
import {
  FORWARDED_REQUEST_FIELDS,
  type ChatCancelFrame,
  type ChatRequestFrame,
  type ClientFrame,
  type ErrorCode,
  type PingFrame,
  type StreamResumeFrame,
} from '../protocol';
import { isValidTraceparent } from '../tracing/tracing.service';

/**
 * Validation of client frames (PROTOCOL.md "Client → server"). Every failure becomes the
 * protocol's `error` frame fields; nothing here throws. Unknown extra fields are dropped by the
 * schemas (zod strips them), so they can never reach the upstream.
 */

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
  stop: z.union([z.string(), z.array(z.string()).max(16), z.null()], { errorMap: () => ({ message: 'must be a string, an array of strings, or null' }) }).optional(),
  presence_penalty: finite.optional(),
  frequency_penalty: finite.optional(),
  seed: int.optional(),
  tools: z.array(z.unknown(), { invalid_type_error: 'must be an array' }).optional(),
  tool_choice: z.union([z.string(), z.record(z.unknown())], { errorMap: () => ({ message: 'must be a string or an object' }) }).optional(),
  response_format: z.record(z.unknown(), { invalid_type_error: 'must be an object' }).optional(),
  user: z.string({ invalid_type_error: 'must be a string' }).max(256).optional(),
  // Optional trace context; anything that is not a valid traceparent is dropped, not rejected.
  traceparent: z.unknown().optional().transform((v) => (isValidTraceparent(v) ? v : undefined)),
}) satisfies z.ZodType<ChatRequestFrame, z.ZodTypeDef, unknown>;

const chatCancel = z.object({ type: z.literal('chat.cancel'), id: clientId }) satisfies z.ZodType<ChatCancelFrame, z.ZodTypeDef, unknown>;

const streamResume = z.object({
  type: z.literal('stream.resume'),
  stream_id: z.string().min(1, 'must be a non-empty string').max(256),
  after_seq: int.min(0, 'must be ≥ 0'),
  id: clientId.optional(),
}) satisfies z.ZodType<StreamResumeFrame, z.ZodTypeDef, unknown>;

// `ts` is "any JSON" and echoed as is; `passthrough` is not used, so only `ts` survives.
const ping = z.object({ type: z.literal('ping'), ts: z.unknown().optional() }) satisfies z.ZodType<PingFrame, z.ZodTypeDef, unknown>;

const schemas: Record<ClientFrame['type'], z.ZodType<ClientFrame, z.ZodTypeDef, unknown>> = {
  'chat.request': chatRequest,
  'chat.cancel': chatCancel,
  'stream.resume': streamResume,
  ping,
};

/** Parses and validates one inbound WebSocket message. */
export function parseClientFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): FrameParseResult {
  if (isBinary) return { ok: false, code: 'bad_request', message: 'Binary frames are not supported; send JSON text frames' };
  const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
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
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(frame)'}: ${issue.message}`);
    return { ok: false, code: 'bad_request', message: `Invalid ${raw.type}: ${problems.slice(0, 5).join('; ')}`, id };
  }
  return { ok: true, frame: result.data };
}

/** The body sent upstream: the model plus only the protocol's listed request fields. */
export function toUpstreamRequest(frame: ChatRequestFrame, defaultModel: string) {
  const body: Record<string, unknown> = { model: frame.model ?? defaultModel, messages: frame.messages };
  for (const field of FORWARDED_REQUEST_FIELDS) if (frame[field] !== undefined) body[field] = frame[field];
  return body as { model: string; messages: ChatRequestFrame['messages'] };
}

const truncate = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…` : s);
