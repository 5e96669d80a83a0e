/**
 * A conversation's messages as kept in storage (`new Conversation(client, { persistKey })`), so a
 * reload shows them again and goes on with an answer in flight. Each assistant message keeps its
 * request id, stream id and the last seq its text ends at: the resume asks for what follows that
 * seq, so the kept text and the resumed text meet exactly once. Nothing secret is kept (a
 * message's error keeps its code and message only).
 */
import type { ConversationMessage } from './conversation';
import { ChatError } from './errors';
import { readJson, removeItem, writeJson, type StorageLike } from './storage';

/** The storage entry's name prefix; the `persistKey` follows. */
export const CONVERSATION_STORAGE_PREFIX = 'holysheep.conversation:';
/** The most messages kept (the newest): a long session must not fill the storage quota. */
export const MAX_PERSISTED_MESSAGES = 200;

const VERSION = 1;
const STATUSES = new Set<ConversationMessage['status']>(['pending', 'streaming', 'done', 'cancelled', 'error']);

export class ConversationStore {
  private readonly key: string;

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

  save(messages: readonly ConversationMessage[]): void {
    if (messages.length === 0) return removeItem(this.storage, this.key);
    writeJson(this.storage, this.key, { v: VERSION, messages: messages.slice(-MAX_PERSISTED_MESSAGES).map(keep) });
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
