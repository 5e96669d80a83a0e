/**
 * A small OpenID-provider stand-in on 127.0.0.1:0: a discovery document and a JWKS, signing keys
 * made with jose's generateKeyPair, key rotation, and an outage switch. Every request is counted
 * and announced (`requests` event), so tests wait for "the gateway fetched again" instead of
 * sleeping.
 */
import { EventEmitter, once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';

interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  jwk: JWK;
}

/** One served request: its path and the status it got. */
export interface ServedRequest {
  path: string;
  status: number;
}

export class OidcServer extends EventEmitter {
  /** Every request, in order. */
  readonly served: ServedRequest[] = [];
  /** While true, every request gets 503 (the provider is down). */
  down = false;
  private keys: SigningKey[] = [];
  private counter = 0;

  private constructor(
    private readonly server: http.Server,
    readonly issuer: string,
  ) {
    super();
  }

  static async start(): Promise<OidcServer> {
    const server = http.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realm`;
    const oidc = new OidcServer(server, issuer);
    server.on('request', (req, res) => oidc.handle(req, res));
    await oidc.rotate();
    return oidc;
  }

  get jwksUrl(): string {
    return `${this.issuer}/keys`;
  }

  /** JWKS requests served so far (any status). */
  jwksRequests(): number {
    return this.served.filter((r) => r.path.endsWith('/keys')).length;
  }

  /** Resolves once `count` JWKS requests (any status) have been served in all. */
  async untilJwksRequests(count: number): Promise<void> {
    while (this.jwksRequests() < count) await once(this, 'request');
  }

  /** Adds a new signing key (the newest signs from now on); `drop` removes the older ones from the JWKS. */
  async rotate(options: { drop?: boolean } = {}): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const kid = `k${++this.counter}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    this.keys = options.drop ? [{ kid, privateKey, jwk }] : [...this.keys, { kid, privateKey, jwk }];
    return kid;
  }

  /** A token from this issuer for `sub`, signed with the newest key (or the one named, even if unpublished). */
  async token(sub: string, options: { expiresInSeconds?: number; audience?: string; kid?: string; key?: KeyLike; claims?: JWTPayload } = {}): Promise<string> {
    const signing = this.keys[this.keys.length - 1]!;
    const jwt = new SignJWT({ ...options.claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? signing.kid })
      .setIssuer(this.issuer)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 600));
    if (options.audience) jwt.setAudience(options.audience);
    return jwt.sign(options.key ?? signing.privateKey);
  }

  /** The private key of the newest signing key (to sign under a made-up kid). */
  get currentPrivateKey(): KeyLike {
    return this.keys[this.keys.length - 1]!.privateKey;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? undefined : JSON.stringify(body));
      this.served.push({ path, status });
      this.emit('request', { path, status });
    };
    if (this.down) return send(503);
    if (path === '/realm/.well-known/openid-configuration') return send(200, { issuer: this.issuer, jwks_uri: this.jwksUrl });
    if (path === '/realm/keys') return send(200, { keys: this.keys.map((k) => k.jwk) });
    send(404);
  }
}
