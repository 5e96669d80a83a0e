import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import type { ClientConnection } from '../connections/client-connection';
import { HolySheepStreamService } from '../upstream/holysheep-stream.service';
import type { UpstreamChatRequest } from '../upstream/upstream-request';
import { ChatStream } from './chat-stream';
import type { StreamFailure } from './stream-errors';

export type StreamEndListener = (stream: ChatStream, connection: ClientConnection) => void;

/**
 * Creates and tracks every active stream on this instance, by its global `stream_id`, and ties
 * each to the socket that started it. The gateway asks it to start, cancel and abandon streams;
 * drain asks it to wait for all of them.
 */
@Injectable()
export class StreamManagerService {
  private readonly streams = new Map<string, { stream: ChatStream; connection: ClientConnection }>();
  private readonly endListeners: StreamEndListener[] = [];
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly upstream: HolySheepStreamService,
    private readonly registry: ConnectionRegistryService,
  ) {}

  get activeCount(): number {
    return this.streams.size;
  }

  /** Observers of every stream's end (logging, metrics). */
  onStreamEnd(listener: StreamEndListener): void {
    this.endListeners.push(listener);
  }

  start(connection: ClientConnection, id: string, request: UpstreamChatRequest): ChatStream {
    const stream = new ChatStream(
      { id, streamId: `str_${randomUUID()}`, principal: connection.principal, model: request.model, now: () => this.registry.now() },
      connection,
      (ended) => this.ended(ended),
    );
    this.streams.set(stream.streamId, { stream, connection });
    this.registry.streamStarted(connection, id, stream.streamId);
    stream.start(this.upstream.streamEvents(request, { flow: connection.flow }));
    return stream;
  }

  /** The active stream a socket knows by the client's `id`, if any. */
  findActive(connection: ClientConnection, id: string): ChatStream | undefined {
    const streamId = connection.activeStreams.get(id);
    return streamId === undefined ? undefined : this.streams.get(streamId)?.stream;
  }

  /** Socket closed: abort every stream it started (no resume yet, so nobody could receive the rest). */
  abandonAll(connection: ClientConnection): void {
    for (const streamId of [...connection.activeStreams.values()]) this.streams.get(streamId)?.stream.abandon();
  }

  /** Ends every active stream with a gateway-side `chat.error` (used when drain time runs out). */
  abortAll(failure: StreamFailure): void {
    for (const { stream } of [...this.streams.values()]) stream.abort(failure);
  }

  /** Resolves once no stream is active (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.streams.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private ended(stream: ChatStream): void {
    const entry = this.streams.get(stream.streamId);
    if (!entry) return;
    this.streams.delete(stream.streamId);
    this.registry.streamEnded(entry.connection, stream.id);
    for (const listener of this.endListeners) listener(stream, entry.connection);
    if (this.streams.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
