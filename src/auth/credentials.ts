/**
 * Where a client's credential comes from on the WebSocket upgrade request (docs/protocol.md,
 * "Authentication and origin"), and how the request URL is made safe to log.
 */
import type { IncomingMessage } from 'node:http';

/** Which part of the upgrade request carried the credential. */
export type CredentialSource = 'header' | 'subprotocol' | 'query';

/** A bearer credential as sent by the client: a JWT or an API key, not yet verified. */
export interface Credential {
  /** The raw token. Never log it, never echo it to the client. */
  token: string;
  source: CredentialSource;
}

/** The subprotocol-list prefix that carries a token (`bearer.<token>`), matched case-insensitively. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';

/** The query parameter that carries a token; its value is redacted by {@link redactUrl}. */
export const ACCESS_TOKEN_QUERY_PARAM = 'access_token';

/** Stands in for a redacted value in log lines. */
const REDACTED = '[redacted]';

/**
 * The `Authorization` value must be exactly `Bearer <one token>`. Anything else (`Basic …`, a bare
 * `Bearer`, a token with spaces inside) counts as "no credential here" so the next source is tried.
 */
const BEARER_HEADER = /^[ \t]*bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * Finds the client's credential in the upgrade request, in docs/protocol.md's order of preference:
 *
 * 1. `Authorization: Bearer <token>` (scheme case-insensitive);
 * 2. a `bearer.<token>` entry in `Sec-WebSocket-Protocol` (a comma-separated list, whitespace
 *    around entries ignored, e.g. `chat.v1, bearer.<token>`) — browsers cannot set headers;
 * 3. the `access_token` query parameter (URL-decoded).
 *
 * Empty tokens are ignored, and a malformed source falls through to the next one, so a browser
 * proxy that adds an unrelated `Authorization` header does not hide the subprotocol token.
 *
 * @returns the first credential found, or `undefined` when the request carries none.
 */
export function extractCredential(request: IncomingMessage): Credential | undefined {
  const fromHeader = bearerFromAuthorization(headerValue(request.headers.authorization));
  if (fromHeader) return { token: fromHeader, source: 'header' };

  const fromSubprotocol = bearerFromSubprotocols(headerValue(request.headers['sec-websocket-protocol']));
  if (fromSubprotocol) return { token: fromSubprotocol, source: 'subprotocol' };

  const fromQuery = tokenFromQuery(request.url);
  if (fromQuery) return { token: fromQuery, source: 'query' };

  return undefined;
}

/**
 * The request URL with every `access_token` value replaced by `[redacted]`, for log lines.
 *
 * Parameter names are compared after URL-decoding (so `access%5Ftoken=…` is caught too, exactly
 * as {@link extractCredential} would read it) and case-insensitively (over-redacting is harmless).
 * Everything else in the URL is kept byte for byte.
 *
 * @returns `''` when `url` is undefined.
 */
export function redactUrl(url: string | undefined): string {
  if (!url) return '';
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return url;
  const hashStart = url.indexOf('#', queryStart);
  const queryEnd = hashStart === -1 ? url.length : hashStart;
  const query = url.slice(queryStart + 1, queryEnd);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      return isAccessTokenName(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    })
    .join('&');
  return `${url.slice(0, queryStart + 1)}${redacted}${url.slice(queryEnd)}`;
}

/** Node joins repeated unknown headers with `, `, but typings allow arrays; accept both. */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function bearerFromAuthorization(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return BEARER_HEADER.exec(value)?.[1];
}

function bearerFromSubprotocols(value: string | undefined): string | undefined {
  if (!value) return undefined;
  for (const entry of value.split(',')) {
    const protocol = entry.trim();
    if (protocol.length > BEARER_SUBPROTOCOL_PREFIX.length && protocol.slice(0, BEARER_SUBPROTOCOL_PREFIX.length).toLowerCase() === BEARER_SUBPROTOCOL_PREFIX) {
      return protocol.slice(BEARER_SUBPROTOCOL_PREFIX.length);
    }
  }
  return undefined;
}

function tokenFromQuery(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return undefined;
  const hashStart = url.indexOf('#', queryStart);
  // URLSearchParams never throws, tolerates malformed %-escapes and decodes `+` as a space, the
  // same way browsers encode the query; the first non-empty value wins.
  const params = new URLSearchParams(url.slice(queryStart + 1, hashStart === -1 ? undefined : hashStart));
  return params.getAll(ACCESS_TOKEN_QUERY_PARAM).find((value) => value.length > 0);
}

/** Decodes one query-pair name exactly as URLSearchParams would, then compares. */
function isAccessTokenName(rawName: string): boolean {
  const [name] = new URLSearchParams(`${rawName}=`).keys();
  return name !== undefined && name.toLowerCase() === ACCESS_TOKEN_QUERY_PARAM;
}
