// Compiled by tsc under node10, node16 and bundler resolution (tsconfig.*.json), libraries
// checked: what a TypeScript team writes against the SDK.
import { ChatError, CLOSE_CODES, createClient, unknownRole, type ChatCompletionChunk, type ChatMessage } from '@holysheep/stream-client';
import { useChat, useConnectionState, type UseChatResult } from '@holysheep/stream-client/react';
import { useChat as useVueChat, type UseChatReturn } from '@holysheep/stream-client/vue';

export const client = createClient({ url: 'wss://gateway.example.test/v1/ws', getToken: async () => 'token' });

export const messages: ChatMessage[] = [
  { role: 'system', content: 'Answer briefly.' },
  { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
  { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{}' } }] },
  { role: 'tool', tool_call_id: 'c1', content: '21 °C' },
  { role: unknownRole('critic'), content: 'Shorter.' },
];
// @ts-expect-error: a misspelt role does not compile
export const typo: ChatMessage = { role: 'usr', content: 'hi' };

export async function answer(): Promise<string> {
  const handle = client.chat({ messages, temperature: 0.2 });
  for await (const event of handle) {
    if (event.type === 'chunk') toolArguments(event.chunk);
    if (event.type === 'error' && event.error instanceof ChatError) return `${event.error.code} ${event.error.retryable}`;
  }
  return handle.text();
}

function toolArguments(chunk: ChatCompletionChunk): string {
  return (chunk.choices[0]?.delta.tool_calls ?? []).map((call) => call.function?.arguments ?? '').join('');
}

export const restart: 1012 = CLOSE_CODES.SERVICE_RESTART.code;
export const hooks: [typeof useChat, typeof useConnectionState] = [useChat, useConnectionState];
export type Chat = UseChatResult;
export const vueChat: (c: typeof client) => UseChatReturn = (c) => useVueChat(c, { persistKey: 'chat' });
export const busy = (chat: UseChatReturn): boolean => chat.busy.value;
