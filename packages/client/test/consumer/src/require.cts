// A CommonJS module under node16 resolution: TypeScript must find the `require` condition's types.
import sdk = require('@holysheep/stream-client');
import react = require('@holysheep/stream-client/react');
import vue = require('@holysheep/stream-client/vue');

export const client = sdk.createClient({ url: 'wss://gateway.example.test/v1/ws' });
export const message: sdk.ChatMessage = { role: 'user', content: 'hi' };
export const useChat: typeof react.useChat = react.useChat;
export const useVueChat: typeof vue.useChat = vue.useChat;
