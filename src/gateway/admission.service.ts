import { Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { AuthService, type AuthResult } from '../auth/auth.service';
import { clientAddress, parseAddressRanges, type AddressRanges } from '../identity/address-ranges';
import { isAnonymousPrincipal } from '../identity/principal';
import { extractCredential } from '../auth/credentials';
import { isOriginAllowed } from '../auth/origin-policy';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { ConnectionQuotaService, type Seat } from '../limits/connection-quota.service';
import { DrainService } from '../drain/drain.service';
import type { CloseReasonLabel } from '../metrics/metrics.service';
import { CLOSE_CODES, type ErrorFrame } from '@holysheep/protocol';
import type { UpgradeVerdict } from './gateway-ws.adapter';

const NOT_AUTHENTICATED: AuthResult = { ok: false, message: 'missing credential' };

/** Whether an opened socket may stay, in docs/protocol.md's terms. */
export type Admission =
  | {
      ok: true;
      principal: string;
      expiresAt?: number;
      /** The client's address: the peer, or what a trusted proxy reported (`X-Forwarded-For`). */
      address: string;
      /** An anonymous socket is also counted under its address (`addr:<address>`). */
      extraLimitKeys: string[];
    }
  | { ok: false; frame?: ErrorFrame; close: { code: number; reason: string }; label: CloseReasonLabel };

/**
 * Decides who may open a socket. Refusals that a browser needs no detail for are plain statuses
 * at the HTTP upgrade, before any socket exists: 503 while draining, 403 for a disallowed Origin.
 * Credentials are checked at the upgrade too (JWT verification is async, and ws lets the upgrade
 * wait for it), but a bad one does not refuse the upgrade: the protocol wants the socket to open,
 * carry an `unauthorized` error frame and close with 4401, because browsers cannot read upgrade
 * statuses. Connection limits are applied once the socket is open, for the same reason; with
 * `REDIS_URL` the per-principal one is counted across replicas at the upgrade (a {@link Seat}, held
 * until the socket closes) and only acted on once the socket is open.
 */
@Injectable()
export class AdmissionService {
  private readonly authResults = new WeakMap<IncomingMessage, AuthResult>();
  private readonly seats = new WeakMap<IncomingMessage, Seat[]>();
  private readonly allowedOrigins: string[];
  private readonly limits: GatewayConfig['limits'];
  private readonly trustedProxies: AddressRanges;

  constructor(
    private readonly drain: DrainService,
    private readonly auth: AuthService,
    private readonly registry: ConnectionRegistryService,
    private readonly quota: ConnectionQuotaService,
    @InjectConfig() config: GatewayConfig,
  ) {
    this.allowedOrigins = config.allowedOrigins;
    this.limits = config.limits;
    this.trustedProxies = parseAddressRanges(config.trustedProxies).ranges;
  }

  async verifyUpgrade(request: IncomingMessage): Promise<UpgradeVerdict> {
    if (this.drain.isDraining) {
      return { accept: false, status: 503, message: 'Service Unavailable: draining', headers: { 'Retry-After': '1' } };
    }
    if (!isOriginAllowed(request.headers.origin, this.allowedOrigins)) {
      return { accept: false, status: 403, message: 'Forbidden: origin not allowed' };
    }
    const auth = await this.auth.authenticate(extractCredential(request), { peer: request.socket.remoteAddress, headers: request.headers });
    this.authResults.set(request, auth);
    if (auth.ok && this.quota.enabled) {
      const seats = await Promise.all(this.limitKeys(request, auth.principal).map((key) => this.quota.reserve(key)));
      this.seats.set(request, seats);
      // The upgrade's socket is the WebSocket's: its places are given back when it closes, whether
      // the upgrade completed or not.
      for (const seat of seats) whenClosed(request.socket, seat.release);
    }
    return { accept: true };
  }

  /** The client's address (see {@link clientAddress}). */
  addressOf(request: IncomingMessage): string {
    const forwarded = request.headers['x-forwarded-for'];
    return clientAddress(request.socket.remoteAddress, Array.isArray(forwarded) ? forwarded.join(',') : forwarded, this.trustedProxies);
  }

  /**
   * Every key a socket's limits count it under. An anonymous principal costs nothing to make (a
   * new key, or none), so its sockets, requests and inbound bytes are also counted per client
   * address, with the same per-principal settings.
   */
  private limitKeys(request: IncomingMessage, principal: string): string[] {
    return isAnonymousPrincipal(principal) ? [principal, `addr:${this.addressOf(request)}`] : [principal];
  }

  /** The verdict on a socket just opened by `request`: its principal, or why and how it must close. */
  admit(request: IncomingMessage): Admission {
    const { UNAUTHORIZED, SERVICE_RESTART, TRY_AGAIN_LATER, TOO_MANY_CONNECTIONS } = CLOSE_CODES;
    const auth = this.authResults.get(request) ?? NOT_AUTHENTICATED;
    if (!auth.ok) return { ok: false, frame: { type: 'error', code: 'unauthorized', message: auth.message }, close: UNAUTHORIZED, label: 'auth' };
    // The drain may have begun while the credential was being checked.
    if (this.drain.isDraining) return { ok: false, close: SERVICE_RESTART, label: 'drain' };
    if (this.registry.size >= this.limits.maxConnections) return { ok: false, close: TRY_AGAIN_LATER, label: 'limit' };
    // Across replicas (a shared seat refused), and on this instance in any case.
    const keys = this.limitKeys(request, auth.principal);
    const refusedSeat = this.seats.get(request)?.some((seat) => !seat.granted);
    if (refusedSeat || keys.some((key) => this.registry.countForPrincipal(key) >= this.limits.maxConnectionsPerPrincipal)) {
      return { ok: false, close: TOO_MANY_CONNECTIONS, label: 'limit' };
    }
    return { ok: true, principal: auth.principal, expiresAt: auth.expiresAt, address: this.addressOf(request), extraLimitKeys: keys.slice(1) };
  }
}

function whenClosed(socket: Socket, then: () => void): void {
  if (socket.destroyed) then();
  else socket.once('close', then);
}
