/**
 * The memtable's ordered index: sorted chunks of entry numbers, like SortedMap, where each entry
 * also carries its key's first six bytes as a number, so most comparisons are one numeric compare
 * that never touches the key's bytes. The keys themselves live elsewhere (the memtable's arena),
 * reached through a KeySource only on prefix ties. Insert-only, as a memtable is; iterators
 * survive inserts by re-seeking from the last key they returned.
 */
import { keyPrefix as prefixOf, type Bytes } from './kv.ts';

const CHUNK_MAX = 64;

/** Where the index finds the keys of its entries. */
export interface KeySource {
  /** memcmp order of entry `id`'s key against `key`: negative, zero or positive. */
  compare(id: number, key: Bytes): number;
  /** Entry `id`'s key (an iterator re-seeks from it after an insert). */
  key(id: number): Bytes;
}

/**
 * A chunk holds `n` entries, sorted, in plain arrays of numbers of fixed capacity CHUNK_MAX + 1:
 * an insert shifts numbers in place, with no allocation and no write barrier (an array of key
 * objects cost one per moved pointer, and a Uint8Array per key cost more than the insert).
 */
interface Chunk { n: number; pre: number[]; ids: number[] }

function newChunk(): Chunk {
  return { n: 0, pre: new Array<number>(CHUNK_MAX + 1).fill(0.5), ids: new Array<number>(CHUNK_MAX + 1).fill(0) };
}

export class KeyIndex {
  private chunks: Chunk[] = [newChunk()];
  /**
   * Each chunk's first prefix and entry, side by side: the search over chunks then reads one flat
   * array of numbers instead of following pointers into chunks spread over the heap.
   */
  private headPre: number[] = [0];
  private headId: number[] = [-1];
  private epoch = 0;
  size = 0;

  constructor(private readonly src: KeySource) {}

  /** Order of entry `id` (prefix `pi`) against `key` (prefix `p`). */
  private cmp(pi: number, id: number, p: number, key: Bytes): number {
    return pi !== p ? (pi < p ? -1 : 1) : this.src.compare(id, key);
  }

  /** Index of the last chunk whose first key is <= key (0 when none). */
  private chunkFor(p: number, key: Bytes): number {
    const hp = this.headPre;
    let lo = 0, hi = hp.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const q = hp[mid]!;
      if (q < p || (q === p && this.src.compare(this.headId[mid]!, key) <= 0)) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /** First position in `c` whose key is >= key. */
  private lower(c: Chunk, p: number, key: Bytes): number {
    let lo = 0, hi = c.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const q = c.pre[mid]!;
      if (q < p || (q === p && this.src.compare(c.ids[mid]!, key) < 0)) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  /** Whether position `i` of `c` holds `key` (prefix `p`). */
  private at(c: Chunk, i: number, p: number, key: Bytes): boolean {
    return i < c.n && c.pre[i] === p && this.src.compare(c.ids[i]!, key) === 0;
  }

  /** The entry of `key`, or -1. */
  get(key: Bytes): number {
    const p = prefixOf(key);
    const c = this.chunks[this.chunkFor(p, key)]!;
    const i = this.lower(c, p, key);
    return this.at(c, i, p, key) ? c.ids[i]! : -1;
  }

  /** The entry of `key`, or (when absent) inserts `id` for it and returns -1. */
  putIfAbsent(key: Bytes, id: number): number {
    const p = prefixOf(key);
    const cs = this.chunks;
    // Past the last key (sorted batches, ascending rowids): an append, without searching.
    const lastChunk = cs[cs.length - 1]!, n = lastChunk.n;
    const append = n > 0 && this.cmp(lastChunk.pre[n - 1]!, lastChunk.ids[n - 1]!, p, key) < 0;
    const ci = append ? cs.length - 1 : this.chunkFor(p, key);
    const c = cs[ci]!;
    const i = append ? n : this.lower(c, p, key);
    if (this.at(c, i, p, key)) return c.ids[i]!;
    const cn = c.n, pre = c.pre, ids = c.ids;
    for (let j = cn; j > i; j--) { pre[j] = pre[j - 1]!; ids[j] = ids[j - 1]!; }
    pre[i] = p; ids[i] = id;
    c.n = cn + 1;
    // Only the first chunk can get a new first key: any other holds its first key <= key.
    if (i === 0) { this.headPre[ci] = p; this.headId[ci] = id; }
    this.size++;
    this.epoch++;
    if (c.n > CHUNK_MAX) this.split(ci);
    return -1;
  }

  /** Moves the upper half of a full chunk into a new chunk after it. */
  private split(ci: number): void {
    const c = this.chunks[ci]!;
    const h = c.n >>> 1, m = c.n - h;
    const r = newChunk();
    for (let j = 0; j < m; j++) { r.pre[j] = c.pre[h + j]!; r.ids[j] = c.ids[h + j]!; }
    r.n = m;
    c.n = h;
    this.chunks.splice(ci + 1, 0, r);
    this.headPre.splice(ci + 1, 0, r.pre[0]!);
    this.headId.splice(ci + 1, 0, r.ids[0]!);
  }

  /** [chunk, position] of the first key >= key (or > key when `strict`). */
  private seekGe(key: Bytes, strict: boolean): [number, number] {
    const p = prefixOf(key);
    let ci = this.chunkFor(p, key);
    const c = this.chunks[ci]!;
    let i = this.lower(c, p, key);
    if (strict && this.at(c, i, p, key)) i++;
    while (ci < this.chunks.length && i >= this.chunks[ci]!.n) { ci++; i = 0; }
    return [ci, i];
  }

  /** [chunk, position] of the last key <= key (or < key when `strict`); chunk -1 when none. */
  private seekLe(key: Bytes, strict: boolean): [number, number] {
    const p = prefixOf(key);
    let ci = this.chunkFor(p, key);
    const c = this.chunks[ci]!;
    let i = this.lower(c, p, key);
    if (!(strict === false && this.at(c, i, p, key))) i--;
    while (ci >= 0 && i < 0) { ci--; if (ci >= 0) i = this.chunks[ci]!.n - 1; }
    return [ci, i];
  }

  /** Every entry in key order into `out` from position 0 (the index must not change meanwhile). */
  ordered(out: Int32Array): void {
    let o = 0;
    for (const c of this.chunks) {
      const ids = c.ids;
      for (let i = 0; i < c.n; i++) out[o++] = ids[i]!;
    }
  }

  /** Entries from `start` (inclusive unless `exclusive`; the whole index when omitted). */
  *entries(start: Bytes | undefined, exclusive: boolean, reverse: boolean): Generator<number> {
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
      const id = this.chunks[ci]!.ids[i]!;
      yield id;
      if (epoch !== this.epoch) {
        const key = this.src.key(id);
        [ci, i] = reverse ? this.seekLe(key, true) : this.seekGe(key, true);
        epoch = this.epoch;
      } else {
        i += reverse ? -1 : 1;
      }
    }
  }
}
