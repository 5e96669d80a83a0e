import { createClient, type ClientOptions, type StreamClient } from '../../src/client';
import { MemoryStorage } from '../../src/storage';
import { FakeWebSocket } from './fake-socket';

/** What `session.ready` carries when the gateway can resume streams. */
export const RESUME_READY = { resume: { enabled: true, grace_ms: 30_000, retention_ms: 60_000 } };

/**
 * For a `describe` block of SDK tests on the scripted socket: fake timers from a fixed instant, a
 * fresh {@link MemoryStorage} per test, clients made by `make()` (or pushed to `clients`) closed after each test, and
 * `nextSocket()`: the socket the client opened next, answered `session.ready` (with resume) if it
 * was still connecting.
 */
export function useFakeClients(url: string) {
  const clients: StreamClient[] = [];
  let storage: MemoryStorage;
  beforeEach(() => {
    jest.useFakeTimers({ now: 5_000_000 });
    FakeWebSocket.reset();
    storage = new MemoryStorage();
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    jest.useRealTimers();
  });
  return {
    /** The clients of this test (`make()`'s, and any pushed here), closed after it. */
    clients,
    /** This test's storage (a new one per test). */
    get storage(): MemoryStorage {
      return storage;
    },
    make(options: Partial<ClientOptions> = {}): StreamClient {
      const client = createClient({ url, WebSocket: FakeWebSocket, random: () => 0, storage, ...options });
      clients.push(client);
      return client;
    },
    async nextSocket(): Promise<FakeWebSocket> {
      await jest.advanceTimersByTimeAsync(0);
      const ws = FakeWebSocket.last;
      if (ws.readyState === 0) ws.ready(RESUME_READY);
      return ws;
    },
  };
}
