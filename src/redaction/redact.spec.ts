import { redactSecrets } from './redact';

const KEY = 'sk-test-upstream-key-0123456789';
const RANDOM_KEY = 'hs_9fQ2xLm7Rt4vBn8Kp3Wz6Yc1Ad5Ge0J';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

describe('redactSecrets', () => {
  it('removes given secrets, bearer credentials and sk- keys', () => {
    expect(redactSecrets('key my-very-secret-value here', 'my-very-secret-value')).toBe('key [redacted] here');
    expect(redactSecrets('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer [redacted]');
    expect(redactSecrets('Incorrect API key provided: sk-proj-abc123****wxyz.')).toBe('Incorrect API key provided: [redacted].');
    expect(redactSecrets('nothing to hide', undefined)).toBe('nothing to hide');
  });

  it('leaves text without any echo of the secret unchanged', () => {
    const text = 'Upstream answered 401: Incorrect API key provided. You can find your key at https://example.com/keys.';
    expect(redactSecrets(text, RANDOM_KEY)).toBe(text);
  });

  describe('partial echoes (8 or more consecutive characters)', () => {
    it('catches a masked echo of the start and the end', () => {
      const out = redactSecrets(`Incorrect API key provided: ${RANDOM_KEY.slice(0, 10)}****${RANDOM_KEY.slice(-8)}.`, RANDOM_KEY);
      expect(out).toBe('Incorrect API key provided: [redacted]****[redacted].');
    });

    it('catches the middle of a key, redacting the whole run however long', () => {
      for (const [start, end] of [[10, 20], [5, 13], [3, 30]]) {
        const slice = RANDOM_KEY.slice(start, end);
        expect(redactSecrets(`key fragment (${slice}) seen`, RANDOM_KEY)).toBe('key fragment ([redacted]) seen');
      }
    });

    it('merges overlapping pieces into one redaction and keeps the text around it', () => {
      const out = redactSecrets(`a ${KEY.slice(8, 20)} b ${KEY.slice(18)} c`, KEY);
      expect(out).toBe('a [redacted] b [redacted] c');
    });

    it('leaves 7 characters alone (too short to mean anything)', () => {
      const text = `only ${RANDOM_KEY.slice(4, 11)} here`;
      expect(redactSecrets(text, RANDOM_KEY)).toBe(text);
    });

    it('redacts a run of a key even when it reads like a word: random keys hold such runs', () => {
      const key = 'hs_Q7vXstreamingKp3Wz6Yc1';
      expect(redactSecrets('echo: streamingK', key)).toBe('echo: [redacted]');
      expect(redactSecrets('Could not reach the upstream (ECONNREFUSED)', key)).toBe('Could not reach the upstream (ECONNREFUSED)');
    });
  });

  describe('base64 echoes', () => {
    it.each([
      ['standard, padded', b64(KEY)],
      ['standard, unpadded', b64(KEY).replace(/=+$/, '')],
      ['URL-safe', b64url(KEY)],
      ['URL-safe, padded', b64url(KEY) + '='.repeat((4 - (b64url(KEY).length % 4)) % 4)],
    ])('of the key alone (%s)', (_name, encoded) => {
      expect(redactSecrets(`got ${encoded} instead`, KEY)).toBe('got [redacted] instead');
    });

    // "Bearer " is 7 bytes, "u:" 2, "ab:" 3, "x" 1: the key starts at each byte offset of a base64 group.
    it.each(['Bearer ', 'u:', 'ab:', 'x'])('of the key inside a longer encoded text (after %j), in both alphabets', (prefix) => {
      const p = Buffer.byteLength(prefix);
      // Characters whose 6 bits all come from the key: what an encoded echo gives away.
      const first = Math.ceil((8 * p) / 6);
      const last = Math.floor((8 * (p + KEY.length)) / 6) - 1;
      for (const encode of [b64, b64url]) {
        const encoded = encode(`${prefix}${KEY}&more=trailing-bytes`);
        const out = redactSecrets(encoded, KEY);
        expect(out.split('[redacted]')).toHaveLength(2);
        const [before, after] = out.split('[redacted]') as [string, string];
        expect(encoded.startsWith(before) && encoded.endsWith(after)).toBe(true);
        expect(before.length).toBeLessThanOrEqual(first);
        expect(encoded.length - after.length).toBeGreaterThanOrEqual(last + 1);
      }
    });

    it.each([0, 1, 2])('of a random key at byte offset %i', (offset) => {
      const encoded = b64('#'.repeat(offset) + RANDOM_KEY + '#');
      expect(redactSecrets(encoded, RANDOM_KEY)).toMatch(/^.{0,4}\[redacted\].{0,4}$/);
    });
  });

  it('stays fast on a 64 KiB message', () => {
    const text = `${'lorem ipsum dolor sit amet '.repeat(2_400)}${KEY.slice(5, 25)}`;
    const started = performance.now();
    const out = redactSecrets(text, KEY, RANDOM_KEY);
    expect(performance.now() - started).toBeLessThan(200);
    expect(out.endsWith('[redacted]')).toBe(true);
  });
});
