/**
 * A multi-turn conversation on top of {@link StreamClient}: the message list, an optional system
 * prompt and sampling settings, send / stop / regenerate / clear, and live timing (time to first
 * token, tokens per second). Framework-free: `subscribe` + `getSnapshot` fit React's
 * `useSyncExternalStore` (see the `./react` entry point) and plain DOM code alike.
 */
import type { ChatMessage, CompletionUsage, FinishReason } from '@holysheep/protocol';
import type { ChatEvent, ChatHandle } from './chat-handle';
import type { ChatRequest, StreamClient } from './client';
import { ChatError } from './errors';

export interface ConversationSettings {
  /** Model to ask for; the gateway's default when unset. */
  model?: string;
  temperature?: number;
  max_tokens?: number;
  /** System prompt, sent first when not blank. */
  system?: string;
}

export interface MessageStats {
  /** When the request was sent (ms, the conversation's clock). */
  sentAt: number;
  firstTokenAt?: number;
  endedAt?: number;
  /** Content chunks received (about one token each). */
  chunks: number;
  /** From `usage` once done, when the upstream reports it. */
  completionTokens?: number;
  /** Time to first token. */
  ttftMs?: number;
  /** Live while streaming; from `usage` once done. */
  tokensPerSecond?: number;
}

export interface ConversationMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  /** Assistant messages: `pending` until the first chunk, then `streaming`, then how it ended. */
  status: 'pending' | 'streaming' | 'done' | 'cancelled' | 'error';
  error?: ChatError;
  model?: string;
  stream_id?: string;
  finish_reason?: FinishReason;
  usage?: CompletionUsage | null;
  stats?: MessageStats;
}

export interface ConversationSnapshot {
  readonly messages: readonly ConversationMessage[];
  /** An answer is being generated. */
  readonly busy: boolean;
  readonly settings: Readonly<ConversationSettings>;
}

export interface ConversationOptions {
  settings?: ConversationSettings;
  /** Clock in ms (tests pass a fake one). @defaultValue performance.now */
  now?: () => number;
}

let conversations = 0;

export class Conversation {
  private snapshot: ConversationSnapshot;
  private readonly listeners = new Set<() => void>();
  private current: { handle: ChatHandle; off: () => void } | undefined;
  private readonly now: () => number;
  private nextId = 1;
  private readonly prefix = `m${++conversations}`;

  constructor(
    private readonly client: StreamClient,
    options: ConversationOptions = {},
  ) {
    const perf = (globalThis as { performance?: { now(): number } }).performance;
    this.now = options.now ?? (perf ? () => perf.now() : () => Date.now());
    this.snapshot = { messages: [], busy: false, settings: { ...options.settings } };
  }

  /** The current state; the same object until something changes. */
  readonly getSnapshot = (): ConversationSnapshot => this.snapshot;

  /** Calls `listener` after every change; returns the unsubscribe function. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly setSettings = (patch: ConversationSettings): void => {
    this.commit({ settings: { ...this.snapshot.settings, ...patch } });
  };

  /** Sends `text` as the next user message; undefined when blank or while an answer is streaming. */
  readonly send = (text: string): ChatHandle | undefined => {
    if (!text.trim() || this.snapshot.busy) return undefined;
    const user: ConversationMessage = { id: this.newId(), role: 'user', content: text, status: 'done' };
    this.commit({ messages: [...this.snapshot.messages, user] });
    return this.ask();
  };

  /** Stops the answer being generated (`chat.cancel`); what arrived so far stays. */
  readonly stop = (): void => {
    this.current?.handle.cancel();
  };

  /** Asks again for the last answer (after an error, a stop, or just for another take). */
  readonly regenerate = (): ChatHandle | undefined => {
    if (this.snapshot.busy) return undefined;
    const messages = [...this.snapshot.messages];
    while (messages.length > 0 && messages[messages.length - 1]!.role === 'assistant') messages.pop();
    if (messages.length === 0) return undefined;
    this.commit({ messages });
    return this.ask();
  };

  /** Stops any answer and forgets the conversation (settings stay). */
  readonly clear = (): void => {
    this.stop();
    this.detach();
    this.commit({ messages: [], busy: false });
  };

  /** What is sent: the system prompt, then every user message and every answer that has text. */
  history(): ChatMessage[] {
    const out: ChatMessage[] = [];
    const system = this.snapshot.settings.system?.trim();
    if (system) out.push({ role: 'system', content: system });
    for (const m of this.snapshot.messages) {
      if (m.role === 'user') out.push({ role: 'user', content: m.content });
      else if (m.content && m.status !== 'error') out.push({ role: 'assistant', content: m.content });
    }
    return out;
  }

  private ask(): ChatHandle {
    const { model, temperature, max_tokens } = this.snapshot.settings;
    const request: ChatRequest = { messages: this.history() };
    if (model) request.model = model;
    if (temperature !== undefined && Number.isFinite(temperature)) request.temperature = temperature;
    if (max_tokens !== undefined && Number.isFinite(max_tokens) && max_tokens > 0) request.max_tokens = Math.floor(max_tokens);
    const answer: ConversationMessage = {
      id: this.newId(),
      role: 'assistant',
      content: '',
      status: 'pending',
      stats: { sentAt: this.now(), chunks: 0 },
    };
    this.commit({ messages: [...this.snapshot.messages, answer], busy: true });
    const handle = this.client.chat(request);
    const off = handle.onEvent((event) => this.onEvent(answer.id, handle, event));
    this.current = { handle, off };
    // An event may already have been delivered synchronously (an aborted or refused request).
    if (handle.status !== 'pending' && handle.status !== 'streaming') this.syncEnded(answer.id, handle);
    return handle;
  }

  private onEvent(messageId: string, handle: ChatHandle, event: ChatEvent): void {
    if (this.current?.handle !== handle) return;
    const now = this.now();
    this.patchMessage(messageId, (m) => {
      const stats = { ...m.stats! };
      switch (event.type) {
        case 'started':
          return { ...m, status: 'streaming', model: event.model, stream_id: event.stream_id };
        case 'chunk': {
          if (!event.delta) return m.status === 'pending' ? { ...m, status: 'streaming' } : m;
          stats.chunks += 1;
          if (stats.firstTokenAt === undefined) {
            stats.firstTokenAt = now;
            stats.ttftMs = now - stats.sentAt;
          }
          const seconds = (now - stats.firstTokenAt) / 1000;
          stats.tokensPerSecond = seconds > 0.25 ? (stats.chunks - 1) / seconds : undefined;
          return { ...m, status: 'streaming', content: m.content + event.delta, stats };
        }
        case 'done': {
          stats.endedAt = now;
          stats.completionTokens = event.usage?.completion_tokens;
          const tokens = stats.completionTokens ?? stats.chunks;
          const seconds = stats.firstTokenAt === undefined ? 0 : (now - stats.firstTokenAt) / 1000;
          if (seconds > 0 && tokens > 1) stats.tokensPerSecond = (tokens - 1) / seconds;
          return {
            ...m,
            content: event.text,
            status: event.finish_reason === 'cancelled' ? 'cancelled' : 'done',
            finish_reason: event.finish_reason,
            usage: event.usage,
            stats,
          };
        }
        case 'error':
          stats.endedAt = now;
          return { ...m, status: 'error', error: event.error, stats };
      }
    });
    if (event.type === 'done' || event.type === 'error') {
      this.detach();
      this.commit({ busy: false });
    }
  }

  private syncEnded(messageId: string, handle: ChatHandle): void {
    handle.result.then(
      (r) => this.onEvent(messageId, handle, { type: 'done', seq: handle.seq, finish_reason: r.finish_reason, usage: r.usage, text: r.text }),
      (error: unknown) =>
        this.onEvent(messageId, handle, {
          type: 'error',
          error: error instanceof ChatError ? error : new ChatError({ code: 'internal_error', message: String(error) }),
        }),
    );
  }

  private detach(): void {
    this.current?.off();
    this.current = undefined;
  }

  private patchMessage(id: string, patch: (m: ConversationMessage) => ConversationMessage): void {
    const messages = this.snapshot.messages.map((m) => (m.id === id ? patch(m) : m));
    this.commit({ messages });
  }

  private commit(patch: Partial<ConversationSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const listener of [...this.listeners]) listener();
  }

  private newId(): string {
    return `${this.prefix}_${this.nextId++}`;
  }
}
