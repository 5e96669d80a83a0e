import { parseConfig } from '../config/config.schema';
import { frameLimits, parseClientFrame as parseWithLimits, peekFrameHead, toUpstreamRequest } from './inbound-frames';

const limits = frameLimits(parseConfig({}));
const parseClientFrame = (data: Parameters<typeof parseWithLimits>[0], isBinary: boolean) => parseWithLimits(data, isBinary, limits);

const text = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('parseClientFrame', () => {
  it('accepts a full chat.request and drops unknown fields at every level', () => {
    const result = parseClientFrame(
      text({
        type: 'chat.request',
        id: 'r1',
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }], name: 'n', invented: 1 }],
        temperature: 0,
        top_p: 1,
        max_tokens: 5,
        max_completion_tokens: 6,
        stop: ['\n'],
        presence_penalty: -1,
        frequency_penalty: 1.5,
        seed: 42,
        tools: [{ type: 'function', function: { name: 'f' } }],
        tool_choice: 'auto',
        response_format: { type: 'json_object' },
        user: 'u',
        n: 4,
        stream: false,
      }),
      false,
    );
    expect(result.ok).toBe(true);
    if (!result.ok || result.frame.type !== 'chat.request') throw new Error('unexpected');
    expect(toUpstreamRequest(result.frame, 'default')).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }], name: 'n' }],
      temperature: 0,
      top_p: 1,
      max_tokens: 5,
      max_completion_tokens: 6,
      stop: ['\n'],
      presence_penalty: -1,
      frequency_penalty: 1.5,
      seed: 42,
      tools: [{ type: 'function', function: { name: 'f' } }],
      tool_choice: 'auto',
      response_format: { type: 'json_object' },
      user: 'u',
    });
  });

  it('fills in the default model', () => {
    const result = parseClientFrame(text({ type: 'chat.request', id: 'r', messages: [{ role: 'user', content: 'x' }] }), false);
    if (!result.ok || result.frame.type !== 'chat.request') throw new Error('unexpected');
    expect(toUpstreamRequest(result.frame, 'gpt-4.1').model).toBe('gpt-4.1');
  });

  it('accepts multi-fragment messages', () => {
    const result = parseClientFrame([Buffer.from('{"type":"pi'), Buffer.from('ng","ts":3}')], false);
    expect(result).toEqual({ ok: true, frame: { type: 'ping', ts: 3 } });
  });

  it.each([
    ['binary', Buffer.from('{"type":"ping"}'), true, 'bad_request'],
    ['invalid UTF-8 JSON', Buffer.from([0x7b, 0xff, 0x7d]), false, 'bad_request'],
    ['a string', text('"ping"'), false, 'bad_request'],
    ['unknown type', text({ type: 'nope' }), false, 'unknown_type'],
    ['toString as a type', text({ type: 'toString' }), false, 'unknown_type'],
    ['infinite temperature', text('{"type":"chat.request","id":"a","messages":[{"role":"user"}],"temperature":1e999}'), false, 'bad_request'],
    ['stop as a number', text({ type: 'chat.request', id: 'a', messages: [{ role: 'user' }], stop: 3 }), false, 'bad_request'],
    ['messages as an object', text({ type: 'chat.request', id: 'a', messages: { role: 'user' } }), false, 'bad_request'],
    ['a message that is a string', text({ type: 'chat.request', id: 'a', messages: ['hi'] }), false, 'bad_request'],
    ['resume without stream_id', text({ type: 'stream.resume', after_seq: 0 }), false, 'bad_request'],
    ['resume with fractional after_seq', text({ type: 'stream.resume', stream_id: 's', after_seq: 0.5 }), false, 'bad_request'],
    ['resume with an after_seq past 2^53', text({ type: 'stream.resume', stream_id: 's', after_seq: 1e300 }), false, 'bad_request'],
  ])('rejects %s', (_name, data, isBinary, code) => {
    const result = parseClientFrame(data, isBinary);
    expect(result).toMatchObject({ ok: false, code });
  });

  it('echoes a usable id on errors, and only a valid-looking one', () => {
    expect(parseClientFrame(text({ type: 'chat.request', id: 'keep' }), false)).toMatchObject({ ok: false, id: 'keep' });
    expect(parseClientFrame(text({ type: 'chat.request', id: 7 }), false)).toMatchObject({ ok: false, id: undefined });
  });
});

/** Frames just under the 256 KiB cap, shaped to be as expensive as possible (issue #8). */
describe('parseClientFrame on hostile shapes', () => {
  const nested = (depth: number) => {
    let value = '1';
    for (let i = 0; i < depth; i++) value = `{"a":${value}}`;
    return value;
  };
  const request = (extra: string) => Buffer.from(`{"type":"chat.request","id":"h","messages":[{"role":"user","content":"x"}]${extra}}`);

  it('refuses deep nesting as bad_request before parsing, keeping the id', () => {
    const result = parseClientFrame(request(`,"response_format":${nested(40_000)}`), false);
    expect(result).toEqual({ ok: false, code: 'bad_request', id: 'h', message: `Frame nests objects and arrays more than ${limits.maxJsonDepth} levels deep` });
  });

  it('accepts a structured-output schema nested 120 levels deep, within the documented limit', () => {
    expect(limits.maxJsonDepth).toBeGreaterThanOrEqual(128);
    const result = parseClientFrame(request(`,"response_format":{"type":"json_schema","json_schema":{"schema":${nested(120)}}}`), false);
    expect(result.ok).toBe(true);
  });

  it('refuses 130k tiny values without building an issue per element', () => {
    const frame = Buffer.from(JSON.stringify({ type: 'chat.request', id: 'h', messages: new Array(130_000).fill(1) }));
    expect(parseClientFrame(frame, false)).toMatchObject({ ok: false, code: 'bad_request', message: `Frame holds more than ${limits.maxJsonValues} JSON values` });
  });

  it('refuses more messages or tools than the caps before validating any of them, with the request id', () => {
    const messages = new Array(limits.maxMessages + 1).fill({ role: 'user', content: 'x' });
    expect(parseClientFrame(text({ type: 'chat.request', id: 'm', messages }), false)).toEqual({
      ok: false,
      code: 'bad_request',
      id: 'm',
      message: `Invalid chat.request: messages: at most ${limits.maxMessages} messages per request`,
    });
    const tools = new Array(limits.maxTools + 1).fill({ type: 'function', function: { name: 'f' } });
    expect(parseClientFrame(text({ type: 'chat.request', id: 't', messages: [{ role: 'user' }], tools }), false)).toMatchObject({
      ok: false,
      id: 't',
      message: `Invalid chat.request: tools: at most ${limits.maxTools} tools per request`,
    });
  });

  it('lists at most five problems', () => {
    const messages = new Array(limits.maxMessages).fill('not an object');
    const result = parseClientFrame(text({ type: 'chat.request', id: 'm', messages }), false);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message.split('; ')).toHaveLength(5);
  });

  it('caps the ts a ping may ask to have echoed', () => {
    expect(parseClientFrame(text({ type: 'ping', ts: 'x'.repeat(limits.maxPingTsBytes - 2) }), false)).toMatchObject({ ok: true });
    expect(parseClientFrame(text({ type: 'ping', ts: 'x'.repeat(limits.maxPingTsBytes) }), false)).toEqual({
      ok: false,
      code: 'bad_request',
      message: `Invalid ping: ts: at most ${limits.maxPingTsBytes} bytes of JSON`,
    });
  });
});

describe('peekFrameHead', () => {
  const peek = (text: string) => peekFrameHead(Buffer.from(text));
  it('finds type and id among the leading top-level members', () => {
    expect(peek('{"type":"chat.request","id":"r\\u00e9-1","messages":[[[[')).toEqual({ type: 'chat.request', id: 'ré-1' });
  });
  it('does not look inside or past the first nested value', () => {
    expect(peek('{"type":"chat.request","messages":[{"id":"inner"}],"id":"late"}')).toEqual({ type: 'chat.request' });
    expect(peek('{"x":"\\"id\\":\\"fake\\""}')).toEqual({});
    expect(peek('not json')).toEqual({});
  });
});
