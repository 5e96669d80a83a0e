import type { ChatCompletionChunk, CompletionUsage, FinishReason } from '@holysheep/protocol';
import { ChatError } from './errors';

/** What a stream yields, in order: `started` once, `chunk`s, then exactly one `done` or `error`. */
export type ChatEvent =
  | { type: 'started'; stream_id: string; model: string; seq: number }
  | {
      type: 'chunk';
      seq: number;
      /** The upstream chunk, untouched (tool calls, refusal, usage…). */
      chunk: ChatCompletionChunk;
      /** Its text: `choices[0].delta.content`, or '' when it carries none. */
      delta: string;
    }
  | { type: 'done'; seq: number; finish_reason: FinishReason; usage: CompletionUsage | null; text: string }
  | { type: 'error'; error: ChatError };

export type ChatStatus = 'pending' | 'streaming' | 'done' | 'cancelled' | 'error';

export interface ChatResult {
  text: string;
  finish_reason: FinishReason;
  usage: CompletionUsage | null;
  model: string | undefined;
  stream_id: string | undefined;
}

/**
 * One stream as the caller sees it: an async iterable of {@link ChatEvent}s (every iterator starts
 * from the first event), plus helpers. Reconnects and resumes are invisible here: each seq is
 * delivered exactly once.
 */
export interface ChatHandle extends AsyncIterable<ChatEvent> {
  /** The request id (the caller's, or one the SDK generated). */
  readonly id: string;
  /** The gateway's stream id, once `chat.started` arrived. */
  readonly stream_id: string | undefined;
  /** The seq of the last frame delivered (0 before `chat.started`). */
  readonly seq: number;
  /** The model serving the stream, once started. */
  readonly model: string | undefined;
  readonly status: ChatStatus;
  /** The text received so far. */
  readonly currentText: string;
  /** Settles with the whole answer (a cancelled one too), or rejects with a {@link ChatError}. */
  readonly result: Promise<ChatResult>;
  /** Resolves the whole text (rejects with a {@link ChatError} carrying `partialText`). */
  text(): Promise<string>;
  /** Yields each text delta as it arrives; throws the {@link ChatError} if the stream fails. */
  textStream(): AsyncIterable<string>;
  /** Calls `listener` for every event from now on (and none already delivered); returns the unsubscribe function. */
  onEvent(listener: (event: ChatEvent) => void): () => void;
  /** Stops the generation on the server (`chat.cancel`); the stream ends with `done` `cancelled`. */
  cancel(): void;
}

/** The handle's implementation; the client feeds it deduplicated frames. */
export class ChatHandleImpl implements ChatHandle {
  stream_id: string | undefined;
  seq = 0;
  model: string | undefined;
  status: ChatStatus = 'pending';
  currentText = '';
  readonly result: Promise<ChatResult>;
  private readonly events: ChatEvent[] = [];
  private readonly listeners = new Set<(event: ChatEvent) => void>();
  private waiters: Array<() => void> = [];
  private settle!: { resolve: (r: ChatResult) => void; reject: (e: ChatError) => void };

  constructor(
    readonly id: string,
    private readonly onCancel: (handle: ChatHandleImpl) => void,
  ) {
    this.result = new Promise<ChatResult>((resolve, reject) => (this.settle = { resolve, reject }));
    // Nobody has to await `result`: a failure is also an `error` event.
    this.result.catch(() => undefined);
  }

  get ended(): boolean {
    return this.status === 'done' || this.status === 'cancelled' || this.status === 'error';
  }

  text(): Promise<string> {
    return this.result.then((r) => r.text);
  }

  async *textStream(): AsyncIterable<string> {
    for await (const event of this) {
      if (event.type === 'chunk' && event.delta) yield event.delta;
      else if (event.type === 'error') throw event.error;
    }
  }

  onEvent(listener: (event: ChatEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  cancel(): void {
    if (!this.ended) this.onCancel(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatEvent> {
    let index = 0;
    return {
      next: async (): Promise<IteratorResult<ChatEvent>> => {
        while (index >= this.events.length && !this.ended) await new Promise<void>((wake) => this.waiters.push(wake));
        if (index < this.events.length) return { value: this.events[index++]!, done: false };
        return { value: undefined, done: true };
      },
      return: async (): Promise<IteratorResult<ChatEvent>> => {
        index = Number.POSITIVE_INFINITY;
        return { value: undefined, done: true };
      },
    };
  }

  // ------------------------------------------------------------------ fed by the client

  started(stream_id: string, model: string, seq: number): void {
    this.stream_id = stream_id;
    this.model = model;
    this.seq = seq;
    this.status = 'streaming';
    this.push({ type: 'started', stream_id, model, seq });
  }

  chunk(seq: number, chunk: ChatCompletionChunk): void {
    this.seq = seq;
    const content = chunk?.choices?.[0]?.delta?.content;
    const delta = typeof content === 'string' ? content : '';
    this.currentText += delta;
    this.push({ type: 'chunk', seq, chunk, delta });
  }

  done(seq: number, finish_reason: FinishReason, usage: CompletionUsage | null): void {
    if (this.ended) return;
    this.seq = Math.max(this.seq, seq);
    this.status = finish_reason === 'cancelled' ? 'cancelled' : 'done';
    this.push({ type: 'done', seq, finish_reason, usage, text: this.currentText });
    this.settle.resolve({ text: this.currentText, finish_reason, usage, model: this.model, stream_id: this.stream_id });
    this.wake();
  }

  fail(error: ChatError, seq?: number): void {
    if (this.ended) return;
    if (seq !== undefined) this.seq = Math.max(this.seq, seq);
    error.partialText = this.currentText;
    this.status = 'error';
    this.push({ type: 'error', error });
    this.settle.reject(error);
    this.wake();
  }

  private push(event: ChatEvent): void {
    this.events.push(event);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
