/**
 * The outcome of {@link AuthService.authenticate}. On failure the gateway sends `message` in the
 * `unauthorized` error frame and closes with 4401 (docs/protocol.md).
 */
export type AuthResult =
  | {
      ok: true;
      /** Who the socket belongs to: `anon:<hash>`, the API key's principal, the JWT `sub`, or the proxy's header. */
      principal: string;
      /**
       * ms since epoch until which the credential is valid: JWT `exp` plus the clock tolerance, the
       * one rule used both at the upgrade and on the open socket. Absent for `none` and `api_key`.
       */
      expiresAt?: number;
    }
  | {
      ok: false;
      /** Safe to send to the client: never contains the token or key material. */
      message: string;
    };

/** The failure messages, fixed strings so nothing from the token or a library can leak into them. */
export const AUTH_FAILURE = {
  missing: 'missing credential',
  invalid: 'invalid credential',
  expired: 'token expired',
  notYetValid: 'token not yet valid',
  issuerOrAudience: 'token issuer or audience mismatch',
  untrusted: 'not connected through the trusted proxy',
} as const;

/** Allowed clock difference between the token issuer and this process, for `exp` and `nbf`. */
export const JWT_CLOCK_TOLERANCE_SECONDS = 5;

export function fail(message: string): AuthResult {
  return { ok: false, message };
}
