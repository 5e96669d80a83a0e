import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { IncomingMessage } from 'node:http';
import type { PerMessageDeflateOptions, Server, VerifyClientCallbackAsync } from 'ws';
import { SUBPROTOCOL } from '@holysheep/protocol';

/** The answer to an upgrade request, decided before any socket exists. */
export type UpgradeVerdict = { accept: true } | { accept: false; status: number; message: string; headers?: Record<string, string> };

export interface GatewayWsAdapterOptions {
  /** Frames over this many bytes close the socket with 1009 (ws does this itself). */
  maxPayload: number;
  /** permessage-deflate: refused (`false`, the default) or these settings (see `deflate-options.ts`). */
  perMessageDeflate?: PerMessageDeflateOptions | false;
  /** Called for every upgrade: drain and origin checks answer here with an HTTP status. */
  verifyUpgrade(request: IncomingMessage): Promise<UpgradeVerdict>;
}

/**
 * Nest's WsAdapter, with the parts this protocol needs done differently:
 * - message handling is left to the gateway, because WsAdapter drops unparseable frames silently
 *   (nestjs/nest#17624) and never delivers WsException to raw ws clients (#9056, #11433), while
 *   the protocol answers every bad frame with an `error` frame;
 * - the subprotocol answer is `chat.v1` only, never the `bearer.<token>` entry (ws would
 *   otherwise echo the first offered protocol, token included);
 * - upgrades can be refused with an HTTP status (503 while draining, 403 for an origin).
 */
export class GatewayWsAdapter extends WsAdapter {
  private readonly log = new Logger('WebSocket');

  constructor(
    app: INestApplicationContext,
    private readonly gatewayOptions: GatewayWsAdapterOptions,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> & { path?: string } = {}): Server {
    const verifyClient: VerifyClientCallbackAsync<IncomingMessage> = ({ req }, callback) => {
      this.gatewayOptions.verifyUpgrade(req).then(
        (verdict) => (verdict.accept ? callback(true) : callback(false, verdict.status, verdict.message, verdict.headers)),
        (error: Error) => {
          this.log.error(`upgrade check failed: ${error.message}`);
          callback(false, 500, 'Internal Server Error');
        },
      );
    };
    return super.create(port, {
      ...options,
      maxPayload: this.gatewayOptions.maxPayload,
      // Chat frames are small and latency-bound; deflate costs CPU and memory per socket: refused
      // unless configured (WS_PERMESSAGE_DEFLATE), and then with small windows.
      perMessageDeflate: this.gatewayOptions.perMessageDeflate ?? false,
      handleProtocols: (protocols: Set<string>) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
      verifyClient,
    });
  }

  /** Intentionally empty: the gateway reads frames itself (see class comment). */
  override bindMessageHandlers(): void {}

  override bindErrorHandler(server: Server): Server {
    // Per-socket errors (oversized frame → 1009, invalid UTF-8 → 1007, reset) are the peer's
    // doing; ws closes the socket itself. They are not server faults.
    server.on('connection', (ws) => ws.on('error', (err: Error & { code?: string }) => this.log.debug(`socket error: ${err.code ?? err.message}`)));
    server.on('error', (err) => this.log.error(`WebSocket server error: ${err.message}`));
    return server;
  }
}
