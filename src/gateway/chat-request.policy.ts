import { Injectable } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection } from '../connections/client-connection';
import { DrainService } from '../drain/drain.service';
import { RequestRateLimiterService } from '../limits/request-rate-limiter.service';
import type { ChatErrorFrame, ChatRequestFrame, ErrorCode, ErrorFrame, StreamResumeFrame } from '@holysheep/protocol';

/** Why a request may not start: an `error` frame, or `chat.error` `rate_limited`. */
export type Refusal = ErrorFrame | ChatErrorFrame;

const SHUTTING_DOWN = 'This instance is shutting down; reconnect and send the request again';

/**
 * Whether a valid `chat.request` may start a stream on this socket now: the gateway's own caps and
 * limits, in the order a client can act on them. Per-request refusals are `error` frames with the
 * request's `id`; the rate limit is a `chat.error`, because only that frame carries
 * `retry_after_ms` (docs/protocol.md, "Where the protocol is silent"). The rate limit is the
 * principal's, across replicas when `REDIS_URL` is set (see {@link RequestRateLimiterService}).
 */
@Injectable()
export class ChatRequestPolicy {
  private readonly limits: GatewayConfig['limits'];
  private readonly maxStreams: number;
  private readonly defaultModel: string;
  private readonly allowedModels: ReadonlySet<string> | undefined;

  constructor(
    private readonly drain: DrainService,
    private readonly rateLimiter: RequestRateLimiterService,
    @InjectConfig() config: GatewayConfig,
  ) {
    this.limits = config.limits;
    this.maxStreams = config.socket.maxStreamsPerConnection;
    this.defaultModel = config.models.default;
    this.allowedModels = config.limits.allowedModels.length > 0 ? new Set(config.limits.allowedModels) : undefined;
  }

  /**
   * The frame that refuses `request`, or undefined when it may start. Counts it against the rate
   * limit when it passes every other check. Synchronous unless the rate limit is shared through
   * Redis: then a Promise, which the gateway awaits while the socket's later frames wait behind it.
   */
  check(connection: ClientConnection, request: ChatRequestFrame, now: number): Refusal | undefined | Promise<Refusal | undefined> {
    const refuse = (code: ErrorCode, message: string): ErrorFrame => ({ type: 'error', code, message, id: request.id });
    const { maxPromptBytes, maxCompletionTokens } = this.limits;
    if (this.drain.isDraining) return refuse('shutting_down', SHUTTING_DOWN);
    if (Buffer.byteLength(JSON.stringify(request.messages)) > maxPromptBytes) {
      return refuse('bad_request', `messages: at most ${maxPromptBytes} bytes of prompt per request`);
    }
    for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
      const value = request[field];
      if (maxCompletionTokens > 0 && value !== undefined && value > maxCompletionTokens) {
        return refuse('bad_request', `${field}: at most ${maxCompletionTokens} on this gateway`);
      }
    }
    const model = request.model ?? this.defaultModel;
    if (this.allowedModels && !this.allowedModels.has(model)) return refuse('model_not_allowed', `Model "${model}" is not available on this gateway`);
    if (connection.hasStream(request.id)) return refuse('duplicate_id', `A stream with id "${request.id}" is already active on this socket`);
    if (connection.streamCount >= this.maxStreams) return refuse('too_many_streams', `At most ${this.maxStreams} streams may be active on one socket`);
    const retryAfterMs = this.takeRate(connection.limitKeys, now);
    if (typeof retryAfterMs === 'number') return this.rateLimited(request, retryAfterMs);
    return retryAfterMs.then((ms) => {
      // The drain may have begun while Redis was counting.
      if (this.drain.isDraining) return refuse('shutting_down', SHUTTING_DOWN);
      return this.rateLimited(request, ms);
    });
  }

  /**
   * Whether `stream.resume` may make this socket watch one more stream: watching counts against
   * `MAX_STREAMS_PER_CONNECTION` like running one (a socket could otherwise hold any number of
   * streams open, and their memory, by resuming them). Over it: `error` `too_many_streams` under
   * the resume's `id`, else its `stream_id`. An `id` the socket already uses is left to the resume
   * (`duplicate_id`), as `chat.request` checks it before the cap.
   */
  checkResume(connection: ClientConnection, resume: StreamResumeFrame): ErrorFrame | undefined {
    if (resume.id !== undefined && connection.hasStream(resume.id)) return undefined;
    if (connection.streamCount < this.maxStreams) return undefined;
    return { type: 'error', code: 'too_many_streams', message: `At most ${this.maxStreams} streams may be active on one socket`, id: resume.id ?? resume.stream_id };
  }

  /**
   * Counts one request under every key of the socket (its principal; an anonymous one's address
   * too): 0 when every key allows it, else the longest wait. Every key is charged either way.
   */
  private takeRate(keys: readonly string[], now: number): number | Promise<number> {
    const waits = keys.map((key) => this.rateLimiter.take(key, now));
    if (waits.every((wait): wait is number => typeof wait === 'number')) return Math.max(0, ...waits);
    return Promise.all(waits).then((all) => Math.max(0, ...all));
  }

  private rateLimited(request: ChatRequestFrame, retryAfterMs: number): ChatErrorFrame | undefined {
    if (retryAfterMs === 0) return undefined;
    return {
      type: 'chat.error',
      id: request.id,
      code: 'rate_limited',
      message: `More than ${this.limits.requestsPerMinute} requests per minute`,
      retryable: true,
      retry_after_ms: retryAfterMs,
    };
  }
}
