import { SchedulerRegistry } from '@nestjs/schedule';
import { parseConfig } from '../config/config.schema';
import type { ClientTransport } from '../connections/client-transport';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { HeartbeatService } from './heartbeat.service';

class FakeTransport implements ClientTransport {
  pings = 0;
  closes: number[] = [];
  bufferedAmount = 0;
  isOpen = true;
  send(): void {}
  ping(): void {
    this.pings++;
  }
  close(code: number): void {
    this.closes.push(code);
  }
}

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
    registry.recordPong(a);
    jest.advanceTimersByTime(INTERVAL);
    expect(alive.pings).toBe(2);
    expect(alive.closes).toEqual([]);
    expect(dead.closes).toEqual([4001]);
  });

  it('closes with 4002 after IDLE_TIMEOUT_MS without activity, but never while a stream is active', () => {
    const idle = new FakeTransport();
    const streaming = new FakeTransport();
    const i = registry.register(idle, { id: 'idle', principal: 'p', remoteAddress: 'x' });
    const s = registry.register(streaming, { id: 'streaming', principal: 'p', remoteAddress: 'x' });
    registry.streamStarted(s, 'essay', 'str_1');

    // Both answer every ping, so only idleness can close them.
    for (let t = INTERVAL; t < IDLE; t += INTERVAL) {
      jest.advanceTimersByTime(INTERVAL);
      registry.recordPong(i);
      registry.recordPong(s);
    }
    expect(idle.closes).toEqual([]);
    jest.advanceTimersByTime(INTERVAL);
    registry.recordPong(s);
    expect(idle.closes).toEqual([4002]);

    // Twenty minutes into one long answer: still open.
    for (let t = 0; t < 4 * IDLE; t += INTERVAL) {
      jest.advanceTimersByTime(INTERVAL);
      registry.recordPong(s);
    }
    expect(streaming.closes).toEqual([]);

    // The idle clock restarts when the stream ends.
    registry.streamEnded(s, 'essay');
    for (let t = INTERVAL; t < IDLE; t += INTERVAL) {
      jest.advanceTimersByTime(INTERVAL);
      registry.recordPong(s);
    }
    expect(streaming.closes).toEqual([]);
    jest.advanceTimersByTime(INTERVAL);
    expect(streaming.closes).toEqual([4002]);
  });
});
