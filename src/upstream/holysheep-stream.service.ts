import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import { map, Observable } from 'rxjs';
import type { FlowGate } from '../backpressure/flow-gate';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ChatCompletionChunk } from '@holysheep/protocol';
import { RetryPolicy } from './retry-policy';
import { UpstreamAttempt, type AttemptObserver, type AttemptSink } from './upstream-attempt';
import { UPSTREAM_TARGET, type UpstreamTarget } from './upstream-target';
import { UPSTREAM_TOTALS, type UpstreamTotals } from './upstream-totals';
import type { UpstreamChatRequest, UpstreamChunk } from './upstream-request';

export type { AttemptObserver } from './upstream-attempt';

/** Where one attempt reports: its error may be anything a synchronous start threw, not only an UpstreamError. */
type UpstreamSink = Omit<AttemptSink, 'error'> & { error(error: unknown): void };

export interface StreamOptions {
  /** Called as each HTTP attempt starts (1-based `attempt` counts retries and fallbacks). */
  onAttempt?: (model: string, attempt: number) => AttemptObserver | undefined;
  /** Backpressure: while the gate is closed, the response body is not read. */
  flow?: FlowGate;
  /** Told about every retry or fallback, before its delay (metrics, logs). */
  onRetry?: (info: { model: string; attempt: number; delayMs: number; reason: string; fallbackTo?: string }) => void;
}

/**
 * Keep-alive agents for the upstream. Node keeps at most 256 idle sockets by default: a pod that
 * ran 1,000 streams at once then had to open ~750 new connections (TCP, and TLS in production) for
 * the next 1,000, on the event loop that relays everyone else's chunks — the largest single cause
 * of the gateway's latency tail while streams start (issue 13). The pool never holds more than the
 * pod's peak of concurrent streams, whose sockets it already held while they ran; the upstream
 * closes the ones it does not want. No idle timeout here: a socket timeout would also be re-armed
 * on every read of the streams in flight.
 */
const AGENT_OPTIONS = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4_096, scheduling: 'lifo' } as const;

/**
 * Streams one chat completion from HolySheep (OpenAI-compatible `POST /chat/completions`,
 * answered as Server-Sent Events) as an Observable of chunks.
 *
 * The Observable is cold: each subscription is one logical completion, and unsubscribing destroys
 * the HTTP request in flight at once, which is how cancel and client disconnect stop generation
 * (and billing). Before the first chunk, transient failures are retried and unavailable models
 * fall back to `FALLBACK_MODELS`; after it, nothing is retried (that would duplicate text).
 * It completes on `data: [DONE]`, or when the body ends after a `finish_reason`; every other end
 * is an `UpstreamError`.
 */
@Injectable()
export class HolySheepStreamService implements OnApplicationShutdown {
  private readonly timeouts: GatewayConfig['upstream'];
  private readonly retryPolicy: RetryPolicy;
  private readonly fallbackModels: string[];
  // Keep-alive: a TLS handshake per stream would add tens of ms to every time-to-first-chunk.
  private readonly agents = {
    'http:': new http.Agent(AGENT_OPTIONS),
    'https:': new https.Agent(AGENT_OPTIONS),
  };
  private readonly endpoint: URL;

  constructor(
    @Inject(UPSTREAM_TARGET) private readonly target: UpstreamTarget,
    @InjectConfig() gateway: GatewayConfig,
    @Inject(UPSTREAM_TOTALS) private readonly totals: UpstreamTotals,
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
      let current: UpstreamAttempt | undefined;
      let retryTimer: NodeJS.Timeout | undefined;
      let delivered = false;
      let attempts = 0;

      const run = (modelIndex: number, retries: number): void => {
        const model = models[modelIndex]!;
        const observer = options.onAttempt?.(model, ++attempts);
        // The attempt reports straight to this subscriber: one Observable between the body and
        // the stream, not one per attempt inside another (each hop costs every chunk a call chain).
        current = this.startAttempt({ ...request, model }, observer, options.flow, {
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
        current?.abort();
      };
    });
  }

  /** Keep-alive sockets to the upstream waiting for their next request. */
  get idleUpstreamSockets(): number {
    let idle = 0;
    for (const agent of Object.values(this.agents)) for (const sockets of Object.values(agent.freeSockets)) idle += sockets?.length ?? 0;
    return idle;
  }

  onApplicationShutdown(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  /**
   * Starts one HTTP request (see {@link UpstreamAttempt}) reporting to `sink`; {@link UpstreamAttempt.abort}
   * drops it. A request Node refuses synchronously (a header it will not send) is the sink's error.
   */
  private startAttempt(request: UpstreamChatRequest, observer: AttemptObserver | undefined, flow: FlowGate | undefined, sink: UpstreamSink): UpstreamAttempt {
    const body = Buffer.from(JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }), 'utf8');
    const attempt = new UpstreamAttempt(
      {
        url: this.endpoint,
        agent: this.agents[this.endpoint.protocol === 'https:' ? 'https:' : 'http:'],
        headers: this.headersFor(body, observer),
        body,
        model: request.model,
        timeouts: this.timeouts,
        secret: this.target.apiKey,
        observer,
        flow,
        totals: this.totals,
      },
      sink,
    );
    try {
      attempt.start();
    } catch (error) {
      sink.error(error);
    }
    return attempt;
  }

  private headersFor(body: Buffer, observer: AttemptObserver | undefined): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'content-length': body.length,
    };
    if (this.target.apiKey) headers.authorization = `Bearer ${this.target.apiKey}`;
    if (observer?.traceparent) headers.traceparent = observer.traceparent;
    return headers;
  }
}
