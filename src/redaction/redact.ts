/**
 * Removes secrets from text that may reach a client frame or a log line (an upstream error
 * message, typically): the values given (the upstream API key, a client's token), echoed
 * whole, in part or base64-encoded, plus anything shaped like a bearer credential or an
 * OpenAI-style key.
 *
 * - Exact: every occurrence of a secret of 4 characters or more.
 * - Partial: any run of {@link MIN_PARTIAL_ECHO} or more consecutive characters of a secret (or of
 *   its base64 forms), as in "Incorrect API key provided: sk-test-up****6789" or a key's middle
 *   echoed alone. A run is found through its 8-character windows and redacted as far as it goes,
 *   whatever it looks like: random keys often hold runs of eight letters that read like a word.
 * - Base64: standard and URL-safe alphabets, with or without padding, and the secret at each of
 *   the three byte alignments inside a longer encoded text (`base64("Bearer " + key)`,
 *   `base64("user:" + key)`); the characters that depend only on the secret are matched.
 *
 * Cost: one Set lookup per character of `text` (messages are capped at 64 KiB upstream).
 */
export function redactSecrets(text: string, ...secrets: Array<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    out = out.split(secret).join(REDACTED);
    if (secret.length >= MIN_PARTIAL_ECHO) out = redactEchoes(out, echoWindowsOf(secret));
  }
  return out
    .replace(/\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${REDACTED}`)
    .replace(/\bsk-[A-Za-z0-9_*-]{6,}/g, REDACTED);
}

const REDACTED = '[redacted]';
/** The shortest run of a secret's characters that counts as an echo of it. */
const MIN_PARTIAL_ECHO = 8;

/** Every window of {@link MIN_PARTIAL_ECHO} characters of a secret's forms, per secret (few, long-lived). */
const windowCache = new Map<string, ReadonlySet<string>>();

function echoWindowsOf(secret: string): ReadonlySet<string> {
  let windows = windowCache.get(secret);
  if (windows) return windows;
  const set = new Set<string>();
  for (const form of [secret, ...base64Forms(secret)]) {
    for (let i = 0; i + MIN_PARTIAL_ECHO <= form.length; i++) set.add(form.slice(i, i + MIN_PARTIAL_ECHO));
  }
  // Bounded: the secrets are configuration values, but never let a caller grow this without end.
  if (windowCache.size >= 32) windowCache.clear();
  windowCache.set(secret, (windows = set));
  return windows;
}

/**
 * The base64 texts an encoded secret shows: on its own (with its padding), and, for each of the
 * three byte offsets it may sit at inside a longer encoded text, the characters that depend on the
 * secret's bytes alone. Both alphabets.
 */
function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms: string[] = [bytes.toString('base64')];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64').replace(/=+$/, '');
    // Characters 0..offset hold bits of the unknown bytes before the secret (none, 2 or 3 chars).
    const start = offset === 0 ? 0 : offset + 1;
    // After the last whole 3-byte group, only the bits of the secret's last bytes are known.
    const total = offset + bytes.length;
    const end = Math.floor(total / 3) * 4 + (total % 3);
    forms.push(encoded.slice(start, end));
  }
  return forms.flatMap((form) => [form, toBase64Url(form)]);
}

function toBase64Url(base64: string): string {
  return base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Replaces every maximal run covered by windows of `windows`. */
function redactEchoes(text: string, windows: ReadonlySet<string>): string {
  let out = '';
  let copied = 0;
  let runStart = -1;
  let runEnd = -1;
  const flush = () => {
    out += text.slice(copied, runStart) + REDACTED;
    copied = runEnd;
  };
  for (let i = 0; i + MIN_PARTIAL_ECHO <= text.length; i++) {
    if (!windows.has(text.slice(i, i + MIN_PARTIAL_ECHO))) continue;
    // Overlapping or touching windows extend the run; a gap closes it.
    if (runStart >= 0 && i > runEnd) flush();
    if (runStart < 0 || i > runEnd) runStart = i;
    runEnd = i + MIN_PARTIAL_ECHO;
  }
  if (runStart < 0) return text;
  flush();
  return out + text.slice(copied);
}
