import { SchedulerRegistry } from '@nestjs/schedule';
import { parseConfig } from '../config/config.schema';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { HeartbeatService, heartbeatSlices } from './heartbeat.service';

import { FakeTransport } from '../../test/support/fake-transport';

/** Drives the real scheduled job with jest's fake timers: production intervals, no waiting. */
describe('HeartbeatService (fake timers)', () => {
  const INTERVAL = 25_000;
  const IDLE = 300_000;
  let registry: ConnectionRegistryService;
  let scheduler: SchedulerRegistry;

  beforeEach(() => {
    jest.useFakeTimers({ now: 0 });
    registry = new ConnectionRegistryService();
    scheduler = new SchedulerRegistry();
    new HeartbeatService(scheduler, registry, parseConfig({})).onApplicationBootstrap();
  });
  afterEach(() => {
    scheduler.deleteInterval('heartbeat');
    jest.useRealTimers();
  });

  it('registers its interval with the SchedulerRegistry under a name', () => {
    expect(scheduler.getIntervals()).toEqual(['heartbeat']);
  });

  it('pings each interval, and closes with 4001 a socket that did not answer the previous ping', () => {
    const alive = new FakeTransport();
    const dead = new FakeTransport();
    const a = registry.register(alive, { id: 'alive', principal: 'p', remoteAddress: 'x' });
    registry.register(dead, { id: 'dead', principal: 'p', remoteAddress: 'x' });

    jest.advanceTimersByTime(INTERVAL);
    expect([alive.pings, dead.pings]).toEqual([1, 1]);
    a.markAlive();
    jest.advanceTimersByTime(INTERVAL);
    // The verdict on silence runs after the turn's I/O, a moment after the tick.
    jest.advanceTimersByTime(1);
    expect(alive.pings).toBe(2);
    expect(alive.closeCodes).toEqual([]);
    expect(dead.closeCodes).toEqual([4001]);
  });

  it('closes with 4002 after IDLE_TIMEOUT_MS without activity, but never while a stream is active', () => {
    const idle = new FakeTransport();
    const streaming = new FakeTransport();
    const i = registry.register(idle, { id: 'idle', principal: 'p', remoteAddress: 'x' });
    const s = registry.register(streaming, { id: 'streaming', principal: 'p', remoteAddress: 'x' });
    s.streamStarted('essay', 'str_1');

    // Both answer every ping, so only idleness can close them.
    for (let t = INTERVAL; t < IDLE; t += INTERVAL) {
      jest.advanceTimersByTime(INTERVAL);
      i.markAlive();
      s.markAlive();
    }
    expect(idle.closeCodes).toEqual([]);
    // Closed at its slot's first beat past IDLE_TIMEOUT_MS: within a round of it.
    jest.advanceTimersByTime(INTERVAL);
    i.markAlive();
    s.markAlive();
    jest.advanceTimersByTime(INTERVAL);
    s.markAlive();
    expect(idle.closeCodes).toEqual([4002]);

    // Twenty minutes into one long answer: still open.
    for (let t = 0; t < 4 * IDLE; t += INTERVAL) {
      jest.advanceTimersByTime(INTERVAL);
      s.markAlive();
    }
    expect(streaming.closeCodes).toEqual([]);

    // The idle clock restarts when the stream ends.
    s.streamEnded('essay');
    for (let t = INTERVAL; t < IDLE; t += INTERVAL) {
      jest.advanceTimersByTime(INTERVAL);
      s.markAlive();
    }
    expect(streaming.closeCodes).toEqual([]);
    jest.advanceTimersByTime(INTERVAL);
    s.markAlive();
    jest.advanceTimersByTime(INTERVAL);
    expect(streaming.closeCodes).toEqual([4002]);
  });

  it('spreads a round over the interval: each slice pings its share of the sockets, each socket once a round', () => {
    const { slices, sliceMs } = heartbeatSlices(INTERVAL);
    expect({ slices, sliceMs }).toEqual({ slices: 250, sliceMs: 100 });
    expect(heartbeatSlices(150)).toEqual({ slices: 1, sliceMs: 150 });
    expect(heartbeatSlices(1_050)).toEqual({ slices: 10, sliceMs: 105 });
    const transports = Array.from({ length: 1_000 }, () => new FakeTransport());
    transports.forEach((t, i) => registry.register(t, { id: `c${i}`, principal: 'p', remoteAddress: 'x' }));
    const pinged = () => transports.reduce((n, t) => n + t.pings, 0);
    for (let slice = 1; slice <= slices; slice++) {
      jest.advanceTimersByTime(sliceMs);
      expect(pinged()).toBe(slice * 4);
    }
    expect(transports.every((t) => t.pings === 1)).toBe(true);
  });

  it('a slice serves its own slot without scanning the registry; sockets that leave leave their slot, new ones join one', () => {
    const { slices } = heartbeatSlices(INTERVAL);
    const all = jest.spyOn(registry, 'all');
    const transports = Array.from({ length: 2 * slices }, () => new FakeTransport());
    transports.forEach((t, i) => registry.register(t, { id: `c${i}`, principal: 'p', remoteAddress: 'x' }));
    // Every other socket leaves before its first ping; a late one joins.
    transports.forEach((_, i) => i % 2 === 1 && registry.unregister(`c${i}`));
    const late = new FakeTransport();
    registry.register(late, { id: 'late', principal: 'p', remoteAddress: 'x' });
    jest.advanceTimersByTime(INTERVAL);
    expect(all).not.toHaveBeenCalled();
    expect(transports.map((t) => t.pings)).toEqual(transports.map((_, i) => (i % 2 === 0 ? 1 : 0)));
    expect(late.pings).toBe(1);
  });

  it('judges silence only after the turn that runs a late tick has read its sockets', () => {
    const transport = new FakeTransport();
    const c = registry.register(transport, { id: 'stalled', principal: 'p', remoteAddress: 'x' });
    // Its slot is the first slice's.
    jest.advanceTimersByTime(heartbeatSlices(INTERVAL).sliceMs);
    expect(transport.pings).toBe(1);
    // The loop was busy: its slot is due again, but the client's answer is still unread.
    jest.advanceTimersByTime(INTERVAL);
    expect(transport.pings).toBe(1);
    expect(transport.closeCodes).toEqual([]);
    // The same turn's poll phase reads the pong before the verdict runs.
    c.markAlive();
    jest.advanceTimersByTime(1);
    expect(transport.closeCodes).toEqual([]);
  });

  it('never judges a socket it has stopped reading: the slow-client timer owns it', () => {
    const transport = new FakeTransport();
    const settings = { backpressure: { highWaterBytes: 1024, slowClientTimeoutMs: 10 * INTERVAL, slowClientCloseGraceMs: 1_000 }, framesPerSecond: 50 };
    const c = registry.register(transport, { id: 'slow', principal: 'p', remoteAddress: 'x' }, { settings });
    transport.bufferedAmount = 4096;
    c.sendText('{"type":"pong"}');
    expect(c.isReadingPaused).toBe(true);
    jest.advanceTimersByTime(5 * INTERVAL);
    expect(transport.pings).toBe(0);
    expect(transport.closeCodes).toEqual([]);
    jest.advanceTimersByTime(5 * INTERVAL);
    expect(transport.closeCodes).toEqual([4008]);
  });
});
