import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection } from '../connections/client-connection';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import type { AuthResult } from '../auth/auth.service';
import { DrainService } from '../health/drain.service';
import { FrameFloodGuard } from '../limits/frame-flood-guard';
import { MetricsService, type CloseReasonLabel } from '../metrics/metrics.service';
import { RequestRateLimiterService } from '../limits/request-rate-limiter.service';
import { CLOSE_CODES, PROTOCOL_VERSION, WS_PATH, type ChatRequestFrame, type ClientFrame, type ErrorCode, type ErrorFrame } from '../protocol';
import { StreamManagerService } from '../streams/stream-manager.service';
import { AdmissionService } from './admission.service';
import { parseClientFrame, toUpstreamRequest } from './inbound-frames';
import { WsTransport } from './ws-transport';

/**
 * The streaming socket at `/v1/ws` (PROTOCOL.md). It owns the per-socket conversation: the
 * `session.ready` greeting, validating every inbound frame and answering each bad one with an
 * `error` frame, and routing requests to the stream manager. Streams themselves live in
 * `streams/`, sockets' bookkeeping in `connections/`.
 */
@WebSocketGateway({ path: WS_PATH })
export class ChatGateway implements OnGatewayConnection<WebSocket> {
  private readonly floodGuards = new WeakMap<ClientConnection, FrameFloodGuard>();
  private readonly expiryTimers = new Map<ClientConnection, NodeJS.Timeout>();
  private readonly config: GatewayConfig;
  private readonly allowedModels: ReadonlySet<string> | undefined;

  constructor(
    private readonly registry: ConnectionRegistryService,
    private readonly streams: StreamManagerService,
    private readonly drain: DrainService,
    private readonly rateLimiter: RequestRateLimiterService,
    private readonly admission: AdmissionService,
    private readonly metrics: MetricsService,
    @InjectPinoLogger('Gateway') private readonly logger: PinoLogger,
    @InjectConfig() config: GatewayConfig,
  ) {
    this.config = config;
    const allowed = this.config.limits.allowedModels;
    this.allowedModels = allowed.length > 0 ? new Set(allowed) : undefined;
  }

  handleConnection(ws: WebSocket, request: IncomingMessage): void {
    const transport = new WsTransport(ws);
    const auth = this.admission.authResultFor(request);
    const refusal = this.refusal(auth);
    if (refusal) {
      if (refusal.frame) transport.send(Buffer.from(JSON.stringify(refusal.frame)));
      transport.close(refusal.close.code, refusal.close.reason);
      this.metrics.socketClosed(refusal.label);
      this.logger.info(
        { event: 'socket_refused', remote_address: request.socket.remoteAddress, close_code: refusal.close.code, close_reason: refusal.close.reason },
        'socket refused',
      );
      return;
    }
    const principal = (auth as Extract<AuthResult, { ok: true }>).principal;
    const connection = this.registry.register(
      transport,
      { id: randomUUID(), principal, remoteAddress: request.socket.remoteAddress ?? 'unknown' },
      this.config.backpressure,
    );
    this.floodGuards.set(connection, new FrameFloodGuard(this.config.limits.framesPerSecond, this.registry.now()));
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(connection, data, isBinary));
    ws.on('pong', () => this.registry.recordPong(connection));
    ws.once('close', (code: number, reason: Buffer) => this.onClose(connection, code, reason.toString()));
    connection.send({
      type: 'session.ready',
      session_id: connection.id,
      protocol: PROTOCOL_VERSION,
      heartbeat_interval_ms: this.config.socket.heartbeatIntervalMs,
      limits: {
        max_frame_bytes: this.config.socket.maxFrameBytes,
        max_concurrent_streams: this.config.socket.maxStreamsPerConnection,
      },
    });
    if (auth.ok && auth.expiresAt !== undefined) this.closeAtExpiry(connection, auth.expiresAt);
  }

  /** Why a new socket may not stay, in PROTOCOL.md's terms; undefined when it may. */
  private refusal(auth: AuthResult): { frame?: ErrorFrame; close: { code: number; reason: string }; label: CloseReasonLabel } | undefined {
    const { UNAUTHORIZED, SERVICE_RESTART, TRY_AGAIN_LATER, TOO_MANY_CONNECTIONS } = CLOSE_CODES;
    if (!auth.ok) return { frame: { type: 'error', code: 'unauthorized', message: auth.message }, close: UNAUTHORIZED, label: 'auth' };
    // The drain may have begun while the credential was being checked.
    if (this.drain.isDraining) return { close: SERVICE_RESTART, label: 'drain' };
    if (this.registry.size >= this.config.limits.maxConnections) return { close: TRY_AGAIN_LATER, label: 'limit' };
    if (this.registry.countForPrincipal(auth.principal) >= this.config.limits.maxConnectionsPerPrincipal) {
      return { close: TOO_MANY_CONNECTIONS, label: 'limit' };
    }
    return undefined;
  }

  /** A token that expires on an open socket ends it: `unauthorized`, then 4401 (PROTOCOL.md). */
  private closeAtExpiry(connection: ClientConnection, expiresAt: number): void {
    // setTimeout holds at most 2^31-1 ms (~24.8 days); longer tokens re-arm when it fires.
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      if (Date.now() < expiresAt) return this.closeAtExpiry(connection, expiresAt);
      this.expiryTimers.delete(connection);
      connection.send({ type: 'error', code: 'unauthorized', message: 'token expired' });
      connection.close(CLOSE_CODES.UNAUTHORIZED.code, CLOSE_CODES.UNAUTHORIZED.reason, 'auth');
    }, delay);
    this.expiryTimers.set(connection, timer);
  }

  private onClose(connection: ClientConnection, code: number, reason: string): void {
    clearTimeout(this.expiryTimers.get(connection));
    this.expiryTimers.delete(connection);
    this.streams.abandonAll(connection);
    this.registry.unregister(connection.id);
    this.metrics.socketClosed(closeReasonLabel(connection.closeReason, code));
    this.logger.info(
      {
        event: 'socket_closed',
        connection_id: connection.id,
        principal: connection.principal,
        remote_address: connection.remoteAddress,
        duration_ms: this.registry.now() - connection.connectedAt,
        close_code: code,
        close_reason: reason,
        closed_by: connection.closeReason ?? 'client',
        frames_in: connection.framesIn,
        frames_out: connection.framesOut,
        bytes_out: connection.bytesOut,
      },
      'socket closed',
    );
  }

  private onMessage(connection: ClientConnection, data: RawData, isBinary: boolean): void {
    this.registry.recordFrameIn(connection);
    const verdict = this.floodGuards.get(connection)?.check(this.registry.now()) ?? 'accept';
    if (verdict !== 'accept') {
      this.metrics.rateLimited('frame');
      if (verdict === 'close') {
        connection.close(CLOSE_CODES.TOO_MANY_CONNECTIONS.code, 'too many frames', 'flood');
        return;
      }
      const message = `More than ${this.config.limits.framesPerSecond} frames per second: frames are being dropped`;
      // A dropped chat.request is answered under its own id, so the client's request does not hang;
      // other dropped frames share one warning per second.
      const requestId = droppedRequestId(data, isBinary);
      if (requestId !== undefined) this.reject(connection, 'rate_limited', message, requestId);
      else if (verdict === 'drop-and-warn') this.reject(connection, 'rate_limited', message);
      return;
    }
    const parsed = parseClientFrame(data, isBinary);
    if (!parsed.ok) return this.reject(connection, parsed.code, parsed.message, parsed.id);
    try {
      this.dispatch(connection, parsed.frame);
    } catch (error) {
      // A bug must cost one frame, never the socket or the process.
      this.logger.error({ event: 'frame_failed', connection_id: connection.id, err: error }, 'frame handling failed');
      this.reject(connection, 'internal_error', 'The gateway could not handle this frame', 'id' in parsed.frame ? parsed.frame.id : undefined);
    }
  }

  private dispatch(connection: ClientConnection, frame: ClientFrame): void {
    switch (frame.type) {
      case 'chat.request':
        return this.startStream(connection, frame);
      case 'chat.cancel':
        // Unknown or finished ids are a silent no-op (PROTOCOL.md).
        return this.streams.findActive(connection, frame.id)?.cancel();
      case 'stream.resume':
        // Resume arrives with the streams buffer; until then no stream can be resumed.
        return connection.send({
          type: 'chat.error',
          id: frame.id ?? frame.stream_id,
          stream_id: frame.stream_id,
          code: 'stream_not_found',
          message: 'Stream not found or no longer resumable',
          retryable: false,
        });
      case 'ping':
        return connection.send(frame.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: frame.ts });
    }
  }

  private startStream(connection: ClientConnection, frame: ChatRequestFrame): void {
    if (this.drain.isDraining) {
      return this.reject(connection, 'shutting_down', 'This instance is shutting down; reconnect and send the request again', frame.id);
    }
    const { limits } = this.config;
    if (frame.messages.length > limits.maxMessages) {
      return this.reject(connection, 'bad_request', `messages: at most ${limits.maxMessages} messages per request`, frame.id);
    }
    if (Buffer.byteLength(JSON.stringify(frame.messages)) > limits.maxPromptBytes) {
      return this.reject(connection, 'bad_request', `messages: at most ${limits.maxPromptBytes} bytes of prompt per request`, frame.id);
    }
    const model = frame.model ?? this.config.models.default;
    if (this.allowedModels && !this.allowedModels.has(model)) {
      return this.reject(connection, 'model_not_allowed', `Model "${model}" is not available on this gateway`, frame.id);
    }
    if (connection.activeStreams.has(frame.id)) {
      return this.reject(connection, 'duplicate_id', `A stream with id "${frame.id}" is already active on this socket`, frame.id);
    }
    if (connection.activeStreams.size >= this.config.socket.maxStreamsPerConnection) {
      return this.reject(
        connection,
        'too_many_streams',
        `At most ${this.config.socket.maxStreamsPerConnection} streams may be active on one socket`,
        frame.id,
      );
    }
    const retryAfterMs = this.rateLimiter.take(connection.principal, this.registry.now());
    if (retryAfterMs > 0) {
      this.metrics.rateLimited('request');
      // A chat.error rather than an error frame: only chat.error carries retry_after_ms.
      return connection.send({
        type: 'chat.error',
        id: frame.id,
        code: 'rate_limited',
        message: `More than ${limits.requestsPerMinute} requests per minute`,
        retryable: true,
        retry_after_ms: retryAfterMs,
      });
    }
    this.streams.start(connection, frame.id, toUpstreamRequest(frame, this.config.models.default), frame.traceparent);
  }

  private reject(connection: ClientConnection, code: ErrorCode, message: string, id?: string): void {
    connection.send(id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id });
  }
}

/** Largest dropped frame worth parsing to find a request id (a flood of big frames is not parsed). */
const MAX_DROPPED_FRAME_PARSE_BYTES = 4096;

/** The `id` of a dropped `chat.request`, if the frame is one and is small. */
function droppedRequestId(data: RawData, isBinary: boolean): string | undefined {
  if (isBinary || !Buffer.isBuffer(data) || data.length > MAX_DROPPED_FRAME_PARSE_BYTES) return undefined;
  const parsed = parseClientFrame(data, false);
  return parsed.ok && parsed.frame.type === 'chat.request' ? parsed.frame.id : undefined;
}

/** Gateway-side close reasons (`ClientConnection.closeReason`) → the metrics label. */
const CLOSED_BY_GATEWAY: Record<string, CloseReasonLabel> = { heartbeat: 'heartbeat', idle: 'idle', drain: 'drain', slow: 'slow', auth: 'auth', flood: 'limit' };

/** The metrics label for why a socket closed: the gateway's own reason, else what the code says. */
function closeReasonLabel(closedBy: string | undefined, code: number): CloseReasonLabel {
  if (closedBy !== undefined) return CLOSED_BY_GATEWAY[closedBy] ?? 'error';
  // ws itself closes a socket whose frame is over MAX_FRAME_BYTES.
  if (code === CLOSE_CODES.MESSAGE_TOO_BIG.code) return 'limit';
  return code === CLOSE_CODES.INTERNAL_ERROR.code ? 'error' : 'client';
}
