/**
 * Fault injection on the fake upstream: each case asserts the exact frames the client gets, that
 * no upstream request is left open afterwards, and that the API key shows up in no frame and no
 * log line.
 */
import { once } from 'node:events';
import { chunk, FakeUpstream, usageChunk } from '../support/fake-upstream';
import { startGateway, TEST_API_KEY, type RunningGateway } from '../support/gateway-app';
import { gatewayMetric } from '../support/metrics';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

const ask = (client: TestClient, id: string, extra: Record<string, unknown> = {}) =>
  client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('upstream fault injection (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  let client: TestClient;

  async function boot(env: Record<string, string> = {}) {
    gateway = await startGateway({
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      UPSTREAM_RETRY_BASE_DELAY_MS: '20',
      UPSTREAM_RETRY_MAX_DELAY_MS: '2000',
      ...env,
    });
    ({ client } = await TestClient.ready(gateway.wsUrl));
  }

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    // Whatever happened, nothing is left generating upstream.
    const open = upstream.openCalls;
    await Promise.all(open.map((call) => call.aborted));
    expect(upstream.openCalls).toHaveLength(0);
    expect(JSON.stringify(client.frames)).not.toContain(TEST_API_KEY);
    client.ws.terminate();
    await gateway.close();
    await upstream.close();
    expect(gateway.logs.lines.join('\n')).not.toContain(TEST_API_KEY);
  });

  it('429 with retry-after: waits as told, retries, and the stream succeeds', async () => {
    await boot();
    ask(client, 'r');
    const first = await upstream.nextCall();
    const rejectedAt = Date.now();
    first.json(429, { error: { message: 'Rate limit reached', type: 'rate_limit_error' } }, { 'retry-after-ms': '300' });
    const second = await upstream.nextCall();
    expect(Date.now() - rejectedAt).toBeGreaterThanOrEqual(280);
    await second.streamText(['after ', 'retry']);
    const frames = await client.collectStream('r');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('after retry');
  });

  it('503 then success: retried transparently, no duplicate text', async () => {
    await boot();
    ask(client, 's');
    (await upstream.nextCall()).json(503, { error: { message: 'overloaded' } });
    await (await upstream.nextCall()).streamText(['only once']);
    const frames = await client.collectStream('s');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('only once');
    expect(upstream.calls).toHaveLength(2);
  });

  it('429 after the last retry: upstream_unavailable with retry_after_ms, never started', async () => {
    await boot({ UPSTREAM_MAX_RETRIES: '1' });
    ask(client, 'x');
    (await upstream.nextCall()).json(429, { error: { message: 'slow down' } }, { 'retry-after': '0' });
    (await upstream.nextCall()).json(429, { error: { message: 'slow down' } }, { 'retry-after': '1' });
    expect(await client.collectStream('x')).toEqual([
      { type: 'chat.error', id: 'x', code: 'upstream_unavailable', message: 'Upstream answered 429: slow down', retryable: true, retry_after_ms: 1000 },
    ]);
    expect(upstream.calls).toHaveLength(2);
  });

  it('a retry-after beyond the cap is not waited out but handed to the client', async () => {
    await boot();
    ask(client, 'long');
    (await upstream.nextCall()).json(503, { error: { message: 'maintenance' } }, { 'retry-after': '120' });
    expect(await client.collectStream('long')).toEqual([
      { type: 'chat.error', id: 'long', code: 'upstream_unavailable', message: 'Upstream answered 503: maintenance', retryable: true, retry_after_ms: 120_000 },
    ]);
    expect(upstream.calls).toHaveLength(1);
  });

  it('a cancel during the retry backoff ends the stream and no retry is ever sent', async () => {
    await boot();
    ask(client, 'wait');
    (await upstream.nextCall()).json(503, { error: { message: 'busy' } }, { 'retry-after-ms': '200' });
    await gateway.logs.next('upstream_retry');
    client.send({ type: 'chat.cancel', id: 'wait' });
    const frames = await client.collectStream('wait');
    assertStreamInvariants(frames);
    expect(frames.map((f) => f.type)).toEqual(['chat.started', 'chat.done']);
    expect(frames[1]).toMatchObject({ finish_reason: 'cancelled' });
    // The one deliberate wait in this suite: longer than the backoff, to prove nothing fires.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(upstream.calls).toHaveLength(1);
  });

  it('a 400 is not retried: upstream_error with the upstream message', async () => {
    await boot();
    ask(client, 'bad');
    (await upstream.nextCall()).json(400, { error: { message: "Invalid value for 'temperature'", type: 'invalid_request_error' } });
    expect(await client.collectStream('bad')).toEqual([
      { type: 'chat.error', id: 'bad', code: 'upstream_error', message: "Upstream answered 400: Invalid value for 'temperature'", retryable: false },
    ]);
    expect(upstream.calls).toHaveLength(1);
  });

  it('connection refused on every try: upstream_unavailable after the retries', async () => {
    await boot({ HOLYSHEEP_BASE_URL: 'http://127.0.0.1:1/v1', UPSTREAM_MAX_RETRIES: '2' });
    ask(client, 'refused');
    expect(await client.collectStream('refused')).toEqual([
      { type: 'chat.error', id: 'refused', code: 'upstream_unavailable', message: 'Could not reach the upstream (ECONNREFUSED)', retryable: true },
    ]);
  });

  it('stall before the first byte: upstream_timeout and the request is aborted', async () => {
    await boot({ UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: '300' });
    ask(client, 'stall0');
    const call = await upstream.nextCall();
    const frames = await client.collectStream('stall0');
    expect(frames).toEqual([
      { type: 'chat.error', id: 'stall0', code: 'upstream_timeout', message: 'No first chunk within 300 ms', retryable: true },
    ]);
    await call.aborted;
  });

  it('stall mid-stream: upstream_timeout after the chunks so far, and the request is aborted', async () => {
    await boot({ UPSTREAM_STALL_TIMEOUT_MS: '300' });
    ask(client, 'stall1');
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'so far' }));
    const frames = await client.collectStream('stall1');
    assertStreamInvariants(frames);
    expect(frames.map((f) => f.type)).toEqual(['chat.started', 'chat.chunk', 'chat.error']);
    expect(frames[2]).toMatchObject({ code: 'upstream_timeout', message: 'No chunk for 300 ms', retryable: true, seq: 3 });
    await call.aborted;
  });

  it('drop mid-stream: upstream_disconnected, not retried (text was already relayed)', async () => {
    await boot();
    ask(client, 'drop');
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'half' }));
    await client.nextOfType('chat.chunk', 'drop');
    call.drop();
    const frames = await client.collectStream('drop');
    assertStreamInvariants(frames);
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected', retryable: true, seq: 3 });
    expect(upstream.calls).toHaveLength(1);
  });

  it('drop before the first chunk: retried, and the client sees one clean stream', async () => {
    await boot();
    ask(client, 'early');
    const first = await upstream.nextCall();
    first.startSse();
    await first.write(': warming up\n\n');
    first.drop();
    await (await upstream.nextCall()).streamText(['clean']);
    const frames = await client.collectStream('early');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('clean');
  });

  it('garbage instead of SSE: upstream_bad_response, not retried', async () => {
    await boot();
    ask(client, 'garbage');
    const call = await upstream.nextCall();
    call.startSse();
    await call.write('data: \u0000\u0001 not json at all }}}\n\n');
    expect(await client.collectStream('garbage')).toEqual([
      { type: 'chat.error', id: 'garbage', code: 'upstream_bad_response', message: 'Upstream sent a data line that is not JSON', retryable: false },
    ]);
    await call.aborted;
    expect(upstream.calls).toHaveLength(1);
  });

  describe('lines the SSE rules say to ignore (WHATWG: unknown fields, a bad retry) do not end the stream', () => {
    it.each([
      ['an unknown field', 'x-vendor: 1\n'],
      ['a retry that is not a number', 'retry: abc\n'],
      ['a stray BOM line mid-stream', '\uFEFF\n'],
    ])('%s: the whole answer and chat.done, and the line is counted', async (_name, line) => {
      await boot();
      ask(client, 'ignored');
      const call = await upstream.nextCall();
      call.startSse();
      const event = (payload: unknown) => `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;
      // Once between two events, once inside an event (before its data line). One write: a
      // gateway that gave up after the line must not leave the rest of the script waiting.
      call.res.end(
        event(chunk({ role: 'assistant', content: '' })) +
          `${line}\n` +
          event(chunk({ content: 'the whole ' })) +
          line +
          event(chunk({ content: 'answer' })) +
          event(chunk({}, 'stop')) +
          event('[DONE]'),
      );
      const frames = await client.collectStream('ignored');
      assertStreamInvariants(frames);
      expect(streamText(frames)).toBe('the whole answer');
      expect(frames.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop' });
      expect(await gatewayMetric(gateway.port, 'upstream_sse_lines_ignored_total')).toBe(2);
    });
  });

  describe('the content type must be text/event-stream (parameters allowed, any case), not merely contain it', () => {
    it.each(['text/event-streamx', 'application/json; x=text/event-stream'])('%s is refused with upstream_bad_response, not retried', async (contentType) => {
      await boot();
      ask(client, 'ctype');
      const call = await upstream.nextCall();
      call.startSse({ 'content-type': contentType });
      await call.event(chunk({ content: 'never relayed' }, 'stop'));
      await call.event('[DONE]');
      call.res.end();
      expect(await client.collectStream('ctype')).toEqual([
        { type: 'chat.error', id: 'ctype', code: 'upstream_bad_response', message: `Upstream answered ${contentType} instead of text/event-stream`, retryable: false },
      ]);
      expect(upstream.calls).toHaveLength(1);
    });

    it.each(['text/event-stream; charset=utf-8', 'Text/Event-Stream', ' text/event-stream ;charset=utf-8'])('%s is accepted', async (contentType) => {
      await boot();
      ask(client, 'ctype');
      const call = await upstream.nextCall();
      call.startSse({ 'content-type': contentType });
      await call.event(chunk({ content: 'relayed' }, 'stop'));
      await call.event('[DONE]');
      call.res.end();
      const frames = await client.collectStream('ctype');
      assertStreamInvariants(frames);
      expect(streamText(frames)).toBe('relayed');
    });
  });

  it('an unavailable model falls back to FALLBACK_MODELS, and chat.started names the model used', async () => {
    await boot({ FALLBACK_MODELS: 'backup-a,backup-b', UPSTREAM_MAX_RETRIES: '0' });
    ask(client, 'fb', { model: 'primary' });
    const first = await upstream.nextCall();
    expect(first.body.model).toBe('primary');
    first.json(404, { error: { message: 'The model `primary` does not exist', code: 'model_not_found' } });
    const second = await upstream.nextCall();
    expect(second.body.model).toBe('backup-a');
    second.json(503, { error: { message: 'overloaded' } });
    const third = await upstream.nextCall();
    expect(third.body.model).toBe('backup-b');
    await third.streamText(['from b']);
    const frames = await client.collectStream('fb');
    assertStreamInvariants(frames);
    expect(frames[0]).toMatchObject({ type: 'chat.started', model: 'backup-b' });
    expect(streamText(frames)).toBe('from b');
  });

  it('the upstream sees only the protocol fields, the key as a bearer token, and usage requested', async () => {
    await boot();
    ask(client, 'fields', { temperature: 1, evil: 'x', stream: false, stream_options: { include_usage: false } });
    const call = await upstream.nextCall();
    expect(call.headers.authorization).toBe(`Bearer ${TEST_API_KEY}`);
    expect(call.body).toEqual({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 1,
      // MAX_COMPLETION_TOKENS, sent because the request set no cap of its own.
      max_completion_tokens: 16_384,
      stream: true,
      stream_options: { include_usage: true },
    });
    call.startSse();
    await call.event(chunk({ content: 'ok' }, 'stop'));
    await call.event(usageChunk());
    await call.event('[DONE]');
    call.res.end();
    await client.collectStream('fields');
    // The keep-alive socket is reused for the next request rather than left dangling.
    ask(client, 'again');
    const next = await upstream.nextCall();
    expect(next.req.socket.remotePort).toBe(call.req.socket.remotePort);
    await next.streamText(['reused']);
    await client.collectStream('again');
    await once(next.res, 'finish');
  });
});
