import { FakeTransport } from '../../test/support/fake-transport';
import { ConnectionRegistryService } from './connection-registry.service';

const fakeTransport = () => new FakeTransport();

describe('ConnectionRegistryService', () => {
  let now: number;
  let registry: ConnectionRegistryService;
  beforeEach(() => {
    now = 1_000;
    registry = new ConnectionRegistryService();
    registry.useClock(() => now);
  });

  it('tracks id, principal, address, timestamps and counts per principal', () => {
    const a = registry.register(fakeTransport(), { id: 'a', principal: 'alice', remoteAddress: '10.0.0.1' });
    registry.register(fakeTransport(), { id: 'b', principal: 'alice', remoteAddress: '10.0.0.2' });
    registry.register(fakeTransport(), { id: 'c', principal: 'bob', remoteAddress: '10.0.0.3' });
    expect(a).toMatchObject({ id: 'a', principal: 'alice', remoteAddress: '10.0.0.1', connectedAt: 1_000, lastActivityAt: 1_000 });
    expect(registry.size).toBe(3);
    expect(registry.countForPrincipal('alice')).toBe(2);
    expect(registry.unregister('a')).toBe(a);
    expect(registry.unregister('a')).toBeUndefined();
    expect(registry.countForPrincipal('alice')).toBe(1);
    expect(registry.get('a')).toBeUndefined();
    expect([...registry.all()].map((c) => c.id)).toEqual(['b', 'c']);
  });

  it('tells a listener of the connections already there, then of each that joins or leaves', () => {
    registry.register(fakeTransport(), { id: 'before', principal: 'p', remoteAddress: 'x' });
    const seen: string[] = [];
    registry.listen({ registered: (c) => seen.push(`+${c.id}`), unregistered: (c) => seen.push(`-${c.id}`) });
    registry.register(fakeTransport(), { id: 'after', principal: 'p', remoteAddress: 'x' });
    registry.unregister('before');
    registry.unregister('before');
    expect(seen).toEqual(['+before', '+after', '-before']);
  });

  it('counts places reserved for streams still being admitted under the cap, each released once', () => {
    const connection = registry.register(fakeTransport(), { id: 'a', principal: 'p', remoteAddress: 'x' });
    const first = connection.reserveStream();
    const second = connection.reserveStream();
    expect(connection.streamCount).toBe(2);
    first();
    connection.streamStarted('r1', 'str_1');
    expect(connection.streamCount).toBe(2);
    first();
    expect(connection.streamCount).toBe(2);
    second();
    expect(connection.streamCount).toBe(1);
    connection.streamEnded('r1');
    expect(connection.streamCount).toBe(0);
  });

  it('refuses a duplicate connection id', () => {
    registry.register(fakeTransport(), { id: 'a', principal: 'p', remoteAddress: 'x' });
    expect(() => registry.register(fakeTransport(), { id: 'a', principal: 'p', remoteAddress: 'x' })).toThrow(/already registered/);
  });

  it('counts frames in and out and clears the pong wait on any sign of life', () => {
    const transport = fakeTransport();
    const c = registry.register(transport, { id: 'a', principal: 'p', remoteAddress: 'x' });
    c.ping(now);
    now = 5_000;
    expect(c.isUnresponsive(now, 1_000)).toBe(true);
    transport.receive({ type: 'ping' });
    expect(c).toMatchObject({ framesIn: 1, lastActivityAt: 5_000 });
    expect(c.isUnresponsive(now, 1_000)).toBe(false);
    c.ping(now);
    now = 9_000;
    expect(c.isUnresponsive(now, 1_000)).toBe(true);
    transport.pong();
    // A pong proves life but is not activity: browsers answer pings without the app.
    expect(c.isUnresponsive(now, 1_000)).toBe(false);
    expect(c.lastActivityAt).toBe(5_000);
    c.send({ type: 'pong', ts: 1 });
    c.sendText('{"type":"pong"}');
    expect(c.framesOut).toBe(2);
    expect(transport.sent).toEqual(['{"type":"pong","ts":1}', '{"type":"pong"}']);
  });

  it('is idle only with no active stream and no inbound frame for the timeout; a stream end restarts the clock', () => {
    const c = registry.register(fakeTransport(), { id: 'a', principal: 'p', remoteAddress: 'x' });
    c.streamStarted('req-1', 'str_1');
    now = 1_000 + 10_000;
    expect(c.isIdle(now, 5_000)).toBe(false);
    expect(registry.totalActiveStreams()).toBe(1);
    c.streamEnded('req-1');
    expect(c.lastActivityAt).toBe(11_000);
    expect(c.isIdle(now, 5_000)).toBe(false);
    now = 16_000;
    expect(c.isIdle(now, 5_000)).toBe(true);
  });

  it('resolves whenEmpty once the last connection goes', async () => {
    await expect(registry.whenEmpty()).resolves.toBeUndefined();
    registry.register(fakeTransport(), { id: 'a', principal: 'p', remoteAddress: 'x' });
    let resolved = false;
    const empty = registry.whenEmpty().then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(false);
    registry.unregister('a');
    await empty;
    expect(resolved).toBe(true);
  });

  it('remembers the first close reason', () => {
    const transport = fakeTransport();
    const c = registry.register(transport, { id: 'a', principal: 'p', remoteAddress: 'x' });
    c.close(4002, 'idle timeout', 'idle');
    c.close(1012, 'draining', 'drain');
    expect(c.closeReason).toBe('idle');
    expect(transport.closes).toEqual([
      [4002, 'idle timeout'],
      [1012, 'draining'],
    ]);
  });
});
