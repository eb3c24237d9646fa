/**
 * An in-memory KvStore with real snapshots (multi-version entries by sequence number). Used by
 * unit tests of the layers above and by the SQL benchmark's in-memory run. Not durable.
 */
import { SortedMap } from './sorted-map.ts';
import type { Bytes, KeyRange, KvEntry, KvSnapshot, KvStore, WriteOp } from './kv.ts';

/** One version of a key; `value` undefined is a deletion. Newest first. */
interface Version {
  seq: number;
  value: Bytes | undefined;
}

/** Reused argument arrays, one per length: `apply` over a plain array is about twice as fast as over a Uint8Array. */
const charArgs: number[][] = Array.from({ length: 65 }, (_, n) => new Array<number>(n).fill(0));

/**
 * A key's bytes as a string of char codes 0-255 (a hash key). One `fromCharCode.apply` makes one
 * flat string, where per-byte concatenation built a rope and its garbage on every lookup.
 */
export function binaryKey(key: Bytes): string {
  const n = key.length;
  if (n <= 64) {
    const a = charArgs[n]!;
    for (let i = 0; i < n; i++) a[i] = key[i]!;
    return String.fromCharCode.apply(null, a);
  }
  let s = '';
  for (let i = 0; i < n; i += 1024) s += String.fromCharCode.apply(null, key.subarray(i, i + 1024) as unknown as number[]);
  return s;
}

/** Batches of at least this many key and value bytes are copied into one shared buffer. */
const ARENA_MIN_BYTES = 4096;

/** A fresh copy of `b` (by hand: `slice` goes through a species lookup and is slower). */
function copyBytes(b: Bytes): Bytes {
  const n = b.length;
  const out = new Uint8Array(n);
  if (n <= 64) for (let i = 0; i < n; i++) out[i] = b[i]!;
  else out.set(b);
  return out;
}

export class MemoryKv implements KvStore {
  /** Ordered view, for scans. Holds the same version arrays as `points`. */
  private readonly map = new SortedMap<Version[]>();
  /**
   * Point index over the same entries: a memcmp binary search over byte keys costs ~20
   * comparisons per lookup, a hash lookup one. Gets and writes to existing keys use only this.
   */
  private readonly points = new Map<string, Version[]>();
  private seq = 0;
  /** Pinned snapshot sequence numbers -> how many snapshots pin each. */
  private readonly pins = new Map<number, number>();

  get sequence(): number {
    return this.seq;
  }

  private oldestPinned(): number {
    let min = Infinity;
    for (const s of this.pins.keys()) if (s < min) min = s;
    return min;
  }

  private static visible(versions: Version[], seq: number): Bytes | undefined {
    for (const v of versions) if (v.seq <= seq) return v.value;
    return undefined;
  }

  get(key: Bytes): Bytes | undefined {
    const vs = this.points.get(binaryKey(key));
    return vs ? vs[0]!.value : undefined;
  }

  scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    return this.scanAt(Infinity, range);
  }

  private *scanAt(seq: number, range: KeyRange): IterableIterator<KvEntry> {
    let limit = range.limit ?? Infinity;
    if (limit <= 0) return;
    for (const [key, vs] of this.map.entries({ ...range, limit: undefined })) {
      const value = MemoryKv.visible(vs, seq);
      if (value === undefined) continue;
      yield { key, value };
      if (--limit <= 0) return;
    }
  }

  snapshot(): KvSnapshot {
    const seq = this.seq;
    this.pins.set(seq, (this.pins.get(seq) ?? 0) + 1);
    let released = false;
    return {
      get: (key: Bytes) => {
        const vs = this.points.get(binaryKey(key));
        return vs ? MemoryKv.visible(vs, seq) : undefined;
      },
      scan: (range: KeyRange = {}) => this.scanAt(seq, range),
      release: () => {
        if (released) return;
        released = true;
        const n = this.pins.get(seq)! - 1;
        if (n === 0) this.pins.delete(seq);
        else this.pins.set(seq, n);
      },
    };
  }

  /** The buffer the running write() copies into (undefined: copy each array on its own). */
  private arena: Uint8Array | undefined;
  private arenaAt = 0;

  private copy(b: Bytes): Bytes {
    const arena = this.arena;
    if (arena === undefined) return copyBytes(b);
    const at = this.arenaAt;
    arena.set(b, at);
    this.arenaAt = at + b.length;
    return arena.subarray(at, at + b.length);
  }

  write(batch: readonly WriteOp[]): void {
    const seq = ++this.seq;
    const keep = this.oldestPinned();
    // The caller may reuse its buffers, so keys and values are copied. A large batch is copied
    // into one buffer (one allocation instead of one per key and per value, which made the copies
    // most of a bulk commit's cost). A small one is not: views into a small (V8 on-heap) buffer
    // force it off the heap, which cost a third of a one-row autocommit UPDATE.
    let bytes = 0;
    for (const op of batch) bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
    this.arena = bytes >= ARENA_MIN_BYTES ? new Uint8Array(bytes) : undefined;
    this.arenaAt = 0;
    for (const op of batch) {
      const value = op.type === 'put' ? this.copy(op.value) : undefined;
      const k = binaryKey(op.key);
      const vs = this.points.get(k);
      if (!vs) {
        if (value !== undefined || keep !== Infinity) {
          const nv = [{ seq, value }];
          this.map.set(this.copy(op.key), nv);
          this.points.set(k, nv);
        }
        continue;
      }
      if (vs[0]!.seq === seq) vs[0]!.value = value;
      else vs.unshift({ seq, value });
      // Drop versions no snapshot can see: keep every version newer than the oldest pin, plus
      // the newest one at or below it.
      let cut = vs.length;
      for (let i = 0; i < vs.length; i++) {
        if (vs[i]!.seq <= keep) { cut = i + 1; break; }
      }
      if (cut < vs.length) vs.length = cut;
      if (keep === Infinity && vs[0]!.value === undefined) { this.map.delete(op.key); this.points.delete(k); }
    }
    this.arena = undefined;
  }
}
