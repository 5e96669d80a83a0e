import { ERROR_CODES } from '@holysheep/stream-client';
import { describeConnection, describeError, describeOutage } from './friendly-errors';

describe('plain-language messages for people', () => {
  const codes = [...Object.keys(ERROR_CODES), 'connection_closed', 'connect_failed', 'unsupported', 'timeout', 'something_new'];

  it.each(codes)('%s: a sentence with a next step, and no error code', (code) => {
    const friendly = describeError({ code });
    expect(friendly.text).toMatch(/^[A-Z].*\.$/);
    // No snake_case identifier, and never the protocol's words for it.
    expect(friendly.text).not.toMatch(/\b[a-z]+_[a-z_]+\b/);
    expect(friendly.text.toLowerCase()).not.toMatch(/unauthorized|stream_not_found|not found/);
    expect([undefined, 'settings', 'reconnect']).toContain(friendly.step);
    // Sending the same request again is offered wherever it can help; the text says what to do first.
    expect(friendly.retry).toBe(code !== 'forbidden');
    if (friendly.step === 'settings') expect(friendly.text).toContain('Settings');
    if (friendly.step === 'reconnect') expect(friendly.text).toContain('Reconnect');
  });

  it('says how long to wait when the gateway said so', () => {
    expect(describeError({ code: 'rate_limited', retryAfterMs: 2_100 }).text).toContain('Wait 3 s');
  });

  it('sends people to Settings for a refused token', () => {
    expect(describeError({ code: 'unauthorized' })).toEqual({
      text: 'Your access token was not accepted. Enter a valid token in Settings, then try again.',
      step: 'settings',
      retry: true,
    });
    const forbidden = describeError({ code: 'forbidden' });
    expect(forbidden.retry).toBe(false);
    expect(forbidden.step).toBeUndefined();
  });

  it('describes the connection for the badge, with a countdown while reconnecting', () => {
    const base = { attempt: 0, draining: false };
    expect(describeConnection({ ...base, status: 'open' }, 0)).toEqual({ tone: 'ok', text: 'Connected', retry: false });
    expect(describeConnection({ ...base, status: 'reconnecting', attempt: 3, nextAttemptAt: 10_000 }, 6_500)).toEqual({
      tone: 'warn',
      text: 'Reconnecting in 4 s',
      retry: true,
    });
    const closed = describeConnection({ ...base, status: 'closed', error: { code: 'unauthorized' } as never }, 0);
    expect(closed.text).toBe('Offline — Your access token was not accepted. Enter a valid token in Settings, then try again.');
    expect(closed.retry).toBe(true);
  });

  it('says in the answer that the connection is lost, with the countdown for the eyes only', () => {
    const base = { attempt: 2, draining: false };
    expect(describeOutage({ ...base, status: 'reconnecting', nextAttemptAt: 10_000 }, 5_200)).toEqual({
      text: 'Connection lost — reconnecting',
      countdown: ' in 5 s…',
      retry: true,
    });
    expect(describeOutage({ ...base, status: 'reconnecting', nextAttemptAt: 10_000 }, 9_500)).toEqual({
      text: 'Connection lost — reconnecting',
      countdown: '…',
      retry: false,
    });
    expect(describeOutage({ ...base, status: 'connecting' }, 0)).toMatchObject({ countdown: '…', retry: false });
    // Connected, or connecting for the first time: nothing to say.
    expect(describeOutage({ ...base, status: 'open' }, 0)).toBeUndefined();
    expect(describeOutage({ ...base, attempt: 0, status: 'connecting' }, 0)).toBeUndefined();
    expect(describeOutage({ ...base, status: 'open', draining: true }, 0)).toBeUndefined();
  });
});
