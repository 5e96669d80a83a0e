import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import Redis from 'ioredis';
import type { RedisService } from '../../src/redis/redis.service';
import { hasCommand, requireTool } from './requirements';

/**
 * A Redis server of the test's own, on a free loopback port, nothing kept on disk: tests may
 * flush it, stop it and start it again without touching the machine's shared Redis.
 */
export class TestRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  /** Undefined (after a visible SKIPPED warning) when redis-server is missing and REQUIRE_REDIS is not 1. */
  static async start(): Promise<TestRedis | undefined> {
    if (!requireTool('redis-server', hasCommand('redis-server'), 'REQUIRE_REDIS')) return undefined;
    const redis = new TestRedis(await freePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (again, after {@link down}), on the same port. */
  async up(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    await waitForPort(this.port, child);
  }

  /** Stops it with SIGSTOP: connections stay open and every command waits unanswered, as on a blackholed network. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a {@link freeze}d server run again (SIGCONT): it answers what waited. */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Runs one command on a connection of its own (opened and closed for it), e.g. `('KEYS', 'hsg:*')`. */
  async command(name: string, ...args: Array<string | number>): Promise<unknown> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    try {
      await client.connect();
      return await client.call(name, ...args);
    } finally {
      client.disconnect();
    }
  }

  /** Empties it (FLUSHALL): every key gone at once, as an operator's mistake or a failover that lost them. */
  async flushAll(): Promise<void> {
    await this.command('FLUSHALL');
  }

  /** Kills it, as a crash or a failover would (everything in it is lost). */
  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once something accepts connections on `port`; rejects if `child` exits first. */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`redis-server exited with ${code}`);
  });
  for (;;) {
    const connected = await Promise.race([
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      }),
      exited,
    ]);
    if (connected) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves the next time `redis`'s command connection is ready again (after an outage or a stall), not for being up now. */
export function upAgain(redis: Pick<RedisService, 'onUp'>): Promise<void> {
  return new Promise((resolve) => {
    let now = true;
    redis.onUp(() => !now && resolve());
    now = false;
  });
}
