/**
 * A Map that keeps the most recently used entries: `get` and `set` make an entry the newest, and
 * `set` drops the oldest while there are more than `maxEntries`, or while their total `weight` is
 * above `maxWeight` (then the newest entry always stays, however heavy). Iteration is oldest first.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  private total = 0;

  /** @param limits at most this many entries and/or this total weight (e.g. bytes, with `weight` giving an entry's) */
  constructor(private readonly limits: { maxEntries?: number; maxWeight?: number; weight?: (value: V) => number }) {}

  get size(): number {
    return this.map.size;
  }

  /** The value, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    if (!this.map.has(key)) return undefined;
    const value = this.map.get(key) as V;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  /** The value without making it more recent. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Keeps `value` as the newest entry, then drops the oldest ones beyond the limits. */
  set(key: K, value: V): this {
    this.delete(key);
    this.map.set(key, value);
    this.total += this.weight(value);
    const { maxEntries = Infinity, maxWeight = Infinity } = this.limits;
    for (const oldest of this.map.keys()) {
      if (this.map.size <= maxEntries && (this.total <= maxWeight || this.map.size <= 1)) break;
      this.delete(oldest);
    }
    return this;
  }

  delete(key: K): boolean {
    if (!this.map.has(key)) return false;
    this.total -= this.weight(this.map.get(key) as V);
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  /** A copy with the same limits and order (for a reactive store that replaces rather than mutates). */
  copy(): LruMap<K, V> {
    const out = new LruMap<K, V>(this.limits);
    for (const [k, v] of this.map) out.set(k, v);
    return out;
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map[Symbol.iterator]();
  }

  private weight(value: V): number {
    return this.limits.weight ? this.limits.weight(value) : 0;
  }
}
