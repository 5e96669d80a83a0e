/**
 * A conversation's messages as kept in storage (`new Conversation(client, { persistKey })`), so a
 * reload shows them again and goes on with an answer in flight. Each assistant message keeps its
 * request id, stream id and the last seq its text ends at: the resume asks for what follows that
 * seq, so the kept text and the resumed text meet exactly once. Nothing secret is kept (a
 * message's error keeps its code and message only).
 *
 * While an answer streams, its text is saved at most every {@link PERSIST_INTERVAL_MS} (and at
 * `pagehide`): rewriting the whole conversation per token cost ~2 ms a chunk for 200 long
 * messages. A save that lags is still exact — text and seq are saved together, so the resume
 * asks for a little more and the replay rebuilds the same text.
 */
import type { ConversationMessage } from './conversation';
import { ChatError } from './errors';
import { readJson, removeItem, writeJson, type StorageLike } from './storage';

/** The storage entry's name prefix; the `persistKey` follows. */
export const CONVERSATION_STORAGE_PREFIX = 'holysheep.conversation:';
/** The most messages kept (the newest): a long session must not fill the storage quota. */
export const MAX_PERSISTED_MESSAGES = 200;

/** The longest a streamed chunk's text waits to be saved (see the module comment). */
export const PERSIST_INTERVAL_MS = 250;

const VERSION = 1;

/** Stores with a save waiting: flushed together when the page goes away. */
const waiting = new Set<ConversationStore>();
let flushesOnPageHide = false;

/** One `pagehide` listener for every store (browsers fire it on reload and navigation; Node has none). */
function flushOnPageHide(): void {
  if (flushesOnPageHide) return;
  flushesOnPageHide = true;
  const target = globalThis as { addEventListener?: (type: string, listener: () => void) => void };
  target.addEventListener?.('pagehide', () => {
    for (const store of [...waiting]) store.flush();
  });
}
const STATUSES = new Set<ConversationMessage['status']>(['pending', 'streaming', 'done', 'cancelled', 'error']);

export class ConversationStore {
  private readonly key: string;
  private pending: readonly ConversationMessage[] | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly storage: StorageLike,
    persistKey: string,
  ) {
    this.key = `${CONVERSATION_STORAGE_PREFIX}${persistKey}`;
  }

  /** The kept messages (an unreadable or foreign entry reads as none). */
  load(): ConversationMessage[] {
    const value = readJson(this.storage, this.key) as { v?: number; messages?: unknown } | undefined;
    if (!value || value.v !== VERSION || !Array.isArray(value.messages)) return [];
    return value.messages.filter(isKeptMessage).map(revive);
  }

  /** Saves now (a message added, ended or removed), replacing a save that waits. */
  save(messages: readonly ConversationMessage[]): void {
    this.pending = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    waiting.delete(this);
    if (messages.length === 0) return removeItem(this.storage, this.key);
    writeJson(this.storage, this.key, { v: VERSION, messages: messages.slice(-MAX_PERSISTED_MESSAGES).map(keep) });
  }

  /** Saves within {@link PERSIST_INTERVAL_MS} (a streamed chunk): the latest messages win. */
  saveSoon(messages: readonly ConversationMessage[]): void {
    this.pending = messages;
    if (this.timer !== undefined) return;
    waiting.add(this);
    flushOnPageHide();
    this.timer = setTimeout(() => this.flush(), PERSIST_INTERVAL_MS);
  }

  /** Writes a waiting save now. */
  flush(): void {
    if (this.pending) this.save(this.pending);
  }
}

/** The message as stored: its error reduced to code and message (an Error's message is not enumerable). */
function keep(message: ConversationMessage): Record<string, unknown> {
  const { error, ...rest } = message;
  return error ? { ...rest, error: { code: error.code, message: error.message } } : rest;
}

function revive(message: ConversationMessage): ConversationMessage {
  const kept = message.error as unknown as { code?: string; message?: string } | undefined;
  if (!kept) return message;
  return { ...message, error: new ChatError({ code: (kept.code ?? 'internal_error') as ChatError['code'], message: kept.message ?? '' }) };
}

function isKeptMessage(value: unknown): value is ConversationMessage {
  const m = value as Partial<ConversationMessage> | null;
  return (
    m !== null &&
    typeof m === 'object' &&
    typeof m.id === 'string' &&
    (m.role === 'user' || m.role === 'assistant') &&
    typeof m.content === 'string' &&
    STATUSES.has(m.status!)
  );
}
