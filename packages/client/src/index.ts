/**
 * Client SDK for the HolySheep stream gateway (protocol v1, docs/protocol.md).
 *
 * @example
 * const client = createClient({ url: 'wss://gateway.example.com/v1/ws', getToken: () => auth.token() });
 * const answer = client.chat({ messages: [{ role: 'user', content: 'Hello' }] });
 * for await (const delta of answer.textStream()) output.append(delta);
 */
export { createClient, StreamClient } from './client';
export type {
  ChatOptions,
  ChatRequest,
  ClientEvents,
  ClientOptions,
  ConnectionState,
  ConnectionStatus,
  FrameRecord,
  CloseOptions,
  ResumeOptions,
  TokenRequest,
  WatchOptions,
} from './client-types';
export type { ChatEvent, ChatHandle, ChatResult, ChatStatus } from './chat-handle';
export type { StreamList } from './list-requests';
export { ChatError, type ClientErrorCode } from './errors';
export { backoffDelay, BROWSER_CLOSE_CODES, closeAction, DEFAULT_BACKOFF, type BackoffOptions, type CloseAction } from './reconnect-policy';
export { actionsOf, Conversation } from './conversation';
export type { ConversationActions, ConversationMessage, ConversationOptions, ConversationSettings, ConversationSnapshot, MessageStats } from './conversation';
export type { TokenPlacement, WebSocketConstructor, WebSocketLike } from './websocket';
export { ANONYMOUS_KEY_STORAGE_ENTRY, type KeyStorage } from './anonymous-key';
export { MemoryStorage, type StorageLike } from './storage';
export { MAX_STORED_STREAMS, STREAM_STORAGE_PREFIX, type StoredStream } from './stream-store';
export { CONVERSATION_STORAGE_PREFIX, MAX_PERSISTED_MESSAGES } from './conversation-store';
// The gateway's protocol module, re-exported: frame types, error codes and close codes.
export { CLOSE_CODES, ERROR_CODES, PROTOCOL_VERSION, SUBPROTOCOL, unknownRole, WS_PATH } from '@holysheep/protocol';
export type {
  AssistantMessage,
  ChatCompletionChunk,
  ChatCompletionChunkDelta,
  ChatMessage,
  DeveloperMessage,
  FileContentPart,
  ImageContentPart,
  InputAudioContentPart,
  KnownChatRole,
  RefusalContentPart,
  SystemMessage,
  TextContentPart,
  ToolCall,
  ToolCallDelta,
  ToolMessage,
  UnknownRole,
  UnknownRoleMessage,
  UserContentPart,
  UserMessage,
  ClientFrame,
  CloseCode,
  CompletionUsage,
  ErrorCode,
  FinishReason,
  ServerFrame,
  SessionReadyFrame,
  StreamState,
  StreamSummary,
} from '@holysheep/protocol';
