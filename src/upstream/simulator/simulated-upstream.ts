/**
 * The built-in simulated upstream: a real HTTP server that speaks the OpenAI streaming chat API
 * (`POST /v1/chat/completions`, answered as Server-Sent Events) so the gateway runs end to end
 * without an API key. It paces tokens at human reading speed, which is what makes the relay's
 * behaviour (backpressure, cancel, disconnect) observable in development and in tests.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EmptySignal } from '../../async/empty-signal';
import { readCappedBody } from '../read-capped-body';
import { SimulatedStream, type ValidRequest } from './simulated-stream';

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
/** OpenAI-style error body, so the gateway's error mapping sees what the real API sends. */
interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
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
