import { Injectable } from '@nestjs/common';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { AuthService } from '../auth/auth.service';
import type { ClientConnection } from '../connections/client-connection';
import { CLOSE_CODES, type AuthRefreshFrame, type ErrorCode } from '@holysheep/protocol';

/** `expires_at` / `expires_in_ms` for a credential expiring at `expiresAt` (ms since epoch). */
export function expiryFields(expiresAt: number, now = Date.now()): { expires_at: string; expires_in_ms: number } {
  return { expires_at: new Date(expiresAt).toISOString(), expires_in_ms: Math.max(0, expiresAt - now) };
}

/**
 * `auth.refresh` (docs/protocol.md "Refreshing the token"): a socket outlives the token it was
 * opened with when the client sends a fresh one in time. The socket's principal never changes:
 * its streams, limits and log lines belong to it. So a token for someone else is refused with
 * `forbidden` and the socket closed 4403 (the client must reconnect as that user); a token that
 * does not verify is `unauthorized` and the socket keeps its current expiry (4401 then, unless a
 * good token follows). The token is never logged or echoed.
 */
@Injectable()
export class AuthRefreshHandler {
  constructor(
    private readonly auth: AuthService,
    @InjectPinoLogger('Gateway') private readonly logger: PinoLogger,
  ) {}

  async refresh(connection: ClientConnection, frame: AuthRefreshFrame): Promise<void> {
    const refuse = (code: ErrorCode, message: string) => connection.reply(frame.id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id: frame.id });
    if (!this.auth.credentialsExpire || connection.expiresAt === undefined) {
      return refuse('bad_request', `auth.refresh: credentials do not expire on this gateway (AUTH_MODE=${this.auth.mode}); nothing to refresh`);
    }
    const result = await this.auth.verifyRefresh(frame.token);
    if (!connection.transport.isOpen) return;
    if (!result.ok) {
      this.logger.info({ event: 'auth_refresh_refused', connection_id: connection.id, principal: connection.principal, reason: result.message }, 'token refresh refused');
      return refuse('unauthorized', `auth.refresh: ${result.message}; the socket still expires at ${new Date(connection.expiresAt).toISOString()}`);
    }
    if (result.principal !== connection.principal) {
      this.logger.warn({ event: 'auth_refresh_refused', connection_id: connection.id, principal: connection.principal, reason: 'other principal' }, 'token refresh named another principal');
      refuse('forbidden', 'auth.refresh: the token is for another principal; reconnect with it instead');
      return connection.close(CLOSE_CODES.FORBIDDEN.code, CLOSE_CODES.FORBIDDEN.reason, 'auth');
    }
    // Both tokens are valid until their own expiry: a refresh never shortens the socket's life
    // (two refreshes answered out of order cannot either).
    const expiresAt = Math.max(connection.expiresAt, result.expiresAt ?? connection.expiresAt);
    connection.expireAt(expiresAt);
    this.logger.debug({ event: 'auth_refreshed', connection_id: connection.id, principal: connection.principal, expires_at: expiresAt }, 'token refreshed');
    connection.reply({ type: 'auth.refreshed', ...(frame.id === undefined ? {} : { id: frame.id }), ...expiryFields(expiresAt) });
  }
}
