import { randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import { composeAnswer, estimatePromptTokens, lastUserText, tokenize } from './simulated-answer';

/** Each gap between tokens is the mean gap times a factor in [1 - JITTER, 1 + JITTER). */
const JITTER = 0.3;

/** A request the simulator accepted. */
export interface ValidRequest {
  model: string;
  messages: unknown[];
  includeUsage: boolean;
  maxTokens: number | undefined;
}

/** One streamed completion: owns its pacing timer, which it clears on every way out. */
export class SimulatedStream {
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
