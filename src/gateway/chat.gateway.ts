import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection, ConnectionHandler, ConnectionSettings } from '../connections/client-connection';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { ANY_ID, type OrderKey } from '../connections/frame-order';
import type { FloodVerdict } from '../limits/frame-flood-guard';
import { ResumeRateBudget } from '../limits/resume-rate-budget';
import { MetricsService } from '../metrics/metrics.service';
import { CLOSE_CODES, PROTOCOL_VERSION, WS_PATH, type ChatRequestFrame, type ClientFrame, type ErrorCode, type SessionReadyFrame, type StreamResumeFrame } from '@holysheep/protocol';
import { StreamManagerService } from '../streams/stream-manager.service';
import { AdmissionService } from './admission.service';
import { AuthRefreshHandler, expiryFields } from './auth-refresh.handler';
import { ChatRequestPolicy, type Refusal } from './chat-request.policy';
import { closeReasonLabel, logSocketClosed } from './socket-close-log';
import { frameLimits, parseClientFrame, peekFrameHead, toUpstreamRequest, type FrameLimits } from './inbound-frames';
import { WsTransport } from '../transport/ws-transport';

/**
 * The streaming socket at `/v1/ws` (docs/protocol.md): a router. It admits a socket, greets it
 * with `session.ready`, parses each inbound frame (answering a bad one with an `error` frame) and
 * hands it on: requests through {@link ChatRequestPolicy} to the stream manager, cancels to their
 * stream. Streams live in `streams/`, each socket's state in its `ClientConnection`.
 */
@WebSocketGateway({ path: WS_PATH })
export class ChatGateway implements OnGatewayConnection<WebSocket>, ConnectionHandler {
  private readonly settings: ConnectionSettings;
  private readonly frameLimits: FrameLimits;
  private readonly resumeAdvice: NonNullable<SessionReadyFrame['resume']>;

  constructor(
    private readonly registry: ConnectionRegistryService,
    private readonly streams: StreamManagerService,
    private readonly admission: AdmissionService,
    private readonly policy: ChatRequestPolicy,
    private readonly refresher: AuthRefreshHandler,
    private readonly resumeBudget: ResumeRateBudget,
    private readonly metrics: MetricsService,
    @InjectPinoLogger('Gateway') private readonly logger: PinoLogger,
    @InjectConfig() private readonly config: GatewayConfig,
  ) {
    this.settings = { backpressure: config.backpressure, framesPerSecond: config.limits.framesPerSecond };
    const { graceMs, retentionMs } = config.resume;
    this.resumeAdvice = { enabled: graceMs > 0 || retentionMs > 0, grace_ms: graceMs, retention_ms: retentionMs };
    this.frameLimits = frameLimits(config);
  }

  handleConnection(ws: WebSocket, request: IncomingMessage): void {
    const transport = new WsTransport(ws, request.socket);
    const auth = this.admission.admit(request);
    if (!auth.ok) {
      if (auth.frame) transport.send(Buffer.from(JSON.stringify(auth.frame)));
      transport.close(auth.close.code, auth.close.reason);
      this.metrics.socketClosed(auth.label);
      this.logger.info(
        { event: 'socket_refused', remote_address: request.socket.remoteAddress, close_code: auth.close.code, close_reason: auth.close.reason },
        'socket refused',
      );
      return;
    }
    const info = { id: randomUUID(), principal: auth.principal, remoteAddress: auth.address, extraLimitKeys: auth.extraLimitKeys };
    const connection = this.registry.register(transport, info, { handler: this, settings: this.settings });
    const { socket } = this.config;
    connection.send({
      type: 'session.ready',
      session_id: connection.id,
      protocol: PROTOCOL_VERSION,
      heartbeat_interval_ms: socket.heartbeatIntervalMs,
      limits: { max_frame_bytes: socket.maxFrameBytes, max_concurrent_streams: socket.maxStreamsPerConnection },
      models: { default: this.config.models.default, allowed: this.config.limits.allowedModels },
      resume: this.resumeAdvice,
      ...(auth.expiresAt === undefined ? {} : expiryFields(auth.expiresAt)),
    });
    if (auth.expiresAt !== undefined) connection.expireAt(auth.expiresAt);
  }

  /**
   * Parses a frame and handles it in the socket's order per id (see `FrameOrder`): a frame whose
   * id waits on a round trip (Redis) holds only the frames with that id behind it.
   */
  frame(connection: ClientConnection, data: Buffer, isBinary: boolean): void | Promise<void> {
    const parsed = parseClientFrame(data, isBinary, this.frameLimits);
    if (!parsed.ok) {
      const { code, message, id } = parsed;
      // The refusal keeps its place among the answers to its id.
      return connection.inOrder(id, () => this.refuse(connection, code, message, id));
    }
    const frame = parsed.frame;
    return connection.inOrder(orderKey(connection, frame), () => this.handle(connection, frame));
  }

  flooded(connection: ClientConnection, verdict: Exclude<FloodVerdict, 'accept'>, data: Buffer, isBinary: boolean): void {
    this.metrics.rateLimited('frame');
    if (verdict === 'close') return connection.close(CLOSE_CODES.TOO_MANY_CONNECTIONS.code, 'too many frames', 'flood');
    const message = `More than ${this.config.limits.framesPerSecond} frames per second: frames are being dropped`;
    // A dropped chat.request is answered under its own id, so the client's request does not hang;
    // other dropped frames share one warning per second.
    const head = isBinary ? {} : peekFrameHead(data);
    if (head.type === 'chat.request' && head.id !== undefined) this.refuse(connection, 'rate_limited', message, head.id);
    else if (verdict === 'drop-and-warn') this.refuse(connection, 'rate_limited', message);
  }

  closed(connection: ClientConnection, code: number, reason: string): void {
    this.registry.unregister(connection.id);
    this.metrics.socketClosed(closeReasonLabel(connection.closeReason, code));
    logSocketClosed(this.logger, connection, this.registry.now(), code, reason);
  }

  private handle(connection: ClientConnection, frame: ClientFrame): void | Promise<void> {
    const failed = (error: unknown) => {
      // A bug must cost one frame, never the socket or the process.
      this.logger.error({ event: 'frame_failed', connection_id: connection.id, err: error }, 'frame handling failed');
      this.refuse(connection, 'internal_error', 'The gateway could not handle this frame', 'id' in frame ? frame.id : undefined);
    };
    try {
      return this.dispatch(connection, frame)?.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  private dispatch(connection: ClientConnection, frame: ClientFrame): void | Promise<void> {
    switch (frame.type) {
      case 'chat.request':
        return this.startStream(connection, frame);
      case 'chat.cancel':
        // Unknown or finished ids are a silent no-op (docs/protocol.md).
        return this.streams.cancel(connection, frame.id);
      case 'stream.resume':
        return this.resume(connection, frame);
      case 'stream.list':
        return this.streams.list(connection, frame.id).then((result) => connection.reply(result));
      case 'ping':
        return connection.reply(frame.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: frame.ts });
      case 'auth.refresh':
        return this.refresher.refresh(connection, frame);
    }
  }

  private startStream(connection: ClientConnection, frame: ChatRequestFrame): void | Promise<void> {
    const verdict = this.policy.check(connection, frame, this.registry.now());
    if (!(verdict instanceof Promise)) return this.startChecked(connection, frame, verdict);
    // Counted through Redis. Frames of other ids run meanwhile (FrameOrder): this one holds its
    // place under the cap until it is decided, and gives it back in the same turn it registers.
    const release = connection.reserveStream();
    return verdict.then(
      (refusal) => {
        release();
        if (connection.transport.isOpen) this.startChecked(connection, frame, refusal);
      },
      (error: unknown) => {
        release();
        throw error;
      },
    );
  }

  private startChecked(connection: ClientConnection, frame: ChatRequestFrame, refusal: Refusal | undefined): void {
    if (refusal) {
      if (refusal.code === 'rate_limited') this.metrics.rateLimited('request');
      return connection.reply(refusal);
    }
    const { models, limits } = this.config;
    this.streams.start(connection, frame.id, toUpstreamRequest(frame, models.default, limits.maxCompletionTokens), frame.traceparent, frame.format);
  }

  /**
   * `stream.resume`: watching counts against the socket's cap (checked first, so a refused resume
   * spends no budget), then the resume budget; over it, `rate_limited` under the resume's id. The
   * look-up is async and frames of other ids run meanwhile: the resume holds its place under the
   * cap until it is answered.
   */
  private resume(connection: ClientConnection, frame: StreamResumeFrame): void | Promise<void> {
    const refusal = this.policy.checkResume(connection, frame);
    if (refusal) return connection.reply(refusal);
    const retryAfterMs = this.resumeBudget.take(connection.id, connection.principal, this.registry.now());
    if (retryAfterMs === 0) return this.streams.resume(connection, frame).finally(connection.reserveStream());
    this.metrics.rateLimited('resume');
    const { perMinute } = this.config.resume;
    connection.send({
      type: 'chat.error',
      id: frame.id ?? frame.stream_id,
      stream_id: frame.stream_id,
      code: 'rate_limited',
      message: `More than ${perMinute} resumes per minute`,
      retryable: true,
      retry_after_ms: retryAfterMs,
    });
  }

  private refuse(connection: ClientConnection, code: ErrorCode, message: string, id?: string): void {
    connection.reply(id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id });
  }
}

/**
 * Which earlier frames of its socket a frame waits for: those with the same id. A `ping` waits for
 * nothing, nor does a `chat.cancel` of a stream the socket has (what it stops is already there);
 * a `stream.resume` without an `id` learns it from the log, so it waits for, and holds, every id.
 */
function orderKey(connection: ClientConnection, frame: ClientFrame): OrderKey {
  switch (frame.type) {
    case 'ping':
      return undefined;
    case 'chat.cancel':
      return connection.hasStream(frame.id) ? undefined : frame.id;
    case 'stream.resume':
      return frame.id ?? ANY_ID;
    default:
      return frame.id;
  }
}
