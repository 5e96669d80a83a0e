import { checkJsonShape } from './json-shape';

const check = (text: string, maxDepth = 3, maxValues = 10) => checkJsonShape(Buffer.from(text), { maxDepth, maxValues });

describe('checkJsonShape', () => {
  it('counts nesting of objects and arrays, the outermost being level 1', () => {
    expect(check('{"a":[{"b":1}]}')).toBeUndefined();
    expect(check('{"a":[{"b":[1]}]}')).toEqual({ kind: 'depth', limit: 3 });
    // Depth is the deepest point, not the number of containers.
    expect(check('{"a":[1],"b":[2],"c":{"d":3}}')).toBeUndefined();
  });

  it('counts values by their separators and containers', () => {
    expect(check('[1,2,3,4,5,6,7,8,9]')).toBeUndefined();
    expect(check('[1,2,3,4,5,6,7,8,9,10,11]')).toEqual({ kind: 'values', limit: 10 });
  });

  it('ignores structure inside strings, including escaped quotes and backslashes', () => {
    expect(check('{"a":"[[[[,,,,,,,,,,,,{{{{"}')).toBeUndefined();
    expect(check('{"a":"\\"[[[[[\\"","b":"\\\\"}')).toBeUndefined();
    // The string ends after an even run of backslashes: what follows is structure again.
    expect(check('{"a":"x\\\\",' + '"b":[[[[1]]]]}')).toEqual({ kind: 'depth', limit: 3 });
  });

  it('leaves malformed text to JSON.parse', () => {
    expect(check('{"never closed')).toBeUndefined();
    expect(check(']]]]')).toBeUndefined();
  });

  it('counts multi-byte UTF-8 as string content, never as structure', () => {
    expect(check(JSON.stringify({ a: '€[{'.repeat(100), b: '😀' }))).toBeUndefined();
  });
});
