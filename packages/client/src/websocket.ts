/**
 * The part of a WebSocket the SDK uses: the browser's `WebSocket` and the `ws` package's both fit.
 * Declared here (rather than taken from the DOM library) so the SDK type-checks in Node projects too.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a closing handshake. */
  terminate?(): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

/**
 * A WebSocket constructor: `globalThis.WebSocket` in browsers (and Node 22+), or `ws`'s
 * `WebSocket` in Node 20. The third argument is passed only for `tokenIn: 'header'` (`ws` options).
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: any) => unknown;

export const OPEN = 1;

/** Characters a subprotocol name may carry (RFC 7230 tchar): a token outside them must go elsewhere. */
const SUBPROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Where the bearer token travels (docs/protocol.md "Authentication and origin"). */
export type TokenPlacement = 'auto' | 'subprotocol' | 'query' | 'header';

export interface SocketTarget {
  url: string;
  protocols: string[];
  options?: { headers: Record<string, string> };
}

/**
 * Where to put the token: `auto` uses the subprotocol list (`chat.v1, bearer.<token>`, what
 * browsers can do) when the token's characters allow it, else `?access_token=`.
 */
export function socketTarget(url: string, subprotocol: string, token: string | undefined, placement: TokenPlacement): SocketTarget {
  if (!token) return { url, protocols: [subprotocol] };
  const where = placement === 'auto' ? (SUBPROTOCOL_TOKEN.test(token) ? 'subprotocol' : 'query') : placement;
  switch (where) {
    case 'subprotocol':
      return { url, protocols: [subprotocol, `bearer.${token}`] };
    case 'header':
      return { url, protocols: [subprotocol], options: { headers: { Authorization: `Bearer ${token}` } } };
    default: {
      const separator = url.includes('?') ? '&' : '?';
      return { url: `${url}${separator}access_token=${encodeURIComponent(token)}`, protocols: [subprotocol] };
    }
  }
}

/** The text of a message event (`ws` gives strings for text frames; be lenient with buffers). */
export function messageText(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return undefined;
}

/** Stops listening to a socket being given up, so its late events cannot reach the client. */
export function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => undefined; // `ws` throws on an unhandled 'error'
}

/** Closes a socket, ignoring an implementation that refuses (it is being given up anyway). */
export function safeClose(ws: WebSocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closing, or a code this implementation refuses
  }
}
