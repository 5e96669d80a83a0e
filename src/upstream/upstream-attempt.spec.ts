import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FlowGate } from '../backpressure/flow-gate';
import { MAX_ERROR_BODY_BYTES, UpstreamAttempt, type AttemptObserver, type UpstreamAttemptInit } from './upstream-attempt';
import type { UpstreamChunk } from './upstream-request';
import { UpstreamError } from './upstream.errors';

const SECRET = 'hs_9fQ2xLm7Rt4vBn8Kp3Wz6Yc1Ad5Ge0J';
const chunkData = (content: string, finishReason: string | null = null) =>
  JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: finishReason }] });

/** A real HTTP server on loopback, port 0, whose handler each test sets. */
class LoopbackServer {
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => undefined;
  readonly requests: http.IncomingMessage[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server = http.createServer((req, res) => {
    this.requests.push(req);
    this.handler(req, res);
  });

  async start(): Promise<this> {
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  get url(): URL {
    return new URL(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/chat/completions`);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** What the attempt told its sink and its observer, and a promise for its end. */
class Recorder {
  readonly chunks: UpstreamChunk[] = [];
  readonly events: string[] = [];
  error: UpstreamError | undefined;
  readonly ended: Promise<'completed' | UpstreamError>;
  private settle!: (outcome: 'completed' | UpstreamError) => void;
  readonly sink = {
    next: (event: UpstreamChunk) => {
      this.chunks.push(event);
      this.events.push('next');
    },
    error: (error: UpstreamError) => {
      this.error = error;
      this.events.push('error');
      this.settle(error);
    },
    complete: () => {
      this.events.push('complete');
      this.settle('completed');
    },
  };
  readonly observer: AttemptObserver & { outcomes: unknown[]; statuses: number[] } = {
    outcomes: [],
    statuses: [],
    responded: (status) => this.observer.statuses.push(status),
    ended: (outcome) => this.observer.outcomes.push(outcome),
  };

  constructor() {
    this.ended = new Promise((resolve) => (this.settle = resolve));
  }
}

describe('UpstreamAttempt (against a loopback HTTP server)', () => {
  let server: LoopbackServer;
  let agent: http.Agent;

  beforeEach(async () => {
    server = await new LoopbackServer().start();
    agent = new http.Agent({ keepAlive: true });
  });
  afterEach(async () => {
    agent.destroy();
    await server.close();
  });

  function startAttempt(overrides: Partial<UpstreamAttemptInit> = {}, timeouts: Partial<UpstreamAttemptInit['timeouts']> = {}) {
    const recorder = new Recorder();
    const body = Buffer.from(JSON.stringify({ model: 'gpt-4.1', messages: [], stream: true }));
    const attempt = new UpstreamAttempt(
      {
        url: overrides.url ?? server.url,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
        body,
        model: 'gpt-4.1',
        timeouts: { connectTimeoutMs: 2_000, firstChunkTimeoutMs: 5_000, stallTimeoutMs: 5_000, ...timeouts },
        secret: SECRET,
        observer: recorder.observer,
        ...overrides,
      },
      recorder.sink,
    );
    attempt.start();
    return { attempt, recorder };
  }

  function sse(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.flushHeaders();
  }

  it('relays each chunk with its raw text and model, and completes on [DONE]', async () => {
    const payloads = [chunkData('Hel'), chunkData('lo'), chunkData('', 'stop')];
    server.handler = (_req, res) => {
      sse(res);
      res.end(`: comment\n\nevent: ping\ndata: {}\n\n${payloads.map((p) => `data: ${p}\n\n`).join('')}data: [DONE]\n\n`);
    };
    const { recorder } = startAttempt();
    await expect(recorder.ended).resolves.toBe('completed');
    expect(recorder.chunks.map((c) => c.raw)).toEqual(payloads);
    expect(recorder.chunks.map((c) => [c.model, c.finishReason])).toEqual([['gpt-4.1', null], ['gpt-4.1', null], ['gpt-4.1', 'stop']]);
    expect(recorder.chunks[0]!.chunk.choices[0]!.delta.content).toBe('Hel');
    expect(recorder.events).toEqual(['next', 'next', 'next', 'complete']);
    expect(recorder.observer.statuses).toEqual([200]);
    expect(recorder.observer.outcomes).toEqual(['completed']);
  });

  it('completes when the body ends after a finish_reason, but fails truncated without one', async () => {
    server.handler = (_req, res) => {
      sse(res);
      res.end(`data: ${chunkData('done', 'length')}\n\n`);
    };
    await expect(startAttempt().recorder.ended).resolves.toBe('completed');

    server.handler = (_req, res) => {
      sse(res);
      res.end(`data: ${chunkData('half')}\n\n`);
    };
    const { recorder } = startAttempt();
    await expect(recorder.ended).resolves.toMatchObject({ kind: 'truncated', details: { afterFirstChunk: true } });
    expect(recorder.chunks).toHaveLength(1);
  });

  it('fails with http_status on a non-2xx, with the upstream message, retry-after and type, and the secret redacted', async () => {
    server.handler = (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '1500' });
      res.end(JSON.stringify({ error: { message: `Rate limited for key ${SECRET.slice(0, 12)}...`, type: 'rate_limit_error' } }));
    };
    const { recorder } = startAttempt();
    const error = (await recorder.ended) as UpstreamError;
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({
      kind: 'http_status',
      message: 'Upstream answered 429: Rate limited for key [redacted]...',
      details: { status: 429, retryAfterMs: 1_500, upstreamType: 'rate_limit_error' },
    });
    expect(recorder.observer.statuses).toEqual([429]);
    expect(recorder.observer.outcomes).toEqual([error]);
  });

  it('uses the start of a non-JSON error body, or the status text when it is empty', async () => {
    server.handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end(`  <html>${'x'.repeat(500)}</html>`);
    };
    const first = (await startAttempt().recorder.ended) as UpstreamError;
    expect(first.message).toBe(`Upstream answered 502: <html>${'x'.repeat(194)}`);

    server.handler = (_req, res) => {
      res.writeHead(503);
      res.end();
    };
    expect(await startAttempt().recorder.ended).toMatchObject({ message: 'Upstream answered 503: Service Unavailable' });
  });

  it('reads at most 64 KiB of an endless error body, then drops the request at once', async () => {
    let written = 0;
    let closedAfter: number | undefined;
    let closed: Promise<unknown> | undefined;
    server.handler = (_req, res) => {
      closed = once(res, 'close');
      res.writeHead(500, { 'content-type': 'application/json' });
      res.write('{"error":{"message":"');
      // 16 KiB at a time, each handed to the socket before the next: what was written when the
      // attempt hangs up is close to what it read, not whatever the kernel's buffers hold.
      const block = Buffer.alloc(16 * 1024, 'x');
      const next = () => {
        if (res.destroyed) return;
        written += block.length;
        res.write(block, () => setImmediate(next));
      };
      res.on('close', () => (closedAfter ??= written));
      next();
    };
    const { recorder } = startAttempt({}, { firstChunkTimeoutMs: 60_000 });
    const error = (await recorder.ended) as UpstreamError;
    expect(error).toMatchObject({ kind: 'http_status', details: { status: 500 } });
    // Truncated JSON: the start of the text is the message.
    expect(error.message).toBe(`Upstream answered 500: ${`{"error":{"message":"${'x'.repeat(200)}`.slice(0, 200)}`);
    await closed;
    expect(closedAfter).toBeGreaterThan(MAX_ERROR_BODY_BYTES);
    // What the server wrote before the close: the 64 KiB read plus what was in flight.
    expect(closedAfter).toBeLessThan(1024 * 1024);
  });

  it('fails with bad_response when a 2xx is not an event stream', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices":[]}');
    };
    await expect(startAttempt().recorder.ended).resolves.toMatchObject({
      kind: 'bad_response',
      message: 'Upstream answered application/json instead of text/event-stream',
    });
  });

  it.each(['text/event-streamx', 'application/json; x=text/event-stream', 'text/event-stream-json'])(
    'fails with bad_response on content-type %s: the media type is parsed, not searched for',
    async (contentType) => {
      server.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(`data: ${chunkData('x', 'stop')}\n\ndata: [DONE]\n\n`);
      };
      await expect(startAttempt().recorder.ended).resolves.toMatchObject({
        kind: 'bad_response',
        message: `Upstream answered ${contentType} instead of text/event-stream`,
      });
    },
  );

  it.each(['text/event-stream', 'text/event-stream; charset=utf-8', 'Text/Event-Stream', 'TEXT/EVENT-STREAM;charset=UTF-8', ' text/event-stream ; charset=utf-8'])(
    'accepts content-type %s (media types are case-insensitive and may carry parameters)',
    async (contentType) => {
      server.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(`data: ${chunkData('x', 'stop')}\n\ndata: [DONE]\n\n`);
      };
      await expect(startAttempt().recorder.ended).resolves.toBe('completed');
    },
  );

  it('goes on past lines the SSE rules say to ignore (unknown field, bad retry, stray BOM line), counting each', async () => {
    server.handler = (_req, res) => {
      sse(res);
      res.end(`x-vendor: 1\ndata: ${chunkData('a')}\n\nretry: abc\n\n\uFEFF\ndata: ${chunkData('b', 'stop')}\n\ndata: [DONE]\n\n`);
    };
    const totals = { sseLinesIgnored: 5 };
    const { recorder } = startAttempt({ totals });
    await expect(recorder.ended).resolves.toBe('completed');
    expect(recorder.chunks.map((c) => c.chunk.choices[0]!.delta.content)).toEqual(['a', 'b']);
    expect(totals.sseLinesIgnored).toBe(8);
  });

  it('fails with bad_response when the event stream cannot be parsed any further (an event over the buffer cap)', async () => {
    server.handler = (_req, res) => {
      sse(res);
      // Past 4 MiB with no line end: the decoder's one fatal error.
      res.write(`data: ${'x'.repeat(4 * 1024 * 1024 + 1)}`);
    };
    await expect(startAttempt().recorder.ended).resolves.toMatchObject({
      kind: 'bad_response',
      message: expect.stringMatching(/^Unparseable event stream: Buffered data exceeded max buffer size/),
    });
  });

  it('abort() destroys the request at once and reports a cancel, and nothing more reaches the sink', async () => {
    const served = new Promise<http.ServerResponse>((resolve) => {
      server.handler = (_req, res) => {
        sse(res);
        res.write(`data: ${chunkData('first')}\n\n`);
        resolve(res);
      };
    });
    const { attempt, recorder } = startAttempt();
    const res = await served;
    while (recorder.chunks.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const closed = once(res, 'close');
    attempt.abort();
    await closed;
    expect(res.writableFinished).toBe(false);
    expect(recorder.events).toEqual(['next']);
    expect(recorder.observer.outcomes).toEqual(['cancelled']);
    attempt.abort();
    expect(recorder.observer.outcomes).toEqual(['cancelled']);
  });

  it('fails with first_chunk_timeout against a server that accepts but never answers, and closes the request', async () => {
    let closed: Promise<unknown> | undefined;
    server.handler = (_req, res) => (closed = once(res, 'close'));
    const { recorder } = startAttempt({}, { firstChunkTimeoutMs: 150 });
    await expect(recorder.ended).resolves.toMatchObject({ kind: 'first_chunk_timeout', message: 'No first chunk within 150 ms' });
    await closed;
  });

  it('fails with connect_timeout when the connection never completes (a black hole)', async () => {
    // A resolver that never answers keeps the socket connecting for ever, on any network.
    const blackhole = new http.Agent({ lookup: () => undefined });
    try {
      const { recorder } = startAttempt({ url: new URL('http://upstream.invalid/v1/chat/completions'), agent: blackhole }, { connectTimeoutMs: 150 });
      await expect(recorder.ended).resolves.toMatchObject({ kind: 'connect_timeout', message: 'Could not connect within 150 ms' });
      expect(recorder.observer.statuses).toEqual([]);
    } finally {
      blackhole.destroy();
    }
  });

  it('has no connect timer on a reused keep-alive socket', async () => {
    server.handler = (_req, res) => {
      sse(res);
      res.end(`data: ${chunkData('ok', 'stop')}\n\ndata: [DONE]\n\n`);
    };
    await startAttempt().recorder.ended;
    await new Promise((resolve) => setImmediate(resolve)); // the socket goes back to the pool
    // A 0 ms connect timeout would fail any attempt that had to connect.
    const { recorder } = startAttempt({}, { connectTimeoutMs: 0 });
    await expect(recorder.ended).resolves.toBe('completed');
    expect(server.requests[1]!.socket).toBe(server.requests[0]!.socket);
  });

  it('fails with connect when the connection is refused', async () => {
    const url = server.url;
    await server.close();
    const { recorder } = startAttempt({ url });
    await expect(recorder.ended).resolves.toMatchObject({ kind: 'connect', message: 'Could not reach the upstream (ECONNREFUSED)' });
    server = await new LoopbackServer().start();
  });

  it('stops reading while its flow gate is closed, with no stall timeout meanwhile, and goes on when it opens', async () => {
    const gate = new FlowGate();
    gate.pause();
    server.handler = (_req, res) => {
      sse(res);
      res.end(`data: ${chunkData('a')}\n\ndata: ${chunkData('b', 'stop')}\n\ndata: [DONE]\n\n`);
    };
    const { recorder } = startAttempt({ flow: gate }, { stallTimeoutMs: 50, firstChunkTimeoutMs: 50 });
    // The one deliberate wait here: several timeouts long, to show that nothing fires while paused.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(recorder.events).toEqual([]);
    gate.resume();
    await expect(recorder.ended).resolves.toBe('completed');
    expect(recorder.chunks.map((c) => c.finishReason)).toEqual([null, 'stop']);
  });
});
