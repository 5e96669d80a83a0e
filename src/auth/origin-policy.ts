/**
 * The `Origin` check at the WebSocket upgrade (docs/protocol.md: a disallowed origin gets 403 and no
 * socket). Browsers always send `Origin` on a WebSocket handshake and scripts cannot forge it, so
 * this is what stops another site's page from opening sockets with a visitor's ambient
 * credentials. Non-browser clients send no `Origin` (or any value they like), so an absent header
 * cannot be a signal of anything and is allowed; those clients are held back by authentication.
 */

/** Allows every origin when present in the allow-list. */
const ANY = '*';

/** The opaque origin of sandboxed iframes, `file://` pages and some redirects. */
const NULL_ORIGIN = 'null';

/** `scheme://*.suffix[:port][/]` — the only wildcard form accepted in the allow-list. */
const WILDCARD_ENTRY = /^([a-z][a-z0-9+.-]*):\/\/\*\.([^/?#]+?)\/?$/i;

/**
 * Whether a WebSocket upgrade with this `Origin` header may proceed.
 *
 * - no `Origin` (non-browser client) → allowed;
 * - `'*'` in `allowed` → allowed;
 * - `null` (sandboxed iframe, `file://`) → allowed only by `'*'` or an explicit `null` entry;
 * - otherwise the origin must equal an entry on scheme + host + port, after normalising both
 *   (lower-case, trailing slash ignored, default port dropped, IDN hosts as punycode), or match a
 *   wildcard entry `https://*.example.com[:port]`, which covers any sub-domain at any depth
 *   (`a.example.com`, `a.b.example.com`) but not `example.com` itself nor `evil-example.com`.
 *
 * An origin that is not a bare `scheme://host[:port]` (a path, query, user-info) is malformed and
 * refused; allow-list entries that cannot be parsed never match anything.
 *
 * @param origin the raw `Origin` request header.
 * @param allowed `GatewayConfig.allowedOrigins`.
 */
export function isOriginAllowed(origin: string | undefined, allowed: string[]): boolean {
  // An empty header is treated like an absent one: it carries no more information.
  if (origin === undefined || origin.trim() === '') return true;
  if (allowed.includes(ANY)) return true;

  const value = origin.trim();
  if (value.toLowerCase() === NULL_ORIGIN) return allowed.some((entry) => entry.trim().toLowerCase() === NULL_ORIGIN);

  const candidate = parseOrigin(value);
  if (!candidate) return false;

  for (const rawEntry of allowed) {
    const entry = rawEntry.trim();
    if (entry.toLowerCase() === NULL_ORIGIN) continue;
    const wildcard = WILDCARD_ENTRY.exec(entry);
    if (wildcard) {
      if (matchesWildcard(candidate, wildcard[1], wildcard[2])) return true;
      continue;
    }
    const exact = parseOrigin(entry);
    if (exact && exact.serialized === candidate.serialized) return true;
  }
  return false;
}

interface ParsedOrigin {
  scheme: string;
  host: string;
  /** Empty for the scheme's default port. */
  port: string;
  serialized: string;
}

/**
 * Parses and normalises an origin. WHATWG URL already lower-cases special-scheme hosts, converts
 * IDNs to punycode and drops default ports; the extra lower-casing covers non-special schemes
 * (e.g. `chrome-extension://ID`), whose hosts URL keeps verbatim. A trailing `/` is tolerated
 * (URL reports it as the root path either way): allow-list entries are often written with one.
 */
function parseOrigin(value: string): ParsedOrigin | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (!url.host || url.username || url.password || url.search || url.hash) return undefined;
  if (url.pathname !== '/' && url.pathname !== '') return undefined;
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const host = url.hostname.toLowerCase();
  const port = url.port;
  return { scheme, host, port, serialized: `${scheme}://${host}${port ? `:${port}` : ''}` };
}

/** `suffixWithPort` is everything after `*.` in the entry, e.g. `example.com` or `example.com:8443`. */
function matchesWildcard(candidate: ParsedOrigin, scheme: string, suffixWithPort: string): boolean {
  // Parse the suffix through URL as well, so case, punycode and default ports compare the same way
  // as the candidate's.
  const suffix = parseOrigin(`${scheme}://${suffixWithPort}`);
  if (!suffix || suffix.scheme !== candidate.scheme || suffix.port !== candidate.port) return false;
  // The leading dot is what keeps `evil-example.com` and `example.com` itself out.
  return candidate.host.endsWith(`.${suffix.host}`) && candidate.host.length > suffix.host.length + 1;
}
