/**
 * The relay path end to end: real Nest app on port 0, real WebSocket client, and a fake upstream
 * that is a real HTTP server speaking SSE on loopback.
 */
import { chunk, FakeUpstream, usageChunk } from '../support/fake-upstream';
import { startGateway, TEST_API_KEY, type RunningGateway } from '../support/gateway-app';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

const hello = [{ role: 'user', content: 'Say hello' }];

describe('streaming relay (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];
  const connect = async () => {
    const { client, ready } = await TestClient.ready(gateway.wsUrl);
    clients.push(client);
    return { client, ready };
  };

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: '5000', UPSTREAM_MAX_RETRIES: '0' });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await gateway.close();
    await upstream.close();
    // No secret ever reaches a log line.
    expect(gateway.logs.lines.join('\n')).not.toContain(TEST_API_KEY);
  });

  it('greets every socket with session.ready', async () => {
    const { ready } = await connect();
    expect(ready).toEqual({
      type: 'session.ready',
      session_id: expect.any(String),
      protocol: 1,
      heartbeat_interval_ms: 25000,
      limits: { max_frame_bytes: 262144, max_concurrent_streams: 16 },
      models: { default: 'gpt-4.1', allowed: [] },
      resume: { enabled: true, grace_ms: 30000, retention_ms: 300000 },
    });
  });

  it('relays a stream: started, chunks exactly as sent, done with usage; only listed fields go upstream', async () => {
    const { client } = await connect();
    client.send({
      type: 'chat.request',
      id: 'r1',
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: 'Hi', secret_field: 'x' }],
      temperature: 0.2,
      max_tokens: 50,
      user: 'u-1',
      logit_bias: { 50256: -100 },
      n: 3,
      api_key: 'client-should-not-forward',
    });
    const call = await upstream.nextCall();
    expect(call.req.url).toBe('/v1/chat/completions');
    expect(call.headers.authorization).toBe(`Bearer ${TEST_API_KEY}`);
    expect(call.body).toEqual({
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0.2,
      max_tokens: 50,
      user: 'u-1',
      stream: true,
      stream_options: { include_usage: true },
    });
    const special = chunk({ content: 'Hel', refusal: null }, null, { system_fingerprint: 'fp_1', x_vendor: { nested: [1, 2] } });
    call.startSse();
    await call.event(special);
    await call.event(chunk({ content: 'lo 👋' }));
    await call.event(chunk({}, 'stop'));
    await call.event(usageChunk());
    await call.event('[DONE]');
    call.res.end();

    const frames = await client.collectStream('r1');
    assertStreamInvariants(frames);
    expect(frames[0]).toEqual({ type: 'chat.started', id: 'r1', stream_id: expect.stringMatching(/^str_/), seq: 1, model: 'gpt-4.1-mini' });
    expect(frames[1]?.chunk).toEqual(special);
    expect(streamText(frames)).toBe('Hello 👋');
    expect(frames.at(-1)).toEqual({
      type: 'chat.done',
      id: 'r1',
      stream_id: frames[0]?.stream_id,
      seq: frames.length,
      finish_reason: 'stop',
      usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
    });
  });

  it('uses the configured default model when the request names none', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'd', messages: hello });
    const call = await upstream.nextCall();
    expect(call.body.model).toBe('gpt-4.1');
    await call.streamText(['ok']);
    const frames = await client.collectStream('d');
    expect(frames[0]?.model).toBe('gpt-4.1');
  });

  it('keeps every byte whatever the TCP fragmentation, line endings, comments and split UTF-8', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'frag', messages: hello });
    const call = await upstream.nextCall();
    const pieces = ['Grüße, ', '世界', ' — “quoted” ', '🙂🙃', ' end.'];
    const endings = ['\n', '\r\n', '\r'];
    let body = '\uFEFF: keep-alive\n\n';
    pieces.forEach((piece, i) => {
      const eol = endings[i % endings.length];
      body += `: comment ${i}${eol}data: ${JSON.stringify(chunk({ content: piece }))}${eol}${eol}`;
    });
    body += `data: ${JSON.stringify(chunk({}, 'stop'))}\r\n\r\ndata: [DONE]\r\n\r\n`;
    call.startSse();
    const bytes = Buffer.from(body, 'utf8');
    // Cut every few bytes, which lands inside multi-byte characters, CRLF pairs and JSON alike.
    for (let i = 0; i < bytes.length; i += 3) await call.write(bytes.subarray(i, i + 3));
    call.res.end();
    const frames = await client.collectStream('frag');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe(pieces.join(''));
    expect(frames.at(-1)?.type).toBe('chat.done');
  });

  it('runs many streams at once on one socket, each with its own seq', async () => {
    const { client } = await connect();
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids) client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: id }] });
    const calls = await Promise.all(ids.map(() => upstream.nextCall()));
    for (const call of calls) call.startSse();
    // Interleave: one piece per stream per round.
    for (let round = 0; round < 3; round++) {
      for (const call of calls) await call.event(chunk({ content: `${call.body.messages[0].content}${round}` }));
    }
    for (const call of calls) {
      await call.event(chunk({}, 'length'));
      await call.event('[DONE]');
      call.res.end();
    }
    for (const id of ids) {
      const frames = await client.collectStream(id);
      assertStreamInvariants(frames);
      expect(streamText(frames)).toBe(`${id}0${id}1${id}2`);
      expect(frames.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'length', usage: null });
    }
    const streamIds = new Set(client.frames.filter((f) => f.type === 'chat.started').map((f) => f.stream_id));
    expect(streamIds.size).toBe(ids.length);
  });

  it('cancel aborts the upstream request at once and ends with finish_reason cancelled', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'c1', messages: hello });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'partial' }));
    await client.nextOfType('chat.chunk', 'c1');
    const sentAt = Date.now();
    client.send({ type: 'chat.cancel', id: 'c1' });
    const abortedAt = await call.aborted;
    expect(abortedAt - sentAt).toBeLessThan(1000);
    const done = await client.nextOfType('chat.done', 'c1');
    expect(done).toMatchObject({ finish_reason: 'cancelled', usage: null, seq: 3 });
    // Cancelling again, or an unknown id, is answered with nothing; the socket stays usable.
    client.send({ type: 'chat.cancel', id: 'c1' });
    client.send({ type: 'chat.cancel', id: 'never-existed' });
    client.send({ type: 'ping', ts: 'after-cancel' });
    expect(await client.nextOfType('pong')).toEqual({ type: 'pong', ts: 'after-cancel' });
    expect(client.frames.filter((f) => f.id === 'c1' && f.type !== 'chat.started' && f.type !== 'chat.chunk')).toHaveLength(1);
  });

  it('with RESUME_GRACE_MS=0, a client disconnect aborts its upstream requests within a second', async () => {
    await gateway.close();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: '5000', UPSTREAM_MAX_RETRIES: '0', RESUME_GRACE_MS: '0' });
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'x1', messages: hello });
    client.send({ type: 'chat.request', id: 'x2', messages: hello });
    const calls = [await upstream.nextCall(), await upstream.nextCall()];
    for (const call of calls) {
      call.startSse();
      await call.event(chunk({ content: 'tok' }));
    }
    await client.nextOfType('chat.chunk', 'x2');
    const closedAt = Date.now();
    client.ws.terminate();
    for (const call of calls) expect((await call.aborted) - closedAt).toBeLessThan(1000);
  });

  it('reports a connection lost mid-stream as upstream_disconnected, never as done', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 't1', messages: hello });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'half an ans' }));
    await client.nextOfType('chat.chunk', 't1');
    call.drop();
    const frames = await client.collectStream('t1');
    assertStreamInvariants(frames);
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected', retryable: true, seq: 3 });
  });

  it('reports a body that ends cleanly without [DONE] or finish_reason as upstream_disconnected', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 't2', messages: hello });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'cut' }));
    call.res.end();
    const frames = await client.collectStream('t2');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected' });
  });

  it('treats a body that ends after a finish_reason (no [DONE]) as complete', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'f1', messages: hello });
    const call = await upstream.nextCall();
    await call.streamText(['all of it'], { done: false, usage: false });
    const frames = await client.collectStream('f1');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop', usage: null });
  });

  it('ends with chat.error when the upstream sends an error event mid-stream', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'e1', messages: hello });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'so far' }));
    await call.event({ error: { message: 'The model produced invalid content', type: 'invalid_request_error' } });
    const frames = await client.collectStream('e1');
    assertStreamInvariants(frames);
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_error', retryable: false });
    expect(frames.at(-1)?.message).toContain('The model produced invalid content');
    await expect(call.aborted).resolves.toEqual(expect.any(Number));
  });

  it('maps a transient mid-stream error event to upstream_unavailable', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'e2', messages: hello });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event({ error: { message: 'overloaded', type: 'server_error' } });
    const frames = await client.collectStream('e2');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_unavailable', retryable: true });
  });

  it('maps a 4xx answer to upstream_error with the upstream message but never the API key', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'h1', messages: hello });
    const call = await upstream.nextCall();
    call.json(401, { error: { message: `Incorrect API key provided: ${TEST_API_KEY}`, type: 'invalid_request_error' } });
    const frames = await client.collectStream('h1');
    const error = frames.at(-1)!;
    // Failed before its first chunk: never started, so no stream_id and no seq.
    expect(frames).toHaveLength(1);
    expect(error).toEqual({ type: 'chat.error', id: 'h1', code: 'upstream_error', retryable: false, message: expect.any(String) });
    expect(error.message).toContain('401');
    expect(error.message).toContain('Incorrect API key provided');
    expect(JSON.stringify(client.frames)).not.toContain(TEST_API_KEY);
  });

  it('maps 503 with retry-after to upstream_unavailable with retry_after_ms', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'h2', messages: hello });
    const call = await upstream.nextCall();
    call.json(503, { error: { message: 'busy' } }, { 'retry-after': '7' });
    const frames = await client.collectStream('h2');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_unavailable', retryable: true, retry_after_ms: 7000 });
  });

  it('rejects a non-SSE answer and a data line that is not JSON as upstream_bad_response', async () => {
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'b1', messages: hello });
    (await upstream.nextCall()).json(200, { choices: [] });
    expect((await client.collectStream('b1')).at(-1)).toMatchObject({ code: 'upstream_bad_response', retryable: false });

    client.send({ type: 'chat.request', id: 'b2', messages: hello });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'fine' }));
    await call.write('data: {"truncated json\n\n');
    const frames = await client.collectStream('b2');
    assertStreamInvariants(frames);
    expect(frames.at(-1)).toMatchObject({ code: 'upstream_bad_response' });
    await call.aborted;
  });

  it('reports an unreachable upstream as upstream_unavailable', async () => {
    const port = upstream.port;
    await upstream.close();
    const { client } = await connect();
    client.send({ type: 'chat.request', id: 'u1', messages: hello });
    const frames = await client.collectStream('u1');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_unavailable', retryable: true });
    expect(frames.at(-1)?.message).not.toContain(String(port) + TEST_API_KEY);
    upstream = await FakeUpstream.start(); // for afterEach
  });

  it('answers stream.resume with stream_not_found and ping with pong', async () => {
    const { client } = await connect();
    client.send({ type: 'stream.resume', stream_id: 'str_nope', after_seq: 0, id: 'r' });
    expect(await client.next()).toEqual({
      type: 'chat.error',
      id: 'r',
      stream_id: 'str_nope',
      code: 'stream_not_found',
      message: expect.any(String),
      retryable: false,
    });
    client.send({ type: 'ping', ts: { n: 1, at: [1, 2] } });
    expect(await client.next()).toEqual({ type: 'pong', ts: { n: 1, at: [1, 2] } });
    client.send({ type: 'ping' });
    expect(await client.next()).toEqual({ type: 'pong' });
  });

  it('answers only chat.v1 when the token rides in the subprotocol list', async () => {
    const client = await TestClient.connect(gateway.wsUrl, { protocols: ['bearer.super-secret-token', 'chat.v1'] });
    clients.push(client);
    expect(client.ws.protocol).toBe('chat.v1');
  });
});
