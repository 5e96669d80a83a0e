import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { inOneWrite } from '../wire/write-batch';
import { writeTextFrameHeader } from '../wire/ws-text-frame';
import { WsTransport } from './ws-transport';

/** A frame as a stream's log keeps it: a WebSocket text frame around the JSON. */
function wire(text: string): Buffer {
  const payload = Buffer.from(text);
  const slab = Buffer.alloc(10 + payload.length);
  payload.copy(slab, 10);
  return slab.subarray(writeTextFrameHeader(slab, 10, payload.length));
}

describe('WsTransport (real sockets on loopback)', () => {
  let server: WebSocketServer | undefined;
  let client: WebSocket | undefined;
  afterEach(async () => {
    client?.terminate();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A transport on the server side of a fresh connection, and what its client receives. */
  async function connect(perMessageDeflate: boolean) {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
    await once(server, 'listening');
    const accepted = new Promise<[WebSocket, IncomingMessage]>((resolve) => server!.once('connection', (ws, request) => resolve([ws, request])));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate });
    const received: string[] = [];
    client.on('message', (data: Buffer, isBinary: boolean) => received.push(isBinary ? 'binary!' : data.toString()));
    const [ws, request] = await accepted;
    return { transport: new WsTransport(ws, request.socket), ws, received };
  }
  const until = async (done: () => boolean) => {
    while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
  };

  it('writes ready frames and ws frames in the order they were sent, each payload exact', async () => {
    const { transport, received } = await connect(false);
    const texts = ['{"n":1}', 'é'.repeat(200), 'x'.repeat(70_000), '{"n":4}'];
    transport.sendWire(wire(texts[0]!));
    transport.send(Buffer.from(texts[1]!));
    transport.sendWire(wire(texts[2]!));
    transport.send(Buffer.from(texts[3]!));
    await until(() => received.length === 4);
    expect(received).toEqual(texts);
  });

  it('with permessage-deflate negotiated, ready frames go through ws, behind a message it is still compressing', async () => {
    const { transport, ws, received } = await connect(true);
    expect(ws.extensions).toContain('permessage-deflate');
    const big = 'a'.repeat(1 << 20);
    transport.send(Buffer.from(big));
    transport.sendWire(wire('{"after":"big"}'));
    await until(() => received.length === 2);
    expect(received).toEqual([big, '{"after":"big"}']);
  });

  it('inside an upstream read (a write batch) the frames leave in one write as the read ends, not a tick later', async () => {
    const { transport, received } = await connect(false);
    const socket = (transport as unknown as { socket: import('node:net').Socket }).socket;
    const writes = jest.spyOn(socket, '_writev' as never);
    let corkedInside = 0;
    inOneWrite(() => {
      transport.sendWire(wire('{"n":1}'));
      transport.send(Buffer.from('{"n":2}'));
      transport.sendWire(wire('{"n":3}'));
      corkedInside = socket.writableCorked;
    }, undefined);
    // Uncorked by the batch's end, synchronously: all three (and ws's header) in one writev.
    expect(corkedInside).toBe(1);
    expect(socket.writableCorked).toBe(0);
    expect(writes).toHaveBeenCalledTimes(1);
    await until(() => received.length === 3);
    expect(received).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
    // Outside a batch it stays corked for the rest of the tick.
    transport.sendWire(wire('{"n":4}'));
    expect(socket.writableCorked).toBe(1);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(socket.writableCorked).toBe(0);
  });
});
