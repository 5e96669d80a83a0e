/**
 * React bindings (entry point `./react`; React ≥ 18 is an optional peer dependency).
 *
 * @example
 * const client = createClient({ url: '/v1/ws' });
 * function Chat() {
 *   const { messages, busy, send, stop } = useChat(client, { persistKey: 'chat' }); // kept across reloads
 *   const connection = useConnectionState(client);
 *   …
 * }
 */
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { ConnectionState, StreamClient } from './client';
import { actionsOf, Conversation, type ConversationActions, type ConversationOptions, type ConversationSnapshot } from './conversation';

export interface UseChatResult extends ConversationSnapshot, ConversationActions {}

/** Stops pending after an unmount, by conversation: a mount that follows at once (StrictMode) calls it off. */
const pendingStops = new WeakMap<Conversation, ReturnType<typeof setTimeout>>();

/**
 * A conversation bound to a component: re-renders on every change; stops its answer on unmount.
 * With `persistKey` the first render already shows the kept messages, and an answer that was
 * streaming at the reload goes on (the `Conversation` restores it when the hook makes it).
 */
export function useChat(client: StreamClient, options?: ConversationOptions): UseChatResult {
  const [conversation] = useState(() => new Conversation(client, options));
  const snapshot = useSyncExternalStore(conversation.subscribe, conversation.getSnapshot, conversation.getSnapshot);
  useEffect(() => {
    // StrictMode unmounts and mounts again at once in development: a resumed answer must not be
    // cancelled by that, so the stop waits a turn and a remount calls it off.
    clearTimeout(pendingStops.get(conversation));
    return () => {
      pendingStops.set(conversation, setTimeout(() => conversation.stop(), 0));
    };
  }, [conversation]);
  return { ...snapshot, ...actionsOf(conversation) };
}

/** The client's connection state (status, next attempt time, session), for badges. */
export function useConnectionState(client: StreamClient): ConnectionState {
  return useSyncExternalStore(
    (onChange) => client.on('state', onChange),
    () => client.state,
    () => client.state,
  );
}
