import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callOnce, freePorts, randomPassword, realRedisAvailable, until } from './real-redis-cluster';
import { hasCommand, requireTool } from './requirements';

/**
 * A private redis-server that speaks TLS only (its plain port is off), with a password, and a
 * certificate for `localhost` / 127.0.0.1 signed by a CA made for it: what a managed or self-hosted
 * Redis behind a private CA looks like. The CA and keys are made with the `openssl` CLI in a
 * temporary directory (Node can verify certificates but not issue them), removed on {@link stop}.
 */
export class RealRedisTls {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    readonly password: string,
  ) {}

  /** The CA that signed the server's certificate, as a PEM file (for `NODE_EXTRA_CA_CERTS`). */
  get caFile(): string {
    return join(this.dir, 'ca.pem');
  }

  /** `REDIS_URL` for a gateway: TLS, the password in the URL, the name the certificate is for. */
  get url(): string {
    return `rediss://:${this.password}@localhost:${this.port}`;
  }

  /** Undefined (SKIPPED printed) without redis-server or openssl, unless REQUIRE_REDIS_CLUSTER=1. */
  static async start(): Promise<RealRedisTls | undefined> {
    if (!realRedisAvailable() || !requireTool('openssl', hasCommand('openssl', ['version']), 'REQUIRE_REDIS_CLUSTER')) return undefined;
    const dir = mkdtempSync(join(tmpdir(), 'hsg-tls-'));
    const openssl = (...args: string[]) => {
      const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr}`);
    };
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=hsg test CA');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
    const [port] = await freePorts(1, false);
    const password = randomPassword();
    const args = ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', 'server.pem', '--tls-key-file', 'server.key', '--tls-ca-cert-file', 'ca.pem', '--tls-auth-clients', 'no', '--requirepass', password, '--save', '', '--appendonly', 'no'];
    const child = spawn('redis-server', args, { cwd: dir, stdio: 'ignore' });
    const redis = new RealRedisTls(child, dir, port!, password);
    try {
      await until(async () => (await redis.call('PING')) === 'PONG', `redis-server with TLS on ${port}`);
    } catch (error) {
      await redis.stop();
      throw error;
    }
    return redis;
  }

  /** Runs one command over TLS, trusting the test CA, on a connection of its own. */
  call(name: string, ...args: Array<string | number>): Promise<unknown> {
    return callOnce(this.port, 'localhost', { password: this.password, tls: { ca: readFileSync(this.caFile) } }, name, ...args);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await once(this.child, 'exit');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
