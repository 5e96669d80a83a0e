import { PassThrough } from 'node:stream';
import { readCappedBody, type CappedBodyEnd } from './read-capped-body';

function read(maxBytes: number) {
  const body = new PassThrough();
  const calls: Array<{ text: string; end: CappedBodyEnd }> = [];
  readCappedBody(body, maxBytes, (text, end) => calls.push({ text, end }));
  return { body, calls };
}

describe('readCappedBody', () => {
  it('hands over the whole body when it ends within the cap, multi-byte text split across reads', async () => {
    const { body, calls } = read(64);
    const bytes = Buffer.from('{"error":"café 你好"}', 'utf8');
    body.write(bytes.subarray(0, 14)); // inside "é"
    body.end(bytes.subarray(14));
    await new Promise((resolve) => body.on('end', resolve));
    expect(calls).toEqual([{ text: '{"error":"café 你好"}', end: 'ended' }]);
  });

  it('stops at the cap, at once: what fits, over_limit, and nothing more is read', () => {
    const { body, calls } = read(10);
    body.write(Buffer.from('0123456'));
    expect(calls).toEqual([]);
    body.write(Buffer.from('789abc'));
    expect(calls).toEqual([{ text: '0123456789', end: 'over_limit' }]);
    body.write(Buffer.from('more'));
    body.end();
    expect(calls).toHaveLength(1);
  });

  it('reports a body that fails before its end as aborted, once, and swallows later errors', async () => {
    const { body, calls } = read(100);
    body.write(Buffer.from('partial'));
    body.destroy(new Error('reset'));
    await new Promise((resolve) => body.on('close', resolve));
    expect(calls).toEqual([{ text: 'partial', end: 'aborted' }]);
  });
});
