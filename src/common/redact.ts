/**
 * Removes secrets from text that may reach a client frame or a log line: the exact values given
 * (the upstream API key, a client's token), plus anything shaped like a bearer credential or an
 * OpenAI-style key, which an upstream error message may echo back.
 */
export function redactSecrets(text: string, ...secrets: Array<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out
    .replace(/\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]')
    .replace(/\bsk-[A-Za-z0-9_*-]{6,}/g, '[redacted]');
}
