'use strict';
/**
 * The upstream request body of the bench's own relays (control and bare) for a client's
 * `chat.request`: one place, so both ask the fake upstream for the same stream (its shape rides
 * in `user` and `max_tokens`, which the gateway forwards too).
 */
function upstreamBody(msg) {
  return JSON.stringify({
    model: msg.model || 'gpt-4.1',
    messages: msg.messages,
    max_tokens: msg.max_tokens,
    user: msg.user,
    stream: true,
    stream_options: { include_usage: true },
  });
}

module.exports = { upstreamBody };
