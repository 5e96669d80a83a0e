import { viewAfter } from './reader-view';

const frames = (...seqs: number[]) => seqs.map((seq) => ({ seq }));

describe('viewAfter', () => {
  it('in memory: whole while the oldest frame held is no later than the reader’s next one', () => {
    expect(viewAfter(0, 1)).toBe('whole');
    expect(viewAfter(4, 5)).toBe('whole');
    expect(viewAfter(9, 3)).toBe('whole');
    expect(viewAfter(3, 5)).toBe('gone');
    expect(viewAfter(0, 2)).toBe('gone');
    // A record holding nothing: whole for a reader that has all it held, gone for one behind.
    expect(viewAfter(7, 8)).toBe('whole');
    expect(viewAfter(6, 8)).toBe('gone');
  });

  it('read back: whole when the frames start at or before the next one and run without a hole', () => {
    expect(viewAfter(4, frames(2, 3, 4, 5, 6))).toBe('whole');
    expect(viewAfter(4, frames(5, 6))).toBe('whole');
    expect(viewAfter(4, frames(6, 7))).toBe('gone');
    expect(viewAfter(4, frames(5, 7))).toBe('gone');
    expect(viewAfter(0, frames(1, 2, 4))).toBe('gone');
  });

  it('read back, nothing held: whole for a stream with nothing logged yet, gone for one that ended', () => {
    expect(viewAfter(0, [])).toBe('whole');
    expect(viewAfter(0, [], true)).toBe('gone');
    expect(viewAfter(3, [], true)).toBe('gone');
  });
});
