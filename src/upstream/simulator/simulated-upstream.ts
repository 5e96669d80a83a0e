/**
 * The built-in simulated upstream: a real HTTP server that speaks the OpenAI streaming chat API
 * (`POST /v1/chat/completions`, answered as Server-Sent Events) so the gateway runs end to end
 * without an API key. It paces tokens at human reading speed, which is what makes the relay's
 * behaviour (backpressure, cancel, disconnect) observable in development and in tests.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EmptySignal } from '../../common/empty-signal';
import { readCappedBody } from '../../common/read-capped-body';

/** Options for {@link SimulatedUpstream.start}. */
export interface SimulatedUpstreamOptions {
  /** Average content chunks per second per stream; each chunk is about one token. */
  tokensPerSecond: number;
  /** Interface to listen on. @defaultValue `'127.0.0.1'` */
  host?: string;
}

/** Counters since {@link SimulatedUpstream.start}, for tests and diagnostics. */
export interface SimulatedUpstreamStats {
  /** Streams being generated right now. */
  active: number;
  /** Streams that reached `data: [DONE]`. */
  completed: number;
  /** Streams whose client went away (or that {@link SimulatedUpstream.close} cut) before the end. */
  aborted: number;
}

/** Request bodies are tiny JSON documents; anything larger is a client bug. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Each gap between tokens is the mean gap times a factor in [1 - JITTER, 1 + JITTER). */
const JITTER = 0.3;
/** Prompts up to this length are quoted back in the answer; longer ones would drown it. */
const MAX_QUOTED_PROMPT_CHARS = 80;
/** Words longer than this (in code points, leading whitespace included) are cut into pieces... */
const MAX_WHOLE_WORD_CODE_POINTS = 10;
/** ...of this many code points, the way a BPE tokenizer splits uncommon words. */
const WORD_PIECE_CODE_POINTS = 6;

/**
 * Canned answers. Each one carries multi-byte UTF-8 (curly quotes, accents, an emoji, Chinese)
 * so any prompt exercises the relay's handling of characters split across network reads.
 * `{topic}` is replaced by a sentence about the user's prompt.
 */
const ANSWERS: readonly string[] = [
  '{topic}Here’s the honest version: this reply comes from the gateway’s built-in simulated upstream, ' +
    'so it can’t actually research the question. What it can do is stream a believable answer one token ' +
    'at a time, at roughly the pace a person reads, which is exactly what you need to see the whole ' +
    'pipeline working 🙂 Set HOLYSHEEP_API_KEY and restart the gateway to talk to a real model.\n\n' +
    'Until then, treat this text as a fixture: it always contains “curly quotes”, an accented café, ' +
    'an emoji and a little Chinese (你好，世界) so that multi-byte characters split across network reads ' +
    'get exercised on every run.',
  '{topic}A useful way to think about it is in three steps.\n\n' +
    '1. Start from what you already know works, and write it down in one sentence.\n' +
    '2. Change one thing at a time, and keep a note of what each change did — “it felt faster” is not a measurement.\n' +
    '3. Stop when the result is good enough for the people who will use it, not when it is perfect.\n\n' +
    'It sounds naïve, but most problems that look hard are several easy problems wearing a trench coat. ' +
    'As the saying goes, 千里之行，始于足下: a journey of a thousand miles begins with a single step 🙂',
  '{topic}Streaming is what makes a chat interface feel alive. Instead of waiting several seconds for ' +
    'the complete answer, the client receives small pieces — usually a word or part of a word — as soon ' +
    'as the model produces them, and the reader starts on the first sentence while the rest is still being ' +
    'written.\n\nThe catch is that every layer in between has to cooperate: the upstream sends Server-Sent ' +
    'Events, the gateway turns each “data:” line into a WebSocket frame, and the browser appends the text. ' +
    'If any layer buffers, the magic disappears. Même en français, c’est la même idée: 流式输出 means the ' +
    'answer flows 🙂',
  '{topic}Short answer: it depends, but not as much as people fear.\n\n' +
    'The longer answer is that most of the difference comes from a few decisions made early — what you ' +
    'measure, who you ask, and how quickly you admit a mistake. Teams that write down their assumptions ' +
    '(“we expect ten users, not ten thousand”) tend to revisit them at the right moment; teams that don’t ' +
    'find out the hard way. Pick the simplest option you can explain to a colleague over a café crème, ' +
    'try it for a week, then decide. 一步一步来 — one step at a time 🙂',
];

/** OpenAI-style error body, so the gateway's error mapping sees what the real API sends. */
interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface ValidRequest {
  model: string;
  messages: unknown[];
  includeUsage: boolean;
  maxTokens: number | undefined;
}

/**
 * An OpenAI-compatible streaming chat completions server on an ephemeral port.
 *
 * @example
 * const upstream = await SimulatedUpstream.start({ tokensPerSecond: 30 });
 * // point an OpenAI client (or the gateway) at upstream.baseUrl
 * await upstream.close();
 */
export class SimulatedUpstream {
  /** Base URL of the API, without trailing slash, e.g. `http://127.0.0.1:41234/v1`. */
  readonly baseUrl: string;

  private readonly streams = new Set<SimulatedStream>();
  private readonly idle = new EmptySignal();
  private completed = 0;
  private aborted = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    private readonly tokensPerSecond: number,
  ) {
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    this.baseUrl = `http://${host}:${port}/v1`;
  }

  /**
   * Starts listening on an ephemeral port (port 0), so tests never collide.
   * @throws RangeError when `tokensPerSecond` is not a positive finite number.
   */
  static start(options: SimulatedUpstreamOptions): Promise<SimulatedUpstream> {
    const { tokensPerSecond, host = '127.0.0.1' } = options;
    if (!Number.isFinite(tokensPerSecond) || tokensPerSecond <= 0) {
      return Promise.reject(new RangeError(`tokensPerSecond must be a positive number, got ${tokensPerSecond}`));
    }
    const server = http.createServer();
    return new Promise<SimulatedUpstream>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        const upstream = new SimulatedUpstream(server, tokensPerSecond);
        server.on('request', (req, res) => upstream.handle(req, res));
        resolve(upstream);
      });
    });
  }

  /** A snapshot of the stream counters. */
  get stats(): SimulatedUpstreamStats {
    return { active: this.streams.size, completed: this.completed, aborted: this.aborted };
  }

  /**
   * Resolves once no stream is being generated (at once if none is). Lets a test wait for the
   * effect of a cancel or a disconnect on the upstream instead of sleeping.
   */
  whenIdle(): Promise<void> {
    return this.idle.wait(this.streams.size);
  }

  /**
   * Stops listening and ends every open stream and socket at once (keep-alive ones included).
   * Idempotent; resolves when the server has fully closed.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const stream of [...this.streams]) stream.abort();
      // Without this, close() would wait for keep-alive sockets to time out.
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => res.destroy());
    res.on('error', () => res.destroy());

    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      req.resume();
      sendError(res, 404, `Invalid URL (${req.method} ${path})`, null);
      return;
    }

    readCappedBody(req, MAX_BODY_BYTES, (body, end) => {
      // A client gone mid-upload gets no answer; an oversized body is refused at once (the rest is discarded).
      if (end === 'aborted') return;
      if (end === 'over_limit') {
        sendError(res, 413, `Request body larger than ${MAX_BODY_BYTES} bytes`, null);
        return;
      }
      const result = validate(body);
      if ('error' in result) {
        sendError(res, 400, result.error, result.param);
        return;
      }
      this.stream(result, res);
    });
  }

  private stream(request: ValidRequest, res: http.ServerResponse): void {
    const stream = new SimulatedStream(request, res, 1000 / this.tokensPerSecond, (outcome) => {
      this.streams.delete(stream);
      if (outcome === 'completed') this.completed += 1;
      else this.aborted += 1;
      this.idle.check(this.streams.size);
    });
    this.streams.add(stream);
    stream.begin();
  }
}

/** One streamed completion: owns its pacing timer, which it clears on every way out. */
class SimulatedStream {
  private readonly id = `chatcmpl-sim-${randomBytes(12).toString('hex')}`;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly tokens: string[];
  private readonly finishReason: 'stop' | 'length';
  private readonly promptTokens: number;
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly request: ValidRequest,
    private readonly res: http.ServerResponse,
    private readonly meanGapMs: number,
    private readonly onEnd: (outcome: 'completed' | 'aborted') => void,
  ) {
    const prompt = lastUserText(request.messages);
    const all = tokenize(composeAnswer(prompt));
    const limit = request.maxTokens;
    this.tokens = limit !== undefined && limit < all.length ? all.slice(0, limit) : all;
    this.finishReason = this.tokens.length < all.length ? 'length' : 'stop';
    this.promptTokens = estimatePromptTokens(request.messages);
  }

  begin(): void {
    // 'close' on the response (not the request: that fires once the body is read) is the one
    // signal for "the client went away", whether the socket reset or the request was aborted.
    this.res.on('close', () => this.finish('aborted'));
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': this.id,
    });
    this.send({ role: 'assistant', content: '' }, null);
    this.schedule();
  }

  /** Ends generation now: used when the simulator closes. Ending the socket reports it as aborted. */
  abort(): void {
    this.finish('aborted');
    this.res.destroy();
  }

  private schedule(): void {
    const gap = this.meanGapMs * (1 - JITTER + Math.random() * 2 * JITTER);
    this.timer = setTimeout(() => this.tick(), gap);
  }

  private tick(): void {
    this.timer = undefined;
    if (this.ended) return;
    if (this.next < this.tokens.length) {
      const writable = this.send({ content: this.tokens[this.next++] }, null);
      // Honour backpressure like a real server: a client that reads slowly gets tokens slowly.
      if (writable) this.schedule();
      else this.res.once('drain', () => !this.ended && this.schedule());
      return;
    }
    this.send({}, this.finishReason);
    if (this.request.includeUsage) {
      const completion = this.tokens.length;
      this.write({
        ...this.envelope([]),
        usage: { prompt_tokens: this.promptTokens, completion_tokens: completion, total_tokens: this.promptTokens + completion },
      });
    }
    this.res.end('data: [DONE]\n\n');
    this.finish('completed');
  }

  private send(delta: Record<string, unknown>, finishReason: string | null): boolean {
    return this.write(this.envelope([{ index: 0, delta, logprobs: null, finish_reason: finishReason }]));
  }

  private envelope(choices: unknown[]): Record<string, unknown> {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.request.model,
      system_fingerprint: 'fp_simulated',
      choices,
      // OpenAI sends `usage: null` on every chunk but the last when usage was asked for.
      ...(this.request.includeUsage ? { usage: null } : {}),
    };
  }

  private write(chunk: Record<string, unknown>): boolean {
    return this.res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }

  private finish(outcome: 'completed' | 'aborted'): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.onEnd(outcome);
  }
}

// -------------------------------------------------------------------------------------------
// Request handling helpers

function validate(body: string): ValidRequest | { error: string; param: string | null } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { error: 'We could not parse the JSON body of your request.', param: null };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { error: 'The request body must be a JSON object.', param: null };
  }
  const b = parsed as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') {
    return { error: 'you must provide a model parameter', param: 'model' };
  }
  if (!Array.isArray(b.messages) || b.messages.length === 0) {
    return { error: "'messages' must be a non-empty array of chat messages.", param: 'messages' };
  }
  if (b.stream !== true) {
    return { error: 'The simulated upstream only supports streaming: set "stream": true.', param: 'stream' };
  }
  let maxTokens: number | undefined;
  for (const field of ['max_completion_tokens', 'max_tokens'] as const) {
    const value = b[field];
    if (value === undefined || value === null) continue;
    if (!Number.isInteger(value) || (value as number) < 1) {
      return { error: `'${field}' must be a positive integer.`, param: field };
    }
    // OpenAI prefers max_completion_tokens; max_tokens is its deprecated alias.
    maxTokens ??= value as number;
  }
  const streamOptions = b.stream_options as { include_usage?: unknown } | undefined;
  return {
    model: b.model,
    messages: b.messages,
    includeUsage: streamOptions?.include_usage === true,
    maxTokens,
  };
}

function sendError(res: http.ServerResponse, status: number, message: string, param: string | null): void {
  const body: OpenAiErrorBody = { error: { message, type: 'invalid_request_error', param, code: null } };
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// -------------------------------------------------------------------------------------------
// Text generation

/** The text of a message's `content`, whether a string or an array of content parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : ''))
      .join(' ');
  }
  return '';
}

function lastUserText(messages: unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (m && m.role === 'user') return contentText(m.content);
  }
  return '';
}

/** Picks an answer deterministically from the prompt, so the same prompt always streams the same text. */
function composeAnswer(prompt: string): string {
  const topic = prompt.replace(/\s+/g, ' ').trim();
  const answer = ANSWERS[fnv1a(topic) % ANSWERS.length];
  const intro =
    topic === ''
      ? ''
      : [...topic].length <= MAX_QUOTED_PROMPT_CHARS
        ? `You asked: “${topic}”${/[.!?…]$/u.test(topic) ? '' : '.'} `
        : 'Thanks for the detailed question. ';
  return answer.replace('{topic}', intro);
}

/** 32-bit FNV-1a over UTF-16 code units: tiny, stable across runs and platforms. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Splits text into token-like pieces whose concatenation is the text: a word with its leading
 * whitespace, a single Han character, a punctuation mark, or trailing whitespace. Long words are
 * cut into word-pieces. Pieces never split a code point, so each is valid UTF-8 on its own.
 */
function tokenize(text: string): string[] {
  const pieces = text.match(/\s*\p{Script=Han}|\s*[\p{L}\p{M}\p{N}'’]+|\s*[^\s]|\s+/gu) ?? [];
  return pieces.flatMap((piece) => {
    const codePoints = [...piece];
    if (codePoints.length <= MAX_WHOLE_WORD_CODE_POINTS) return [piece];
    const parts: string[] = [];
    for (let i = 0; i < codePoints.length; i += WORD_PIECE_CODE_POINTS) {
      parts.push(codePoints.slice(i, i + WORD_PIECE_CODE_POINTS).join(''));
    }
    return parts;
  });
}

/** Roughly four characters per token, plus a few per message for the chat template. */
function estimatePromptTokens(messages: unknown[]): number {
  let chars = 0;
  for (const m of messages) chars += contentText((m as { content?: unknown } | null)?.content).length;
  return Math.max(1, Math.ceil(chars / 4) + 3 * messages.length);
}
