import { Subject } from 'rxjs';
import type { UpstreamChunk } from '../upstream/upstream-request';
import { UpstreamError } from '../upstream/upstream.errors';
import { ChatStream, normalizeFinishReason } from './chat-stream';
import { FramePrefixes } from './record-frame';
import { StreamRecord } from './stream-record';

/** A stream writing to its record, and one reader seeing what a socket attached from the start would. */
function setup() {
  const sent: Array<Record<string, any>> = [];
  const ended: ChatStream[] = [];
  const upstream = new Subject<UpstreamChunk>();
  const record = new StreamRecord({ streamId: 'str_1', principal: 'p', requestId: 'req "1"', model: 'm', startedAt: 0, owner: 'local' }, 1 << 20);
  const prefixes = new FramePrefixes('req "1"');
  record.follow(0, { id: 'req "1"', frame: (frame) => sent.push(JSON.parse(prefixes.render(frame))), lost: () => undefined })!.resume();
  const stream = new ChatStream({ id: 'req "1"', streamId: 'str_1', principal: 'p', model: 'm', now: () => 0 }, record, (s) => ended.push(s));
  stream.start(upstream);
  return { sent, ended, upstream, stream, record };
}

const event = (content: string | null, finish: string | null = null, extra: Record<string, unknown> = {}): UpstreamChunk => {
  const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: finish }], ...extra };
  return { chunk, raw: JSON.stringify(chunk), model: 'm', finishReason: finish };
};

describe('ChatStream', () => {
  it('numbers frames from 1 and ends once with done, finish_reason and usage', () => {
    const { sent, ended, upstream, stream } = setup();
    upstream.next(event('a'));
    upstream.next(event(null, 'length'));
    upstream.next({ chunk: { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }, raw: '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}', model: 'm', finishReason: null });
    upstream.complete();
    expect(sent.map((f) => [f.type, f.seq])).toEqual([
      ['chat.started', 1],
      ['chat.chunk', 2],
      ['chat.chunk', 3],
      ['chat.chunk', 4],
      ['chat.done', 5],
    ]);
    expect(sent[0]).toEqual({ type: 'chat.started', id: 'req "1"', stream_id: 'str_1', seq: 1, model: 'm' });
    expect(sent[4]).toMatchObject({ finish_reason: 'length', usage: { total_tokens: 3 } });
    expect(ended).toEqual([stream]);
    expect(stream.outcome).toEqual({ kind: 'done', finishReason: 'length', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
  });

  it('relays the raw JSON text, so the chunk arrives exactly as the upstream wrote it', () => {
    const { sent, upstream } = setup();
    upstream.next({ chunk: { id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [] }, raw: '{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"big":12345678901234567890}', model: 'm', finishReason: null });
    expect(sent[1]?.chunk.big).toBe(12345678901234567890);
  });

  it('cancel unsubscribes from the upstream and ends with cancelled; later events are ignored', () => {
    const { sent, ended, upstream, stream } = setup();
    expect(sent).toEqual([]);
    upstream.next(event('a'));
    stream.cancel();
    expect(upstream.observed).toBe(false);
    stream.cancel();
    upstream.next(event('late'));
    expect(sent.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'cancelled', usage: null, seq: 3 });
    expect(sent).toHaveLength(3);
    expect(ended).toHaveLength(1);
  });

  it('maps a failure before the first chunk to one chat.error without stream_id or seq (never started)', () => {
    const { sent, upstream, stream } = setup();
    upstream.error(new UpstreamError('http_status', 'Upstream answered 429: slow down', { status: 429, retryAfterMs: 1500 }));
    stream.cancel();
    expect(sent).toEqual([
      { type: 'chat.error', id: 'req "1"', code: 'upstream_unavailable', message: 'Upstream answered 429: slow down', retryable: true, retry_after_ms: 1500 },
    ]);
  });

  it('maps a failure after the first chunk to chat.error with stream_id and the next seq', () => {
    const { sent, upstream } = setup();
    upstream.next(event('partial'));
    upstream.error(new UpstreamError('truncated', 'lost', { afterFirstChunk: true }));
    expect(sent.map((f) => [f.type, f.seq, f.stream_id])).toEqual([
      ['chat.started', 1, 'str_1'],
      ['chat.chunk', 2, 'str_1'],
      ['chat.error', 3, 'str_1'],
    ]);
    expect(sent[2]).toMatchObject({ code: 'upstream_disconnected', retryable: true });
  });

  it('names the model that produced the first chunk in chat.started (a fallback)', () => {
    const { sent, upstream, stream } = setup();
    upstream.next({ ...event('hi'), model: 'fallback-model' });
    expect(sent[0]).toMatchObject({ type: 'chat.started', model: 'fallback-model' });
    expect(stream.model).toBe('fallback-model');
  });

  it('a cancel before the first chunk is still answered with chat.started then chat.done cancelled', () => {
    const { sent, upstream, stream } = setup();
    stream.cancel();
    expect(upstream.observed).toBe(false);
    expect(sent.map((f) => [f.type, f.seq])).toEqual([
      ['chat.started', 1],
      ['chat.done', 2],
    ]);
  });

  it('an unexpected error becomes internal_error without leaking its text', () => {
    const { sent, upstream } = setup();
    upstream.error(new Error('secret stack detail'));
    expect(sent[0]).toMatchObject({ type: "chat.error", code: "internal_error", retryable: true });
    expect(JSON.stringify(sent)).not.toContain('secret stack detail');
  });

  it('abandon stops the upstream and logs one terminal frame, for a client that resumes later', () => {
    const { sent, ended, upstream, stream, record } = setup();
    upstream.next(event('a'));
    stream.abandon();
    upstream.next(event('late'));
    expect(upstream.observed).toBe(false);
    expect(sent.map((f) => [f.type, f.seq])).toEqual([
      ['chat.started', 1],
      ['chat.chunk', 2],
      ['chat.error', 3],
    ]);
    expect(sent[2]).toMatchObject({ code: 'upstream_disconnected', retryable: true, stream_id: 'str_1' });
    expect(stream.outcome).toEqual({ kind: 'abandoned' });
    expect(record.state).toBe('failed');
    expect(ended).toHaveLength(1);
  });

  it('keeps chat.done.usage an object or null whatever the upstream sends as usage', () => {
    const { sent, upstream } = setup();
    upstream.next(event('a', null, { usage: 'lots' }));
    upstream.next(event(null, 'stop', { usage: [1, 2] }));
    upstream.complete();
    expect(sent.at(-1)).toMatchObject({ type: 'chat.done', usage: null });
  });

  it('normalises finish reasons to the protocol’s set', () => {
    expect(['stop', 'length', 'tool_calls', 'content_filter', 'function_call', 'eos', null].map(normalizeFinishReason)).toEqual([
      'stop',
      'length',
      'tool_calls',
      'content_filter',
      'tool_calls',
      'stop',
      'stop',
    ]);
  });
});
