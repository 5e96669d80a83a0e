import { Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { AuthService, type AuthResult } from '../auth/auth.service';
import { extractCredential } from '../auth/credentials';
import { isOriginAllowed } from '../auth/origin-policy';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { DrainService } from '../health/drain.service';
import type { UpgradeVerdict } from './gateway-ws.adapter';

const NOT_AUTHENTICATED: AuthResult = { ok: false, message: 'missing credential' };

/**
 * Decides at the HTTP upgrade who may open a socket. Refusals that a browser needs no detail for
 * are plain statuses before any socket exists: 503 while draining, 403 for a disallowed Origin.
 * Credentials are checked here too (JWT verification is async, and ws lets the upgrade wait for
 * it), but a bad one does not refuse the upgrade: PROTOCOL.md wants the socket to open, carry an
 * `unauthorized` error frame and close with 4401, because browsers cannot read upgrade statuses.
 */
@Injectable()
export class AdmissionService {
  private readonly authResults = new WeakMap<IncomingMessage, AuthResult>();
  private readonly allowedOrigins: string[];

  constructor(
    private readonly drain: DrainService,
    private readonly auth: AuthService,
    @InjectConfig() config: GatewayConfig,
  ) {
    this.allowedOrigins = config.allowedOrigins;
  }

  async verifyUpgrade(request: IncomingMessage): Promise<UpgradeVerdict> {
    if (this.drain.isDraining) {
      return { accept: false, status: 503, message: 'Service Unavailable: draining', headers: { 'Retry-After': '1' } };
    }
    if (!isOriginAllowed(request.headers.origin, this.allowedOrigins)) {
      return { accept: false, status: 403, message: 'Forbidden: origin not allowed' };
    }
    this.authResults.set(request, await this.auth.authenticate(extractCredential(request)));
    return { accept: true };
  }

  /** The credential check made at upgrade time for this request. */
  authResultFor(request: IncomingMessage): AuthResult {
    return this.authResults.get(request) ?? NOT_AUTHENTICATED;
  }
}
