import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A Redis command as the proxy saw it: its arguments as text, the name in capitals (`['XADD', 'hsg:s:…', …]`). */
export type Argv = string[];
export type CommandMatch = (argv: Argv) => boolean;

/**
 * A TCP proxy between a gateway and a private redis-server, for fault injection in e2e tests:
 * point the gateway's `REDIS_URL` at {@link url} and break the link on cue. It listens on
 * 127.0.0.1:0 and forwards every connection to the target, as it is, until told otherwise:
 *
 * - {@link pass}: forward everything at once (the default);
 * - {@link delay}: forward each read after `ms`, both ways, in order (a slow network);
 * - {@link blackhole}: accept and read, forward nothing (a partition: no error, no answer). The
 *   bytes read meanwhile are gone, so a link that was blackholed stays silent after {@link pass};
 *   end it with {@link reset}, as a partition that heals ends with the clients reconnecting;
 * - {@link reset}: reset (RST) every open connection, both sides; the clients reconnect;
 * - {@link dropReply}: let the next command matching reach Redis, and cut its connection just
 *   before its reply would reach the client (a reply lost with the connection);
 * - {@link failReply}: let the next command matching reach Redis, and hand the client an error
 *   instead of its reply (one command of a pipeline failing while the others succeed).
 *
 * To match a reply to its command the proxy reads RESP both ways (a reply answers the oldest
 * command not yet answered). Links that subscribe (pub/sub) are forwarded but never matched.
 */
export class RedisProxy {
  private readonly links = new Set<Link>();
  private mode: 'pass' | 'blackhole' = 'pass';
  private delayMs = 0;
  private readonly rules: Rule[] = [];

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {}

  /** A proxy to the Redis at `target` (a port on 127.0.0.1, or host and port). */
  static async start(target: number | { host?: string; port: number }): Promise<RedisProxy> {
    const to = typeof target === 'number' ? { host: '127.0.0.1', port: target } : { host: target.host ?? '127.0.0.1', port: target.port };
    const server = createServer();
    const proxy = new RedisProxy(server, to);
    server.on('connection', (socket) => proxy.accept(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** The `REDIS_URL` to give the gateway. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Open client connections. */
  get connections(): number {
    return this.links.size;
  }

  /** Forward everything at once, from now on (links already blackholed stay silent: {@link reset} them). */
  pass(): void {
    this.mode = 'pass';
    this.delayMs = 0;
  }

  /** Forward each read `ms` later, both ways, order kept (new reads; those already queued keep their time). */
  delay(ms: number): void {
    this.mode = 'pass';
    this.delayMs = ms;
  }

  /** Accept and read, forward nothing, on every link open now or opened until {@link pass}. */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const link of this.links) link.dead = true;
  }

  /** Resets every open connection (RST to the client, and to Redis). */
  reset(): void {
    for (const link of [...this.links]) link.close(true);
  }

  /**
   * The next command matching `match` goes to Redis; when its reply comes back, the connection is
   * cut (RST) before that reply reaches the client (replies before it are delivered).
   * @returns resolves with the command once its reply was dropped
   */
  dropReply(match: CommandMatch): Promise<Argv> {
    return this.rule(match, 'drop');
  }

  /**
   * The next command matching `match` goes to Redis; the client gets `-<message>` instead of its
   * reply, and the link goes on.
   * @returns resolves with the command once its reply was replaced
   */
  failReply(match: CommandMatch, message = 'ERR injected by the test proxy'): Promise<Argv> {
    return this.rule(match, 'fail', message);
  }

  async close(): Promise<void> {
    for (const link of [...this.links]) link.close(true);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private rule(match: CommandMatch, action: Rule['action'], message?: string): Promise<Argv> {
    return new Promise((resolve) => this.rules.push({ match, action, message, done: resolve }));
  }

  private accept(client: Socket): void {
    client.setNoDelay(true);
    const server = connect(this.target.port, this.target.host);
    server.setNoDelay(true);
    const link = new Link(client, server, this.mode === 'blackhole', () => this.delayMs, this.rules, () => this.links.delete(link));
    this.links.add(link);
  }
}

interface Rule {
  match: CommandMatch;
  action: 'drop' | 'fail';
  message: string | undefined;
  done: (argv: Argv) => void;
  /** Taken by a command on its way: no other command takes it. */
  taken?: boolean;
}

/** One client connection and its connection to Redis. */
class Link {
  /** Forwards nothing more, ever (a blackhole took it). */
  dead: boolean;
  private closed = false;
  /** Commands sent and not answered yet, oldest first, each with the rule it took (if any). */
  private readonly pending: Array<{ argv: Argv; rule?: Rule }> = [];
  /** Client bytes not yet parsed into a whole command. */
  private fromClient: Buffer = Buffer.alloc(0);
  /** Redis bytes not yet parsed into a whole reply (held back until whole). */
  private fromServer: Buffer = Buffer.alloc(0);
  /** Subscribed: replies are no longer one per command, so nothing is matched. */
  private pubsub = false;
  private readonly toServer: DelayedPipe;
  private readonly toClient: DelayedPipe;

  constructor(
    private readonly client: Socket,
    private readonly server: Socket,
    dead: boolean,
    delayMs: () => number,
    private readonly rules: Rule[],
    private readonly onClose: () => void,
  ) {
    this.dead = dead;
    this.toServer = new DelayedPipe(server, delayMs);
    this.toClient = new DelayedPipe(client, delayMs);
    client.on('data', (data: Buffer) => this.clientData(data));
    server.on('data', (data: Buffer) => this.serverData(data));
    for (const socket of [client, server]) {
      socket.on('error', () => this.close(true));
      socket.on('close', () => this.close(false));
    }
  }

  close(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.toServer.stop();
    this.toClient.stop();
    for (const socket of [this.client, this.server]) {
      if (reset && !socket.destroyed && socket.readyState === 'open') socket.resetAndDestroy();
      else socket.destroy();
    }
    // A rule taken by a command this link will never answer is free again.
    for (const { rule } of this.pending) if (rule) rule.taken = false;
    this.onClose();
  }

  private clientData(data: Buffer): void {
    if (this.dead || this.closed) return;
    this.fromClient = this.fromClient.length === 0 ? data : Buffer.concat([this.fromClient, data]);
    let at = 0;
    for (;;) {
      const parsed = parseCommand(this.fromClient, at);
      if (!parsed) break;
      at = parsed.end;
      const name = (parsed.argv[0] = parsed.argv[0]?.toUpperCase() ?? '');
      if (/^P?S?SUBSCRIBE$/.test(name)) this.pubsub = true;
      const rule = this.pubsub ? undefined : this.rules.find((r) => !r.taken && r.match(parsed.argv));
      if (rule) rule.taken = true;
      this.pending.push({ argv: parsed.argv, rule });
    }
    this.fromClient = this.fromClient.subarray(at);
    this.toServer.write(data);
  }

  private serverData(data: Buffer): void {
    if (this.dead || this.closed) return;
    this.fromServer = this.fromServer.length === 0 ? data : Buffer.concat([this.fromServer, data]);
    let start = 0;
    let at = 0;
    for (;;) {
      const end = respEnd(this.fromServer, at);
      if (end < 0) break;
      const command = this.pubsub ? undefined : this.pending.shift();
      const rule = command?.rule;
      if (rule) {
        this.rules.splice(this.rules.indexOf(rule), 1);
        if (at > start) this.toClient.write(this.fromServer.subarray(start, at));
        if (rule.action === 'drop') {
          // The replies before it go out first; then the connection is cut (after the delay, if any).
          this.toClient.then(() => this.close(true));
          this.fromServer = Buffer.alloc(0);
          rule.done(command!.argv);
          return;
        }
        this.toClient.write(Buffer.from(`-${rule.message}\r\n`));
        rule.done(command!.argv);
        start = end;
      }
      at = end;
    }
    if (at > start) this.toClient.write(this.fromServer.subarray(start, at));
    this.fromServer = this.fromServer.subarray(at);
  }
}

/** Writes to a socket, each write `delayMs()` after it was handed over, in order. */
class DelayedPipe {
  private readonly queue: Array<{ due: number; data?: Buffer; then?: () => void }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly delayMs: () => number,
  ) {}

  write(data: Buffer): void {
    this.push({ due: Date.now() + this.delayMs(), data: Buffer.from(data) });
  }

  /** Runs `action` once everything written so far has gone out. */
  then(action: () => void): void {
    this.push({ due: 0, then: action });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private push(item: { due: number; data?: Buffer; then?: () => void }): void {
    this.queue.push(item);
    this.pump();
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const wait = head.due - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        return;
      }
      this.queue.shift();
      if (head.data && !this.socket.destroyed) this.socket.write(head.data);
      head.then?.();
    }
  }
}

const CRLF = 0x0d;

/** The offset after the line starting at `at` (its \r\n included), or -1 when it is not whole yet. */
function lineEnd(buf: Buffer, at: number): number {
  const cr = buf.indexOf(CRLF, at);
  return cr < 0 || cr + 1 >= buf.length ? -1 : cr + 2;
}

/**
 * The offset just after the RESP value (RESP2 or RESP3) starting at `at`, or -1 when it is not whole
 * yet.
 */
export function respEnd(buf: Buffer, at: number): number {
  if (at >= buf.length) return -1;
  const type = String.fromCharCode(buf[at]!);
  const line = lineEnd(buf, at);
  if (line < 0) return -1;
  const header = buf.toString('latin1', at + 1, line - 2);
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return line;
    case '$':
    case '!':
    case '=': {
      const length = Number(header);
      if (length < 0) return line;
      const end = line + length + 2;
      return end <= buf.length ? end : -1;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      const count = Number(header) * (type === '%' || type === '|' ? 2 : 1);
      let next = line;
      for (let i = 0; i < count; i++) {
        next = respEnd(buf, next);
        if (next < 0) return -1;
      }
      // An attribute is followed by the value it describes.
      return type === '|' ? respEnd(buf, next) : next;
    }
    default:
      // An inline command (text up to the end of the line): whole once the line is.
      return line;
  }
}

/** The command (an array of bulk strings, or an inline line) starting at `at`, if it is whole. */
function parseCommand(buf: Buffer, at: number): { argv: Argv; end: number } | undefined {
  const end = respEnd(buf, at);
  if (end < 0) return undefined;
  if (buf[at] !== 0x2a /* * */) return { argv: buf.toString('utf8', at, end).trim().split(/\s+/), end };
  const argv: Argv = [];
  let next = lineEnd(buf, at);
  const count = Number(buf.toString('latin1', at + 1, next - 2));
  for (let i = 0; i < count; i++) {
    const valueEnd = respEnd(buf, next);
    const header = lineEnd(buf, next);
    argv.push(buf[next] === 0x24 /* $ */ ? buf.toString('utf8', header, valueEnd - 2) : buf.toString('utf8', next + 1, header - 2));
    next = valueEnd;
  }
  return { argv, end };
}
