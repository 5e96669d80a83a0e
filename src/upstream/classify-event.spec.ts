import { classifyEvent, DONE, IGNORED } from './classify-event';
import { UpstreamError } from './upstream.errors';

const chunkJson = (finishReasons: Array<string | null>, extra = '') =>
  `{"id":"c","choices":[${finishReasons.map((r, i) => `{"index":${i},"delta":{"content":"x"},"finish_reason":${JSON.stringify(r)}}`).join(',')}]${extra}}`;

describe('classifyEvent', () => {
  it('turns a chunk into the emitted object: the parsed chunk, its raw text untouched, the model and its finish_reason', () => {
    const raw = chunkJson([null]);
    const result = classifyEvent(raw, undefined, 'gpt-4.1', false);
    expect(result).toEqual({ chunk: JSON.parse(raw), raw, model: 'gpt-4.1', finishReason: null });
    // Exactly these four fields: nothing else is carried per chunk.
    expect(Object.keys(result as object).sort()).toEqual(['chunk', 'finishReason', 'model', 'raw']);
    expect(classifyEvent(raw, 'message', 'm', true)).toMatchObject({ raw, model: 'm' });
  });

  it('reads the last non-empty finish_reason of any choice, tolerating malformed choices', () => {
    expect(classifyEvent(chunkJson([null, 'length', null]), undefined, 'm', false)).toMatchObject({ finishReason: 'length' });
    expect(classifyEvent(chunkJson(['stop', 'tool_calls']), undefined, 'm', false)).toMatchObject({ finishReason: 'tool_calls' });
    expect(classifyEvent(chunkJson(['']), undefined, 'm', false)).toMatchObject({ finishReason: null });
    expect(classifyEvent('{"choices":"nope"}', undefined, 'm', false)).toMatchObject({ finishReason: null });
    expect(classifyEvent('{"choices":[null,7]}', undefined, 'm', false)).toMatchObject({ finishReason: null });
    expect(classifyEvent('{"choices":[],"usage":{"total_tokens":3}}', undefined, 'm', false)).toMatchObject({ finishReason: null });
  });

  it('recognises [DONE], on unnamed and message events', () => {
    expect(classifyEvent('[DONE]', undefined, 'm', true)).toBe(DONE);
    expect(classifyEvent('[DONE]', 'message', 'm', false)).toBe(DONE);
  });

  it('ignores named events that are not part of the chat stream, whatever their data', () => {
    expect(classifyEvent('{"type":"ping"}', 'ping', 'm', false)).toBe(IGNORED);
    expect(classifyEvent('not json', 'keepalive', 'm', true)).toBe(IGNORED);
  });

  it.each([
    ['not JSON', 'data: nope', 'Upstream sent a data line that is not JSON'],
    ['a JSON array', '[1,2]', 'Upstream sent a data line that is not a JSON object'],
    ['JSON null', 'null', 'Upstream sent a data line that is not a JSON object'],
    ['a JSON string', '"text"', 'Upstream sent a data line that is not a JSON object'],
  ])('fails with bad_response on %s, marked after the first chunk only when chunks were seen', (_name, data, message) => {
    for (const afterFirstChunk of [false, true]) {
      const result = classifyEvent(data, undefined, 'm', afterFirstChunk) as UpstreamError;
      expect(result).toBeInstanceOf(UpstreamError);
      expect(result).toMatchObject({ kind: 'bad_response', message, details: { afterFirstChunk } });
    }
  });

  it('fails with error_event on an error object, carrying its message and type', () => {
    const result = classifyEvent('{"error":{"message":"overloaded, try later","type":"server_error"}}', undefined, 'm', true);
    expect(result).toBeInstanceOf(UpstreamError);
    expect(result).toMatchObject({
      kind: 'error_event',
      message: 'Upstream reported an error mid-stream: overloaded, try later',
      details: { upstreamType: 'server_error', afterFirstChunk: true },
    });
  });

  it('fails with error_event on any `event: error`, even without an error member', () => {
    expect(classifyEvent('{"message":"quota exceeded","choices":[]}', 'error', 'm', false)).toMatchObject({
      kind: 'error_event',
      message: 'Upstream reported an error mid-stream: quota exceeded',
      details: { afterFirstChunk: false },
    });
    expect(classifyEvent('{}', 'error', 'm', false)).toMatchObject({ message: 'Upstream reported an error mid-stream: no message' });
  });

  it('treats "error": null as an ordinary chunk', () => {
    expect(classifyEvent('{"choices":[],"error":null}', undefined, 'm', false)).not.toBeInstanceOf(UpstreamError);
  });
});
