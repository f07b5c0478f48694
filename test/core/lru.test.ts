import { describe, expect, it } from 'vitest';
import { LruMap } from '../../core/lru';

const keys = <K, V>(m: LruMap<K, V>): K[] => [...m.keys()];

describe('LruMap', () => {
  it('drops the least recently used entry beyond maxEntries; get makes an entry recent, peek does not', () => {
    const m = new LruMap<string, number>({ maxEntries: 2 });
    m.set('a', 1).set('b', 2);
    expect(m.get('a')).toBe(1); // order now b, a
    m.set('c', 3); // drops b
    expect(keys(m)).toEqual(['a', 'c']);
    expect(m.peek('a')).toBe(1); // order unchanged
    m.set('d', 4); // drops a
    expect(keys(m)).toEqual(['c', 'd']);
    expect(m.get('b')).toBeUndefined();
  });

  it('setting a key again replaces it as the newest', () => {
    const m = new LruMap<string, number>({ maxEntries: 3 });
    m.set('a', 1).set('b', 2).set('a', 10);
    expect([...m]).toEqual([['b', 2], ['a', 10]]);
  });

  it('bounds the total weight, keeping the newest entry even when it alone is over', () => {
    const m = new LruMap<string, string>({ maxWeight: 10, weight: (v) => v.length });
    m.set('a', 'xxxx').set('b', 'xxxx'); // 8
    m.set('c', 'xxxx'); // 12 > 10: a goes
    expect(keys(m)).toEqual(['b', 'c']);
    m.delete('b'); // 4
    m.set('d', 'x'.repeat(6)); // 10: both stay
    expect(keys(m)).toEqual(['c', 'd']);
    m.set('e', 'x'.repeat(20)); // alone over the bound: stays, the rest go
    expect(keys(m)).toEqual(['e']);
  });

  it('maxEntries 0 keeps nothing; clear empties; a copy keeps limits and order and is independent', () => {
    const none = new LruMap<string, number>({ maxEntries: 0 });
    none.set('a', 1);
    expect(none.size).toBe(0);
    const m = new LruMap<string, number>({ maxEntries: 2 });
    m.set('a', 1).set('b', 2);
    const c = m.copy();
    c.set('c', 3);
    expect(keys(c)).toEqual(['b', 'c']);
    expect(keys(m)).toEqual(['a', 'b']);
    m.clear();
    expect(m.size).toBe(0);
  });
});
