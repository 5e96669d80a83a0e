/**
 * The SDK in Node (with `ws`) against the real gateway: the Nest app in-process on port 0, or the
 * built service (two instances) for the drain, and the fake upstream scripting every chunk. A TCP
 * proxy between the two cuts connections the way a network does (1006).
 *
 * The two-instance drain needs a Redis server (a private one, test/support/redis-server.ts): it
 * skips visibly without redis-server, and fails instead under REQUIRE_REDIS=1.
 */
import type { ChatMessage } from '@holysheep/protocol';
import { WebSocket } from 'ws';
import { createClient, type ClientOptions, type ConnectionState, type StreamClient } from '../src/client';
import type { ChatEvent, ChatHandle } from '../src/chat-handle';
import { Conversation } from '../src/conversation';
import { MemoryStorage } from '../src/storage';
import { chunk, FakeUpstream, usageChunk, type UpstreamCall } from '../../../test/support/fake-upstream';
import { startGateway, TEST_API_KEY, type RunningGateway } from '../../../test/support/gateway-app';
import { validateServerFrame } from '../../../test/support/frame-schemas';
import { TestRedis } from '../../../test/support/redis-server';
import { listeningPort, runService, type ServiceProcess } from '../../../test/support/service-process';
import { schemaViolations } from '../../../test/support/ws-client';
import { TcpProxy } from './support/tcp-proxy';

jest.setTimeout(30_000);

// Typed: a bare literal widens role to string, which ChatMessage (known roles only) refuses.
const hello: ChatMessage[] = [{ role: 'user', content: 'Say hello' }];

/** Resolves once the handle's text so far includes `text`. */
function untilText(handle: ChatHandle, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (handle.currentText.includes(text)) return resolve();
    const off = handle.onEvent(() => {
      if (handle.currentText.includes(text)) {
        off();
        resolve();
      }
    });
  });
}

function untilState(client: StreamClient, predicate: (s: ConnectionState) => boolean): Promise<ConnectionState> {
  return new Promise((resolve) => {
    if (predicate(client.state)) return resolve(client.state);
    const off = client.on('state', (s) => {
      if (predicate(s)) {
        off();
        resolve(s);
      }
    });
  });
}

async function events(handle: ChatHandle): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const event of handle) out.push(event);
  return out;
}

/** Each seq once, 1…n in order: what "the caller never notices the drop" means on the wire. */
function expectSeqsOnce(all: ChatEvent[]): void {
  const seqs = all.map((e) => (e.type === 'error' ? undefined : e.seq)).filter((s): s is number => s !== undefined);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
}

/** Every frame the SDK receives is checked against docs/asyncapi.yaml, like the e2e suites' frames. */
function validated(client: StreamClient): StreamClient {
  client.on('frame', ({ direction, frame }) => {
    if (direction !== 'in') return;
    const errors = validateServerFrame(frame);
    if (errors.length > 0) schemaViolations.push({ frame, errors });
  });
  return client;
}

/** A memory storage that says when an entry is written (a save is timed, not per chunk). */
class WatchedStorage extends MemoryStorage {
  private readonly waiters: Array<{ match: (key: string, value: string) => boolean; resolve: () => void }> = [];

  override setItem(key: string, value: string): void {
    super.setItem(key, value);
    for (const waiter of this.waiters.filter((w) => w.match(key, value))) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  written(match: (key: string, value: string) => boolean): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

describe('client SDK against the gateway (e2e, Node + ws)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  let proxy: TcpProxy;
  const clients: StreamClient[] = [];
  const make = (options: Partial<ClientOptions> = {}) => {
    const client = validated(createClient({ url: proxy.wsUrl, WebSocket, random: () => 0, ...options }));
    clients.push(client);
    return client;
  };
  /** The gateway keeps streams beyond their socket (its default): what the resume tests rely on. */
  const expectResume = async (client: StreamClient) => {
    const session = await client.connect();
    expect(session.resume?.enabled).toBe(true);
  };

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0', UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: '10000' });
    proxy = await TcpProxy.start(gateway.port);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await proxy.close();
    await gateway.close();
    await upstream.close();
    expect(gateway.logs.lines.join('\n')).not.toContain(TEST_API_KEY);
  });

  it('streams an answer: typed events, text deltas, the whole text, stream_id and seq', async () => {
    const client = make();
    const answer = client.chat({ messages: hello, temperature: 0.2 });
    const call = await upstream.nextCall();
    expect(call.body).toMatchObject({ messages: hello, temperature: 0.2, stream: true });
    const deltas: string[] = [];
    const reading = (async () => {
      for await (const delta of answer.textStream()) deltas.push(delta);
    })();
    await call.streamText(['Hel', 'lo ', '👋']);
    await expect(answer.text()).resolves.toBe('Hello 👋');
    await reading;
    expect(deltas).toEqual(['Hel', 'lo ', '👋']);
    expect(answer.stream_id).toMatch(/^str_/);
    const all = await events(answer);
    expect(all.map((e) => e.type)).toEqual(['started', 'chunk', 'chunk', 'chunk', 'chunk', 'chunk', 'chunk', 'done']);
    expectSeqsOnce(all);
    expect(answer.seq).toBe(all.length);
    await expect(answer.result).resolves.toMatchObject({ finish_reason: 'stop', usage: { completion_tokens: 3 } });
  });

  it('cancel through AbortSignal stops the upstream request; the stream ends done/cancelled', async () => {
    const client = make();
    const controller = new AbortController();
    const answer = client.chat({ messages: hello }, { signal: controller.signal });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'partial ' }));
    await untilText(answer, 'partial ');
    controller.abort();
    await call.aborted;
    await expect(answer.result).resolves.toMatchObject({ finish_reason: 'cancelled', text: 'partial ' });
    expect(answer.status).toBe('cancelled');
    expect(proxy.connections).toBe(1);
  });

  it('an abort never causes a reconnect (socket cut mid-stream, aborted during the backoff)', async () => {
    const client = make({ random: () => 0.5, backoff: { baseMs: 2_000 } }); // first retry in 1 s
    const controller = new AbortController();
    const answer = client.chat({ messages: hello }, { signal: controller.signal });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'partial ' }));
    await untilText(answer, 'partial ');
    proxy.cut();
    await untilState(client, (s) => s.status === 'reconnecting');
    controller.abort();
    await expect(answer.result).resolves.toMatchObject({ finish_reason: 'cancelled' });
    expect(client.state.status).toBe('idle');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(proxy.connections).toBe(1);
  });

  it('refreshes the token through getToken after 4401, then streams', async () => {
    await gateway.close();
    gateway = await startGateway({
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      UPSTREAM_MAX_RETRIES: '0',
      AUTH_MODE: 'api_key',
      AUTH_API_KEYS: 'alice:alice-key-7Qm2vX9pL4',
    });
    proxy.target = gateway.port;
    const tokens = ['expired-or-wrong', 'alice-key-7Qm2vX9pL4'];
    const getToken = jest.fn(async () => tokens.shift());
    const client = make({ getToken });
    const states: number[] = [];
    client.on('state', (s) => s.lastClose && states.push(s.lastClose.code));
    const answer = client.chat({ messages: hello });
    const call = await upstream.nextCall();
    await call.streamText(['fresh ', 'token']);
    await expect(answer.text()).resolves.toBe('fresh token');
    expect(getToken.mock.calls).toEqual([[{ refresh: false }], [{ refresh: true }]]);
    expect(states).toContain(4401);
  });

  it('stops (no retry loop) when the token is refused and getToken has nothing new', async () => {
    await gateway.close();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, AUTH_MODE: 'api_key', AUTH_API_KEYS: 'alice:alice-key-7Qm2vX9pL4' });
    proxy.target = gateway.port;
    const client = make({ getToken: ({ refresh }) => (refresh ? null : 'wrong') });
    const answer = client.chat({ messages: hello });
    await expect(answer.result).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.state).toMatchObject({ status: 'closed', lastClose: { code: 4401 } });
    expect(proxy.connections).toBe(1);
    expect(upstream.calls).toHaveLength(0);
  });

  it('lists the resumable streams of its principal', async () => {
    const client = make({ listTimeoutMs: 2_000 });
    await expectResume(client);
    await expect(client.streams()).resolves.toEqual([]);
    const answer = client.chat({ messages: hello });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'listed' }));
    for await (const event of answer) if (event.type === 'chunk') break;
    await expect(client.streams()).resolves.toEqual([expect.objectContaining({ stream_id: answer.stream_id, state: 'streaming', last_seq: 2 })]);
    answer.cancel();
  });

  describe('needs server resume', () => {
    it('a socket killed mid-stream is resumed: the text arrives intact, each piece once', async () => {
      const client = make();
      await expectResume(client);
      const answer = client.chat({ messages: hello });
      const call = await upstream.nextCall();
      call.startSse();
      await call.event(chunk({ role: 'assistant', content: '' }));
      await call.event(chunk({ content: 'one ' }));
      await call.event(chunk({ content: 'two ' }));
      await untilText(answer, 'one two ');
      proxy.cut();
      // Written while no socket is attached: the gateway keeps them for the resume.
      await call.event(chunk({ content: 'three ' }));
      await call.event(chunk({ content: 'four' }));
      await untilState(client, (s) => s.status === 'open');
      await call.event(chunk({}, 'stop'));
      await call.event(usageChunk());
      await call.event('[DONE]');
      call.res.end();
      await expect(answer.text()).resolves.toBe('one two three four');
      expectSeqsOnce(await events(answer));
      expect(proxy.connections).toBe(2);
      expect(upstream.calls).toHaveLength(1);
    });

    it('a request still waiting for its first chunk at the drop is found (stream.list) and resumed, not sent twice', async () => {
      const client = make();
      await expectResume(client);
      const answer = client.chat({ id: 'pending-at-drop', messages: hello });
      const call = await upstream.nextCall();
      proxy.cut();
      await untilState(client, (s) => s.status === 'open' && proxy.connections === 2);
      await call.streamText(['paid ', 'once']);
      await expect(answer.text()).resolves.toBe('paid once');
      expectSeqsOnce(await events(answer));
      expect(upstream.calls).toHaveLength(1);
    });

    it('a reload mid-answer: the next client and Conversation over the same storage show the whole answer exactly once; one upstream request', async () => {
      const storage = new MemoryStorage(); // sessionStorage in a browser
      const pieces = Array.from({ length: 40 }, (_, i) => `w${i} `);
      const first = make({ storage });
      await expectResume(first);
      const before = new Conversation(first, { persistKey: 'e2e' });
      before.send('Tell me a long story');
      const call = await upstream.nextCall();
      call.startSse();
      await call.event(chunk({ role: 'assistant', content: '' }));
      for (const piece of pieces.slice(0, 15)) await call.event(chunk({ content: piece }));
      await new Promise<void>((resolve) => {
        const off = before.subscribe(() => before.getSnapshot().messages[1]?.content.includes('w14 ') && (off(), resolve()));
      });
      first.close({ keepStreams: true }); // the page goes away: the gateway keeps the stream for its grace
      // Written while no page is there.
      for (const piece of pieces.slice(15, 25)) await call.event(chunk({ content: piece }));

      const second = make({ storage });
      const after = new Conversation(second, { persistKey: 'e2e' });
      // What the page had saved: the text up to a seq (saved at most PERSIST_INTERVAL_MS late).
      expect(pieces.slice(0, 15).join('').startsWith(after.getSnapshot().messages[1]!.content)).toBe(true);
      const finished = new Promise<void>((resolve) => {
        const off = after.subscribe(() => !after.getSnapshot().busy && (off(), resolve()));
      });
      await untilState(second, (s) => s.status === 'open');
      for (const piece of pieces.slice(25)) await call.event(chunk({ content: piece }));
      await call.event(chunk({}, 'stop'));
      await call.event(usageChunk());
      await call.event('[DONE]');
      call.res.end();
      await finished;
      expect(after.getSnapshot().messages.map((m) => [m.role, m.content, m.status])).toEqual([
        ['user', 'Tell me a long story', 'done'],
        ['assistant', pieces.join(''), 'done'],
      ]);
      expect(upstream.calls).toHaveLength(1);
      expect(second.storedStreams()).toEqual([]);
    });

    it('a reload after the answer ended while the page was away gets the rest; one the gateway lost ends stream_not_found, never asked again', async () => {
      const storage = new WatchedStorage();
      const first = make({ storage });
      await expectResume(first);
      const before = new Conversation(first, { persistKey: 'ended' });
      before.send('Short one');
      const call = await upstream.nextCall();
      call.startSse();
      await call.event(chunk({ role: 'assistant', content: '' }));
      await call.event(chunk({ content: 'kept ' }));
      await new Promise<void>((resolve) => {
        const off = before.subscribe(() => before.getSnapshot().messages[1]?.content === 'kept ' && (off(), resolve()));
      });
      first.close({ keepStreams: true });
      await call.event(chunk({ content: 'and the rest' }, 'stop'));
      await call.event('[DONE]');
      call.res.end();

      const after = new Conversation(make({ storage }), { persistKey: 'ended' });
      await new Promise<void>((resolve) => {
        const off = after.subscribe(() => !after.getSnapshot().busy && (off(), resolve()));
      });
      expect(after.getSnapshot().messages[1]).toMatchObject({ content: 'kept and the rest', status: 'done' });

      // Another answer in flight, then a gateway that lost it (a restart without Redis).
      after.send('Another');
      const second = await upstream.nextCall();
      second.startSse();
      await second.event(chunk({ content: 'cut ' }));
      // The streamed text is saved within PERSIST_INTERVAL_MS (at once on pagehide in a browser).
      await storage.written((key, value) => key === 'holysheep.conversation:ended' && value.includes('"content":"cut "'));
      clients[clients.length - 1]!.close({ keepStreams: true });
      await gateway.close();
      gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_MAX_RETRIES: '0' });
      proxy.target = gateway.port;
      const third = make({ storage });
      const lost = new Conversation(third, { persistKey: 'ended' });
      await new Promise<void>((resolve) => {
        const off = lost.subscribe(() => !lost.getSnapshot().busy && (off(), resolve()));
      });
      expect(lost.getSnapshot().messages[3]).toMatchObject({ content: 'cut ', status: 'error', error: { code: 'stream_not_found' } });
      expect(third.storedStreams()).toEqual([]);
      expect(upstream.calls).toHaveLength(2);
    });

    it('watch() follows a stream started by another client of the same browser session (same anonymous key); a stranger sees none of it', async () => {
      const sessionStorage = new Map<string, string>();
      const storage = { getItem: (key: string) => sessionStorage.get(key) ?? null, setItem: (key: string, value: string) => void sessionStorage.set(key, value) };
      const owner = make({ anonymousKeyStorage: storage });
      await expectResume(owner);
      const answer = owner.chat({ messages: hello });
      const call = await upstream.nextCall();
      call.startSse();
      await call.event(chunk({ content: 'shared ' }));
      await untilText(answer, 'shared ');
      const stranger = make();
      expect((await stranger.streams()).map((s) => s.stream_id)).not.toContain(answer.stream_id);
      // A page reload: a new client, the key kept in the session's storage.
      const viewer = make({ anonymousKeyStorage: storage });
      const listed = await viewer.streams();
      expect(listed.map((s) => s.stream_id)).toContain(answer.stream_id);
      const watched = viewer.watch(answer.stream_id!);
      await untilText(watched, 'shared ');
      await call.event(chunk({ content: 'text' }, 'stop'));
      await call.event('[DONE]');
      call.res.end();
      await expect(watched.text()).resolves.toBe('shared text');
      await expect(answer.text()).resolves.toBe('shared text');
    });
  });
});

describe('client SDK across a drain of one of two instances (e2e, built service, Redis)', () => {
  type Service = ServiceProcess & { port: number };
  let upstream: FakeUpstream;
  let proxy: TcpProxy | undefined;
  const services: Service[] = [];
  let client: StreamClient | undefined;
  let redisServer: TestRedis | undefined;

  const startService = async (env: Record<string, string>): Promise<Service> => {
    const service = runService({
      NODE_ENV: 'production',
      AUTH_MODE: 'none',
      HOST: '127.0.0.1',
      PORT: '0',
      HOLYSHEEP_API_KEY: TEST_API_KEY,
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      UPSTREAM_MAX_RETRIES: '0',
      DRAIN_TIMEOUT_MS: '10000',
      ...env,
    });
    const started = { ...service, port: await listeningPort(service) };
    services.push(started);
    return started;
  };

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    client?.close();
    await proxy?.close();
    for (const service of services.splice(0)) if (service.child.exitCode === null) service.child.kill('SIGKILL');
    await upstream.close();
    await redisServer?.down();
  });

  it('survives a drain (1012) on one instance: reconnects to the other and resumes, text intact', async () => {
    redisServer = await TestRedis.start();
    if (!redisServer) return;
    const redis = { REDIS_URL: redisServer.url };
    const a = await startService(redis);
    const b = await startService(redis);
    proxy = await TcpProxy.start(a.port);
    client = validated(createClient({ url: proxy.wsUrl, WebSocket, random: () => 0 }));
    expect((await client.connect()).resume?.enabled).toBe(true);

    const closes: number[] = [];
    client.on('state', (s) => s.lastClose && closes.push(s.lastClose.code));
    const answer = client.chat({ messages: hello });
    const call: UpstreamCall = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'before the drain, ' }));
    await untilText(answer, 'before the drain, ');

    proxy.target = b.port; // the load balancer drops the draining pod
    a.child.kill('SIGTERM');
    await untilState(client, (s) => s.status === 'reconnecting' && s.lastClose?.code === 1012);
    await untilState(client, (s) => s.status === 'open');
    await call.event(chunk({ content: 'after it' }, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    await expect(answer.text()).resolves.toBe('before the drain, after it');
    expectSeqsOnce(await events(answer));
    expect(closes).toContain(1012);
    expect(upstream.calls).toHaveLength(1);
    expect(await a.exit).toEqual({ code: 0, signal: null });
  });
});
