// The Vite + React application (and a .tsx file for each TypeScript resolution).
import { createClient } from '@holysheep/stream-client';
import { useChat, useConnectionState } from '@holysheep/stream-client/react';

const client = createClient({ url: 'wss://gateway.example.test/v1/ws' });

export function App() {
  const chat = useChat(client);
  const state = useConnectionState(client);
  return (
    <main>
      <p>{state.status}</p>
      {chat.messages.map((m) => (
        <p key={m.id}>{m.content}</p>
      ))}
      <button onClick={() => chat.send('Hello')} disabled={chat.busy}>
        Send
      </button>
    </main>
  );
}
