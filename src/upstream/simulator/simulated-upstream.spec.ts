import * as http from 'node:http';
import type { ChatCompletionChunk } from '@holysheep/protocol';
import { SimulatedUpstream } from './simulated-upstream';

/** A real HTTP exchange with the simulator, read to the end. */
interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The `data:` payloads of an SSE body, in order (the simulator only sends `data:` events). */
function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .filter((event) => event !== '')
    .map((event) => {
      expect(event.startsWith('data: ')).toBe(true);
      return event.slice('data: '.length);
    });
}

function request(url: string, body: unknown, method = 'POST'): Promise<Exchange> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    // agent: false so no keep-alive socket outlives the test.
    const req = http.request(url, { method, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (part: string) => (text += part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : payload);
  });
}

/** Streams a completion and returns its chunks, the content deltas and whether `[DONE]` ended it. */
async function complete(upstream: SimulatedUpstream, body: Record<string, unknown>) {
  const exchange = await request(`${upstream.baseUrl}/chat/completions`, { model: 'gpt-4.1', stream: true, ...body });
  expect(exchange.status).toBe(200);
  const data = sseData(exchange.body);
  expect(data[data.length - 1]).toBe('[DONE]');
  const chunks = data.slice(0, -1).map((line) => JSON.parse(line) as ChatCompletionChunk);
  const contents = chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content).filter((t): t is string => !!t));
  return { exchange, chunks, contents, text: contents.join('') };
}

const ask = (content: unknown) => ({ messages: [{ role: 'user', content }] });

describe('SimulatedUpstream', () => {
  let upstream: SimulatedUpstream;

  beforeEach(async () => {
    upstream = await SimulatedUpstream.start({ tokensPerSecond: 2000 });
  });
  afterEach(() => upstream.close());

  it('listens on an ephemeral loopback port and exposes the /v1 base URL', () => {
    expect(upstream.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(upstream.baseUrl).not.toMatch(/:0\/v1$/);
  });

  it('streams a full, sensible answer as OpenAI chat.completion.chunk events', async () => {
    const { exchange, chunks, contents, text } = await complete(upstream, ask('What is a WebSocket?'));

    expect(exchange.headers['content-type']).toMatch(/^text\/event-stream/);
    const id = chunks[0].id;
    expect(id).toMatch(/^chatcmpl-sim-/);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ id, object: 'chat.completion.chunk', model: 'gpt-4.1' });
      expect(Number.isInteger(chunk.created)).toBe(true);
      expect(chunk.choices).toHaveLength(1);
      expect(chunk.choices[0]).toMatchObject({ index: 0, logprobs: null });
    }
    expect(chunks[0].choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null });
    const last = chunks[chunks.length - 1];
    expect(last.choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop', logprobs: null });
    // Every chunk in between carries exactly one token-sized piece of content.
    expect(chunks.slice(1, -1).every((c) => c.choices[0].finish_reason === null && Object.keys(c.choices[0].delta).join() === 'content')).toBe(true);
    expect(contents).toHaveLength(chunks.length - 2);

    expect(text.startsWith('You asked: “What is a WebSocket?” ')).toBe(true);
    expect(text.length).toBeGreaterThan(300);
    expect(text).toMatch(/[.!?🙂]$/u);
    // Multi-byte UTF-8 on every answer: curly quotes, an accent, an emoji and Chinese.
    expect(text).toMatch(/“.+”/u);
    expect(text).toMatch(/[éï]/u);
    expect(text).toContain('🙂');
    expect(text).toMatch(/\p{Script=Han}/u);
    // Tokens look like tokens: at most one word each, spaces kept, whole code points.
    for (const token of contents) {
      expect(token.trim()).not.toMatch(/\s/);
      expect([...token.trim()].length).toBeLessThanOrEqual(10);
      expect(token).not.toMatch(/\p{Cs}/u); // no lone surrogate: a split emoji
    }
  });

  it('answers the same prompt with the same text and quotes short prompts back', async () => {
    const first = await complete(upstream, ask('hello there'));
    const second = await complete(upstream, ask([{ type: 'text', text: 'hello there' }]));
    expect(second.text).toBe(first.text);
    expect(first.text.startsWith('You asked: “hello there”. ')).toBe(true);

    const long = 'Please explain, in as much detail as you can manage, how '.repeat(3);
    const detailed = await complete(upstream, ask(long));
    expect(detailed.text).not.toContain(long.trim());
    expect(detailed.text.startsWith('Thanks for the detailed question. ')).toBe(true);
  });

  it('answers from the last user message, not from the system prompt or earlier turns', async () => {
    const direct = await complete(upstream, ask('Tell me about caching'));
    const conversation = await complete(upstream, {
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Tell me about caching' },
      ],
    });
    expect(conversation.text).toBe(direct.text);
  });

  it('sends a usage chunk (and usage: null before it) only when stream_options.include_usage is set', async () => {
    const withUsage = await complete(upstream, { ...ask('Count my tokens'), stream_options: { include_usage: true } });
    const usageChunk = withUsage.chunks[withUsage.chunks.length - 1];
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual({
      prompt_tokens: expect.any(Number),
      completion_tokens: withUsage.contents.length,
      total_tokens: usageChunk.usage!.prompt_tokens + withUsage.contents.length,
    });
    expect(usageChunk.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(withUsage.chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(withUsage.chunks[withUsage.chunks.length - 2].choices[0].finish_reason).toBe('stop');

    const without = await complete(upstream, ask('Count my tokens'));
    expect(without.chunks.some((c) => c.choices.length === 0 || 'usage' in c)).toBe(false);
    expect(without.text).toBe(withUsage.text);
  });

  it.each(['max_tokens', 'max_completion_tokens'])('stops with finish_reason length after exactly %s content chunks', async (field) => {
    const full = await complete(upstream, ask('Tell me a story'));
    const { chunks, contents, text } = await complete(upstream, { ...ask('Tell me a story'), [field]: 7, stream_options: { include_usage: true } });

    expect(contents).toHaveLength(7);
    expect(full.text.startsWith(text)).toBe(true);
    expect(chunks[chunks.length - 2].choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
    expect(chunks[chunks.length - 1].usage).toMatchObject({ completion_tokens: 7 });
  });

  it('finishes with stop when max_tokens is larger than the answer', async () => {
    const { chunks } = await complete(upstream, { ...ask('Tell me a story'), max_tokens: 100_000 });
    expect(chunks[chunks.length - 1].choices[0].finish_reason).toBe('stop');
  });

  it.each([
    ['invalid JSON', '{"model": "gpt-4.1", "messages": [', null],
    ['no messages', { model: 'gpt-4.1', stream: true }, 'messages'],
    ['empty messages', { model: 'gpt-4.1', stream: true, messages: [] }, 'messages'],
    ['stream missing', { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] }, 'stream'],
    ['stream false', { model: 'gpt-4.1', stream: false, messages: [{ role: 'user', content: 'hi' }] }, 'stream'],
    ['no model', { stream: true, messages: [{ role: 'user', content: 'hi' }] }, 'model'],
    ['max_tokens zero', { model: 'gpt-4.1', stream: true, max_tokens: 0, messages: [{ role: 'user', content: 'hi' }] }, 'max_tokens'],
  ])('rejects %s with 400 and an OpenAI-style error body', async (_name, body, param) => {
    const { status, headers, body: text } = await request(`${upstream.baseUrl}/chat/completions`, body);
    expect(status).toBe(400);
    expect(headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(text)).toEqual({
      error: { message: expect.stringMatching(/\S/), type: 'invalid_request_error', param, code: null },
    });
    expect(upstream.stats).toEqual({ active: 0, completed: 0, aborted: 0 });
  });

  it('refuses a request body over 1 MiB with 413 and starts no stream', async () => {
    const huge = { model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024) }] };
    const { status, body } = await request(`${upstream.baseUrl}/chat/completions`, huge);
    expect(status).toBe(413);
    expect(JSON.parse(body)).toMatchObject({ error: { message: 'Request body larger than 1048576 bytes', type: 'invalid_request_error' } });
    expect(upstream.stats).toEqual({ active: 0, completed: 0, aborted: 0 });
  });

  it.each([
    ['GET', '/chat/completions'],
    ['POST', '/completions'],
    ['POST', '/chat/completions/extra'],
  ])('answers %s %s with 404 and a JSON error', async (method, path) => {
    const { status, body } = await request(`${upstream.baseUrl}${path}`, ask('hi'), method);
    expect(status).toBe(404);
    expect(JSON.parse(body)).toMatchObject({ error: { message: expect.stringContaining(path), type: 'invalid_request_error' } });
  });

  it('serves several streams at once', async () => {
    const prompts = ['one', 'two', 'three', 'four'];
    const results = await Promise.all(prompts.map((p) => complete(upstream, ask(p))));
    results.forEach((result, i) => expect(result.text.startsWith(`You asked: “${prompts[i]}”.`)).toBe(true));
    expect(upstream.stats).toEqual({ active: 0, completed: 4, aborted: 0 });
  });
});

describe('SimulatedUpstream pacing and teardown', () => {
  let upstream: SimulatedUpstream | undefined;
  afterEach(() => upstream?.close());

  /** Opens a stream and resolves on the first content chunk, with the live request and response. */
  function openStream(target: SimulatedUpstream, body: Record<string, unknown> = ask('Take your time')) {
    return new Promise<{ req: http.ClientRequest; res: http.IncomingMessage; arrivals: number[] }>((resolve, reject) => {
      const arrivals: number[] = [];
      const req = http.request(`${target.baseUrl}/chat/completions`, { method: 'POST', agent: false }, (res) => {
        res.setEncoding('utf8');
        let resolved = false;
        res.on('data', (part: string) => {
          if (!part.includes('"content":"') || part.includes('"content":""')) return;
          arrivals.push(Date.now());
          if (!resolved) {
            resolved = true;
            resolve({ req, res, arrivals });
          }
        });
      });
      req.on('error', (err) => arrivals.length === 0 && reject(err));
      req.end(JSON.stringify({ model: 'm', stream: true, ...body }));
    });
  }

  it('paces tokens over time instead of sending the answer at once', async () => {
    // 50 tokens/s: gaps of 14–26 ms, so 10 tokens span at least 126 ms unless unpaced.
    upstream = await SimulatedUpstream.start({ tokensPerSecond: 50 });
    const { res, arrivals } = await openStream(upstream, { ...ask('pace'), max_tokens: 10 });
    await new Promise((resolve) => res.on('end', resolve));
    expect(arrivals.length).toBeGreaterThanOrEqual(2);
    expect(arrivals[arrivals.length - 1] - arrivals[0]).toBeGreaterThanOrEqual(80);
  });

  it('stops generating when the client aborts mid-stream', async () => {
    upstream = await SimulatedUpstream.start({ tokensPerSecond: 20 });
    const { req } = await openStream(upstream);
    expect(upstream.stats.active).toBe(1);

    req.destroy();
    await upstream.whenIdle();

    expect(upstream.stats).toEqual({ active: 0, completed: 0, aborted: 1 });
  });

  it('clears its pacing timer when the client aborts (no leaked timers)', async () => {
    // Only the global timers are faked: Node's http internals keep their real ones, so the fake
    // clock counts exactly the simulator's pacing timers.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance'] });
    try {
      upstream = await SimulatedUpstream.start({ tokensPerSecond: 20 });
      const req = http.request(`${upstream.baseUrl}/chat/completions`, { method: 'POST', agent: false });
      req.on('error', () => undefined);
      req.end(JSON.stringify({ model: 'm', stream: true, ...ask('Take your time') }));
      // The headers arrive once the role chunk is written and the first token is scheduled.
      const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      res.setEncoding('utf8');
      expect(jest.getTimerCount()).toBe(1);

      const firstToken = new Promise<void>((resolve) => res.on('data', (part: string) => part.includes('"content":"Y') && resolve()));
      jest.advanceTimersByTime(100);
      await firstToken;
      expect(jest.getTimerCount()).toBe(1);

      req.destroy();
      await upstream.whenIdle();

      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('close() resolves promptly with streams open, ending them and the keep-alive sockets', async () => {
    upstream = await SimulatedUpstream.start({ tokensPerSecond: 5 });
    // At 5 tokens/s these would stream for half a minute if close() waited for them.
    const streams = await Promise.all([openStream(upstream), openStream(upstream)]);
    const ended = streams.map(({ res }) => new Promise((resolve) => res.on('close', resolve)));
    const started = Date.now();

    await upstream.close();

    expect(Date.now() - started).toBeLessThan(1000);
    await Promise.all(ended);
    expect(streams.every(({ res }) => !res.complete)).toBe(true);
    expect(upstream.stats).toEqual({ active: 0, completed: 0, aborted: 2 });
    await expect(request(`${upstream.baseUrl}/chat/completions`, ask('hi'))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('close() also ends idle keep-alive connections', async () => {
    upstream = await SimulatedUpstream.start({ tokensPerSecond: 2000 });
    const agent = new http.Agent({ keepAlive: true });
    try {
      await new Promise<void>((resolve, reject) => {
        const req = http.request(`${upstream!.baseUrl}/chat/completions`, { method: 'POST', agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end(JSON.stringify({ model: 'm', stream: true, ...ask('keep me alive') }));
      });
      const started = Date.now();
      await upstream.close();
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      agent.destroy();
    }
  });

  it('rejects a non-positive tokensPerSecond', async () => {
    await expect(SimulatedUpstream.start({ tokensPerSecond: 0 })).rejects.toThrow(RangeError);
  });
});
