import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the gateway made to the fake upstream. */
export class UpstreamCall {
  /**
   * Resolves when the gateway dropped the connection before the response ended (an abort). Never
   * settles for a response that finished: await it only for a call the test has not ended.
   */
  readonly aborted: Promise<number>;
  private ended = false;

  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly body: Record<string, any>,
  ) {
    res.on('finish', () => (this.ended = true));
    this.aborted = new Promise((resolve) => {
      res.on('close', () => {
        if (!this.ended) resolve(Date.now());
      });
    });
  }

  get headers(): http.IncomingHttpHeaders {
    return this.req.headers;
  }

  /** Starts an SSE response. */
  startSse(headers: Record<string, string> = {}): void {
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
    this.res.flushHeaders();
  }

  /** Writes raw bytes; resolves after they are handed to the socket and the event loop turned. */
  async write(data: string | Buffer): Promise<void> {
    if (this.res.destroyed) return;
    await new Promise<void>((resolve) => this.res.write(data, () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
  }

  async event(payload: unknown): Promise<void> {
    await this.write(`data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`);
  }

  /** A complete, well-formed stream of the given content pieces. */
  async streamText(pieces: string[], options: { finishReason?: string; usage?: boolean; done?: boolean } = {}): Promise<void> {
    this.startSse();
    await this.event(chunk({ role: 'assistant', content: '' }));
    for (const piece of pieces) await this.event(chunk({ content: piece }));
    await this.event(chunk({}, options.finishReason ?? 'stop'));
    if (options.usage !== false) await this.event(usageChunk());
    if (options.done !== false) await this.event('[DONE]');
    this.res.end();
  }

  /** Ends the TCP connection abruptly (no terminating chunk): a truncated stream. */
  drop(): void {
    this.res.socket?.destroy();
  }

  json(status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.res.writeHead(status, { 'content-type': 'application/json', ...headers });
    this.res.end(JSON.stringify(body));
  }
}

export function chunk(delta: Record<string, unknown>, finishReason: string | null = null, extra: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-4.1',
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    ...extra,
  };
}

export function usageChunk() {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-4.1',
    choices: [],
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
  };
}

/**
 * A real HTTP server on loopback that stands in for HolySheep. Each call is handed to the test as
 * an {@link UpstreamCall}, which scripts the response byte by byte.
 */
export class FakeUpstream {
  readonly calls: UpstreamCall[] = [];
  private waiting: Array<(call: UpstreamCall) => void> = [];
  private readonly sockets = new Set<import('node:net').Socket>();
  /** TCP connections the gateway opened, ever (keep-alive reuse opens none). */
  connectionsOpened = 0;

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<FakeUpstream> {
    const server = http.createServer();
    const upstream = new FakeUpstream(server);
    server.on('connection', (socket) => {
      upstream.connectionsOpened++;
      socket.setNoDelay(true);
      upstream.sockets.add(socket);
      socket.on('close', () => upstream.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (b: Buffer) => parts.push(b));
      req.on('end', () => {
        let body: Record<string, any> = {};
        try {
          body = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch {
          body = { unparseable: true };
        }
        const call = new UpstreamCall(req, res, body);
        upstream.calls.push(call);
        const waiter = upstream.waiting.shift();
        if (waiter) waiter(call);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return upstream;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** The next call the gateway makes (or one already made and not yet taken). */
  nextCall(): Promise<UpstreamCall> {
    const taken = this.calls.length - this.pendingTaken;
    if (taken > 0) {
      return Promise.resolve(this.calls[this.pendingTaken++]);
    }
    return new Promise((resolve) => {
      this.waiting.push((call) => {
        this.pendingTaken++;
        resolve(call);
      });
    });
  }
  private pendingTaken = 0;

  /**
   * Calls whose response the test has not ended and the gateway has not closed: upstream requests
   * still open, each of which only an abort by the gateway can settle.
   *
   * "Ended" is `writableEnded` (`end()` was called), not `writableFinished`: on Node 24 the latter
   * turns true only as `'finish'` is emitted, a tick after `end()` (Node 20 and 22 derive it from
   * the socket's write buffer, so it is true at once). Sampled in that tick, a response the test
   * has just ended would count as open, and waiting for its abort would wait forever.
   */
  get openCalls(): UpstreamCall[] {
    return this.calls.filter((call) => !call.res.writableEnded && !call.res.destroyed);
  }

  /** Open TCP connections from the gateway (keep-alive sockets included). */
  get openSockets(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
