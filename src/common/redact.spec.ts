import { redactSecrets } from './redact';

describe('redactSecrets', () => {
  it('removes given secrets, bearer credentials and sk- keys', () => {
    expect(redactSecrets('key my-very-secret-value here', 'my-very-secret-value')).toBe('key [redacted] here');
    expect(redactSecrets('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer [redacted]');
    expect(redactSecrets('Incorrect API key provided: sk-proj-abc123****wxyz.')).toBe('Incorrect API key provided: [redacted].');
    expect(redactSecrets('nothing to hide', undefined)).toBe('nothing to hide');
  });
});
