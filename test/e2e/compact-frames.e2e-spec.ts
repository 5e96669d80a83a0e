/**
 * Compact frames (issue 23, docs/protocol.md "Compact frames"): with `format: "text"` a plain content
 * delta costs at most 48 bytes on the wire (4-character ASCII token, 8-character id, WebSocket
 * header included); every other chunk stays a `chat.chunk`; a stream requested in one format
 * resumes in either from the same log.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { validateServerFrame } from '../support/frame-schemas';
import { chunk, FakeUpstream, usageChunk } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { TestClient, type Frame } from '../support/ws-client';

const hello = [{ role: 'user', content: 'Hi' }];
const TOKENS = 120;

/** A raw client that counts what its TCP socket reads, framing and all. */
async function countingClient(url: string): Promise<{ ws: WebSocket; tcp: () => Socket; frames: Array<{ frame: Frame; bytes: number }>; controlBytes: () => number }> {
  let socket: Socket | undefined;
  const ws = new WebSocket(url, [], {
    perMessageDeflate: false,
    createConnection: (options: object) => (socket = tcpConnect(options as never)),
  });
  const frames: Array<{ frame: Frame; bytes: number }> = [];
  ws.on('message', (data: Buffer) => {
    // A server frame's header: 2 bytes up to 125 payload bytes, 4 up to 65535 (RFC 6455 §5.2).
    frames.push({ frame: JSON.parse(data.toString()) as Frame, bytes: data.length + (data.length <= 125 ? 2 : data.length <= 0xffff ? 4 : 10) });
  });
  // The heartbeat's pings are on the wire too (control frames: a 2-byte header and the payload).
  let control = 0;
  ws.on('ping', (data: Buffer) => (control += 2 + data.length));
  // Open, and greeted: session.ready is the first message.
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return { ws, tcp: () => socket!, frames, controlBytes: () => control };
}

describe('compact frames (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: '5000', UPSTREAM_MAX_RETRIES: '0' });
  });
  afterEach(async () => {
    await gateway.close();
    await upstream.close();
  });

  /** Streams a role chunk, TOKENS deltas of "abcd", a tool-call delta, a finish and usage. */
  async function script(): Promise<void> {
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ role: 'assistant', content: '' }));
    for (let i = 0; i < TOKENS; i++) await call.event(chunk({ content: 'abcd' }));
    await call.event(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }));
    await call.event(chunk({}, 'stop'));
    await call.event(usageChunk());
    await call.event('[DONE]');
    call.res.end();
  }

  it('a 4-character token under an 8-character id costs at most 48 bytes on the wire; the rest stay chat.chunk', async () => {
    const client = await countingClient(gateway.wsUrl);
    const before = client.tcp().bytesRead;
    const controlBefore = client.controlBytes();
    const framesBefore = client.frames.length;
    client.ws.send(JSON.stringify({ type: 'chat.request', id: 'abcdefgh', messages: hello, format: 'text' }));
    const done = new Promise<void>((resolve) => client.ws.on('message', (data: Buffer) => data.includes('"chat.done"') && resolve()));
    await script();
    await done;
    const frames = client.frames.slice(framesBefore);
    // What was counted is all the socket read: no extension, nothing else in between but pings.
    expect(frames.reduce((sum, f) => sum + f.bytes, 0) + client.controlBytes() - controlBefore).toBe(client.tcp().bytesRead - before);
    for (const { frame } of frames) expect(validateServerFrame(frame)).toEqual([]);

    const deltas = frames.filter((f) => f.frame.t === 'd');
    expect(deltas).toHaveLength(TOKENS);
    expect(Math.max(...deltas.map((d) => d.bytes))).toBeLessThanOrEqual(48);
    expect(deltas[100]!.frame).toEqual({ t: 'd', id: 'abcdefgh', s: 103, x: 'abcd' });
    expect(deltas[100]!.bytes).toBe(46); // 44 bytes of JSON + a 2-byte header
    // seq grows by one over every frame, compact or not.
    expect(frames.map((f) => f.frame.seq ?? f.frame.s)).toEqual(Array.from({ length: frames.length }, (_, i) => i + 1));
    const types = frames.map((f) => f.frame.type ?? 'd');
    expect(types.slice(0, 2)).toEqual(['chat.started', 'chat.chunk']); // the role chunk is whole
    expect(types.slice(2 + TOKENS)).toEqual(['chat.chunk', 'chat.chunk', 'chat.chunk', 'chat.done']); // tool call, finish, usage
    expect(frames.at(-1)!.frame).toMatchObject({ finish_reason: 'stop', usage: { total_tokens: 10 } });
    client.ws.terminate();
  });

  it('a stream requested compact resumes whole in either format, from the same log', async () => {
    const { client } = await TestClient.ready(gateway.wsUrl);
    client.send({ type: 'chat.request', id: 'r1', messages: hello, format: 'text' });
    await script();
    const done = await client.nextOfType('chat.done');
    const streamId = done.stream_id as string;
    const asJson = await TestClient.ready(gateway.wsUrl);
    asJson.client.send({ type: 'stream.resume', stream_id: streamId, after_seq: 1, id: 'j' });
    await asJson.client.nextOfType('chat.done');
    const jsonFrames = asJson.client.frames.filter((f) => f.id === 'j');
    expect(jsonFrames.every((f) => f.type === 'chat.chunk' || f.type === 'chat.done')).toBe(true);
    expect(jsonFrames).toHaveLength(TOKENS + 5); // role, tokens, tool call, finish, usage, done

    const asText = await TestClient.ready(gateway.wsUrl);
    asText.client.send({ type: 'stream.resume', stream_id: streamId, after_seq: 1, id: 't', format: 'text' });
    await asText.client.nextOfType('chat.done');
    const textFrames = asText.client.frames.filter((f) => f.id === 't');
    expect(textFrames.filter((f) => f.t === 'd').map((f) => f.s)).toEqual(Array.from({ length: TOKENS }, (_, i) => i + 3));
    expect(textFrames.filter((f) => f.t === 'd').every((f) => f.x === 'abcd')).toBe(true);
    for (const c of [client, asJson.client, asText.client]) c.ws.terminate();
  });

  it('refuses a format it does not know', async () => {
    const { client } = await TestClient.ready(gateway.wsUrl);
    client.send({ type: 'chat.request', id: 'r1', messages: hello, format: 'xml' });
    expect(await client.nextOfType('error')).toMatchObject({ code: 'bad_request', id: 'r1', message: expect.stringContaining('format') });
    client.ws.terminate();
  });
});
