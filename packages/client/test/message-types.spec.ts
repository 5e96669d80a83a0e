/**
 * The message types (ChatMessage, tool-call deltas) are checked by the compiler: `npm run typecheck`
 * (part of `npm test`) compiles this file, so each `@ts-expect-error` below fails the run if the
 * line it marks ever compiles (a typo'd role accepted again), and the known shapes must compile.
 * Jest runs the few run-time facts.
 */
import { unknownRole, type ChatCompletionChunk, type ChatMessage, type ChatRequest, type ToolCallDelta } from '../src';

const known: ChatMessage[] = [
  { role: 'system', content: 'Answer briefly.' },
  { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
  { role: 'user', content: 'What is the weather in Paris?', name: 'ana' },
  {
    role: 'user',
    content: [
      { type: 'text', text: 'And this picture?' },
      { type: 'image_url', image_url: { url: 'https://example.test/p.png', detail: 'low' } },
      { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
      { type: 'file', file: { file_id: 'file_1' } },
    ],
  },
  {
    role: 'assistant',
    content: null,
    tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
  },
  { role: 'tool', tool_call_id: 'call_1', content: '{"celsius":21}' },
  { role: 'assistant', content: 'It is 21 °C in Paris.' },
  // A role the SDK does not know, widened on purpose.
  { role: unknownRole('critic'), content: 'Be shorter.', score: 3 },
];

// @ts-expect-error: a misspelt role is not a role
const misspelt: ChatMessage = { role: 'usr', content: 'hi' };
// @ts-expect-error: a tool result must say which call it answers
const unanswered: ChatMessage = { role: 'tool', content: '{}' };
// @ts-expect-error: a user message has content
const empty: ChatMessage = { role: 'user' };
// @ts-expect-error: a content part type that does not exist
const badPart: ChatMessage = { role: 'user', content: [{ type: 'txt', text: 'hi' }] };
// @ts-expect-error: tool calls belong to assistant messages only
const userToolCalls: ChatMessage = { role: 'user', content: 'hi', tool_calls: [] };
const typos = [misspelt, unanswered, empty, badPart, userToolCalls];

function widened(role: string): ChatMessage {
  // @ts-expect-error: any string is not a role; unknownRole() makes the widening explicit
  const message: ChatMessage = { role, content: 'x' };
  return message;
}

/** Accumulates a streamed tool call, as an application would: arguments arrive in pieces. */
function toolCalls(chunks: ChatCompletionChunk[]): Map<number, { id?: string; name?: string; arguments: string }> {
  const calls = new Map<number, { id?: string; name?: string; arguments: string }>();
  for (const chunk of chunks) {
    for (const piece of chunk.choices[0]?.delta.tool_calls ?? []) {
      const call = calls.get(piece.index) ?? { arguments: '' };
      if (piece.id) call.id = piece.id;
      if (piece.function?.name) call.name = piece.function.name;
      call.arguments += piece.function?.arguments ?? '';
      calls.set(piece.index, call);
    }
  }
  return calls;
}

describe('message types', () => {
  it('unknownRole() changes nothing at run time: the wire carries the plain string', () => {
    expect(unknownRole('critic')).toBe('critic');
    const request: ChatRequest = { messages: known };
    expect(JSON.parse(JSON.stringify(request)).messages.at(-1)).toEqual({ role: 'critic', content: 'Be shorter.', score: 3 });
    expect(typos).toHaveLength(5);
    expect(widened('user').role).toBe('user');
  });

  it('types tool-call deltas in chunks', () => {
    const chunk = (tool_calls: ToolCallDelta[]): ChatCompletionChunk => ({
      id: 'c',
      object: 'chat.completion.chunk',
      created: 0,
      model: 'm',
      choices: [{ index: 0, delta: { tool_calls }, finish_reason: null }],
    });
    const calls = toolCalls([
      chunk([{ index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"ci' } }]),
      chunk([{ index: 0, function: { arguments: 'ty":"Paris"}' } }]),
    ]);
    expect(calls.get(0)).toEqual({ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' });
  });
});
