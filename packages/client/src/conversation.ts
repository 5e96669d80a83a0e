/**
 * A multi-turn conversation on top of {@link StreamClient}: the message list, an optional system
 * prompt and sampling settings, send / stop / regenerate / clear, and live timing (time to first
 * token, tokens per second). Framework-free: `subscribe` + `getSnapshot` fit React's
 * `useSyncExternalStore` (see the `./react` entry point), Vue refs (`./vue`) and plain DOM code
 * alike. With a `persistKey` it keeps its messages in the client's storage and, on construction,
 * shows them again and goes on with an answer that was in flight (conversation-store.ts).
 */
import type { ChatMessage, CompletionUsage, FinishReason } from '@holysheep/protocol';
import type { ChatEvent, ChatHandle } from './chat-handle';
import type { ChatRequest, StreamClient } from './client';
import { ConversationStore } from './conversation-store';
import { ChatError } from './errors';
import type { StorageLike } from './storage';

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
  /** Assistant messages: the request id (`handle.id`), what a reload resumes the answer by. */
  request_id?: string;
  /** Assistant messages: the seq of the last frame whose text is in `content`. */
  seq?: number;
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
  /**
   * Keeps the messages under this name in `storage`, and on construction restores them and goes
   * on with an answer that was streaming (from the seq its kept text ends at: no text twice, no
   * second upstream request). One name per conversation of the page. @defaultValue not kept
   */
  persistKey?: string;
  /** Where `persistKey` keeps the messages. @defaultValue the client's `storage` */
  storage?: StorageLike;
}

let conversations = 0;

/** What a framework binding hands out besides the state: the conversation's methods (bound), and itself. */
export interface ConversationActions {
  send: Conversation['send'];
  stop: Conversation['stop'];
  regenerate: Conversation['regenerate'];
  clear: Conversation['clear'];
  setSettings: Conversation['setSettings'];
  conversation: Conversation;
}

/** The {@link ConversationActions} of `conversation`, for the React and Vue bindings alike. */
export function actionsOf(conversation: Conversation): ConversationActions {
  const { send, stop, regenerate, clear, setSettings } = conversation;
  return { send, stop, regenerate, clear, setSettings, conversation };
}

export class Conversation {
  private snapshot: ConversationSnapshot;
  private readonly listeners = new Set<() => void>();
  private current: { handle: ChatHandle; off: () => void } | undefined;
  private readonly now: () => number;
  private nextId = 1;
  private readonly prefix = `m${++conversations}`;
  private readonly store: ConversationStore | undefined;
  /** Ids of restored messages: new ones must not repeat them. */
  private readonly keptIds = new Set<string>();

  constructor(
    private readonly client: StreamClient,
    options: ConversationOptions = {},
  ) {
    const perf = (globalThis as { performance?: { now(): number } }).performance;
    this.now = options.now ?? (perf ? () => perf.now() : () => Date.now());
    this.snapshot = { messages: [], busy: false, settings: { ...options.settings } };
    const storage = options.storage ?? client.storage;
    if (options.persistKey !== undefined && storage) {
      this.store = new ConversationStore(storage, options.persistKey);
      this.restore();
    }
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

  /** Shows the kept messages, and resumes the answer that was streaming when the page went away. */
  private restore(): void {
    const messages = this.store!.load();
    for (const m of messages) this.keptIds.add(m.id);
    const last = messages[messages.length - 1];
    const inFlight = last?.role === 'assistant' && (last.status === 'pending' || last.status === 'streaming') ? last : undefined;
    if (!inFlight) {
      this.snapshot = { ...this.snapshot, messages };
      return;
    }
    if (!inFlight.request_id) {
      // Kept before its request had an id: there is nothing to resume it by.
      const error = new ChatError({ code: 'stream_not_found', message: 'The answer was cut by a reload', retryable: false });
      this.snapshot = { ...this.snapshot, messages: [...messages.slice(0, -1), { ...inFlight, status: 'error', error }] };
      return;
    }
    // Timing restarts at the resume: the earlier page's clock means nothing here.
    const resumed: ConversationMessage = { ...inFlight, stats: { sentAt: this.now(), chunks: 0, ttftMs: inFlight.stats?.ttftMs } };
    this.snapshot = { ...this.snapshot, messages: [...messages.slice(0, -1), resumed], busy: true };
    const handle = this.client.resume({ id: inFlight.request_id, stream_id: inFlight.stream_id, after_seq: inFlight.seq ?? 0 });
    this.follow(resumed.id, handle);
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
    const handle = this.client.chat(request);
    // Committed with its request id: a reload from here on can resume it.
    answer.request_id = handle.id;
    this.commit({ messages: [...this.snapshot.messages, answer], busy: true });
    this.follow(answer.id, handle);
    return handle;
  }

  private follow(messageId: string, handle: ChatHandle): void {
    const off = handle.onEvent((event) => this.onEvent(messageId, handle, event));
    this.current = { handle, off };
    // An event may already have been delivered synchronously (an aborted or refused request).
    if (handle.status !== 'pending' && handle.status !== 'streaming') this.syncEnded(messageId, handle);
  }

  private onEvent(messageId: string, handle: ChatHandle, event: ChatEvent): void {
    if (this.current?.handle !== handle) return;
    const now = this.now();
    // A chunk's text is saved soon rather than at once (conversation-store.ts); the rest at once.
    this.patchMessage(messageId, event.type === 'chunk', (m) => {
      const stats = { ...m.stats! };
      switch (event.type) {
        case 'started':
          return { ...m, status: 'streaming', model: event.model, stream_id: event.stream_id, seq: event.seq };
        case 'chunk': {
          if (!event.delta) return { ...m, status: 'streaming', seq: event.seq, stream_id: m.stream_id ?? handle.stream_id };
          stats.chunks += 1;
          if (stats.firstTokenAt === undefined) {
            stats.firstTokenAt = now;
            // A resumed answer keeps the time to first token its first page measured.
            stats.ttftMs ??= now - stats.sentAt;
          }
          const seconds = (now - stats.firstTokenAt) / 1000;
          stats.tokensPerSecond = seconds > 0.25 ? (stats.chunks - 1) / seconds : undefined;
          // Text and seq change together: a reload resumes after exactly this seq.
          return { ...m, status: 'streaming', content: m.content + event.delta, seq: event.seq, stream_id: m.stream_id ?? handle.stream_id, stats };
        }
        case 'done': {
          stats.endedAt = now;
          stats.completionTokens = event.usage?.completion_tokens;
          const tokens = stats.completionTokens ?? stats.chunks;
          const seconds = stats.firstTokenAt === undefined ? 0 : (now - stats.firstTokenAt) / 1000;
          if (seconds > 0 && tokens > 1) stats.tokensPerSecond = (tokens - 1) / seconds;
          // The content as accumulated, not `event.text`: a resumed handle's text starts at the resume.
          return {
            ...m,
            seq: event.seq,
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

  private patchMessage(id: string, lazy: boolean, patch: (m: ConversationMessage) => ConversationMessage): void {
    const messages = this.snapshot.messages.map((m) => (m.id === id ? patch(m) : m));
    this.commit({ messages }, lazy);
  }

  private commit(patch: Partial<ConversationSnapshot>, lazy = false): void {
    this.snapshot = { ...this.snapshot, ...patch };
    if (patch.messages && lazy) this.store?.saveSoon(this.snapshot.messages);
    else if (patch.messages) this.store?.save(this.snapshot.messages);
    for (const listener of [...this.listeners]) listener();
  }

  private newId(): string {
    let id: string;
    do id = `${this.prefix}_${this.nextId++}`;
    while (this.keptIds.has(id));
    return id;
  }
}
