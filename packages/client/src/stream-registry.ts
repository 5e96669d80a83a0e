/**
 * The streams in flight: where each one is (its phase), the last seq it delivered, which frames to
 * drop as already seen, and what to send for it on a fresh socket (resume, a lookup by request id,
 * or the request again). It never touches a socket: frames go out through a {@link StreamLink}.
 */
import type { ChatChunkFrame, ChatErrorFrame, ChatRequestFrame, ClientFrame, ServerFrame, StreamCompleteFrame, StreamOvertakenFrame, StreamSummary } from '@holysheep/protocol';
import { ChatHandleImpl } from './chat-handle';
import { chunkOf, envelopeOf, type ChunkEnvelope, type DeltaFrame } from './compact';
import { ChatError } from './errors';
import type { StoredStream } from './stream-store';

export type StreamPhase =
  /** Not sent on any socket yet. */
  | 'queued'
  /** `chat.request` sent on this socket, `chat.started` not received. */
  | 'sent'
  /** Started (or resume sent) on this socket. */
  | 'live'
  /** Sent before a drop, never reported started: being looked up with `stream.list`. */
  | 'locating'
  /** Its socket is gone: to be resumed on the next one. */
  | 'detached'
  /** Its resume was answered `rate_limited`: sent again after `retry_after_ms`, or on the next socket. */
  | 'throttled';

export interface StreamEntry {
  handle: ChatHandleImpl;
  kind: 'chat' | 'watch';
  /** A chat's request, sent again if the gateway lost it. */
  request?: ChatRequestFrame;
  phase: StreamPhase;
  /** `chat.cancel` was asked for; sent as soon as the stream is live on a socket. */
  cancelRequested: boolean;
  /** The last whole chunk's fields but its choices: what a compact delta frame's chunk is rebuilt with. */
  envelope?: ChunkEnvelope;
}

/** The frames that belong to one stream. */
export type StreamFrame = Extract<ServerFrame, { type: 'chat.started' | 'chat.chunk' | 'chat.done' | 'chat.error' }> | DeltaFrame;

/** What the registry needs from the layers around it. */
export interface StreamLink {
  /** Sends a frame on the open socket (dropped without one). */
  send(frame: ClientFrame): void;
  /** Whether frames sent now reach the server (a socket is open and greeted). */
  readonly ready: boolean;
  newId(kind: string): string;
  /** A stream was sent or ended: the transport re-judges pings and a waiting reconnect. */
  workChanged(): void;
  /** A request was refused by a draining instance. */
  draining(): void;
  /** Asks the gateway for this principal's streams (`stream.list`); undefined when unanswered. */
  locate(onResult: (streams: StreamSummary[] | undefined) => void): void;
}

/** Where the registry records each chat's progress for the next page load (stream-store.ts). */
export interface StreamPersistence {
  save(stream: StoredStream): void;
  forget(id: string): void;
}

/** The streams in flight, by request id; see the module comment. */
export class StreamRegistry {
  private readonly entries = new Map<string, StreamEntry>();
  /** Streams aborted while no socket was open: cancelled on the next socket, if one opens anyway. */
  private orphanCancels: Array<{ stream_id: string; after_seq: number }> = [];

  /**
   * What a `chat.request` and a `stream.resume` carry for the client's format: `text` by default
   * (0.3.0: compact frames, the handle's events unchanged); nothing for `json`, the gateway's
   * default, so a client that pins it sends the frames 0.2 did.
   */
  readonly formatField: { format?: 'text' };

  constructor(
    private readonly link: StreamLink,
    format: 'json' | 'text' = 'text',
    private readonly persist?: StreamPersistence,
  ) {
    this.formatField = format === 'text' ? { format } : {};
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The handle tracked under a request id. */
  handleOf(id: string): ChatHandleImpl | undefined {
    return this.entries.get(id)?.handle;
  }

  /** A new chat stream (not tracked until {@link add}). */
  chatEntry(request: ChatRequestFrame): StreamEntry {
    const handle = new ChatHandleImpl(request.id, (h) => this.cancel(h));
    return { handle, kind: 'chat', request, phase: 'queued', cancelRequested: false };
  }

  /** A new watch of a stream started elsewhere, from `after_seq` on (not tracked until {@link add}). */
  watchEntry(id: string, stream_id: string, after_seq: number): StreamEntry {
    const handle = new ChatHandleImpl(id, (h) => this.cancel(h));
    handle.stream_id = stream_id;
    handle.seq = after_seq;
    return { handle, kind: 'watch', phase: 'queued', cancelRequested: false };
  }

  /**
   * A chat an earlier page load (or client) started: its request is never sent again. Resumed from
   * `after_seq` when its `stream_id` is known, else first found by request id (`stream.list`); a
   * stream the gateway no longer has fails `stream_not_found`. Tracked with {@link add}, sent
   * with {@link resumeNow} or on the next socket (it waits `detached`).
   */
  resumeEntry(id: string, stream_id: string | undefined, after_seq: number): StreamEntry {
    const handle = new ChatHandleImpl(id, (h) => this.cancel(h));
    handle.stream_id = stream_id;
    handle.seq = after_seq;
    return { handle, kind: 'chat', phase: 'detached', cancelRequested: false };
  }

  /** Sends a {@link resumeEntry} on the open socket: its resume, or the lookup of its stream id. */
  resumeNow(entry: StreamEntry): void {
    if (entry.handle.stream_id) this.dispatch(entry);
    else this.locate([entry]);
  }

  /** The `chat.chunk` a compact frame stands for, with its stream's id and last whole chunk's envelope (for the `frame` event). */
  chunkFrameOf(frame: DeltaFrame): ChatChunkFrame {
    const entry = this.entries.get(frame.id);
    const handle = entry?.handle;
    return { type: 'chat.chunk', id: frame.id, stream_id: handle?.stream_id ?? '', seq: frame.seq, chunk: chunkOf(frame.text, entry?.envelope, handle ?? {}) };
  }

  /** Tracks an entry; the caller sends it with {@link dispatch} if a socket is ready. */
  add(entry: StreamEntry): void {
    this.entries.set(entry.handle.id, entry);
  }

  /** Sends what a queued or detached entry needs on a fresh socket: its request, or a resume from its last seq. */
  dispatch(entry: StreamEntry): void {
    const { handle } = entry;
    if (entry.kind === 'watch' || handle.stream_id) {
      this.link.send({ type: 'stream.resume', stream_id: handle.stream_id!, after_seq: handle.seq, id: handle.id, ...this.formatField });
      entry.phase = 'live';
      if (entry.cancelRequested) this.link.send({ type: 'chat.cancel', id: handle.id });
    } else {
      this.link.send(entry.request!);
      entry.phase = 'sent';
    }
    this.record(entry);
    this.link.workChanged();
  }

  /** `handle.cancel()` or an aborted chat signal. */
  cancel(handle: ChatHandleImpl): void {
    const entry = this.entries.get(handle.id);
    if (!entry || handle.ended) return;
    if (this.link.ready && (entry.phase === 'sent' || entry.phase === 'live')) {
      entry.cancelRequested = true;
      this.link.send({ type: 'chat.cancel', id: handle.id });
      return;
    }
    // Detached: an abort never reconnects. The server ends the stream after its grace period; if
    // a socket opens anyway (other work), the stream is cancelled there. A queued one never
    // reached the server: nothing to stop.
    if (entry.phase !== 'queued' && handle.stream_id) this.orphanCancels.push({ stream_id: handle.stream_id, after_seq: handle.seq });
    this.end(entry, () => handle.done(handle.seq, 'cancelled', null));
  }

  /** An aborted watch signal: stop following here; the generation goes on. */
  unwatch(entry: StreamEntry): void {
    if (entry.handle.ended) return;
    this.end(entry, () => entry.handle.done(entry.handle.seq, 'cancelled', null));
  }

  // ------------------------------------------------------------------------------ inbound

  /** A frame of one stream: delivered once, in seq order; anything already seen is dropped. */
  onFrame(frame: StreamFrame): void {
    const entry = this.accept(frame.id, frame.seq);
    if (!entry) return;
    const { handle } = entry;
    switch (frame.type) {
      case 'chat.started':
        entry.phase = 'live';
        handle.started(frame.stream_id, frame.model, frame.seq);
        if (entry.cancelRequested) this.link.send({ type: 'chat.cancel', id: frame.id });
        return this.record(entry);
      case 'chat.chunk':
        if (!handle.stream_id) handle.stream_id = frame.stream_id;
        entry.phase = 'live';
        entry.envelope = envelopeOf(frame.chunk);
        handle.chunk(frame.seq, frame.chunk);
        return this.record(entry);
      case 'chat.delta':
        // A compact frame is a chat.chunk with only its content delta: same seq, same dedupe.
        entry.phase = 'live';
        handle.chunk(frame.seq, chunkOf(frame.text, entry.envelope, handle));
        return this.record(entry);
      case 'chat.done':
        return this.end(entry, () => handle.done(frame.seq, frame.finish_reason, frame.usage));
      case 'chat.error':
        return this.onStreamError(entry, frame);
    }
  }

  /** An `error` frame naming a stream: only a refusal of what was just sent ends it; a live one is unaffected. */
  onRefused(code: string, message: string, id: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.handle.ended) return;
    if (entry.phase !== 'sent' && !(entry.phase === 'live' && entry.handle.status === 'pending')) return;
    if (code === 'shutting_down') return this.requeue(entry);
    this.end(entry, () => entry.handle.fail(new ChatError({ code: code as ChatError['code'], message })));
  }

  /**
   * `stream.complete`: the resume asked from the stream's last seq, so this handle already had all of
   * it. A stream that had failed fails the handle (its error frame was not seen here).
   */
  onComplete(frame: StreamCompleteFrame): void {
    const entry = this.entries.get(frame.id);
    if (!entry || entry.handle.ended) return;
    const { handle } = entry;
    if (frame.state === 'done') return this.end(entry, () => handle.done(frame.last_seq, 'stop', null));
    const error = new ChatError({ code: 'stream_not_found', message: 'The stream had already failed', retryable: false, streamId: frame.stream_id });
    this.end(entry, () => handle.fail(error));
  }

  /**
   * `stream.overtaken`: this socket fell behind while another watcher kept up. The rest is asked for
   * again at once: the gateway reads the resume only once the socket has drained, and answers
   * `stream_not_found` if what this handle lacks is gone by then.
   */
  onOvertaken(frame: StreamOvertakenFrame): void {
    const entry = this.entries.get(frame.id);
    if (!entry || entry.handle.ended || entry.phase !== 'live') return;
    this.dispatch(entry);
  }

  /** The entry a stream frame belongs to, or undefined to drop it (unknown id, or a seq already delivered). */
  private accept(id: string, seq: number | undefined): StreamEntry | undefined {
    const entry = this.entries.get(id);
    if (!entry || entry.handle.ended) return undefined;
    if (seq !== undefined && seq <= entry.handle.seq) return undefined;
    return entry;
  }

  private onStreamError(entry: StreamEntry, frame: ChatErrorFrame): void {
    if (frame.code === 'shutting_down' && entry.phase === 'sent' && frame.stream_id === undefined) return this.requeue(entry);
    // A resume over the gateway's resume budget is not the stream's end: asked again when told.
    if (frame.code === 'rate_limited' && frame.seq === undefined && entry.phase === 'live' && entry.handle.stream_id) return this.throttle(entry, frame.retry_after_ms);
    const error = new ChatError({
      code: frame.code,
      message: frame.message,
      retryable: frame.retryable,
      retryAfterMs: frame.retry_after_ms,
      streamId: frame.stream_id ?? entry.handle.stream_id,
    });
    this.end(entry, () => entry.handle.fail(error, frame.seq));
  }

  /** Sends the entry's resume again after `retryAfterMs`, unless a fresh socket has sent it first. */
  private throttle(entry: StreamEntry, retryAfterMs = 1_000): void {
    entry.phase = 'throttled';
    setTimeout(() => {
      if (this.entries.get(entry.handle.id) === entry && entry.phase === 'throttled' && this.link.ready) this.dispatch(entry);
    }, retryAfterMs);
  }

  /** A request the draining instance refused: it goes out again on the next socket. */
  private requeue(entry: StreamEntry): void {
    entry.phase = 'queued';
    this.link.draining();
  }

  // ------------------------------------------------------------------------------ socket changes

  /**
   * A fresh socket: queued entries go out, detached ones are resumed from their last seq. A chat
   * sent but never started is looked up by request id when the gateway can resume (it may be
   * waiting for its first chunk: resuming it costs nothing twice); without resume the gateway
   * aborted it with its socket, so it is sent again. Streams aborted offline are cancelled here.
   */
  onOpen(resumeEnabled: boolean): void {
    const unknownStart: StreamEntry[] = [];
    for (const entry of this.entries.values()) {
      if (entry.phase === 'queued') this.dispatch(entry);
      else if (entry.phase === 'detached' || entry.phase === 'throttled') {
        if (entry.kind === 'watch' || entry.handle.stream_id) this.dispatch(entry);
        // A restored chat has no request to send again: found by id, or failed.
        else if (resumeEnabled || !entry.request) unknownStart.push(entry);
        else this.resend(entry);
      }
    }
    for (const orphan of this.orphanCancels.splice(0)) {
      const id = this.link.newId('x');
      this.link.send({ type: 'stream.resume', stream_id: orphan.stream_id, after_seq: orphan.after_seq, id, ...this.formatField });
      this.link.send({ type: 'chat.cancel', id });
    }
    if (unknownStart.length > 0) this.locate(unknownStart);
  }

  /** The socket is gone: streams whose cancel went out end here (an abort never reconnects); the rest wait to resume. */
  onSocketLost(): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.cancelRequested) {
        this.entries.delete(entry.handle.id);
        this.unrecord(entry);
        entry.handle.done(entry.handle.seq, 'cancelled', null);
      } else if (entry.phase === 'sent' || entry.phase === 'live' || entry.phase === 'locating') entry.phase = 'detached';
    }
  }

  /** The connection stopped for good: every stream fails with `error` (one whose cancel went out ends cancelled). */
  failAll(error: ChatError): void {
    for (const entry of [...this.entries.values()]) {
      this.entries.delete(entry.handle.id);
      this.unrecord(entry);
      if (entry.cancelRequested) {
        entry.handle.done(entry.handle.seq, 'cancelled', null);
        continue;
      }
      entry.handle.fail(new ChatError({ code: error.code, message: error.message, closeCode: error.closeCode, streamId: entry.handle.stream_id }));
    }
    this.orphanCancels = [];
  }

  /** `client.close()`: every stream ends cancelled; chats the server is running get `chat.cancel` if it can still hear it. */
  cancelAll(): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.kind === 'chat' && this.link.ready && (entry.phase === 'sent' || entry.phase === 'live')) {
        this.link.send({ type: 'chat.cancel', id: entry.handle.id });
      }
      this.entries.delete(entry.handle.id);
      this.unrecord(entry);
      entry.handle.done(entry.handle.seq, 'cancelled', null);
    }
    this.orphanCancels = [];
  }

  /**
   * `client.close({ keepStreams: true })`, what a page unload does: nothing is cancelled or
   * forgotten — the gateway keeps the streams for its grace period and the storage keeps their
   * last seq for the next client — and the handles get no further event.
   */
  releaseAll(): void {
    this.entries.clear();
    this.orphanCancels = [];
  }

  private resend(entry: StreamEntry): void {
    entry.phase = 'queued';
    this.dispatch(entry);
  }

  /** Requests sent before a drop that never reported `chat.started`: resumed if the gateway has them, else sent again. */
  private locate(entries: StreamEntry[]): void {
    for (const entry of entries) entry.phase = 'locating';
    this.link.locate((streams) => {
      for (const entry of entries) {
        if (entry.handle.ended || this.entries.get(entry.handle.id) !== entry || entry.phase !== 'locating') continue;
        const found = streams?.find((s) => s.id === entry.handle.id);
        if (found) entry.handle.stream_id = found.stream_id;
        else if (!entry.request) {
          // A restored chat the gateway does not list: gone (expired, or never reached it).
          const error = new ChatError({ code: 'stream_not_found', message: 'The gateway no longer has this stream', retryable: false });
          this.end(entry, () => entry.handle.fail(error));
          continue;
        }
        this.dispatch(entry);
      }
    });
  }

  /** Stops tracking an entry, then lets it deliver its last event, then re-judges the work left. */
  private end(entry: StreamEntry, deliver: () => void): void {
    this.entries.delete(entry.handle.id);
    this.unrecord(entry);
    deliver();
    this.link.workChanged();
  }

  /** Keeps a chat's request id, stream id and last seq for the next page load (watches are the caller's to keep). */
  private record(entry: StreamEntry): void {
    if (entry.kind !== 'chat' || !this.persist) return;
    this.persist.save({ id: entry.handle.id, stream_id: entry.handle.stream_id, seq: entry.handle.seq });
  }

  private unrecord(entry: StreamEntry): void {
    if (entry.kind === 'chat') this.persist?.forget(entry.handle.id);
  }
}
