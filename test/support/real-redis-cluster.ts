import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';
import { hasCommand, requireTool } from './requirements';

/**
 * Real Redis topologies on loopback for the suites that test the gateway on them: a Redis Cluster
 * of 3 primaries and 3 replicas, and a primary + replica watched by 3 Sentinels. Every server is a
 * private `redis-server` on free ports (for a Cluster node, its port and its bus port +10000),
 * nothing kept on disk but the Cluster's own nodes.conf in a temporary directory; the machine's
 * shared Redis is never touched. Their absence fails under REQUIRE_REDIS_CLUSTER=1 (.ci/run).
 */

/** How long a Cluster node or Sentinel may not answer before it is failed over (short: tests wait for it). */
export const NODE_TIMEOUT_MS = 2_000;
const WAIT_MS = 30_000;

/** Whether redis-server and redis-cli are here; false (after a SKIPPED warning) without them, unless required. */
export function realRedisAvailable(): boolean {
  return requireTool('redis-server and redis-cli', hasCommand('redis-server') && hasCommand('redis-cli'), 'REQUIRE_REDIS_CLUSTER');
}

/** One redis-server process (a Cluster node, a primary, a replica or a Sentinel) on its port. */
export class RedisNode {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly args: string[],
    private readonly dir: string,
    /** What AUTH it requires (`requirepass`), if any. */
    private readonly password?: string,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it (again after {@link kill}: a Cluster node comes back with its nodes.conf, as a replica of who replaced it). */
  async start(): Promise<void> {
    this.child = spawn('redis-server', this.args, { cwd: this.dir, stdio: 'ignore' });
    await until(async () => (await this.call('PING').catch(() => undefined)) === 'PONG', `redis-server on ${this.port}`);
  }

  /** SIGKILL: no goodbye, whatever it had not replicated is lost. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  /** SIGSTOP: its connections stay open and nothing answers (a hung host, a blackholed network). */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT after {@link freeze}: it answers what waited (as a replica, if it was failed over meanwhile). */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Runs one command on a connection of its own (opened and closed for it). */
  call(name: string, ...args: Array<string | number>): Promise<unknown> {
    return callOnce(this.port, '127.0.0.1', { password: this.password }, name, ...args);
  }

  /** A field of INFO `section` (e.g. `('replication', 'role')`). */
  async info(section: string, field: string): Promise<string | undefined> {
    const text = String(await this.call('INFO', section));
    return new RegExp(`^${field}:(.*)\\r?$`, 'm').exec(text)?.[1]?.trim();
  }
}

/** Runs one command on a connection of its own (opened and closed for it; never queued or retried). */
export async function callOnce(port: number, host: string, options: RedisOptions, name: string, ...args: Array<string | number>): Promise<unknown> {
  const client = new Redis(port, host, { ...options, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.call(name, ...args);
  } finally {
    client.disconnect();
  }
}

/** A random password, as a deployment's would be (the suites check it never shows in a gateway's output). */
export const randomPassword = () => `pw-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;

/** A 3-primary, 3-replica Redis Cluster (`redis-cli --cluster create … --cluster-replicas 1`), every node requiring {@link password}. */
export class RealRedisCluster {
  private constructor(
    readonly nodes: RedisNode[],
    private readonly dir: string,
    /** AUTH on every node (`requirepass`, and `masterauth` for their replication): `REDIS_PASSWORD`. */
    readonly password: string,
  ) {}

  /** Undefined (SKIPPED printed) without redis-server / redis-cli, unless REQUIRE_REDIS_CLUSTER=1. */
  static async start(): Promise<RealRedisCluster | undefined> {
    if (!realRedisAvailable()) return undefined;
    const dir = mkdtempSync(join(tmpdir(), 'hsg-cluster-'));
    const ports = await freePorts(6, true);
    const password = randomPassword();
    const nodes = ports.map((port) => {
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'];
      args.push('--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--dir', nodeDir);
      args.push('--requirepass', password, '--masterauth', password);
      return new RedisNode(port, args, nodeDir, password);
    });
    const cluster = new RealRedisCluster(nodes, dir, password);
    try {
      await Promise.all(nodes.map((node) => node.start()));
      const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes'], {
        encoding: 'utf8',
        timeout: WAIT_MS,
        // The password through the environment, not the command line (`ps` would show it).
        env: { ...process.env, REDISCLI_AUTH: password },
      });
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
      await cluster.healthy();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** `REDIS_CLUSTER_NODES` for a gateway: every node (it discovers the rest anyway). */
  get seeds(): string {
    return this.nodes.map((n) => n.address).join(',');
  }

  /**
   * Resolves once every running node says `cluster_state:ok` and sees 3 primaries each with a
   * replica, and every replica is in sync with its primary: one that is not (a node just restarted
   * or thawed) is not promoted when its primary dies, and the next failover test would wait for it.
   */
  async healthy(): Promise<void> {
    await until(async () => {
      for (const node of this.nodes.filter((n) => n.running)) {
        const state = String(await node.call('CLUSTER', 'INFO').catch(() => ''));
        if (!/cluster_state:ok/.test(state)) return false;
        if ((await node.info('replication', 'role')) === 'slave' && (await node.info('replication', 'master_link_status')) !== 'up') return false;
      }
      const slots = (await this.runningNode().call('CLUSTER', 'SLOTS')) as unknown[][];
      return slots.length >= 3 && slots.every((range) => range.length >= 4);
    }, 'a healthy cluster');
  }

  /** The node that is primary of `key`'s slot now, and one of its replicas. */
  async ownersOf(key: string): Promise<{ primary: RedisNode; replica: RedisNode }> {
    const slot = Number(await this.runningNode().call('CLUSTER', 'KEYSLOT', key));
    const ranges = (await this.runningNode().call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number], ...Array<[string, number]>]>;
    const range = ranges.find(([from, to]) => from <= slot && slot <= to)!;
    const byPort = (port: number) => this.nodes.find((n) => n.port === port)!;
    return { primary: byPort(range[2][1]), replica: byPort(range[3]![1]) };
  }

  /**
   * A clean failover: `CLUSTER FAILOVER` on the replica (it waits for the primary to stop
   * writing and for itself to have caught up, then takes over). Resolves once it is primary.
   */
  async cleanFailover(replica: RedisNode): Promise<void> {
    await replica.call('CLUSTER', 'FAILOVER');
    await this.promoted(replica);
  }

  /** Resolves once `replica` is a primary (after its primary was killed: the node timeout, then an election). */
  async promoted(replica: RedisNode): Promise<void> {
    await until(async () => (await replica.info('replication', 'role')) === 'master', 'the replica promoted');
  }

  /** Every node that was killed started again (it rejoins as a replica), and the cluster healthy. */
  async heal(): Promise<void> {
    for (const node of this.nodes) if (!node.running) await node.start();
    await this.healthy();
  }

  /** Sums a command's calls (INFO commandstats) over the current primaries. */
  async commandCalls(): Promise<Map<string, number>> {
    const calls = new Map<string, number>();
    for (const node of this.nodes.filter((n) => n.running)) {
      if ((await node.info('replication', 'role')) !== 'master') continue;
      for (const [, name, count] of String(await node.call('INFO', 'commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        calls.set(name!, (calls.get(name!) ?? 0) + Number(count));
      }
    }
    return calls;
  }

  /** Resets INFO commandstats on every node. */
  async resetStats(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => n.running).map((n) => n.call('CONFIG', 'RESETSTAT')));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private runningNode(): RedisNode {
    return this.nodes.find((n) => n.running)!;
  }
}

/** A primary, its replica, and 3 Sentinels (quorum 2) that name them `name`; the servers require {@link password}, the Sentinels {@link sentinelPassword}. */
export class RealRedisSentinels {
  readonly name = 'hsgprimary';

  /** AUTH on the primary and replica: `REDIS_PASSWORD`. */
  readonly password = randomPassword();
  /** AUTH on the Sentinels themselves: `REDIS_SENTINEL_PASSWORD`. */
  readonly sentinelPassword = randomPassword();

  private constructor(
    readonly servers: RedisNode[],
    readonly sentinels: RedisNode[],
    private readonly dir: string,
  ) {}

  /** Undefined (SKIPPED printed) without redis-server / redis-cli, unless REQUIRE_REDIS_CLUSTER=1. */
  static async start(): Promise<RealRedisSentinels | undefined> {
    if (!realRedisAvailable()) return undefined;
    const dir = mkdtempSync(join(tmpdir(), 'hsg-sentinel-'));
    const [primaryPort, replicaPort, ...sentinelPorts] = await freePorts(5, false);
    const servers: RedisNode[] = [];
    const setup = new RealRedisSentinels(servers, [], dir);
    const auth = ['--requirepass', setup.password, '--masterauth', setup.password];
    const server = (port: number, extra: string[]) =>
      new RedisNode(port, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...auth, ...extra], dir, setup.password);
    servers.push(server(primaryPort!, []), server(replicaPort!, ['--replicaof', '127.0.0.1', String(primaryPort)]));
    const sentinels = sentinelPorts.map((port) => {
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `requirepass ${setup.sentinelPassword}`,
          `sentinel sentinel-pass ${setup.sentinelPassword}`,
          `sentinel monitor ${setup.name} 127.0.0.1 ${primaryPort} 2`,
          `sentinel auth-pass ${setup.name} ${setup.password}`,
          `sentinel down-after-milliseconds ${setup.name} ${NODE_TIMEOUT_MS / 2}`,
          // Short: a Sentinel waits twice this before failing the same primary name over again (the tests do, one after another).
          `sentinel failover-timeout ${setup.name} 3000`,
          `sentinel parallel-syncs ${setup.name} 1`,
          '',
        ].join('\n'),
      );
      return new RedisNode(port, [conf, '--sentinel', '--loglevel', 'warning'], dir, setup.sentinelPassword);
    });
    setup.sentinels.push(...sentinels);
    try {
      for (const node of servers) await node.start();
      await until(async () => (await servers[1]!.info('replication', 'master_link_status')) === 'up', 'the replica in sync');
      await Promise.all(sentinels.map((node) => node.start()));
      await setup.ready();
    } catch (error) {
      await setup.stop();
      throw error;
    }
    return setup;
  }

  /** `REDIS_SENTINELS` for a gateway. */
  get seeds(): string {
    return this.sentinels.map((n) => n.address).join(',');
  }

  /** Resolves once every Sentinel sees a quorum and the primary's replica (SENTINEL FAILOVER needs one). */
  async ready(): Promise<void> {
    await until(async () => {
      for (const sentinel of this.sentinels) {
        if (!String(await sentinel.call('SENTINEL', 'CKQUORUM', this.name).catch(() => '')).startsWith('OK')) return false;
        const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', this.name)) as string[][];
        if (!replicas.some((fields) => fields[fields.indexOf('flags') + 1] === 'slave')) return false;
      }
      return true;
    }, 'sentinels with a quorum and a replica');
  }

  /** The server the Sentinels name primary now. */
  async primary(): Promise<RedisNode> {
    const [, port] = (await this.sentinels[0]!.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as [string, string];
    return this.servers.find((n) => n.port === Number(port))!;
  }

  /** `SENTINEL FAILOVER`: the replica promoted, the old primary made its replica. Resolves once the Sentinels name the new one and it says so. */
  async failover(): Promise<RedisNode> {
    const before = await this.primary();
    await this.sentinels[0]!.call('SENTINEL', 'FAILOVER', this.name);
    let after = before;
    await until(async () => {
      after = await this.primary();
      return after !== before && (await after.info('replication', 'role')) === 'master';
    }, 'the sentinels naming a new primary');
    await this.converged(after, before);
    return after;
  }

  /**
   * Resolves once every Sentinel names `primary` and `demoted` (the old primary, when alive) is
   * its replica in sync. Until then a client that asks a Sentinel that has not heard yet is sent
   * to the old primary, which still takes writes: the window in which writes can split.
   */
  async converged(primary: RedisNode, demoted?: RedisNode): Promise<void> {
    await until(async () => {
      for (const sentinel of this.sentinels) {
        const [, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as [string, string];
        if (Number(port) !== primary.port) return false;
      }
      if (!demoted?.running) return true;
      return (await demoted.info('replication', 'role')) === 'slave' && (await demoted.info('replication', 'master_link_status')) === 'up';
    }, 'the sentinels agreeing on the new primary');
  }

  /** Resolves once the Sentinels name a primary other than `dead` and it says it is one. */
  async failedOver(dead: RedisNode): Promise<void> {
    let now = dead;
    await until(async () => {
      now = await this.primary();
      return now !== dead && (await now.info('replication', 'role')) === 'master';
    }, 'the sentinels promoting the replica');
    await this.converged(now);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.servers].map((node) => node.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `condition` every 50 ms until it holds; throws naming `what` after {@link WAIT_MS}. */
export async function until(condition: () => Promise<boolean>, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `count` free loopback ports; with `bus`, each port's +10000 (a Cluster node's bus) free too. */
export async function freePorts(count: number, bus: boolean): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort(0);
    if (ports.includes(port) || (bus && (port > 55_535 || !(await isFree(port + 10_000))))) continue;
    ports.push(port);
  }
  return ports;
}

async function isFree(port: number): Promise<boolean> {
  return freePort(port).then(
    () => true,
    () => false,
  );
}

async function freePort(port: number): Promise<number> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error))]);
  const { port: bound } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return bound;
}
