/**
 * The memtable's ordered index: sorted chunks like SortedMap, but each key also carries its first
 * six bytes as a number, so most comparisons are one numeric compare that never touches the key's
 * bytes (random keys make the memtable's inserts cache-miss bound otherwise). Insert-only, as a
 * memtable is; iterators survive inserts by re-seeking from the last key they returned.
 */
import { compareBytes, type Bytes } from './kv.ts';

const CHUNK_MAX = 128;

/** First six bytes, big-endian, zero-padded: ordered consistently with memcmp when they differ. */
function prefixOf(k: Bytes): number {
  const n = k.length;
  return ((n > 0 ? k[0]! : 0) * 0x10000000000) + ((n > 1 ? k[1]! : 0) * 0x100000000) + ((n > 2 ? k[2]! : 0) * 0x1000000)
    + ((n > 3 ? k[3]! : 0) << 16 >>> 0) + ((n > 4 ? k[4]! : 0) << 8) + (n > 5 ? k[5]! : 0);
}

interface Chunk<V> { keys: Bytes[]; pre: number[]; vals: V[] }

export class KeyIndex<V> {
  private chunks: Chunk<V>[] = [{ keys: [], pre: [], vals: [] }];
  private epoch = 0;
  size = 0;

  private static cmp(pa: number, a: Bytes, pb: number, b: Bytes): number {
    return pa !== pb ? (pa < pb ? -1 : 1) : compareBytes(a, b);
  }

  /** Index of the last chunk whose first key is <= key (0 when none). */
  private chunkFor(p: number, key: Bytes): number {
    const cs = this.chunks;
    let lo = 0, hi = cs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const c = cs[mid]!;
      if (KeyIndex.cmp(c.pre[0]!, c.keys[0]!, p, key) <= 0) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /** First slot in `c` whose key is >= key. */
  private static lower<V>(c: Chunk<V>, p: number, key: Bytes): number {
    let lo = 0, hi = c.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (KeyIndex.cmp(c.pre[mid]!, c.keys[mid]!, p, key) < 0) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  get(key: Bytes): V | undefined {
    const p = prefixOf(key);
    const c = this.chunks[this.chunkFor(p, key)]!;
    const i = KeyIndex.lower(c, p, key);
    return i < c.keys.length && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0 ? c.vals[i] : undefined;
  }

  /** The value under `key`, or (when absent) inserts `value` and returns undefined. */
  putIfAbsent(key: Bytes, value: V): V | undefined {
    const p = prefixOf(key);
    const cs = this.chunks;
    // Past the last key (sorted batches, ascending rowids): an append, without searching.
    const lastChunk = cs[cs.length - 1]!, n = lastChunk.keys.length;
    const append = n > 0 && KeyIndex.cmp(lastChunk.pre[n - 1]!, lastChunk.keys[n - 1]!, p, key) < 0;
    const ci = append ? cs.length - 1 : this.chunkFor(p, key);
    const c = cs[ci]!;
    const i = append ? n : KeyIndex.lower(c, p, key);
    if (i < c.keys.length && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0) return c.vals[i];
    c.keys.splice(i, 0, key);
    c.pre.splice(i, 0, p);
    c.vals.splice(i, 0, value);
    this.size++;
    this.epoch++;
    if (c.keys.length > CHUNK_MAX) {
      const h = c.keys.length >>> 1;
      this.chunks.splice(ci + 1, 0, { keys: c.keys.splice(h), pre: c.pre.splice(h), vals: c.vals.splice(h) });
    }
    return undefined;
  }

  /** [chunk, slot] of the first key >= key (or > key when `strict`). */
  private seekGe(key: Bytes, strict: boolean): [number, number] {
    const p = prefixOf(key);
    let ci = this.chunkFor(p, key);
    const c = this.chunks[ci]!;
    let i = KeyIndex.lower(c, p, key);
    if (strict && i < c.keys.length && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0) i++;
    while (ci < this.chunks.length && i >= this.chunks[ci]!.keys.length) { ci++; i = 0; }
    return [ci, i];
  }

  /** [chunk, slot] of the last key <= key (or < key when `strict`); chunk -1 when none. */
  private seekLe(key: Bytes, strict: boolean): [number, number] {
    const p = prefixOf(key);
    let ci = this.chunkFor(p, key);
    const c = this.chunks[ci]!;
    let i = KeyIndex.lower(c, p, key);
    if (!(strict === false && i < c.keys.length && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0)) i--;
    while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.keys.length - 1; }
    return [ci, i];
  }

  /** Entries from `start` (inclusive unless `exclusive`; the whole index when omitted). */
  *entries(start: Bytes | undefined, exclusive: boolean, reverse: boolean): Generator<[Bytes, V]> {
    let ci: number, i: number;
    if (!reverse) {
      [ci, i] = start ? this.seekGe(start, exclusive) : [0, 0];
    } else if (start) {
      [ci, i] = this.seekLe(start, exclusive);
    } else {
      ci = this.chunks.length - 1;
      i = this.chunks[ci]!.keys.length - 1;
      while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.keys.length - 1; }
    }
    let epoch = this.epoch;
    for (;;) {
      if (!reverse) {
        while (ci < this.chunks.length && i >= this.chunks[ci]!.keys.length) { ci++; i = 0; }
        if (ci >= this.chunks.length) return;
      } else {
        while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.keys.length - 1; }
        if (ci < 0) return;
      }
      const c = this.chunks[ci]!;
      const key = c.keys[i]!;
      yield [key, c.vals[i]!];
      if (epoch !== this.epoch) {
        [ci, i] = reverse ? this.seekLe(key, true) : this.seekGe(key, true);
        epoch = this.epoch;
      } else {
        i += reverse ? -1 : 1;
      }
    }
  }
}
