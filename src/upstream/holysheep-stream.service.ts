import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import { map, Observable, type Subscriber, type Subscription } from 'rxjs';
import type { FlowGate } from '../common/flow-gate';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ChatCompletionChunk } from '../protocol';
import { redactSecrets } from '../common/redact';
import { RetryPolicy } from './retry-policy';
import { createSseDecoder } from './sse-decoder';
import { UPSTREAM_TARGET, type UpstreamTarget } from './upstream-target';
import { extractUpstreamMessage, parseRetryAfter, UpstreamError } from './upstream.errors';
import type { UpstreamChatRequest, UpstreamChunk } from './upstream-request';

/** Error bodies are read for their message only; a huge one is cut here. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** After `[DONE]` the body should end at once; if it does not, the socket is dropped. */
const AFTER_DONE_DRAIN_MS = 5_000;

/** Hooks into one HTTP attempt, for tracing and metrics. */
export interface AttemptObserver {
  /** W3C trace context to send upstream with this attempt. */
  readonly traceparent?: string;
  /** Response headers arrived after `latencyMs`. */
  responded?(status: number, latencyMs: number): void;
  /** The attempt is over; called once. */
  ended?(outcome: 'completed' | 'cancelled' | UpstreamError): void;
}

export interface StreamOptions {
  /** Called as each HTTP attempt starts (1-based `attempt` counts retries and fallbacks). */
  onAttempt?: (model: string, attempt: number) => AttemptObserver | undefined;
  /** Backpressure: while the gate is closed, the response body is not read. */
  flow?: FlowGate;
  /** Told about every retry or fallback, before its delay (metrics, logs). */
  onRetry?: (info: { model: string; attempt: number; delayMs: number; reason: string; fallbackTo?: string }) => void;
}

/**
 * Streams one chat completion from HolySheep (OpenAI-compatible `POST /chat/completions`,
 * answered as Server-Sent Events) as an Observable of chunks.
 *
 * The Observable is cold: each subscription is one logical completion, and unsubscribing destroys
 * the HTTP request in flight at once, which is how cancel and client disconnect stop generation
 * (and billing). Before the first chunk, transient failures are retried and unavailable models
 * fall back to `FALLBACK_MODELS`; after it, nothing is retried (that would duplicate text).
 * It completes on `data: [DONE]`, or when the body ends after a `finish_reason`; every other end
 * is an {@link UpstreamError}.
 */
@Injectable()
export class HolySheepStreamService implements OnApplicationShutdown {
  private readonly timeouts: GatewayConfig['upstream'];
  private readonly retryPolicy: RetryPolicy;
  private readonly fallbackModels: string[];
  // Keep-alive: a TLS handshake per stream would add tens of ms to every time-to-first-chunk.
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' }),
  };
  private readonly endpoint: URL;

  constructor(
    @Inject(UPSTREAM_TARGET) private readonly target: UpstreamTarget,
    @InjectConfig() gateway: GatewayConfig,
  ) {
    this.timeouts = gateway.upstream;
    this.retryPolicy = new RetryPolicy(gateway.retry);
    this.fallbackModels = gateway.fallbackModels;
    this.endpoint = new URL(`${target.baseUrl}/chat/completions`);
  }

  /** Chunks only, for callers that do not need the raw JSON. */
  stream(request: UpstreamChatRequest, options: StreamOptions = {}): Observable<ChatCompletionChunk> {
    return this.streamEvents(request, options).pipe(map((event) => event.chunk));
  }

  /** Chunks together with their JSON text as received, so a relay can forward bytes unchanged. */
  streamEvents(request: UpstreamChatRequest, options: StreamOptions = {}): Observable<UpstreamChunk> {
    const models = [request.model, ...this.fallbackModels.filter((m) => m !== request.model)];
    return new Observable<UpstreamChunk>((subscriber) => {
      let current: Subscription | undefined;
      let retryTimer: NodeJS.Timeout | undefined;
      let delivered = false;
      let attempts = 0;

      const run = (modelIndex: number, retries: number): void => {
        const model = models[modelIndex]!;
        const observer = options.onAttempt?.(model, ++attempts);
        current = new Observable<UpstreamChunk>((attempt) => this.attempt({ ...request, model }, observer, options.flow, attempt)).subscribe({
          next: (event) => {
            delivered = true;
            subscriber.next(event);
          },
          complete: () => subscriber.complete(),
          error: (error: unknown) => {
            if (delivered) return subscriber.error(error);
            const decision = this.retryPolicy.decide(error, retries);
            const reason = error instanceof Error ? error.message : 'error';
            if (decision.retry) {
              options.onRetry?.({ model, attempt: retries + 1, delayMs: decision.delayMs, reason });
              retryTimer = setTimeout(() => run(modelIndex, retries + 1), decision.delayMs);
            } else if (modelIndex + 1 < models.length && RetryPolicy.isModelUnavailable(error)) {
              options.onRetry?.({ model, attempt: retries + 1, delayMs: 0, reason, fallbackTo: models[modelIndex + 1] });
              run(modelIndex + 1, 0);
            } else {
              subscriber.error(error);
            }
          },
        });
      };

      run(0, 0);
      return () => {
        clearTimeout(retryTimer);
        current?.unsubscribe();
      };
    });
  }

  onApplicationShutdown(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  /** One HTTP request: the unit that retries and fallbacks repeat. */
  private attempt(
    request: UpstreamChatRequest,
    observer: AttemptObserver | undefined,
    flow: FlowGate | undefined,
    subscriber: Subscriber<UpstreamChunk>,
  ): () => void {
    const startedAt = performance.now();
    const body = Buffer.from(
      JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
      'utf8',
    );
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'content-length': body.length,
    };
    if (this.target.apiKey) headers.authorization = `Bearer ${this.target.apiKey}`;
    if (observer?.traceparent) headers.traceparent = observer.traceparent;

    const isTls = this.endpoint.protocol === 'https:';
    const transport = isTls ? https : http;
    const req = transport.request(this.endpoint, {
      method: 'POST',
      headers,
      agent: this.agents[isTls ? 'https:' : 'http:'],
    });

    /** 'open' until completed, failed or unsubscribed; 'draining' after [DONE] while the body ends. */
    let state: 'open' | 'draining' | 'closed' = 'open';
    let chunks = 0;
    let sawFinishReason = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    // One timer at a time: "no first chunk yet", then "no chunk for too long". Between chunks
    // refresh() re-arms it without allocating, which matters on the per-chunk path.
    const noFirstChunk = () =>
      fail(new UpstreamError('first_chunk_timeout', `No first chunk within ${this.timeouts.firstChunkTimeoutMs} ms`));
    const stalled = () =>
      fail(new UpstreamError('stall_timeout', `No chunk for ${this.timeouts.stallTimeoutMs} ms`, { afterFirstChunk: true }));
    let chunkTimer: NodeJS.Timeout | undefined;
    /** (Re)starts the timer that fits where the stream is: before or after its first chunk. */
    const armChunkTimer = () => {
      clearTimeout(chunkTimer);
      chunkTimer = chunks === 0 ? setTimeout(noFirstChunk, this.timeouts.firstChunkTimeoutMs) : setTimeout(stalled, this.timeouts.stallTimeoutMs);
    };
    armChunkTimer();
    let detachFlow: (() => void) | undefined;

    const clearTimers = () => {
      clearTimeout(chunkTimer);
      clearTimeout(connectTimer);
      chunkTimer = connectTimer = undefined;
      detachFlow?.();
    };
    const fail = (error: UpstreamError) => {
      if (state !== 'open') return;
      state = 'closed';
      clearTimers();
      req.destroy();
      error.message = redactSecrets(error.message, this.target.apiKey);
      observer?.ended?.(error);
      subscriber.error(error);
    };
    const complete = (bodyFinished: boolean) => {
      if (state !== 'open') return;
      clearTimers();
      if (bodyFinished) {
        state = 'closed';
      } else {
        // [DONE] arrived: finish the stream now, let the body end so the socket can be reused.
        state = 'draining';
        drainTimer = setTimeout(() => req.destroy(), AFTER_DONE_DRAIN_MS);
        drainTimer.unref();
      }
      observer?.ended?.('completed');
      subscriber.complete();
    };

    req.on('socket', (socket) => {
      // A reused keep-alive socket is already connected; only a fresh one gets the connect timer.
      if (!socket.connecting) return;
      connectTimer = setTimeout(
        () => fail(new UpstreamError('connect_timeout', `Could not connect within ${this.timeouts.connectTimeoutMs} ms`)),
        this.timeouts.connectTimeoutMs,
      );
      socket.once(isTls ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });

    req.on('error', (err: NodeJS.ErrnoException) => {
      fail(
        chunks > 0
          ? new UpstreamError('truncated', `Upstream connection lost mid-stream (${err.code ?? err.message})`, { afterFirstChunk: true })
          : new UpstreamError('connect', `Could not reach the upstream (${err.code ?? err.message})`),
      );
    });

    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      observer?.responded?.(status, performance.now() - startedAt);
      if (status < 200 || status > 299) {
        readErrorBody(res, (text) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          const { message, type } = extractUpstreamMessage(parsed);
          const detail = message ?? (text.trim().slice(0, 200) || res.statusMessage || 'no message');
          fail(
            new UpstreamError('http_status', `Upstream answered ${status}: ${detail}`, {
              status,
              retryAfterMs: parseRetryAfter(res.headers),
              upstreamType: type,
            }),
          );
        });
        return;
      }
      const contentType = String(res.headers['content-type'] ?? '');
      if (!contentType.toLowerCase().includes('text/event-stream')) {
        fail(new UpstreamError('bad_response', `Upstream answered ${contentType || 'no content-type'} instead of text/event-stream`));
        return;
      }

      const decoder = createSseDecoder({
        onError: (error) => fail(new UpstreamError('bad_response', `Unparseable event stream: ${error.message}`)),
        onEvent: (event) => {
          if (state !== 'open') return;
          // Only unnamed / "message" events carry chunks; "error" events carry failures; other
          // named events (vendor pings and the like) are not part of the chat stream.
          if (event.event !== undefined && event.event !== 'message' && event.event !== 'error') return;
          const data = event.data;
          if (data === '[DONE]') return complete(false);
          let parsed: unknown;
          try {
            parsed = JSON.parse(data);
          } catch {
            return fail(new UpstreamError('bad_response', 'Upstream sent a data line that is not JSON', { afterFirstChunk: chunks > 0 }));
          }
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
            return fail(new UpstreamError('bad_response', 'Upstream sent a data line that is not a JSON object', { afterFirstChunk: chunks > 0 }));
          }
          const object = parsed as ChatCompletionChunk & { error?: unknown };
          if ((object.error !== undefined && object.error !== null) || event.event === 'error') {
            const { message, type } = extractUpstreamMessage(object);
            return fail(
              new UpstreamError('error_event', `Upstream reported an error mid-stream: ${message ?? 'no message'}`, {
                upstreamType: type,
                afterFirstChunk: chunks > 0,
              }),
            );
          }
          const finishReason = finishReasonOf(object);
          if (finishReason !== null) sawFinishReason = true;
          if (++chunks === 1) armChunkTimer();
          else chunkTimer?.refresh();
          subscriber.next({ chunk: object, raw: data, model: request.model, finishReason });
        },
      });
      res.on('data', (bytes: Buffer) => {
        if (state === 'open') decoder.write(bytes);
      });
      if (flow) {
        detachFlow = flow.attach({
          // A paused body is the client's slowness, not the upstream's: the chunk timers stop too.
          pause: () => {
            res.pause();
            clearTimeout(chunkTimer);
          },
          resume: () => {
            if (state !== 'open') return;
            res.resume();
            armChunkTimer();
          },
        });
      }
      /** The body is over without [DONE]: complete if a finish_reason came, else truncated. */
      const bodyOver = (how: string) => {
        clearTimeout(drainTimer);
        if (state !== 'open') return;
        if (sawFinishReason) complete(true);
        else fail(new UpstreamError('truncated', `Upstream ${how} before [DONE] or a finish_reason`, { afterFirstChunk: chunks > 0 }));
      };
      res.on('end', () => bodyOver('ended the stream'));
      // A connection lost mid-body surfaces as 'error' (ECONNRESET "aborted") and/or 'close'
      // without 'end'; either way the text is truncated.
      const lost = () => bodyOver('connection lost');
      res.on('error', lost);
      res.on('close', () => {
        if (!res.complete) lost();
      });
    });

    req.end(body);

    return () => {
      // Unsubscribed while open (cancel, disconnect, shutdown): drop the request now so the
      // upstream stops generating. After [DONE] the socket is left to finish for reuse.
      if (state === 'open') {
        state = 'closed';
        clearTimers();
        req.destroy();
        observer?.ended?.('cancelled');
      }
    };
  }
}

/** The chunk's (last) non-empty `finish_reason`, or null; tolerant of malformed `choices`. */
function finishReasonOf(chunk: ChatCompletionChunk): string | null {
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return null;
  let reason: string | null = null;
  for (let i = 0; i < choices.length; i++) {
    const value: unknown = choices[i]?.finish_reason;
    if (value) reason = String(value);
  }
  return reason;
}

function readErrorBody(res: http.IncomingMessage, done: (text: string) => void): void {
  const parts: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done(Buffer.concat(parts).toString('utf8'));
  };
  res.on('data', (bytes: Buffer) => {
    if (size >= MAX_ERROR_BODY_BYTES) return;
    parts.push(bytes.subarray(0, MAX_ERROR_BODY_BYTES - size));
    size += bytes.length;
  });
  res.on('end', finish);
  res.on('close', finish);
  res.on('error', finish);
}
