import { parseClientFrame, toUpstreamRequest } from './inbound-frames';

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
  ])('rejects %s', (_name, data, isBinary, code) => {
    const result = parseClientFrame(data, isBinary);
    expect(result).toMatchObject({ ok: false, code });
  });

  it('echoes a usable id on errors, and only a valid-looking one', () => {
    expect(parseClientFrame(text({ type: 'chat.request', id: 'keep' }), false)).toMatchObject({ ok: false, id: 'keep' });
    expect(parseClientFrame(text({ type: 'chat.request', id: 7 }), false)).toMatchObject({ ok: false, id: undefined });
  });
});
