import Redis from 'ioredis';
import { RedisProxy, respEnd } from './redis-proxy';
import { TestRedis } from './redis-server';

describe('respEnd', () => {
  const end = (text: string) => respEnd(Buffer.from(text, 'latin1'), 0);
  it('finds where each kind of value ends, or says it is not whole yet', () => {
    expect(end('+OK\r\n')).toBe(5);
    expect(end('+OK\r')).toBe(-1);
    expect(end(':12\r\n:1')).toBe(5);
    expect(end('$3\r\nabc\r\n')).toBe(9);
    expect(end('$3\r\nab')).toBe(-1);
    expect(end('$-1\r\n')).toBe(5);
    expect(end('*2\r\n$1\r\na\r\n*1\r\n:1\r\n')).toBe(19);
    expect(end('*2\r\n$1\r\na\r\n')).toBe(-1);
    expect(end('*-1\r\n')).toBe(5);
    expect(end('%1\r\n+a\r\n:1\r\n')).toBe(12);
  });
});

/** The proxy between an ioredis client (as the gateway's) and a private redis-server. */
describe('RedisProxy', () => {
  let redis: TestRedis | undefined;
  let proxy: RedisProxy;
  let client: Redis;

  beforeEach(async () => {
    redis = await TestRedis.start();
    if (!redis) return;
    proxy = await RedisProxy.start(redis.port);
    client = new Redis(proxy.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 20 });
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('ready', resolve));
  });
  afterEach(async () => {
    client?.disconnect();
    await proxy?.close();
    await redis?.down();
  });

  const ready = () => new Promise((resolve) => client.once('ready', resolve));

  it('passes commands and replies through, pipelines included', async () => {
    if (!redis) return;
    expect(await client.set('k', 'v')).toBe('OK');
    const results = await client.pipeline().get('k').incr('n').xadd('s', '1-0', 'f', 'v').exec();
    expect(results).toEqual([
      [null, 'v'],
      [null, 1],
      [null, '1-0'],
    ]);
    expect(proxy.connections).toBe(1);
  });

  it('drops the reply to a matching command: the command took effect, the client saw the connection close', async () => {
    if (!redis) return;
    const dropped = proxy.dropReply((argv) => argv[0] === 'XADD');
    const results = await client.pipeline().set('before', '1').xadd('s', '1-0', 'f', 'v').set('after', '1').exec();
    expect(results![0]).toEqual([null, 'OK']);
    expect(results![1]![0]).toBeInstanceOf(Error);
    expect(await dropped).toEqual(['XADD', 's', '1-0', 'f', 'v']);
    await ready();
    // Redis executed all three.
    expect(await redis.command('XLEN', 's')).toBe(1);
    expect(await redis.command('GET', 'after')).toBe('1');
    // Once only: the retry gets its reply (here: the id is taken).
    await expect(client.xadd('s', '1-0', 'f', 'v')).rejects.toThrow(/equal or smaller/);
  });

  it('replaces the reply to a matching command with an error, and the link goes on', async () => {
    if (!redis) return;
    const failed = proxy.failReply((argv) => argv[0] === 'INCR' && argv[1] === 'b');
    const results = await client.pipeline().incr('a').incr('b').incr('c').exec();
    expect(results![0]).toEqual([null, 1]);
    expect((results![1]![0] as Error).message).toBe('ERR injected by the test proxy');
    expect(results![2]).toEqual([null, 1]);
    expect(await failed).toEqual(['INCR', 'b']);
    expect(await redis.command('GET', 'b')).toBe('1');
    expect(await client.incr('b')).toBe(2);
  });

  it('blackholes: nothing is answered until the links are reset, and new links work after pass', async () => {
    if (!redis) return;
    proxy.blackhole();
    let answered = false;
    const pending = client.get('k').then(
      () => (answered = true),
      () => 'failed',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    proxy.pass();
    proxy.reset();
    expect(await pending).toBe('failed');
    await ready();
    expect(await client.set('k', 'v')).toBe('OK');
  });

  it('delays each way', async () => {
    if (!redis) return;
    proxy.delay(100);
    const startedAt = Date.now();
    await client.ping();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
    proxy.pass();
    const again = Date.now();
    await client.ping();
    expect(Date.now() - again).toBeLessThan(100);
  });

  it('TestRedis pauses (SIGSTOP) and resumes (SIGCONT); flushAll empties it', async () => {
    if (!redis) return;
    await client.set('k', 'v');
    redis.freeze();
    let answered = false;
    const pending = client.get('k').then((v) => ((answered = true), v));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    redis.thaw();
    expect(await pending).toBe('v');
    await redis.flushAll();
    expect(await client.exists('k')).toBe(0);
  });
});
