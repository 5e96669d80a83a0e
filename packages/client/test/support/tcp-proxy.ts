import { once } from 'node:events';
import * as net from 'node:net';

/**
 * A TCP relay between the SDK and a gateway: `cut()` kills every connection without a close frame
 * (the client sees 1006, as on a network loss), and `target` can be switched to another instance,
 * as a load balancer would after a pod goes away.
 */
export class TcpProxy {
  /** Connections accepted so far. */
  connections = 0;
  private readonly open = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    public target: number,
  ) {}

  static async start(target: number): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, target);
    server.on('connection', (client) => proxy.relay(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/ws`;
  }

  /** Destroys every relayed connection at once. */
  cut(): void {
    for (const socket of this.open) socket.destroy();
    this.open.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: net.Socket): void {
    this.connections += 1;
    const upstream = net.connect(this.target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      this.open.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.open.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
