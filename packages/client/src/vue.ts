/**
 * Vue 3 bindings (entry point `./vue`; Vue ≥ 3.2 is an optional peer dependency): the same
 * `Conversation` as the React hook, its snapshot in a shallow ref that changes with every update.
 *
 * @example
 * const client = createClient({ url: '/v1/ws' });
 * // in <script setup>:
 * const { messages, busy, send, stop } = useChat(client, { persistKey: 'chat' }); // kept across reloads
 * const connection = useConnectionState(client);
 */
import { computed, getCurrentScope, onScopeDispose, shallowRef, type ComputedRef, type ShallowRef } from 'vue';
import type { ConnectionState, StreamClient } from './client';
import { actionsOf, Conversation, type ConversationActions, type ConversationMessage, type ConversationOptions, type ConversationSettings, type ConversationSnapshot } from './conversation';

export interface UseChatReturn extends ConversationActions {
  /** The whole snapshot (a new object on every change). */
  snapshot: Readonly<ShallowRef<ConversationSnapshot>>;
  messages: ComputedRef<readonly ConversationMessage[]>;
  /** An answer is being generated. */
  busy: ComputedRef<boolean>;
  settings: ComputedRef<Readonly<ConversationSettings>>;
}

/**
 * A conversation bound to the current component (or effect scope): reactive refs of its messages;
 * its answer stops when the scope is disposed (the component unmounts). With `persistKey` the
 * refs already hold the kept messages, and an answer streaming at the reload goes on.
 */
export function useChat(client: StreamClient, options?: ConversationOptions): UseChatReturn {
  const conversation = new Conversation(client, options);
  const snapshot = shallowRef(conversation.getSnapshot());
  const off = conversation.subscribe(() => {
    snapshot.value = conversation.getSnapshot();
  });
  // Outside a component or scope nothing would ever dispose it: the caller stops it then.
  if (getCurrentScope()) {
    onScopeDispose(() => {
      off();
      conversation.stop();
    });
  }
  return {
    snapshot,
    messages: computed(() => snapshot.value.messages),
    busy: computed(() => snapshot.value.busy),
    settings: computed(() => snapshot.value.settings),
    ...actionsOf(conversation),
  };
}

/** The client's connection state (status, next attempt time, session) as a ref, for badges. */
export function useConnectionState(client: StreamClient): Readonly<ShallowRef<ConnectionState>> {
  const state = shallowRef(client.state);
  const off = client.on('state', (next) => {
    state.value = next;
  });
  if (getCurrentScope()) onScopeDispose(off);
  return state;
}
