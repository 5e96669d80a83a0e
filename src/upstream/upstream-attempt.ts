import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import type { EventSourceMessage } from 'eventsource-parser';
import type { FlowGate, Pausable } from '../backpressure/flow-gate';
import { readCappedBody } from './read-capped-body';
import { redactSecrets } from '../redaction/redact';
import { ChunkWatchdog, type ChunkWatchdogTimeouts } from './chunk-watchdog';
import { classifyEvent, DONE } from './classify-event';
import { inOneWrite } from '../wire/write-batch';
import { createSseDecoder, isEventStreamContentType } from './sse-decoder';
import type { UpstreamChunk } from './upstream-request';
import type { UpstreamTotals } from './upstream-totals';
import { extractUpstreamMessage, parseRetryAfter, UpstreamError } from './upstream.errors';

/**
 * Error bodies are read for their message only. Past this many bytes the request is dropped at
 * once: an error body that never ends must not be read until a timeout fires.
 */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;
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

/** Where an attempt's results go; an rxjs `Subscriber` is one. At most one of error / complete. */
export interface AttemptSink {
  next(event: UpstreamChunk): void;
  error(error: UpstreamError): void;
  complete(): void;
}

export interface UpstreamAttemptInit {
  /** `…/chat/completions`, http: or https:. */
  url: URL;
  /** Keep-alive agent matching the URL's protocol. */
  agent: http.Agent;
  headers: http.OutgoingHttpHeaders;
  /** The JSON request body. */
  body: Buffer;
  /** The model this attempt asks for, stamped on its chunks. */
  model: string;
  timeouts: ChunkWatchdogTimeouts & { connectTimeoutMs: number };
  /** Redacted from every failure message (whole, in part or base64-encoded). */
  secret?: string;
  observer?: AttemptObserver;
  /** Backpressure: while the gate is closed, the response body is not read. */
  flow?: FlowGate;
  /** Instance-wide counts this attempt adds to (SSE lines ignored). */
  totals?: UpstreamTotals;
}

/**
 * One HTTP request to the upstream: the unit that retries and fallbacks repeat. It connects (with
 * a connect timeout on a fresh socket only: a reused keep-alive socket is already connected),
 * checks the status, decodes the SSE body into chunks for its {@link AttemptSink}, runs the
 * first-chunk / stall timers and stops everything on {@link abort}.
 *
 * It completes on `data: [DONE]`, or when the body ends after a `finish_reason`; every other end
 * is an {@link UpstreamError}. It is the {@link Pausable} its flow gate pauses.
 */
export class UpstreamAttempt implements Pausable {
  /** 'open' until completed, failed or aborted; 'draining' after [DONE] while the body ends. */
  private state: 'open' | 'draining' | 'closed' = 'open';
  private req: http.ClientRequest | undefined;
  private res: http.IncomingMessage | undefined;
  private readonly watchdog: ChunkWatchdog;
  private connectTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private detachFlow: (() => void) | undefined;
  private chunks = 0;
  private sawFinishReason = false;
  private startedAt = 0;

  constructor(
    private readonly init: UpstreamAttemptInit,
    private readonly sink: AttemptSink,
  ) {
    this.watchdog = new ChunkWatchdog(init.timeouts, (error) => this.fail(error));
  }

  /** Sends the request. May throw synchronously (e.g. a header Node refuses), before any event. */
  start(): void {
    const { url, agent, headers, body } = this.init;
    this.startedAt = performance.now();
    const req = (url.protocol === 'https:' ? https : http).request(url, { method: 'POST', headers, agent });
    this.req = req;
    req.on('socket', (socket) => this.watchConnect(socket));
    req.on('error', (err: NodeJS.ErrnoException) => this.onRequestError(err));
    req.on('response', (res) => this.onResponse(res));
    this.watchdog.start();
    req.end(body);
  }

  /** Unsubscribed (cancel, disconnect, shutdown): drop the request now so the upstream stops generating. */
  abort(): void {
    // After [DONE] the socket is left to finish its body, for reuse.
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.stopTimers();
    this.req?.destroy();
    this.init.observer?.ended?.('cancelled');
  }

  /** Flow gate closed: stop reading the body, and the chunk timers with it. */
  pause(): void {
    this.res?.pause();
    this.watchdog.pause();
  }

  resume(): void {
    if (this.state !== 'open') return;
    this.res?.resume();
    this.watchdog.resume();
  }

  private watchConnect(socket: Socket): void {
    // A reused keep-alive socket is already connected; only a fresh one gets the connect timer.
    if (!socket.connecting) return;
    const { connectTimeoutMs } = this.init.timeouts;
    this.connectTimer = setTimeout(
      () => this.fail(new UpstreamError('connect_timeout', `Could not connect within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    socket.once(this.init.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(this.connectTimer));
  }

  private onRequestError(err: NodeJS.ErrnoException): void {
    const cause = err.code ?? err.message;
    this.fail(
      this.chunks > 0
        ? new UpstreamError('truncated', `Upstream connection lost mid-stream (${cause})`, { afterFirstChunk: true })
        : new UpstreamError('connect', `Could not reach the upstream (${cause})`),
    );
  }

  private onResponse(res: http.IncomingMessage): void {
    const status = res.statusCode ?? 0;
    this.init.observer?.responded?.(status, performance.now() - this.startedAt);
    if (status < 200 || status > 299) {
      // Over the cap, fail() destroys the request at once: the rest of the body is never read.
      readCappedBody(res, MAX_ERROR_BODY_BYTES, (text) => this.fail(statusError(res, status, text)));
      return;
    }
    const contentType = res.headers['content-type'];
    if (!isEventStreamContentType(contentType)) {
      this.fail(new UpstreamError('bad_response', `Upstream answered ${contentType || 'no content-type'} instead of text/event-stream`));
      return;
    }
    this.readEvents(res);
  }

  private readEvents(res: http.IncomingMessage): void {
    this.res = res;
    const totals = this.init.totals;
    const decoder = createSseDecoder({
      onError: (error) => this.fail(new UpstreamError('bad_response', `Unparseable event stream: ${error.message}`)),
      onEvent: (event) => this.onEvent(event),
      // Skipped as a browser would; counted, so an upstream that changed its format shows.
      onIgnoredLine: totals ? () => void totals.sseLinesIgnored++ : undefined,
    });
    res.on('data', (bytes: Buffer) => {
      // One read, one write per socket however many frames it yields (wire/write-batch.ts).
      if (this.state === 'open') inOneWrite(decoder.write, bytes);
    });
    if (this.init.flow) this.detachFlow = this.init.flow.attach(this);
    res.on('end', () => this.bodyOver('ended the stream'));
    // A connection lost mid-body surfaces as 'error' (ECONNRESET "aborted") and/or 'close'
    // without 'end'; either way the text is truncated.
    res.on('error', () => this.bodyOver('connection lost'));
    res.on('close', () => {
      if (!res.complete) this.bodyOver('connection lost');
    });
  }

  /** The per-chunk path: no allocation here beyond the chunk object classifyEvent returns. */
  private onEvent(event: EventSourceMessage): void {
    if (this.state !== 'open') return;
    const result = classifyEvent(event.data, event.event, this.init.model, this.chunks > 0);
    if (typeof result === 'string') {
      if (result === DONE) this.complete(false);
      return;
    }
    if (result instanceof UpstreamError) return this.fail(result);
    if (result.finishReason !== null) this.sawFinishReason = true;
    this.chunks++;
    this.watchdog.chunk();
    this.sink.next(result);
  }

  /** The body is over without [DONE]: complete if a finish_reason came, else truncated. */
  private bodyOver(how: string): void {
    clearTimeout(this.drainTimer);
    if (this.state !== 'open') return;
    if (this.sawFinishReason) this.complete(true);
    else this.fail(new UpstreamError('truncated', `Upstream ${how} before [DONE] or a finish_reason`, { afterFirstChunk: this.chunks > 0 }));
  }

  private complete(bodyFinished: boolean): void {
    if (this.state !== 'open') return;
    this.stopTimers();
    if (bodyFinished) {
      this.state = 'closed';
    } else {
      // [DONE] arrived: finish the stream now, let the body end so the socket can be reused
      // (read it even if backpressure had paused it: nothing more goes to the client).
      this.state = 'draining';
      this.res?.resume();
      this.drainTimer = setTimeout(() => this.req?.destroy(), AFTER_DONE_DRAIN_MS);
      this.drainTimer.unref();
    }
    this.init.observer?.ended?.('completed');
    this.sink.complete();
  }

  private fail(error: UpstreamError): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.stopTimers();
    this.req?.destroy();
    error.message = redactSecrets(error.message, this.init.secret);
    this.init.observer?.ended?.(error);
    this.sink.error(error);
  }

  private stopTimers(): void {
    this.watchdog.stop();
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.detachFlow?.();
  }
}

/** The failure for a non-2xx answer, with the upstream's own message when its body has one. */
function statusError(res: http.IncomingMessage, status: number, text: string): UpstreamError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const { message, type } = extractUpstreamMessage(parsed);
  const detail = message ?? (text.trim().slice(0, 200) || res.statusMessage || 'no message');
  return new UpstreamError('http_status', `Upstream answered ${status}: ${detail}`, {
    status,
    retryAfterMs: parseRetryAfter(res.headers),
    upstreamType: type,
  });
}
