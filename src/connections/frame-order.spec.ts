import { ANY_ID, FrameOrder } from './frame-order';

/** A round trip the test ends when it likes. */
function roundTrip() {
  let end!: () => void;
  const promise = new Promise<void>((resolve) => (end = resolve));
  return { promise, end };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('FrameOrder', () => {
  it('runs work at once when nothing with its id waits, without a promise', () => {
    const order = new FrameOrder();
    const ran: string[] = [];
    expect(order.run('a', () => void ran.push('a'))).toBeUndefined();
    expect(order.run(undefined, () => void ran.push('ping'))).toBeUndefined();
    expect(ran).toEqual(['a', 'ping']);
    expect(order.size).toBe(0);
  });

  it('holds a frame behind an earlier one with its id (a cancel behind its resume), never behind another id', async () => {
    const order = new FrameOrder();
    const ran: string[] = [];
    const resume = roundTrip();
    order.run('r', () => (ran.push('resume r'), resume.promise));
    order.run('r', () => void ran.push('cancel r'));
    order.run(undefined, () => void ran.push('ping'));
    order.run('other', () => void ran.push('cancel other'));
    expect(ran).toEqual(['resume r', 'ping', 'cancel other']);
    resume.end();
    await flush();
    expect(ran).toEqual(['resume r', 'ping', 'cancel other', 'cancel r']);
    expect(order.size).toBe(0);
  });

  it('a frame of unknown id waits for every keyed frame before it and holds every keyed frame after it', async () => {
    const order = new FrameOrder();
    const ran: string[] = [];
    const first = roundTrip();
    const any = roundTrip();
    order.run('a', () => (ran.push('a'), first.promise));
    order.run(ANY_ID, () => (ran.push('any'), any.promise));
    order.run('b', () => void ran.push('b'));
    order.run(undefined, () => void ran.push('ping'));
    expect(ran).toEqual(['a', 'ping']);
    first.end();
    await flush();
    expect(ran).toEqual(['a', 'ping', 'any']);
    any.end();
    await flush();
    expect(ran).toEqual(['a', 'ping', 'any', 'b']);
  });

  it('past its cap returns a promise that resolves once a frame ends; after close, waiting work is dropped', async () => {
    const order = new FrameOrder(2);
    const trips = [roundTrip(), roundTrip()];
    expect(order.run('a', () => trips[0]!.promise)).toBeUndefined();
    const held = order.run('b', () => trips[1]!.promise);
    expect(held).toBeInstanceOf(Promise);
    trips[1]!.end();
    await held;
    const late = jest.fn();
    // Behind the first 'a': in flight, so at the cap again.
    expect(order.run('a', late)).toBeInstanceOf(Promise);
    order.close();
    trips[0]!.end();
    await flush();
    expect(late).not.toHaveBeenCalled();
    expect(order.run('c', late)).toBeUndefined();
    expect(late).not.toHaveBeenCalled();
  });
});
