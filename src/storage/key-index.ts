/**
 * The memtable's ordered index: sorted chunks like SortedMap, but each key also carries its first
 * six bytes as a number, so most comparisons are one numeric compare that never touches the key's
 * bytes (random keys make the memtable's inserts cache-miss bound otherwise). Insert-only, as a
 * memtable is; iterators survive inserts by re-seeking from the last key they returned.
 */
import { compareBytes, type Bytes } from './kv.ts';

const CHUNK_MAX = 64;

/** First six bytes, big-endian, zero-padded: ordered consistently with memcmp when they differ. */
function prefixOf(k: Bytes): number {
  const n = k.length;
  return ((n > 0 ? k[0]! : 0) * 0x10000000000) + ((n > 1 ? k[1]! : 0) * 0x100000000) + ((n > 2 ? k[2]! : 0) * 0x1000000)
    + ((n > 3 ? k[3]! : 0) << 16 >>> 0) + ((n > 4 ? k[4]! : 0) << 8) + (n > 5 ? k[5]! : 0);
}

/**
 * A chunk holds `n` entries in arrays of fixed capacity CHUNK_MAX + 1: an insert shifts in place
 * (the prefixes in a Float64Array) instead of `splice`, whose reallocations kept the collector
 * busy on a random-key write load.
 */
interface Chunk<V> { n: number; keys: (Bytes | undefined)[]; pre: Float64Array; vals: (V | undefined)[] }

function newChunk<V>(): Chunk<V> {
  return { n: 0, keys: new Array<Bytes | undefined>(CHUNK_MAX + 1).fill(undefined), pre: new Float64Array(CHUNK_MAX + 1), vals: new Array<V | undefined>(CHUNK_MAX + 1).fill(undefined) };
}

export class KeyIndex<V> {
  private chunks: Chunk<V>[] = [newChunk<V>()];
  /**
   * Each chunk's first prefix and key, side by side: the search over chunks then reads one flat
   * array of numbers instead of following two pointers per step into chunks spread over the heap
   * (those cache misses were a quarter of a random-key write's time).
   */
  private headPre: number[] = [0];
  private headKey: Bytes[] = [new Uint8Array(0)];
  private epoch = 0;
  size = 0;

  private static cmp(pa: number, a: Bytes, pb: number, b: Bytes): number {
    return pa !== pb ? (pa < pb ? -1 : 1) : compareBytes(a, b);
  }

  /** Index of the last chunk whose first key is <= key (0 when none). */
  private chunkFor(p: number, key: Bytes): number {
    const hp = this.headPre;
    let lo = 0, hi = hp.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const q = hp[mid]!;
      if (q < p || (q === p && compareBytes(this.headKey[mid]!, key) <= 0)) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /** First slot in `c` whose key is >= key. */
  private static lower<V>(c: Chunk<V>, p: number, key: Bytes): number {
    let lo = 0, hi = c.n;
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
    return i < c.n && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0 ? c.vals[i] : undefined;
  }

  /** The value under `key`, or (when absent) inserts `value` and returns undefined. */
  putIfAbsent(key: Bytes, value: V): V | undefined {
    const p = prefixOf(key);
    const cs = this.chunks;
    // Past the last key (sorted batches, ascending rowids): an append, without searching.
    const lastChunk = cs[cs.length - 1]!, n = lastChunk.n;
    const append = n > 0 && KeyIndex.cmp(lastChunk.pre[n - 1]!, lastChunk.keys[n - 1]!, p, key) < 0;
    const ci = append ? cs.length - 1 : this.chunkFor(p, key);
    const c = cs[ci]!;
    const i = append ? n : KeyIndex.lower(c, p, key);
    const cn = c.n;
    if (i < cn && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0) return c.vals[i];
    const keys = c.keys, vals = c.vals;
    c.pre.copyWithin(i + 1, i, cn);
    for (let j = cn; j > i; j--) { keys[j] = keys[j - 1]; vals[j] = vals[j - 1]; }
    c.pre[i] = p; keys[i] = key; vals[i] = value;
    c.n = cn + 1;
    // Only the first chunk can get a new first key: any other holds its first key <= key.
    if (i === 0) { this.headPre[ci] = p; this.headKey[ci] = key; }
    this.size++;
    this.epoch++;
    if (c.n > CHUNK_MAX) this.split(ci);
    return undefined;
  }

  /** Moves the upper half of a full chunk into a new chunk after it. */
  private split(ci: number): void {
    const c = this.chunks[ci]!;
    const h = c.n >>> 1, m = c.n - h;
    const r = newChunk<V>();
    r.pre.set(c.pre.subarray(h, c.n));
    for (let j = 0; j < m; j++) { r.keys[j] = c.keys[h + j]; r.vals[j] = c.vals[h + j]; c.keys[h + j] = undefined; c.vals[h + j] = undefined; }
    r.n = m;
    c.n = h;
    this.chunks.splice(ci + 1, 0, r);
    this.headPre.splice(ci + 1, 0, r.pre[0]!);
    this.headKey.splice(ci + 1, 0, r.keys[0]!);
  }

  /** [chunk, slot] of the first key >= key (or > key when `strict`). */
  private seekGe(key: Bytes, strict: boolean): [number, number] {
    const p = prefixOf(key);
    let ci = this.chunkFor(p, key);
    const c = this.chunks[ci]!;
    let i = KeyIndex.lower(c, p, key);
    if (strict && i < c.n && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0) i++;
    while (ci < this.chunks.length && i >= this.chunks[ci]!.n) { ci++; i = 0; }
    return [ci, i];
  }

  /** [chunk, slot] of the last key <= key (or < key when `strict`); chunk -1 when none. */
  private seekLe(key: Bytes, strict: boolean): [number, number] {
    const p = prefixOf(key);
    let ci = this.chunkFor(p, key);
    const c = this.chunks[ci]!;
    let i = KeyIndex.lower(c, p, key);
    if (!(strict === false && i < c.n && c.pre[i] === p && compareBytes(c.keys[i]!, key) === 0)) i--;
    while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.n - 1; }
    return [ci, i];
  }

  /** Every entry in key order, without an iterator's allocations (the index must not change meanwhile). */
  forEach(f: (key: Bytes, value: V) => void): void {
    for (const c of this.chunks) {
      const keys = c.keys, vals = c.vals;
      for (let i = 0; i < c.n; i++) f(keys[i]!, vals[i]!);
    }
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
      i = this.chunks[ci]!.n - 1;
      while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.n - 1; }
    }
    let epoch = this.epoch;
    for (;;) {
      if (!reverse) {
        while (ci < this.chunks.length && i >= this.chunks[ci]!.n) { ci++; i = 0; }
        if (ci >= this.chunks.length) return;
      } else {
        while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.n - 1; }
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
