import { ERROR_CODES, type ClientFrame, type ServerFrame } from '@holysheep/protocol';
import { assertServerFrame, documentedFrameTypes, validateClientFrame, validateServerFrame } from '../support/frame-schemas';

/**
 * The payload schemas of docs/asyncapi.yaml, as the e2e suites use them: every legitimate frame
 * passes (the examples are typed with packages/protocol/src/frames.ts, so they are frames the server may
 * really send), and each way a frame can break the contract is caught.
 */

const STREAM_ID = 'str_0b6f2c1e-8f3a-4d9b-9a55-2f1f7c3e1d20';

const upstreamChunk = (content: string, finishReason: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'gpt-4.1',
  choices: [{ index: 0, delta: { content }, finish_reason: finishReason, logprobs: null }],
});

const VALID_SERVER: Array<[string, ServerFrame]> = [
  [
    'session.ready',
    { type: 'session.ready', session_id: 'sess-1', protocol: 1, heartbeat_interval_ms: 25_000, limits: { max_frame_bytes: 262_144, max_concurrent_streams: 16 } },
  ],
  ['chat.started', { type: 'chat.started', id: 'req-1', stream_id: STREAM_ID, seq: 1, model: 'gpt-4.1' }],
  ['chat.chunk', { type: 'chat.chunk', id: 'req-1', stream_id: STREAM_ID, seq: 2, chunk: upstreamChunk('Hel') }],
  [
    'chat.chunk with vendor fields, tool calls and refusal intact',
    {
      type: 'chat.chunk',
      id: 'req-1',
      stream_id: STREAM_ID,
      seq: 3,
      chunk: {
        ...upstreamChunk(''),
        system_fingerprint: 'fp_1',
        x_vendor: { nested: [1, 2] },
        choices: [
          {
            index: 0,
            delta: { role: 'assistant', content: null, refusal: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{' } }] },
            finish_reason: null,
          },
        ],
      },
    },
  ],
  [
    'chat.chunk usage-only (empty choices)',
    {
      type: 'chat.chunk',
      id: 'req-1',
      stream_id: STREAM_ID,
      seq: 4,
      chunk: { ...upstreamChunk(''), choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } },
    },
  ],
  [
    'chat.done with usage',
    { type: 'chat.done', id: 'req-1', stream_id: STREAM_ID, seq: 5, finish_reason: 'stop', usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } },
  ],
  ['chat.done cancelled', { type: 'chat.done', id: 'req-1', stream_id: STREAM_ID, seq: 2, finish_reason: 'cancelled', usage: null }],
  ...(['stop', 'length', 'tool_calls', 'content_filter', 'cancelled'] as const).map(
    (reason): [string, ServerFrame] => [`chat.done ${reason}`, { type: 'chat.done', id: 'r', stream_id: STREAM_ID, seq: 9, finish_reason: reason, usage: null }],
  ),
  [
    'chat.error after start',
    { type: 'chat.error', id: 'req-1', stream_id: STREAM_ID, seq: 3, code: 'upstream_disconnected', message: 'Upstream connection lost', retryable: true },
  ],
  [
    'chat.error before start (rate limited)',
    { type: 'chat.error', id: 'req-1', code: 'rate_limited', message: 'More than 120 requests per minute', retryable: true, retry_after_ms: 1500 },
  ],
  [
    'chat.error before start with retry_after_ms 0',
    { type: 'chat.error', id: 'req-1', code: 'upstream_unavailable', message: 'Upstream answered 503', retryable: true, retry_after_ms: 0 },
  ],
  [
    'chat.error answering stream.resume (stream_id without seq)',
    { type: 'chat.error', id: STREAM_ID, stream_id: STREAM_ID, code: 'stream_not_found', message: 'Stream not found or no longer resumable', retryable: false },
  ],
  ['error', { type: 'error', code: 'unknown_type', message: 'Unknown frame type "x"' }],
  ['error with id', { type: 'error', code: 'duplicate_id', message: 'A stream with id "req-1" is already active', id: 'req-1' }],
  ['pong without ts', { type: 'pong' }],
  ['pong with a number ts', { type: 'pong', ts: 1_700_000_000_000 }],
  ['pong with an object ts', { type: 'pong', ts: { a: [1, 'b', null] } }],
  ['pong with a null ts', { type: 'pong', ts: null }],
  ['session.draining', { type: 'session.draining', reconnect_after_ms: 0 }],
];

const VALID_CLIENT: Array<[string, ClientFrame | Record<string, unknown>]> = [
  ['chat.request minimal', { type: 'chat.request', id: 'r', messages: [{ role: 'user', content: 'hi' }] }],
  [
    'chat.request with every optional field',
    {
      type: 'chat.request',
      id: 'x'.repeat(128),
      model: 'gpt-4.1',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '42' },
      ],
      temperature: 0.2,
      top_p: 1,
      max_tokens: 100,
      max_completion_tokens: 100,
      stop: ['\n\n'],
      presence_penalty: 0,
      frequency_penalty: -0.5,
      seed: 42,
      tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
      tool_choice: 'auto',
      response_format: { type: 'json_object' },
      user: 'u-1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    },
  ],
  ['chat.request with stop null', { type: 'chat.request', id: 'r', messages: [{ role: 'user', content: 'hi' }], stop: null }],
  ['chat.request with tool_choice object', { type: 'chat.request', id: 'r', messages: [{ role: 'user' }], tool_choice: { type: 'function', function: { name: 'f' } } }],
  ['chat.request with unknown extra fields (ignored)', { type: 'chat.request', id: 'r', messages: [{ role: 'user', content: 'hi' }], stream: false, n: 3 }],
  [
    'chat.request with a future-version traceparent (extra fields allowed)',
    { type: 'chat.request', id: 'r', messages: [{ role: 'user' }], traceparent: '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future' },
  ],
  ['chat.cancel', { type: 'chat.cancel', id: 'r' }],
  ['stream.resume', { type: 'stream.resume', stream_id: STREAM_ID, after_seq: 0 }],
  ['stream.resume with id', { type: 'stream.resume', stream_id: STREAM_ID, after_seq: 7, id: 'r' }],
  ['ping', { type: 'ping' }],
  ['ping with any ts', { type: 'ping', ts: ['any', { json: true }] }],
];

const started = { type: 'chat.started', id: 'req-1', stream_id: STREAM_ID, seq: 1, model: 'gpt-4.1' };
const chunkFrame = { type: 'chat.chunk', id: 'req-1', stream_id: STREAM_ID, seq: 2, chunk: upstreamChunk('x') };
const done = { type: 'chat.done', id: 'req-1', stream_id: STREAM_ID, seq: 3, finish_reason: 'stop', usage: null };
const failed = { type: 'chat.error', id: 'req-1', stream_id: STREAM_ID, seq: 3, code: 'upstream_timeout', message: 'stalled', retryable: true };
const ready = { type: 'session.ready', session_id: 's', protocol: 1, heartbeat_interval_ms: 25_000, limits: { max_frame_bytes: 1024, max_concurrent_streams: 1 } };
const { seq: _seq, ...chunkWithoutSeq } = chunkFrame;
const { usage: _usage, ...doneWithoutUsage } = done;
const { seq: _failedSeq, ...failedWithoutSeq } = failed;
const { stream_id: _failedStreamId, ...failedWithoutStreamId } = failed;
const { retryable: _retryable, ...failedWithoutRetryable } = failed;
const { limits: _limits, ...readyWithoutLimits } = ready;

/** [what, frame, a fragment one of the problems must contain] */
const INVALID_SERVER: Array<[string, unknown, string]> = [
  ['chat.chunk without seq', chunkWithoutSeq, "must have required property 'seq'"],
  ['chat.chunk with a string seq', { ...chunkFrame, seq: '2' }, '/seq: must be integer'],
  ['chat.chunk with a fractional seq', { ...chunkFrame, seq: 2.5 }, '/seq: must be integer'],
  ['chat.chunk with seq 1 (that is chat.started)', { ...chunkFrame, seq: 1 }, '/seq: must be >= 2'],
  ['chat.chunk with seq 0', { ...chunkFrame, seq: 0 }, '/seq: must be >= 1'],
  ['chat.chunk whose chunk has no choices', { ...chunkFrame, chunk: { id: 'c', object: 'chat.completion.chunk' } }, "/chunk: must have required property 'choices'"],
  ['chat.chunk whose choices is not an array', { ...chunkFrame, chunk: { choices: {} } }, '/chunk/choices: must be array'],
  ['chat.chunk whose chunk is a string', { ...chunkFrame, chunk: '{"choices":[]}' }, '/chunk: must be object'],
  ['chat.chunk without stream_id', { ...chunkFrame, stream_id: undefined }, "must have required property 'stream_id'"],
  ['chat.chunk with an extra field', { ...chunkFrame, debug: true }, 'unexpected field "debug"'],
  ['chat.started with seq 2', { ...started, seq: 2 }, '/seq: must be 1'],
  ['chat.started without model', { ...started, model: undefined }, "must have required property 'model'"],
  ['chat.started with an empty stream_id', { ...started, stream_id: '' }, '/stream_id: must NOT have fewer than 1 characters'],
  ['chat.started with an empty id', { ...started, id: '' }, '/id: must NOT have fewer than 1 characters'],
  ['chat.done with finish_reason outside the enum', { ...done, finish_reason: 'function_call' }, '/finish_reason: must be one of "stop", "length", "tool_calls", "content_filter", "cancelled"'],
  ['chat.done with finish_reason null', { ...done, finish_reason: null }, '/finish_reason: must be one of'],
  ['chat.done without usage (null, not absent)', doneWithoutUsage, "must have required property 'usage'"],
  ['chat.done with usage a number', { ...done, usage: 10 }, '/usage: must be object'],
  ['chat.done with a code', { ...done, code: 'internal_error' }, 'unexpected field "code"'],
  ['chat.error with an unknown code', { ...failed, code: 'upstream_gone' }, '/code: must be one of "bad_request"'],
  ['chat.error with seq but no stream_id', failedWithoutStreamId, "must have property stream_id when property seq is present"],
  ['chat.error with stream_id but no seq (not a resume answer)', failedWithoutSeq, '/code: must be one of "stream_not_found", "bad_request", "rate_limited"'],
  ['chat.error without retryable', failedWithoutRetryable, "must have required property 'retryable'"],
  ['chat.error with retryable a string', { ...failed, retryable: 'true' }, '/retryable: must be boolean'],
  ['chat.error with a negative retry_after_ms', { ...failed, retry_after_ms: -1 }, '/retry_after_ms: must be >= 0'],
  ['chat.error with a fractional retry_after_ms', { ...failed, retry_after_ms: 1.5 }, '/retry_after_ms: must be integer'],
  ['chat.error with an empty message', { ...failed, message: '' }, '/message: must NOT have fewer than 1 characters'],
  ['chat.error with a stack', { ...failed, stack: 'Error: at …' }, 'unexpected field "stack"'],
  ['error with an unknown code', { type: 'error', code: 'oops', message: 'm' }, '/code: must be one of'],
  ['error without message', { type: 'error', code: 'bad_request' }, "must have required property 'message'"],
  ['error with retry_after_ms (only chat.error has it)', { type: 'error', code: 'rate_limited', message: 'm', retry_after_ms: 5 }, 'unexpected field "retry_after_ms"'],
  ['error with an id over 128 characters', { type: 'error', code: 'bad_request', message: 'm', id: 'x'.repeat(129) }, '/id: must NOT have more than 128 characters'],
  ['session.ready with protocol 2', { ...ready, protocol: 2 }, '/protocol: must be 1'],
  ['session.ready with protocol "1"', { ...ready, protocol: '1' }, '/protocol: must be 1'],
  ['session.ready without limits', readyWithoutLimits, "must have required property 'limits'"],
  ['session.ready with limits missing a field', { ...ready, limits: { max_frame_bytes: 1024 } }, "/limits: must have required property 'max_concurrent_streams'"],
  ['session.ready with a string heartbeat', { ...ready, heartbeat_interval_ms: '25000' }, '/heartbeat_interval_ms: must be integer'],
  ['pong with an extra field', { type: 'pong', ts: 1, at: 2 }, 'unexpected field "at"'],
  ['session.draining without reconnect_after_ms', { type: 'session.draining' }, "must have required property 'reconnect_after_ms'"],
  ['session.draining with a negative delay', { type: 'session.draining', reconnect_after_ms: -5 }, '/reconnect_after_ms: must be >= 0'],
  ['an unknown type', { type: 'chat.requets' }, 'unknown server frame type "chat.requets"'],
  ['a client frame type', { type: 'ping' }, 'unknown server frame type "ping"'],
  ['no type', { id: 'x' }, 'no string field "type"'],
  ['a numeric type', { type: 1 }, 'no string field "type"'],
  ['an array', [], 'must be a JSON object, got an array'],
  ['null', null, 'must be a JSON object, got null'],
  ['a string', '{"type":"pong"}', 'must be a JSON object, got string'],
];

const request = { type: 'chat.request', id: 'r', messages: [{ role: 'user', content: 'hi' }] };
const INVALID_CLIENT: Array<[string, unknown, string]> = [
  ['chat.request without messages', { type: 'chat.request', id: 'r' }, "must have required property 'messages'"],
  ['chat.request with empty messages', { ...request, messages: [] }, '/messages: must NOT have fewer than 1 items'],
  ['chat.request with a message without role', { ...request, messages: [{ content: 'hi' }] }, "/messages/0: must have required property 'role'"],
  ['chat.request with a message that is a string', { ...request, messages: ['hi'] }, '/messages/0: must be object'],
  ['chat.request with an empty id', { ...request, id: '' }, '/id: must NOT have fewer than 1 characters'],
  ['chat.request with a 129-character id', { ...request, id: 'x'.repeat(129) }, '/id: must NOT have more than 128 characters'],
  ['chat.request with a numeric id', { ...request, id: 1 }, '/id: must be string'],
  ['chat.request with a string temperature', { ...request, temperature: '0.2' }, '/temperature: must be number'],
  ['chat.request with max_tokens 0', { ...request, max_tokens: 0 }, '/max_tokens: must be >= 1'],
  ['chat.request with a numeric stop', { ...request, stop: 5 }, '/stop: must match a schema in anyOf'],
  ['chat.request with a malformed traceparent', { ...request, traceparent: 'not-a-traceparent' }, '/traceparent: must match pattern'],
  ['chat.request with an upper-case traceparent', { ...request, traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01' }, '/traceparent: must match pattern'],
  ['chat.request with an all-zero trace id', { ...request, traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }, '/traceparent: must match pattern'],
  ['chat.request with traceparent version ff', { ...request, traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, '/traceparent: must match pattern'],
  ['chat.request with a version-00 traceparent with trailing fields', { ...request, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x' }, '/traceparent: must match pattern'],
  ['chat.cancel without id', { type: 'chat.cancel' }, "must have required property 'id'"],
  ['stream.resume with after_seq -1', { type: 'stream.resume', stream_id: STREAM_ID, after_seq: -1 }, '/after_seq: must be >= 0'],
  ['stream.resume with a string after_seq', { type: 'stream.resume', stream_id: STREAM_ID, after_seq: '3' }, '/after_seq: must be integer'],
  ['stream.resume without stream_id', { type: 'stream.resume', after_seq: 0 }, "must have required property 'stream_id'"],
  ['a server frame type', { type: 'pong' }, 'unknown client frame type "pong"'],
  ['an unknown type', { type: 'chat.requets' }, 'unknown client frame type "chat.requets"'],
];

describe('frame schemas from docs/asyncapi.yaml', () => {
  it('knows the 18 frame types (v1, the additive stream.list pair, stream.complete, stream.overtaken and the auth.refresh pair), each in its direction', () => {
    const { client, server } = documentedFrameTypes();
    expect(client.sort()).toEqual(['auth.refresh', 'chat.cancel', 'chat.request', 'ping', 'stream.list', 'stream.resume']);
    expect(server.sort()).toEqual(['auth.refreshed', 'chat.chunk', 'chat.done', 'chat.error', 'chat.started', 'error', 'pong', 'session.draining', 'session.ready', 'stream.complete', 'stream.list.result', 'stream.overtaken']);
  });

  describe('server → client: accepts', () => {
    it.each(VALID_SERVER)('%s', (_name, frame) => {
      expect(validateServerFrame(frame)).toEqual([]);
      expect(() => assertServerFrame(frame)).not.toThrow();
    });

    it('every error code in chat.error and error', () => {
      for (const code of Object.keys(ERROR_CODES)) {
        expect(validateServerFrame({ type: 'error', code, message: 'm' })).toEqual([]);
        expect(validateServerFrame({ type: 'chat.error', id: 'r', code, message: 'm', retryable: false })).toEqual([]);
      }
    });

    it('frames exactly as they arrive on the wire (JSON round trip)', () => {
      for (const [, frame] of VALID_SERVER) expect(validateServerFrame(JSON.parse(JSON.stringify(frame)))).toEqual([]);
    });
  });

  describe('server → client: rejects', () => {
    it.each(INVALID_SERVER)('%s', (_name, frame, problem) => {
      const problems = validateServerFrame(frame);
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.join('\n')).toContain(problem);
      expect(() => assertServerFrame(frame)).toThrow(/does not match docs\/asyncapi\.yaml/);
    });
  });

  describe('client → server: accepts', () => {
    it.each(VALID_CLIENT)('%s', (_name, frame) => {
      expect(validateClientFrame(frame)).toEqual([]);
    });
  });

  describe('client → server: rejects', () => {
    it.each(INVALID_CLIENT)('%s', (_name, frame, problem) => {
      const problems = validateClientFrame(frame);
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.join('\n')).toContain(problem);
    });
  });

  it('reports every problem of a frame, prefixed with its type', () => {
    const problems = validateServerFrame({ type: 'chat.chunk', id: '', stream_id: STREAM_ID, seq: '2', chunk: {}, extra: 1 });
    expect(problems).toEqual(
      expect.arrayContaining([
        'chat.chunk /id: must NOT have fewer than 1 characters',
        'chat.chunk /seq: must be integer',
        "chat.chunk /chunk: must have required property 'choices'",
        'chat.chunk (frame): unexpected field "extra"',
      ]),
    );
  });

  it('is fast enough to check every frame of the e2e suites', () => {
    const frames = Array.from({ length: 20_000 }, (_, i) => ({ ...chunkFrame, seq: i + 2 }));
    const start = process.hrtime.bigint();
    for (const frame of frames) if (validateServerFrame(frame).length > 0) throw new Error('unexpected problem');
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    // ~1 µs a frame in practice; the bound only catches a pathological slowdown (e.g. recompiling).
    expect(ms).toBeLessThan(2_000);
  });
});
