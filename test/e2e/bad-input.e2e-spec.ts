/**
 * Malformed client input: every bad frame is answered with an `error` frame, the socket and its
 * other streams carry on, and no other client notices.
 */
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

describe('bad input (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];
  const connect = async () => {
    const { client } = await TestClient.ready(gateway.wsUrl);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, MAX_FRAME_BYTES: '4096', MAX_STREAMS_PER_CONNECTION: '2', UPSTREAM_MAX_RETRIES: '0' });
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await gateway.close();
    await upstream.close();
  });

  const cases: Array<[string, string | Buffer, { code: string; id?: string; message?: RegExp }]> = [
    ['non-JSON text', 'hello there', { code: 'bad_request', message: /not valid JSON/ }],
    ['a JSON array', '[1,2]', { code: 'bad_request', message: /JSON object/ }],
    ['JSON null', 'null', { code: 'bad_request' }],
    ['a binary frame', Buffer.from([1, 2, 3]), { code: 'bad_request', message: /Binary/ }],
    ['no type', '{"id":"q"}', { code: 'bad_request', id: 'q', message: /type/ }],
    ['a numeric type', '{"type":5}', { code: 'bad_request' }],
    ['an unknown type', '{"type":"chat.teleport","id":"z"}', { code: 'unknown_type', id: 'z', message: /chat\.teleport/ }],
    ['a prototype-ish type', '{"type":"__proto__"}', { code: 'unknown_type' }],
    ['chat.request without messages', '{"type":"chat.request","id":"m"}', { code: 'bad_request', id: 'm', message: /messages/ }],
    ['chat.request with empty messages', '{"type":"chat.request","id":"m","messages":[]}', { code: 'bad_request', message: /non-empty/ }],
    ['chat.request with a message without role', '{"type":"chat.request","id":"m","messages":[{"content":"x"}]}', { code: 'bad_request', message: /messages\.0\.role/ }],
    ['chat.request without id', '{"type":"chat.request","messages":[{"role":"user","content":"x"}]}', { code: 'bad_request', message: /id/ }],
    ['chat.request with an empty id', '{"type":"chat.request","id":"","messages":[{"role":"user","content":"x"}]}', { code: 'bad_request' }],
    ['chat.request with a 129-char id', JSON.stringify({ type: 'chat.request', id: 'x'.repeat(129), messages: [{ role: 'user', content: 'x' }] }), { code: 'bad_request', message: /1–128/ }],
    ['chat.request with a string temperature', '{"type":"chat.request","id":"t","messages":[{"role":"user","content":"x"}],"temperature":"hot"}', { code: 'bad_request', id: 't', message: /temperature/ }],
    ['chat.request with a fractional max_tokens', '{"type":"chat.request","id":"t","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}', { code: 'bad_request', message: /max_tokens/ }],
    ['chat.cancel without id', '{"type":"chat.cancel"}', { code: 'bad_request' }],
    ['stream.resume with a negative after_seq', '{"type":"stream.resume","stream_id":"s","after_seq":-1}', { code: 'bad_request', message: /after_seq/ }],
  ];

  it.each(cases)('answers %s with an error frame and keeps the socket open', async (_name, data, expected) => {
    const client = await connect();
    client.sendRaw(data);
    const error = await client.next();
    expect(error).toMatchObject({ type: 'error', code: expected.code });
    expect(typeof error.message).toBe('string');
    if (expected.id) expect(error.id).toBe(expected.id);
    if (expected.message) expect(error.message).toMatch(expected.message);
    client.send({ type: 'ping', ts: 1 });
    expect(await client.next()).toEqual({ type: 'pong', ts: 1 });
  });

  it('rejects a duplicate active id and the socket’s limit, while the first stream carries on', async () => {
    const client = await connect();
    client.send({ type: 'chat.request', id: 'dup', messages: [{ role: 'user', content: 'one' }] });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'first ' }));
    await client.nextOfType('chat.chunk', 'dup');

    client.send({ type: 'chat.request', id: 'dup', messages: [{ role: 'user', content: 'two' }] });
    expect(await client.nextOfType('error')).toMatchObject({ code: 'duplicate_id', id: 'dup' });

    client.send({ type: 'chat.request', id: 'second', messages: [{ role: 'user', content: 'x' }] });
    const second = await upstream.nextCall();
    client.send({ type: 'chat.request', id: 'third', messages: [{ role: 'user', content: 'x' }] });
    expect(await client.nextOfType('error')).toMatchObject({ code: 'too_many_streams', id: 'third' });

    await call.event(chunk({ content: 'still here' }, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    const frames = await client.collectStream('dup');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('first still here');

    // A finished id may be used again.
    client.send({ type: 'chat.request', id: 'dup', messages: [{ role: 'user', content: 'again' }] });
    await (await upstream.nextCall()).streamText(['re-used']);
    expect(streamText(await client.collectStream('dup'))).toBe('re-used');
    second.drop();
    await client.collectStream('second');
  });

  it('closes a socket that sends a frame over the limit with 1009, and no one else notices', async () => {
    const bystander = await connect();
    bystander.send({ type: 'chat.request', id: 'b', messages: [{ role: 'user', content: 'x' }] });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'unaffected' }));

    const offender = await connect();
    offender.send({ type: 'chat.request', id: 'big', messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    expect(await offender.closed).toMatchObject({ code: 1009 });

    await call.event(chunk({}, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    const frames = await bystander.collectStream('b');
    expect(frames.at(-1)?.type).toBe('chat.done');
    expect(streamText(frames)).toBe('unaffected');
  });

  it('ignores unknown extra fields on known frames', async () => {
    const client = await connect();
    client.send({ type: 'ping', ts: 'x', extra: { deeply: 'ignored' } });
    expect(await client.next()).toEqual({ type: 'pong', ts: 'x' });
  });
});
