/**
 * Wire protocol v1 (docs/protocol.md) as TypeScript types: every frame is a JSON object in a
 * text frame, discriminated by `type`. Server and client SDK import these; nothing else in the
 * codebase defines frame shapes.
 */
import type { ErrorCode } from './error-codes';

export const PROTOCOL_VERSION = 1 as const;
/** The only subprotocol the server ever answers with (never the `bearer.<token>` entry). */
export const SUBPROTOCOL = 'chat.v1';
export const WS_PATH = '/v1/ws';

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible payloads. Messages are typed for the SDK's callers (a typo'd role is a compile
// error); the gateway checks only what it reads (src/gateway/inbound-frames.ts) and relays the rest,
// any role included, so these types narrow what callers write, never what the wire accepts.

/** The roles this protocol types precisely (OpenAI's chat message shapes). */
export type KnownChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

/** A text part of a message's content. */
export interface TextContentPart {
  type: 'text';
  text: string;
}

/** An image part of a user message's content (a URL or a `data:` URL). */
export interface ImageContentPart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

/** An audio part of a user message's content (base64). */
export interface InputAudioContentPart {
  type: 'input_audio';
  input_audio: { data: string; format: 'wav' | 'mp3' };
}

/** A file part of a user message's content (an uploaded file's id, or its base64 data). */
export interface FileContentPart {
  type: 'file';
  file: { file_id?: string; file_data?: string; filename?: string };
}

/** A refusal part of an assistant message's content. */
export interface RefusalContentPart {
  type: 'refusal';
  refusal: string;
}

/** Any part a user message's content may hold. */
export type UserContentPart = TextContentPart | ImageContentPart | InputAudioContentPart | FileContentPart;

/** A complete tool call, as an assistant message carries it when sent back in the history. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** Instructions from the application (`developer` replaces it on newer OpenAI models). */
export interface SystemMessage {
  role: 'system';
  content: string | TextContentPart[];
  name?: string;
}

/** Instructions from the application, for models that distinguish them from `system`. */
export interface DeveloperMessage {
  role: 'developer';
  content: string | TextContentPart[];
  name?: string;
}

/** What the end user said: text, or parts (text, images, audio, files). */
export interface UserMessage {
  role: 'user';
  content: string | UserContentPart[];
  name?: string;
}

/** An earlier answer, sent back as history: text, tool calls, or both (content may then be null). */
export interface AssistantMessage {
  role: 'assistant';
  content?: string | Array<TextContentPart | RefusalContentPart> | null;
  refusal?: string | null;
  name?: string;
  tool_calls?: ToolCall[];
  /** A previous audio answer, referred to by id. */
  audio?: { id: string } | null;
}

/** The result of a tool call, answering the assistant's call with the same `tool_call_id`. */
export interface ToolMessage {
  role: 'tool';
  content: string | TextContentPart[];
  tool_call_id: string;
}

declare const unknownRoleBrand: unique symbol;
/**
 * A role outside {@link KnownChatRole}, made deliberately with `unknownRole('name')` (or a cast).
 * A plain string literal is not one: that is what makes `role: 'usr'` a compile error while an
 * upstream with its own roles stays reachable.
 */
export type UnknownRole = string & { readonly [unknownRoleBrand]: true };

/** A message with a role this protocol does not type; the gateway relays it as it is. */
export interface UnknownRoleMessage {
  role: UnknownRole;
  content?: unknown;
  [key: string]: unknown;
}

/**
 * One message of a chat request: OpenAI's shapes, discriminated by `role`. The wire contract is
 * wider (the gateway accepts any role string); a role outside these needs {@link UnknownRole}.
 */
export type ChatMessage = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | UnknownRoleMessage;

/**
 * Marks a role string as deliberately outside {@link KnownChatRole}, for an upstream with its own
 * roles: `{ role: unknownRole('critic'), content: '…' }`. Returns the string unchanged.
 */
export function unknownRole(role: string): UnknownRole {
  return role as UnknownRole;
}

/**
 * A piece of a tool call inside a streamed chunk: the first delta of a call carries `id`, `type`
 * and `function.name`; later ones append to `function.arguments`. `index` says which call of the
 * choice a piece belongs to.
 */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** What one chunk adds to a choice's answer. */
export interface ChatCompletionChunkDelta {
  role?: string;
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ToolCallDelta[];
  [key: string]: unknown;
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: ChatCompletionChunkDelta;
  finish_reason: string | null;
  [key: string]: unknown;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [key: string]: unknown;
}

/** One upstream `chat.completion.chunk` object, relayed untouched inside `chat.chunk`. */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk' | string;
  created: number;
  model: string;
  choices: ChatCompletionChunkChoice[];
  usage?: CompletionUsage | null;
  [key: string]: unknown;
}

/** Request fields a client may set; only these are ever sent upstream. */
export const FORWARDED_REQUEST_FIELDS = [
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'tools',
  'tool_choice',
  'response_format',
  'user',
] as const;
export type ForwardedRequestField = (typeof FORWARDED_REQUEST_FIELDS)[number];

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'cancelled';

// ---------------------------------------------------------------------------------------------
// Client → server

export interface ChatRequestFrame {
  type: 'chat.request';
  id: string;
  model?: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[] | null;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  tools?: unknown[];
  tool_choice?: unknown;
  response_format?: Record<string, unknown>;
  user?: string;
  /**
   * Extension (not in protocol v1's field list, so never forwarded as a body field): the client's
   * W3C trace context, to join its own trace. A malformed value is ignored.
   */
  traceparent?: string;
  /**
   * Additive (issue 23): `"text"` asks for plain content deltas as compact {@link ChatDeltaFrame}s;
   * `"json"` (the default) for `chat.chunk` only. Never forwarded upstream.
   */
  format?: StreamFormat;
}

/**
 * How a socket receives a stream's content deltas: `json` (every chunk a `chat.chunk`), or `text`
 * (a chunk that is nothing but a content delta as a {@link ChatDeltaFrame}, every other one as a
 * `chat.chunk`). The stream and its seqs are the same in both.
 */
export type StreamFormat = 'json' | 'text';

export interface ChatCancelFrame {
  type: 'chat.cancel';
  id: string;
}

export interface StreamResumeFrame {
  type: 'stream.resume';
  stream_id: string;
  after_seq: number;
  id?: string;
  /** Additive (issue 23): the format this socket receives the rest in (see {@link StreamFormat}). */
  format?: StreamFormat;
}

export interface PingFrame {
  type: 'ping';
  ts?: unknown;
}

/** Additive: which of this principal's streams can be resumed (answered by `stream.list.result`). */
export interface StreamListFrame {
  type: 'stream.list';
  /** Echoed in the answer, to match it to this request. */
  id?: string;
}

/**
 * Additive (issue 22): a fresh token for this socket, sent before the current one expires
 * (`session.ready.expires_at`). Answered by `auth.refreshed`, or an `error`: `unauthorized` (the
 * token does not verify; the socket keeps its current expiry), `forbidden` (it names another
 * principal; the socket then closes with 4403), `bad_request` (credentials on this gateway do not
 * expire). The token is a secret: never logged, never echoed.
 */
export interface AuthRefreshFrame {
  type: 'auth.refresh';
  /** Echoed in the answer. */
  id?: string;
  /** The new bearer token (a JWT), for the socket's principal. */
  token: string;
}

export type ClientFrame = ChatRequestFrame | ChatCancelFrame | StreamResumeFrame | PingFrame | StreamListFrame | AuthRefreshFrame;
export type ClientFrameType = ClientFrame['type'];

// ---------------------------------------------------------------------------------------------
// Server → client

export interface SessionReadyFrame {
  type: 'session.ready';
  session_id: string;
  protocol: typeof PROTOCOL_VERSION;
  heartbeat_interval_ms: number;
  limits: { max_frame_bytes: number; max_concurrent_streams: number };
  /**
   * Additive: whether `stream.resume` can find streams after their socket closed, how long a stream
   * keeps running with nobody attached (`grace_ms`), and how long an ended one stays resumable.
   */
  resume?: { enabled: boolean; grace_ms: number; retention_ms: number };
  /** Additive: the model used when a request names none, and the allowed ones (empty = any). */
  models?: { default: string; allowed: string[] };
  /**
   * Additive (issue 22), present when the socket's credential expires (JWTs): when (ISO 8601, the
   * token's `exp` plus the gateway's clock tolerance). Send `auth.refresh` before then, or the
   * socket closes with 4401.
   */
  expires_at?: string;
  /** With `expires_at`: the same moment as milliseconds from now, immune to the client's clock. */
  expires_in_ms?: number;
}

export interface ChatStartedFrame {
  type: 'chat.started';
  id: string;
  stream_id: string;
  seq: 1;
  model: string;
}

export interface ChatChunkFrame {
  type: 'chat.chunk';
  id: string;
  stream_id: string;
  seq: number;
  chunk: ChatCompletionChunk;
}

/**
 * Additive (issue 23), `chat.delta` on the wire as `{"t":"d","id":…,"s":…,"x":…}`: one chunk of a
 * stream that was nothing but a content delta, sent instead of its `chat.chunk` to a socket that
 * asked for `format: "text"`. Its names are one letter because a token's frame is mostly envelope
 * (issue 23: at most 48 bytes on the wire for a 4-character token and an 8-character id); it is
 * the one server frame without a `type` field: `t` is its type.
 */
export interface ChatDeltaFrame {
  /** `d`: this is a `chat.delta`. */
  t: 'd';
  /** The stream's request id, as in every frame of the stream. */
  id: string;
  /** The frame's seq, as a `chat.chunk` in its place would carry. */
  s: number;
  /** The content delta: `choices[0].delta.content` of the chunk. */
  x: string;
}

export interface ChatDoneFrame {
  type: 'chat.done';
  id: string;
  stream_id: string;
  seq: number;
  finish_reason: FinishReason;
  usage: CompletionUsage | null;
}

export interface ChatErrorFrame {
  type: 'chat.error';
  id: string;
  /** Present once the stream has started (`chat.started` was sent). */
  stream_id?: string;
  seq?: number;
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retry_after_ms?: number;
}

export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
  id?: string;
}

export interface PongFrame {
  type: 'pong';
  ts?: unknown;
}

export interface SessionDrainingFrame {
  type: 'session.draining';
  reconnect_after_ms: number;
}

/** Where a stream is: waiting for its first chunk (retries, fallback), relaying, or ended. */
export type StreamState = 'pending' | 'streaming' | 'done' | 'failed';

/** One resumable stream, as `stream.list.result` lists it. */
export interface StreamSummary {
  stream_id: string;
  /** The `id` of the `chat.request` that started it. */
  id: string;
  model: string;
  state: StreamState;
  /** The seq of its last frame so far (0 while pending: `chat.started` is seq 1). */
  last_seq: number;
  /** ISO 8601, when the request arrived. */
  started_at: string;
}

export interface StreamListResultFrame {
  type: 'stream.list.result';
  /** The `id` of the `stream.list`, when it had one. */
  id?: string;
  /** Newest first. */
  streams: StreamSummary[];
  /**
   * *New.* Present (`true`) when the gateway could not read every replica's streams in time (its
   * Redis is away or slow): `streams` are the ones the answering instance knows. Absent otherwise.
   */
  partial?: true;
}

/**
 * Additive (issue 21): the answer to a `stream.resume` whose `after_seq` is the last seq of a stream
 * that has ended: the client already has all of it, terminal frame included. Nothing stays active
 * under `id`.
 */
export interface StreamCompleteFrame {
  type: 'stream.complete';
  /** The resume's `id` (the stream's request id when it named none). */
  id: string;
  stream_id: string;
  /** The seq of the stream's terminal frame (= the resume's `after_seq`). */
  last_seq: number;
  state: 'done' | 'failed';
}

/**
 * Additive (issue 21): this socket fell behind the stream's per-stream bound while another watcher
 * kept up, so it stopped watching it (the stream goes on for the others). Nothing stays active under
 * `id`; a `stream.resume` with `after_seq: last_seq` gets the rest if the log still holds it (else
 * `stream_not_found`). The frame's own `seq`-less: it is not part of the stream.
 */
export interface StreamOvertakenFrame {
  type: 'stream.overtaken';
  id: string;
  stream_id: string;
  /** The seq of the last frame this socket was sent of the stream. */
  last_seq: number;
  /** The oldest seq the log held here when it moved on: frames before it are gone from this instance. */
  kept_from: number;
}

/** Additive (issue 22): the answer to `auth.refresh`: the socket now expires with the new token. */
export interface AuthRefreshedFrame {
  type: 'auth.refreshed';
  /** The `id` of the `auth.refresh`, when it had one. */
  id?: string;
  /** ISO 8601: when the socket's credential now expires. */
  expires_at: string;
  /** The same moment as milliseconds from now. */
  expires_in_ms: number;
}

export type ServerFrame =
  | SessionReadyFrame
  | AuthRefreshedFrame
  | ChatStartedFrame
  | ChatChunkFrame
  | ChatDoneFrame
  | ChatErrorFrame
  | ErrorFrame
  | PongFrame
  | SessionDrainingFrame
  | StreamListResultFrame
  | StreamCompleteFrame
  | StreamOvertakenFrame;
export type ServerFrameType = ServerFrame['type'];
/** Frames that belong to one stream and carry its `seq`. */
export type StreamFrame = ChatStartedFrame | ChatChunkFrame | ChatDoneFrame | ChatErrorFrame;
export type TerminalFrame = ChatDoneFrame | ChatErrorFrame;
