/**
 * An ordered map keyed by byte strings (memcmp order): a B+tree flattened to one level of sorted
 * chunks. Lookups are two binary searches; inserts move at most one chunk's worth of slots.
 * Iterators survive concurrent inserts and deletes: when the map changed under them they
 * re-seek from the last key they returned.
 */
import { compareBytes, lowerBound, type Bytes, type KeyRange } from './kv.ts';

/** Entries per chunk before it splits in two. */
const CHUNK_MAX = 256;

interface Chunk<V> {
  keys: Bytes[];
  values: V[];
}

export class SortedMap<V> {
  private chunks: Chunk<V>[] = [{ keys: [], values: [] }];
  private count = 0;
  /** Bumped on every structural change; iterators compare it to know when to re-seek. */
  private epoch = 0;

  get size(): number {
    return this.count;
  }

  /** Index of the chunk that holds (or would hold) `key`. */
  private chunkFor(key: Bytes): number {
    const chunks = this.chunks;
    let lo = 0, hi = chunks.length - 1;
    // Appends (ascending rowids, sorted batches) land in the last chunk: one comparison, not log n.
    if (hi > 0) {
      const last = chunks[hi]!.keys[0];
      if (last !== undefined && compareBytes(last, key) <= 0) return hi;
    }
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const first = chunks[mid]!.keys[0];
      if (first !== undefined && compareBytes(first, key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  get(key: Bytes): V | undefined {
    const c = this.chunks[this.chunkFor(key)]!;
    const i = lowerBound(c.keys, key);
    if (i < c.keys.length && compareBytes(c.keys[i]!, key) === 0) return c.values[i];
    return undefined;
  }

  has(key: Bytes): boolean {
    const c = this.chunks[this.chunkFor(key)]!;
    const i = lowerBound(c.keys, key);
    return i < c.keys.length && compareBytes(c.keys[i]!, key) === 0;
  }

  set(key: Bytes, value: V): void {
    const ci = this.chunkFor(key);
    const c = this.chunks[ci]!;
    const n = c.keys.length;
    // Past the chunk's last key (an append): skip the binary search within the chunk.
    const i = n > 0 && compareBytes(c.keys[n - 1]!, key) < 0 ? n : lowerBound(c.keys, key);
    if (i < c.keys.length && compareBytes(c.keys[i]!, key) === 0) {
      c.values[i] = value;
      return;
    }
    c.keys.splice(i, 0, key);
    c.values.splice(i, 0, value);
    this.count++;
    this.epoch++;
    if (c.keys.length > CHUNK_MAX) {
      const half = c.keys.length >>> 1;
      const right: Chunk<V> = { keys: c.keys.splice(half), values: c.values.splice(half) };
      this.chunks.splice(ci + 1, 0, right);
    }
  }

  /** True when `key` sorts after every key in the map. */
  pastEnd(key: Bytes): boolean {
    const c = this.chunks[this.chunks.length - 1]!;
    const n = c.keys.length;
    return n === 0 ? this.count === 0 : compareBytes(c.keys[n - 1]!, key) < 0;
  }

  /** Adds a key that sorts after every key in the map (`pastEnd`), without searching. */
  append(key: Bytes, value: V): void {
    const c = this.chunks[this.chunks.length - 1]!;
    c.keys.push(key);
    c.values.push(value);
    this.count++;
    this.epoch++;
    if (c.keys.length > CHUNK_MAX) {
      const half = c.keys.length >>> 1;
      this.chunks.push({ keys: c.keys.splice(half), values: c.values.splice(half) });
    }
  }

  delete(key: Bytes): boolean {
    const ci = this.chunkFor(key);
    const c = this.chunks[ci]!;
    const i = lowerBound(c.keys, key);
    if (i >= c.keys.length || compareBytes(c.keys[i]!, key) !== 0) return false;
    c.keys.splice(i, 1);
    c.values.splice(i, 1);
    this.count--;
    this.epoch++;
    if (c.keys.length === 0 && this.chunks.length > 1) this.chunks.splice(ci, 1);
    return true;
  }

  clear(): void {
    this.chunks = [{ keys: [], values: [] }];
    this.count = 0;
    this.epoch++;
  }

  /** Position of the first key >= `key`, as [chunk, index], normalised past empty chunk ends. */
  private seekGe(key: Bytes): [number, number] {
    let ci = this.chunkFor(key);
    let i = lowerBound(this.chunks[ci]!.keys, key);
    while (ci < this.chunks.length && i >= this.chunks[ci]!.keys.length) { ci++; i = 0; }
    return [ci, i];
  }

  /** Position of the last key <= `key` (or < it when `strict`); chunk -1 when there is none. */
  private seekLe(key: Bytes, strict: boolean): [number, number] {
    let ci = this.chunkFor(key);
    const keys = this.chunks[ci]!.keys;
    let i = lowerBound(keys, key);
    if (!strict && i < keys.length && compareBytes(keys[i]!, key) === 0) return [ci, i];
    i--;
    while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.keys.length - 1; }
    return [ci, i];
  }

  /** Entries within `range`, in order (or reverse order), as [key, value] pairs. */
  *entries(range: KeyRange = {}): IterableIterator<[Bytes, V]> {
    let limit = range.limit ?? Infinity;
    if (limit <= 0) return;
    if (!range.reverse) {
      let ci: number, i: number;
      if (range.gt) { [ci, i] = this.seekGe(range.gt); if (ci < this.chunks.length && compareBytes(this.chunks[ci]!.keys[i]!, range.gt) === 0) { i++; if (i >= this.chunks[ci]!.keys.length) { ci++; i = 0; } } }
      else if (range.gte) [ci, i] = this.seekGe(range.gte);
      else [ci, i] = this.seekGe(new Uint8Array(0));
      let epoch = this.epoch;
      let last: Bytes | undefined;
      for (;;) {
        if (epoch !== this.epoch && last) {
          [ci, i] = this.seekGe(last);
          if (ci < this.chunks.length && compareBytes(this.chunks[ci]!.keys[i]!, last) === 0) { i++; }
          epoch = this.epoch;
        }
        while (ci < this.chunks.length && i >= this.chunks[ci]!.keys.length) { ci++; i = 0; }
        if (ci >= this.chunks.length) return;
        const c = this.chunks[ci]!;
        const key = c.keys[i]!;
        if (range.lt && compareBytes(key, range.lt) >= 0) return;
        if (range.lte && compareBytes(key, range.lte) > 0) return;
        last = key;
        i++;
        yield [key, c.values[i - 1]!];
        if (--limit <= 0) return;
      }
    } else {
      let ci: number, i: number;
      if (range.lt) [ci, i] = this.seekLe(range.lt, true);
      else if (range.lte) [ci, i] = this.seekLe(range.lte, false);
      else { ci = this.chunks.length - 1; i = this.chunks[ci]!.keys.length - 1; while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.keys.length - 1; } }
      let epoch = this.epoch;
      let last: Bytes | undefined;
      for (;;) {
        if (epoch !== this.epoch && last) { [ci, i] = this.seekLe(last, true); epoch = this.epoch; }
        while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.keys.length - 1; }
        if (ci < 0) return;
        const c = this.chunks[ci]!;
        if (i >= c.keys.length) { i = c.keys.length - 1; continue; }
        const key = c.keys[i]!;
        if (range.gte && compareBytes(key, range.gte) < 0) return;
        if (range.gt && compareBytes(key, range.gt) <= 0) return;
        last = key;
        i--;
        yield [key, c.values[i + 1]!];
        if (--limit <= 0) return;
      }
    }
  }
}
