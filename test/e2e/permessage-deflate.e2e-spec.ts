/**
 * permessage-deflate as an option (issue 23): refused unless WS_PERMESSAGE_DEFLATE is set; then
 * negotiated with small windows and no context takeover, and a stream still arrives whole (ready
 * frames go through ws's compressor, not past it).
 */
import { WebSocket } from 'ws';
import { deflateOptions, DEFLATE_MEM_LEVEL, DEFLATE_WINDOW_BITS } from '../../src/gateway/deflate-options';
import { FakeUpstream } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { streamText, TestClient } from '../support/ws-client';

const hello = [{ role: 'user', content: 'Hi' }];

describe('permessage-deflate (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('is refused by default: a client that offers it gets no extension', async () => {
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl });
    const { client } = await TestClient.ready(gateway.wsUrl, { perMessageDeflate: true });
    expect(client.ws.extensions).toBe('');
    client.ws.terminate();
  });

  it('when enabled, is negotiated with 2^10-byte windows and no context takeover, and streams arrive whole', async () => {
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, WS_PERMESSAGE_DEFLATE: 'true', WS_DEFLATE_THRESHOLD_BYTES: '64' });
    const { client } = await TestClient.ready(gateway.wsUrl, { perMessageDeflate: true });
    expect(client.ws.extensions).toBe('permessage-deflate');
    const params = (client.ws as unknown as { _extensions: Record<string, { params: Record<string, unknown> }> })._extensions['permessage-deflate']!.params;
    expect(params).toMatchObject({ server_no_context_takeover: true, client_no_context_takeover: true, server_max_window_bits: 10, client_max_window_bits: 10 });
    client.send({ type: 'chat.request', id: 'r1', messages: hello });
    const call = await upstream.nextCall();
    const pieces = Array.from({ length: 30 }, (_, i) => `piece ${i} `);
    await call.streamText(pieces);
    await client.nextOfType('chat.done');
    expect(streamText(client.frames.filter((f) => f.id === 'r1'))).toBe(pieces.join(''));
    client.ws.terminate();
  });

  it('compact frames (format "text"), written as ready frames, go through the compressor too: short and long deltas arrive whole', async () => {
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, WS_PERMESSAGE_DEFLATE: 'true', WS_DEFLATE_THRESHOLD_BYTES: '64' });
    const { client } = await TestClient.ready(gateway.wsUrl, { perMessageDeflate: true });
    expect(client.ws.extensions).toBe('permessage-deflate');
    // The bytes as they come off TCP (ws reads the same socket): a frame is compressed when its RSV1 bit is set.
    const raw: Buffer[] = [];
    (client.ws as unknown as { _socket: import('node:net').Socket })._socket.on('data', (data: Buffer) => raw.push(data));
    client.send({ type: 'chat.request', id: 'r1', messages: hello, format: 'text' });
    const call = await upstream.nextCall();
    // Under the threshold (sent uncompressed by ws) and far over it (compressed), with multi-byte text.
    const pieces = ['short ', '你好 ', `${'long 🙂 "quoted" '.repeat(40)} `, 'tail'];
    await call.streamText(pieces);
    await client.nextOfType('chat.done');
    const deltas = client.frames.filter((f) => f.t === 'd');
    expect(deltas.map((d) => d.x).join('')).toBe(pieces.join(''));
    expect(deltas.every((d) => d.id === 'r1')).toBe(true);
    const wire = wireFrames(Buffer.concat(raw));
    // The long delta (over 700 bytes of JSON) went through the compressor, not past it; the short ones as they were.
    expect(Math.max(...wire.map((f) => f.payloadBytes))).toBeLessThan(300);
    expect(wire.some((f) => !f.compressed)).toBe(true);
    client.ws.terminate();
  });

  it('a socket holds no compressor until a stream frame needs one: session.ready and the gateway’s own answers go uncompressed, whatever their size', async () => {
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, WS_PERMESSAGE_DEFLATE: 'true', WS_DEFLATE_THRESHOLD_BYTES: '16' });
    // Every byte from the server after the upgrade's headers: ws puts back on the socket what came
    // with them (unshift) and reads it on a later tick, so a listener added at 'open' sees session.ready too.
    const raw: Buffer[] = [];
    const ws = new WebSocket(gateway.wsUrl, { perMessageDeflate: true });
    ws.on('open', () => (ws as unknown as { _socket: import('node:net').Socket })._socket.on('data', (data: Buffer) => raw.push(data)));
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data))));
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await until(() => frames.length === 1);
    expect(ws.extensions).toBe('permessage-deflate');
    // A refusal (an error answer: not a stream's frame), then a stream.
    ws.send(JSON.stringify({ type: 'stream.resume', stream_id: 'str_unknown', after_seq: 0, id: 'x' }));
    await until(() => frames.length === 2);
    ws.send(JSON.stringify({ type: 'chat.request', id: 'r1', messages: hello }));
    const call = await upstream.nextCall();
    await call.streamText(['a long enough piece of text to be over the threshold ']);
    await until(() => frames.some((f) => f.type === 'chat.done'));
    ws.terminate();
    const wire = wireFrames(Buffer.concat(raw));
    expect(frames.slice(0, 2).map((f) => f.type)).toEqual(['session.ready', 'chat.error']);
    // session.ready (hundreds of bytes) and the error: sent as they are.
    expect(wire.slice(0, 2)).toEqual([expect.objectContaining({ compressed: false }), expect.objectContaining({ compressed: false })]);
    expect(wire[0]!.payloadBytes).toBeGreaterThan(16);
    // The stream's frames over the threshold: compressed.
    expect(wire.slice(2).every((f) => f.compressed)).toBe(true);
  });

  // What a socket that has used deflate keeps in all (≈ 64 KiB RSS, ws never frees its zlib streams)
  // is measured in docs/performance.md; this holds the settings that keep zlib's own part small.
  it('settings: small windows, small memLevel and buffers, no history kept between messages', () => {
    expect(deflateOptions(false, 256)).toBe(false);
    const options = deflateOptions(true, 256);
    expect(options).toMatchObject({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: DEFLATE_WINDOW_BITS, clientMaxWindowBits: DEFLATE_WINDOW_BITS, threshold: 256 });
    expect(options && options.zlibDeflateOptions).toMatchObject({ memLevel: DEFLATE_MEM_LEVEL, chunkSize: 1024 });
    // zlib's compressor buffers: 2^(windowBits+2) + 2^(memLevel+9) bytes (zlib.h).
    const deflateBytes = 2 ** (DEFLATE_WINDOW_BITS + 2) + 2 ** (DEFLATE_MEM_LEVEL + 9);
    expect(deflateBytes).toBeLessThanOrEqual(8 * 1024);
  });
});

/** The frames a server sent (unmasked): whether each is compressed (RSV1), and its payload's length on the wire. */
function wireFrames(bytes: Buffer): Array<{ compressed: boolean; payloadBytes: number }> {
  const frames: Array<{ compressed: boolean; payloadBytes: number }> = [];
  for (let at = 0; at + 2 <= bytes.length; ) {
    const short = bytes[at + 1]! & 0x7f;
    const header = short === 126 ? 4 : short === 127 ? 10 : 2;
    const payloadBytes = short === 126 ? bytes.readUInt16BE(at + 2) : short === 127 ? Number(bytes.readBigUInt64BE(at + 2)) : short;
    frames.push({ compressed: (bytes[at]! & 0x40) !== 0, payloadBytes });
    at += header + payloadBytes;
  }
  return frames;
}
