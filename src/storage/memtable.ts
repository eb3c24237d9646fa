/**
 * The memtable: recent writes, every version kept (newest first) until the memtable is flushed,
 * so snapshots and open iterators see a stable past. Keys are user keys; versions carry the write
 * batch's sequence number; a deletion is a version without a value.
 *
 * Nothing in it is a JavaScript object per write: key and value bytes are copied into one growing
 * arena, and entries (one per key) and versions (one per write) are rows of typed arrays, the
 * versions of a key a chain from the newest. A Uint8Array per key and value and an object per
 * version cost more to make and to keep (the collector traces them all) than the insert itself.
 * Views are made only when something reads. The frozen memtable goes to the flush thread as
 * copies of these arrays: a few block copies instead of a per-entry packing.
 */
import { corrupt } from './codec.ts';
import type { Entry } from './compaction.ts';
import { KeyIndex, type KeySource } from './key-index.ts';
import type { Bytes } from './kv.ts';
import type { Cursor, Found } from './table.ts';

/** Per-entry bookkeeping bytes counted against the memtable limit besides key and value. */
const ENTRY_OVERHEAD = 48;

/** A version's value length meaning "deleted". */
const DELETED = -1;

const EMPTY = new Uint8Array(0);

function growI32(a: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
  if (need <= a.length) return a;
  const out = new Int32Array(Math.max(need, a.length * 2, 1024));
  out.set(a);
  return out;
}

function growF64(a: Float64Array<ArrayBuffer>, need: number): Float64Array<ArrayBuffer> {
  if (need <= a.length) return a;
  const out = new Float64Array(Math.max(need, a.length * 2, 1024));
  out.set(a);
  return out;
}

/**
 * A memtable's content as the flush thread receives it (or as an in-process flush reads the live
 * memtable): the arena, the entries in key order, and the entry and version rows. Never stored.
 */
export interface PackedMemtable {
  readonly arena: Uint8Array;
  /** Entry numbers in key order. */
  readonly order: Int32Array;
  readonly keyAt: Int32Array;
  readonly keyLen: Int32Array;
  /** Per entry: its newest version. */
  readonly head: Int32Array;
  readonly seq: Float64Array;
  readonly valAt: Int32Array;
  /** DELETED (-1) for a deletion. */
  readonly valLen: Int32Array;
  /** Per version: the next older version of the same key, or -1. */
  readonly older: Int32Array;
}

export class Memtable implements KeySource {
  private arena = new Uint8Array(0);
  private used = 0;
  private keyAt = new Int32Array(0);
  private keyLen = new Int32Array(0);
  private head = new Int32Array(0);
  private seqs = new Float64Array(0);
  private valAt = new Int32Array(0);
  private valLen = new Int32Array(0);
  private older = new Int32Array(0);
  private entries = 0;
  readonly map = new KeyIndex(this);
  bytes = 0;
  /** Versions written (the rows of the version arrays). */
  versions = 0;
  maxSeq = 0;
  /** Highest Raft index whose effects this memtable (and everything older) holds. */
  appliedIndex = 0;

  compare(id: number, key: Bytes): number {
    const a = this.arena, at = this.keyAt[id]!, len = this.keyLen[id]!;
    const n = len < key.length ? len : key.length;
    for (let i = 0; i < n; i++) {
      const d = a[at + i]! - key[i]!;
      if (d !== 0) return d;
    }
    return len - key.length;
  }

  key(id: number): Bytes {
    return new Uint8Array(this.arena.buffer, this.keyAt[id]!, this.keyLen[id]!);
  }

  /**
   * Copies `b` into the arena. Growing replaces the arena; views made before keep the old one,
   * whose bytes never change.
   */
  private append(b: Bytes): number {
    const at = this.used, n = b.length;
    if (at + n > this.arena.length) {
      const grown = new Uint8Array(Math.max(at + n, this.arena.length * 2, 64 << 10));
      grown.set(this.arena.subarray(0, at));
      this.arena = grown;
    }
    const a = this.arena;
    if (n <= 32) for (let i = 0; i < n; i++) a[at + i] = b[i]!;
    else a.set(b, at);
    this.used = at + n;
    return at;
  }

  put(key: Bytes, seq: number, value: Bytes | undefined): void {
    const e = this.map.putIfAbsent(key, this.entries);
    let prev = -1;
    if (e < 0) {
      const id = this.entries++;
      if (id >= this.keyAt.length) {
        this.keyAt = growI32(this.keyAt, id + 1); this.keyLen = growI32(this.keyLen, id + 1); this.head = growI32(this.head, id + 1);
      }
      this.keyAt[id] = this.append(key);
      this.keyLen[id] = key.length;
      this.head[id] = this.newVersion(seq, value, -1);
    } else if (this.seqs[prev = this.head[e]!] === seq) {
      // A later write of the same batch replaces the earlier one.
      this.setValue(prev, value);
    } else {
      this.head[e] = this.newVersion(seq, value, prev);
    }
    this.bytes += key.length + (value ? value.length : 0) + ENTRY_OVERHEAD;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  private newVersion(seq: number, value: Bytes | undefined, older: number): number {
    const v = this.versions++;
    if (v >= this.seqs.length) {
      this.seqs = growF64(this.seqs, v + 1);
      this.valAt = growI32(this.valAt, v + 1); this.valLen = growI32(this.valLen, v + 1); this.older = growI32(this.older, v + 1);
    }
    this.seqs[v] = seq;
    this.older[v] = older;
    this.setValue(v, value);
    return v;
  }

  private setValue(v: number, value: Bytes | undefined): void {
    if (value === undefined) { this.valLen[v] = DELETED; return; }
    this.valAt[v] = value.length === 0 ? 0 : this.append(value);
    this.valLen[v] = value.length;
  }

  /** Version `v`'s value as a view (EMPTY for a deletion). */
  valueOf(v: number): Bytes {
    const n = this.valLen[v]!;
    return n <= 0 ? EMPTY : new Uint8Array(this.arena.buffer, this.valAt[v]!, n);
  }

  /** The newest version of entry `e` visible at `snap`, or -1. */
  visible(e: number, snap: number): number {
    let v = this.head[e]!;
    while (v >= 0 && this.seqs[v]! > snap) v = this.older[v]!;
    return v;
  }

  get(key: Bytes, snap: number): Found | undefined {
    const e = this.map.get(key);
    if (e < 0) return undefined;
    const v = this.visible(e, snap);
    if (v < 0) return undefined;
    return this.valLen[v] === DELETED ? { del: true, value: EMPTY } : { del: false, value: this.valueOf(v) };
  }

  cursor(start: Bytes | undefined, exclusive: boolean, reverse: boolean, snap: number): Cursor {
    return new MemCursor(this, this.map.entries(start, exclusive, reverse), snap);
  }

  /** Version `v`'s sequence number and whether it is a deletion. */
  seqOf(v: number): number { return this.seqs[v]!; }
  deleted(v: number): boolean { return this.valLen[v] === DELETED; }

  /**
   * The content for a flush. `copy`: fresh arrays (to transfer to the flush thread, while this
   * memtable keeps serving reads); else views of the live arrays (an in-process flush).
   */
  pack(copy: boolean): PackedMemtable {
    const order = new Int32Array(this.entries);
    this.map.ordered(order);
    const cut = <T extends Int32Array | Float64Array | Uint8Array>(a: T, n: number): T => (copy ? a.slice(0, n) : a.subarray(0, n)) as T;
    const e = this.entries, v = this.versions;
    return {
      arena: cut(this.arena, this.used), order, keyAt: cut(this.keyAt, e), keyLen: cut(this.keyLen, e), head: cut(this.head, e),
      seq: cut(this.seqs, v), valAt: cut(this.valAt, v), valLen: cut(this.valLen, v), older: cut(this.older, v),
    };
  }
}

/** The buffers of a packed memtable, for postMessage's transfer list. */
export function packedBuffers(p: PackedMemtable): ArrayBuffer[] {
  return [p.arena, p.order, p.keyAt, p.keyLen, p.head, p.seq, p.valAt, p.valLen, p.older].map((a) => a.buffer as ArrayBuffer);
}

/**
 * Reads a packed memtable as entry groups (all versions of a key, newest first; keys ascending),
 * as a flush writes them. One group array and its entries are reused: the table builder copies
 * what it gets. A packed memtable that came through a thread boundary is checked as it is read:
 * an entry or version outside its arrays, or bytes outside the arena, is refused. (A class, not a
 * generator: the generator's resumption cost several times the rest of the work per key.)
 */
export class PackedReader {
  private i = 0;
  private readonly group: Entry[] = [];
  private readonly pool: Entry[] = [];
  constructor(private readonly p: PackedMemtable) {}

  private bytes(at: number, n: number): Bytes {
    const a = this.p.arena;
    if (at < 0 || n < 0 || at + n > a.length) throw corrupt('a packed memtable points outside its bytes');
    return n === 0 ? EMPTY : new Uint8Array(a.buffer, a.byteOffset + at, n);
  }

  /** The next group, or undefined at the end. */
  next(): Entry[] | undefined {
    const p = this.p;
    if (this.i >= p.order.length) return undefined;
    const e = p.order[this.i++]!;
    if (!(e >= 0 && e < p.keyAt.length)) throw corrupt('a packed memtable names an entry it does not hold');
    const key = this.bytes(p.keyAt[e]!, p.keyLen[e]!);
    const group = this.group, pool = this.pool, nv = p.seq.length;
    group.length = 0;
    for (let v = p.head[e]!; v !== -1; v = p.older[v]!) {
      if (!(v >= 0 && v < nv) || group.length >= nv) throw corrupt('a packed memtable names a version it does not hold');
      const x = pool[group.length] ??= { key, seq: 0, del: false, value: EMPTY };
      const len = p.valLen[v]!;
      x.key = key; x.seq = p.seq[v]!; x.del = len === DELETED; x.value = len === DELETED ? EMPTY : this.bytes(p.valAt[v]!, len);
      group.push(x);
    }
    return group;
  }
}

/** A packed memtable's groups as an iterator (tests, and callers that iterate). */
export function* packedGroups(p: PackedMemtable): Generator<Entry[]> {
  const r = new PackedReader(p);
  for (let g = r.next(); g; g = r.next()) yield g;
}

class MemCursor implements Cursor {
  valid = false;
  key: Bytes = EMPTY;
  seq = 0;
  del = false;
  value: Bytes = EMPTY;
  constructor(private readonly m: Memtable, private readonly it: Iterator<number>, private readonly snap: number) {
    this.next();
  }
  next(): void {
    const m = this.m;
    for (;;) {
      const r = this.it.next();
      if (r.done) { this.valid = false; return; }
      const v = m.visible(r.value, this.snap);
      if (v < 0) continue;
      this.valid = true;
      this.key = m.key(r.value);
      this.seq = m.seqOf(v);
      this.del = m.deleted(v);
      this.value = m.valueOf(v);
      return;
    }
  }
}
