/**
 * Frames sent in one tick leave in one write: the transport corks the TCP socket ws writes to.
 * If it ever corked another object (ws keeps its socket private), batching would silently stop.
 */
import type { Socket } from 'node:net';
import { ConnectionRegistryService } from '../../src/connections/connection-registry.service';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { TestClient } from '../support/ws-client';

describe('write batching (e2e)', () => {
  let gateway: RunningGateway;
  afterEach(() => gateway.close());

  it('corks the very socket ws writes to, for the rest of the tick', async () => {
    gateway = await startGateway();
    const { client } = await TestClient.ready(gateway.wsUrl);
    const [connection] = [...gateway.app.get(ConnectionRegistryService).all()];
    const transport = connection!.transport as unknown as { socket: Socket; ws: { _socket: Socket } };
    // The one private field read in this repository, here, to prove the invariant.
    expect(transport.socket).toBe(transport.ws._socket);

    connection!.send({ type: 'pong', ts: 1 });
    connection!.send({ type: 'pong', ts: 2 });
    expect(transport.socket.writableCorked).toBe(1);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(transport.socket.writableCorked).toBe(0);
    expect(await client.nextOfType('pong')).toEqual({ type: 'pong', ts: 1 });
    expect(await client.nextOfType('pong')).toEqual({ type: 'pong', ts: 2 });
    client.ws.terminate();
  });
});
