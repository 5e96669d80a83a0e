import { randomBytes } from 'node:crypto';
import { WebSocket, type ClientOptions } from 'ws';
import { validateServerFrame } from './frame-schemas';

/**
 * Every frame any test client receives is checked against its schema in docs/asyncapi.yaml;
 * `test/support/jest-setup.ts` fails the test that received an invalid one. So the protocol
 * documentation cannot drift from what the gateway actually sends.
 */
export const schemaViolations: Array<{ frame: unknown; errors: string[] }> = [];

const STREAM_FRAME_TYPES = new Set(['chat.started', 'chat.chunk', 'chat.done', 'chat.error']);

export type Frame = Record<string, any> & { type: string };

/**
 * The anonymous key every test client of this process sends when a test gives it no credential:
 * under `AUTH_MODE=none` they are one principal, as one browser session's reconnects are (a test
 * about strangers passes its own keys). In other modes the gateway treats it as no credential.
 */
export const TEST_ANONYMOUS_KEY = `anon.test${randomBytes(16).toString('base64url')}`;

function withTestIdentity(url: string, protocols: string[] | undefined, options: ClientOptions): ClientOptions {
  const headers = (options.headers ?? {}) as Record<string, string>;
  const hasCredential =
    Object.keys(headers).some((name) => name.toLowerCase() === 'authorization') ||
    (protocols ?? []).some((protocol) => protocol.toLowerCase().startsWith('bearer.')) ||
    /[?&]access_token=/i.test(url);
  return hasCredential ? options : { ...options, headers: { ...headers, authorization: `Bearer ${TEST_ANONYMOUS_KEY}` } };
}
export interface Closed {
  code: number;
  reason: string;
}

/**
 * A plain `ws` client that queues every frame, so a test can await "the next frame like this"
 * instead of sleeping.
 */
export class TestClient {
  /** Every frame received, in order. */
  readonly frames: Frame[] = [];
  /** When each frame arrived (`performance.now()`), for latency measurements. */
  readonly receivedAt = new WeakMap<Frame, number>();
  readonly closed: Promise<Closed>;
  /** Frames not yet returned by {@link next}. */
  private readonly unconsumed: Frame[] = [];
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const frame: Frame = isBinary ? { type: '<binary>' } : JSON.parse(data.toString());
      this.receivedAt.set(frame, performance.now());
      const errors = validateServerFrame(frame);
      if (errors.length > 0) schemaViolations.push({ frame, errors });
      this.frames.push(frame);
      this.unconsumed.push(frame);
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      }),
    );
    ws.on('error', () => undefined);
  }

  static async connect(url: string, options: ClientOptions & { protocols?: string[] } = {}): Promise<TestClient> {
    const { protocols, ...rest } = options;
    const ws = new WebSocket(url, protocols ?? [], withTestIdentity(url, protocols, rest));
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    });
    return client;
  }

  /** Connects and consumes `session.ready`. */
  static async ready(url: string, options?: ClientOptions & { protocols?: string[] }): Promise<{ client: TestClient; ready: Frame }> {
    const client = await TestClient.connect(url, options);
    const ready = await client.next();
    if (ready.type !== 'session.ready') throw new Error(`first frame was ${ready.type}`);
    return { client, ready };
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.ws.send(data, { binary: options.binary ?? Buffer.isBuffer(data) });
  }

  /** The next unconsumed frame matching `predicate` (frames before it stay queued for later). */
  async next(predicate: (frame: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.unconsumed.findIndex(predicate);
      if (index >= 0) return this.unconsumed.splice(index, 1)[0] as Frame;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting; unconsumed: ${JSON.stringify(this.unconsumed)}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for a frame; unconsumed: ${JSON.stringify(this.unconsumed)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  nextOfType(type: string, id?: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === type && (id === undefined || f.id === id), timeoutMs);
  }

  /**
   * Waits for the terminal frame of request `id`, then returns every frame of that stream received
   * so far (including ones an earlier `next` already consumed), in arrival order. A request that
   * failed before it started yields just its `chat.error` (which then has no `stream_id`).
   */
  async collectStream(id: string, timeoutMs = 5_000): Promise<Frame[]> {
    const terminal = await this.next((f) => f.id === id && (f.type === 'chat.done' || f.type === 'chat.error'), timeoutMs);
    if (terminal.stream_id === undefined) return [terminal];
    const frames = this.frames.filter((f) => f.stream_id === terminal.stream_id && STREAM_FRAME_TYPES.has(f.type));
    // Consume them, so a later stream reusing the same client id starts from a clean queue.
    for (const frame of frames) {
      const index = this.unconsumed.indexOf(frame);
      if (index >= 0) this.unconsumed.splice(index, 1);
    }
    return frames;
  }

  close(): Promise<Closed> {
    this.ws.close();
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The text of a stream: concatenated `delta.content` of its `chat.chunk` frames. */
export function streamText(frames: Frame[]): string {
  return frames
    .filter((f) => f.type === 'chat.chunk')
    .map((f) => f.chunk.choices?.[0]?.delta?.content ?? '')
    .join('');
}

/** Asserts the protocol's stream invariants: seq 1..n with no gaps, one terminal frame, last. */
export function assertStreamInvariants(frames: Frame[]): void {
  expect(frames[0]?.type).toBe('chat.started');
  frames.forEach((frame, index) => expect(frame.seq).toBe(index + 1));
  const terminals = frames.filter((f) => f.type === 'chat.done' || f.type === 'chat.error');
  expect(terminals).toHaveLength(1);
  expect(terminals[0]).toBe(frames[frames.length - 1]);
  const streamId = frames[0]?.stream_id;
  for (const frame of frames) expect(frame.stream_id).toBe(streamId);
}
