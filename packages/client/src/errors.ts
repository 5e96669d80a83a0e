import { ERROR_CODES, isErrorCode, type ErrorCode } from '@holysheep/protocol';

/**
 * Codes the SDK itself gives, beside the gateway's (@holysheep/protocol ERROR_CODES):
 * - `connection_closed`: the socket closed for good (1009, 4403, `client.close()`) with the stream unfinished;
 * - `unsupported`: the server does not know a frame the SDK sent (`stream.list` on an older gateway);
 * - `timeout`: the server did not answer in time (`client.streams()`);
 * - `connect_failed`: the WebSocket could not even be created (bad URL, a token with characters a subprotocol cannot carry).
 */
export type ClientErrorCode = 'connection_closed' | 'unsupported' | 'timeout' | 'connect_failed';

export interface ChatErrorInit {
  code: ErrorCode | ClientErrorCode;
  message: string;
  retryable?: boolean;
  retryAfterMs?: number;
  streamId?: string;
  closeCode?: number;
  partialText?: string;
}

/** Why a stream (or the client) failed. Switch on `code`, not on `message`. */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  readonly code: ErrorCode | ClientErrorCode;
  /** Whether sending the same request again may succeed unchanged. */
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly streamId?: string;
  /** The WebSocket close code, when a close caused it. */
  readonly closeCode?: number;
  /** The text received before the failure. */
  partialText: string;

  constructor(init: ChatErrorInit) {
    super(init.message);
    this.code = init.code;
    this.retryable = init.retryable ?? (isErrorCode(init.code) ? ERROR_CODES[init.code].retryable : false);
    this.retryAfterMs = init.retryAfterMs;
    this.streamId = init.streamId;
    this.closeCode = init.closeCode;
    this.partialText = init.partialText ?? '';
  }
}
