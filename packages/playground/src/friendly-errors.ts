/**
 * Plain-language text for what went wrong, each with a next step, for people rather than
 * developers: no error code (`stream_not_found`, `unauthorized`…) ever reaches the page; the raw
 * frames are in the developer panel.
 */
import type { ConnectionState } from '@holysheep/stream-client';

/** What the page offers next to the message. */
export type NextStep = 'regenerate' | 'settings' | 'reconnect' | 'none';

export interface Friendly {
  text: string;
  next: NextStep;
}

interface ErrorLike {
  code: string;
  retryAfterMs?: number;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function describeError(error: ErrorLike): Friendly {
  switch (error.code) {
    case 'stream_not_found':
      return { text: 'The connection dropped and this answer could not be picked up again.', next: 'regenerate' };
    case 'unauthorized':
      return { text: 'Your access token was not accepted. Enter a valid token in Settings, then try again.', next: 'settings' };
    case 'forbidden':
      return { text: 'This account is not allowed to use the gateway. Ask its administrator for access.', next: 'none' };
    case 'rate_limited':
      return {
        text: error.retryAfterMs
          ? `You are sending requests faster than allowed. Wait ${seconds(error.retryAfterMs)} s, then try again.`
          : 'You are sending requests faster than allowed. Wait a moment, then try again.',
        next: 'regenerate',
      };
    case 'too_many_streams':
      return { text: 'Too many answers are being written at once. Wait for one to finish, then try again.', next: 'regenerate' };
    case 'model_not_allowed':
      return { text: 'That model is not available here. Choose another one in Settings.', next: 'settings' };
    case 'bad_request':
      return { text: 'The request was not accepted — the conversation may be too long, or a setting out of range. Clear the conversation or lower Max tokens, then try again.', next: 'settings' };
    case 'upstream_unavailable':
      return { text: 'The model service is not reachable right now. Try again in a moment.', next: 'regenerate' };
    case 'upstream_timeout':
      return { text: 'The model took too long to answer. Try again.', next: 'regenerate' };
    case 'upstream_disconnected':
      return { text: 'The model stopped in the middle of this answer, so it is incomplete. Try again for a complete one.', next: 'regenerate' };
    case 'upstream_error':
      return { text: 'The model service refused this request. Rephrase it or change the settings, then try again.', next: 'regenerate' };
    case 'upstream_bad_response':
      return { text: 'The model service sent something the gateway could not read. Try again later.', next: 'regenerate' };
    case 'shutting_down':
      return { text: 'The server restarted while answering. Try again.', next: 'regenerate' };
    case 'connection_closed':
      return { text: 'The connection to the gateway was closed. Reconnect, then try again.', next: 'reconnect' };
    case 'connect_failed':
      return { text: 'The page could not open a connection to the gateway. Check the token in Settings (letters, digits and - . _ ~ work best).', next: 'settings' };
    default:
      return { text: 'Something went wrong on the server. Try again.', next: 'regenerate' };
  }
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
