/**
 * The key-value interface the layers above (SQL state machine, Raft driver, server) use to read and
 * write the ordered key space. It is synchronous on purpose: the storage engine serves reads from
 * its memtable, block cache and `readSync` on open files, so a SQL statement runs to completion
 * without an `await` per row. Writes are atomic batches.
 *
 * Keys and values are byte strings ordered by unsigned byte-wise comparison (memcmp order).
 */

export type Bytes = Uint8Array;

/** One put or delete of a write batch. */
export type WriteOp =
  | { readonly type: 'put'; readonly key: Bytes; readonly value: Bytes }
  | { readonly type: 'del'; readonly key: Bytes };

/** A key range. Bounds omitted mean unbounded; `reverse` walks from the high end down. */
export interface KeyRange {
  readonly gte?: Bytes;
  readonly gt?: Bytes;
  readonly lt?: Bytes;
  readonly lte?: Bytes;
  readonly reverse?: boolean;
  /** Stop after this many entries. */
  readonly limit?: number;
}

export interface KvEntry {
  readonly key: Bytes;
  readonly value: Bytes;
}

/** A consistent read view: the store as of one point in time. */
export interface KvReader {
  get(key: Bytes): Bytes | undefined;
  /** Entries in key order (or reverse order) within `range`. */
  scan(range?: KeyRange): IterableIterator<KvEntry>;
}

/** A read view pinned at a point in time; release it when done so the engine can drop old versions. */
export interface KvSnapshot extends KvReader {
  release(): void;
}

/** A store: latest-state reads, snapshots, and atomic batch writes. */
/** How a batch is handed to `KvStore.write`. */
export interface WriteFlags {
  /**
   * The caller gives up the batch's keys and values: the store may keep these arrays as they are
   * instead of copying them. Without it the caller may reuse its buffers after the call.
   */
  readonly owned?: boolean;
}

export interface KvStore extends KvReader {
  snapshot(): KvSnapshot;
  /** Applies every op of `batch` atomically and in order (a later op on the same key wins). */
  write(batch: readonly WriteOp[], flags?: WriteFlags): void;
}

/** Unsigned byte-wise comparison, as memcmp: negative, zero or positive. */
export function compareBytes(a: Bytes, b: Bytes): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** First index in `keys` (sorted, memcmp order) whose key is >= `key`. */
export function lowerBound(keys: readonly Bytes[], key: Bytes): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A key's first six bytes, big-endian, zero-padded: ordered as memcmp orders keys whose prefixes differ. */
export function keyPrefix(k: Bytes): number {
  const n = k.length;
  return ((n > 0 ? k[0]! : 0) * 0x10000000000) + ((n > 1 ? k[1]! : 0) * 0x100000000) + ((n > 2 ? k[2]! : 0) * 0x1000000)
    + ((n > 3 ? k[3]! : 0) << 16 >>> 0) + ((n > 4 ? k[4]! : 0) << 8) + (n > 5 ? k[5]! : 0);
}

/**
 * `lowerBound` over sorted keys with their `keyPrefix` numbers alongside: a numeric compare
 * decides most steps without reading the keys' bytes (each a pointer chase and a loop).
 */
export function lowerBoundPrefixed(pre: Float64Array, keys: readonly Bytes[], key: Bytes, p: number): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const q = pre[mid]!;
    if (q < p || (q === p && compareBytes(keys[mid]!, key) < 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when `key` lies within the bounds of `range` (ignores reverse and limit). */
export function inRange(key: Bytes, range: KeyRange): boolean {
  if (range.gte && compareBytes(key, range.gte) < 0) return false;
  if (range.gt && compareBytes(key, range.gt) <= 0) return false;
  if (range.lt && compareBytes(key, range.lt) >= 0) return false;
  if (range.lte && compareBytes(key, range.lte) > 0) return false;
  return true;
}

/**
 * Merges buffered writes over a base scan, both in the same key order: a buffered value hides the
 * base entry with the same key, and a buffered `null` (a deletion) hides it without yielding.
 * Transactions' write buffers and the leader's view of admitted-but-unapplied batches both read
 * through this.
 */
export function* overlayScan(
  top: Iterator<[Bytes, Bytes | null]>,
  base: Iterator<KvEntry>,
  reverse: boolean,
  limit = Infinity,
): IterableIterator<KvEntry> {
  if (limit <= 0) return;
  let x = top.next(), y = base.next();
  let n = 0;
  while (!x.done || !y.done) {
    let takeTop: boolean;
    let same = false;
    if (x.done) takeTop = false;
    else if (y.done) takeTop = true;
    else {
      const c = compareBytes(x.value[0], y.value.key);
      same = c === 0;
      takeTop = reverse ? c >= 0 : c <= 0;
    }
    if (takeTop) {
      const [k, v] = x.value!;
      x = top.next();
      if (same) y = base.next();
      if (v === null) continue;
      yield { key: k, value: v };
    } else {
      yield y.value as KvEntry;
      y = base.next();
    }
    if (++n >= limit) return;
  }
}

/** Reused argument arrays, one per length: `apply` over a plain array is about twice as fast as over a Uint8Array view. */
const charArgs: number[][] = Array.from({ length: 65 }, (_, n) => new Array<number>(n).fill(0));

/**
 * `b[start, end)` as a string of char codes 0-255 (Latin-1; for ASCII bytes, the text). One
 * `fromCharCode.apply` makes one flat string without a subarray view, where per-byte
 * concatenation built a rope and its garbage on every call.
 */
export function latin1(b: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= 64) {
    const a = charArgs[n]!;
    for (let i = 0; i < n; i++) a[i] = b[start + i]!;
    return String.fromCharCode.apply(null, a);
  }
  let s = '';
  for (let i = start; i < end; i += 1024) s += String.fromCharCode.apply(null, b.subarray(i, Math.min(end, i + 1024)) as unknown as number[]);
  return s;
}

/**
 * FNV-1a over a key's bytes, as an int32: hash tables keyed by bytes use it without making a
 * string; bloom filters store it with a finaliser (`keyHash`).
 */
export function hashBytes(key: Bytes): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return h | 0;
}

/** A fresh copy of a[at, at+n) (by hand for small ones: `slice` goes through a species lookup). */
export function copyBytes(a: Bytes, at = 0, n = a.length - at): Bytes {
  const out = new Uint8Array(n);
  if (n <= 64) for (let i = 0; i < n; i++) out[i] = a[at + i]!;
  else out.set(a.subarray(at, at + n));
  return out;
}

/** A key's bytes as a binary string (a hash key whose string order is the bytes' memcmp order). */
export function binaryKey(key: Bytes): string {
  return latin1(key, 0, key.length);
}
