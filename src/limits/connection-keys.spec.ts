import calculateSlot from 'cluster-key-slot';
import { useHashTags } from '../redis/hash-tags';
import { connsCountKey, connsSetKey } from './connection-quota.service';

describe('connection-cap keys per topology', () => {
  afterEach(() => useHashTags(false));

  it("on a Cluster are all in the principal's slot (the admit script touches only them)", () => {
    useHashTags(true);
    const keys = [connsSetKey('alice'), connsCountKey('alice', 'gw_1'), connsCountKey('alice', 'gw_2')];
    expect(keys).toEqual(['hsg:conns:{alice}', 'hsg:conns:{alice}:gw_1', 'hsg:conns:{alice}:gw_2']);
    expect(new Set(keys.map((key) => calculateSlot(key))).size).toBe(1);
  });

  it('on one Redis are untagged', () => {
    expect([connsSetKey('alice'), connsCountKey('alice', 'gw_1')]).toEqual(['hsg:conns:alice', 'hsg:conns:alice:gw_1']);
  });
});
