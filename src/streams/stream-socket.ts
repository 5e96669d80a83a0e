import type { Pausable } from '../backpressure/flow-gate';
import type { ServerFrame } from '@holysheep/protocol';

/** What ties a stream to a socket (its watcher); detached when the socket goes. */
export interface StreamAttachment {
  detach(): void;
}

/**
 * What the streams need of a socket that starts, resumes, cancels or watches streams: where its
 * frames go, whose it is, its flow gate, and the ids of the streams active on it. The gateway's
 * client connection is one; nothing here knows more of it.
 */
export interface StreamSocket {
  /** For log lines. */
  readonly id: string;
  readonly principal: string;
  readonly transport: { readonly isOpen: boolean };
  /** Closed while the socket is over its send-buffer mark: its watchers stop taking frames. */
  readonly flow: { readonly isPaused: boolean; attach(target: Pausable): () => void };
  send(frame: ServerFrame): void;
  /** An answer that is not part of a stream (dropped while the socket is not reading). */
  reply(frame: ServerFrame): void;
  /** An already-serialised frame. */
  sendText(text: string): void;
  /** A ready WebSocket text frame (a logged frame, or a compact one rendered for this socket): written as it is. */
  sendWire(frame: Buffer): void;
  /** A stream became active on this socket under `id`. */
  streamStarted(id: string, streamId: string, attachment: StreamAttachment): void;
  /** The stream this socket calls `id` is no longer active on it (if `attachment` is still the one under that id). */
  streamEnded(id: string, attachment: StreamAttachment): void;
  hasStream(id: string): boolean;
  /** The `stream_id` of the active stream the socket calls `id`. */
  streamIdOf(id: string): string | undefined;
}
