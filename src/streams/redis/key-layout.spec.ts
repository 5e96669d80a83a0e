import calculateSlot from 'cluster-key-slot';
import { useHashTags } from '../../redis/hash-tags';
import { metaKey, principalKey, streamKey } from './redis-log-format';
import { presenceKey } from './stream-presence';

describe('key names per topology', () => {
  afterEach(() => useHashTags(false));

  it('on one Redis (or behind Sentinels) keep the single-Redis names, so a rolling deploy shares every stream with the previous release', () => {
    useHashTags(false);
    expect([streamKey('str_1'), metaKey('str_1'), presenceKey('str_1'), principalKey('alice')]).toEqual(['hsg:s:str_1', 'hsg:m:str_1', 'hsg:w:str_1', 'hsg:p:alice']);
  });

  it("on a Cluster put a stream's keys in one slot", () => {
    useHashTags(true);
    const stream = [streamKey('str_1'), metaKey('str_1'), presenceKey('str_1')];
    expect(stream).toEqual(['hsg:s:{str_1}', 'hsg:m:{str_1}', 'hsg:w:{str_1}']);
    expect(new Set(stream.map((key) => calculateSlot(key))).size).toBe(1);
    expect(principalKey('alice')).toBe('hsg:p:{alice}');
    // Different streams spread over the slots (that is the point).
    expect(new Set(['a', 'b', 'c', 'd'].map((id) => calculateSlot(streamKey(id)))).size).toBeGreaterThan(1);
  });
});
