/**
 * Plain-language text for what went wrong, each with a next step, for people rather than
 * developers: no error code (`stream_not_found`, `unauthorized`…) ever reaches the page; the raw
 * frames are in the developer panel.
 */
import type { ConnectionState } from '@holysheep/stream-client';

/**
 * A failed answer's message and what the page offers beside it: at most one step to take first
 * (its own button), and "Try again" — the one button that sends the request again (a failed
 * answer has no separate "Regenerate": both would do the same thing).
 */
export interface Friendly {
  text: string;
  step?: 'settings' | 'reconnect';
  /** Offer "Try again": false only when sending the same request again cannot help. */
  retry: boolean;
}

interface ErrorLike {
  code: string;
  retryAfterMs?: number;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

const retry = (text: string): Friendly => ({ text, retry: true });
const settingsFirst = (text: string): Friendly => ({ text, step: 'settings', retry: true });

export function describeError(error: ErrorLike): Friendly {
  switch (error.code) {
    case 'stream_not_found':
      return retry('The connection dropped and this answer could not be picked up again.');
    case 'unauthorized':
      return settingsFirst('Your access token was not accepted. Enter a valid token in Settings, then try again.');
    case 'forbidden':
      return { text: 'This account is not allowed to use the gateway. Ask its administrator for access.', retry: false };
    case 'rate_limited':
      return retry(
        error.retryAfterMs
          ? `You are sending requests faster than allowed. Wait ${seconds(error.retryAfterMs)} s, then try again.`
          : 'You are sending requests faster than allowed. Wait a moment, then try again.',
      );
    case 'too_many_streams':
      return retry('Too many answers are being written at once. Wait for one to finish, then try again.');
    case 'model_not_allowed':
      return settingsFirst('That model is not available here. Choose another one in Settings, then try again.');
    case 'bad_request':
      return settingsFirst('The request was not accepted — the conversation may be too long, or a setting out of range. Clear the conversation or lower Max tokens in Settings, then try again.');
    case 'upstream_unavailable':
      return retry('The model service is not reachable right now. Try again in a moment.');
    case 'upstream_timeout':
      return retry('The model took too long to answer. Try again.');
    case 'upstream_disconnected':
      return retry('The model stopped in the middle of this answer, so it is incomplete. Try again for a complete one.');
    case 'upstream_error':
      return retry('The model service refused this request. Rephrase it or change the settings, then try again.');
    case 'upstream_bad_response':
      return retry('The model service sent something the gateway could not read. Try again later.');
    case 'shutting_down':
      return retry('The server restarted while answering. Try again.');
    case 'connection_closed':
      return { text: 'The connection to the gateway was closed. Reconnect, then try again.', step: 'reconnect', retry: true };
    case 'connect_failed':
      return settingsFirst('The page could not open a connection to the gateway. Check the token in Settings (letters, digits and - . _ ~ work best).');
    default:
      return retry('Something went wrong on the server. Try again.');
  }
}

/**
 * What an answer that is being written says while its connection is down (the SDK reconnects and
 * resumes it): `text` for everyone (a live region announces it once), `countdown` for the eyes
 * only (a screen reader would hear every tick), or undefined while connected.
 */
export interface Outage {
  text: string;
  countdown: string;
  /** Offer "Retry now": a reconnect is scheduled, not under way. */
  retry: boolean;
}

export function describeOutage(state: ConnectionState, now: number): Outage | undefined {
  if (state.status === 'reconnecting') {
    const wait = Math.max(0, (state.nextAttemptAt ?? now) - now);
    return { text: 'Connection lost — reconnecting', countdown: wait < 1000 ? '…' : ` in ${seconds(wait)} s…`, retry: wait >= 1000 };
  }
  if (state.status === 'connecting' && state.attempt > 0) return { text: 'Connection lost — reconnecting', countdown: '…', retry: false };
  return undefined;
}

export interface ConnectionBadge {
  /** `ok` | `busy` | `warn` | `off`, for the colour. */
  tone: 'ok' | 'busy' | 'warn' | 'off';
  text: string;
  /** Offer "Retry now". */
  retry: boolean;
}

export function describeConnection(state: ConnectionState, now: number): ConnectionBadge {
  switch (state.status) {
    case 'open':
      return { tone: 'ok', text: state.draining ? 'Connected · server restarting' : 'Connected', retry: false };
    case 'connecting':
      return { tone: 'busy', text: state.attempt > 0 ? 'Reconnecting…' : 'Connecting…', retry: false };
    case 'reconnecting': {
      const wait = Math.max(0, (state.nextAttemptAt ?? now) - now);
      return { tone: 'warn', text: wait < 1000 ? 'Reconnecting…' : `Reconnecting in ${seconds(wait)} s`, retry: wait >= 1000 };
    }
    case 'idle':
      return { tone: 'ok', text: 'Ready', retry: false };
    case 'closed':
      return { tone: 'off', text: state.error ? `Offline — ${describeError(state.error).text}` : 'Offline', retry: true };
  }
}
