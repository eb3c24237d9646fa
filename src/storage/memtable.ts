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
  const out = new Int32Array(Math.max(need, a.length * 2, 4096));
  out.set(a);
  return out;
}

function growF64(a: Float64Array<ArrayBuffer>, need: number): Float64Array<ArrayBuffer> {
  if (need <= a.length) return a;
  const out = new Float64Array(Math.max(need, a.length * 2, 4096));
  out.set(a);
  return out;
}

/**
 * Entry rows (one per key), E_STRIDE int32s each: where its key is in the arena, and its newest
 * version. Version rows (one per write), V_STRIDE float64s each: sequence number, where the value
 * is (length DELETED for a deletion), and the next older version of the key or -1. A row's fields
 * sit side by side: a flush reads the rows in key order, which is random order in the arrays,
 * and one cache miss per row instead of one per field was most of its reading cost.
 */
const E_STRIDE = 4, E_KEY_AT = 0, E_KEY_LEN = 1, E_HEAD = 2;
const V_STRIDE = 4, V_SEQ = 0, V_VAL_AT = 1, V_VAL_LEN = 2, V_OLDER = 3;

/**
 * A memtable's content as the flush thread receives it (or as an in-process flush reads the live
 * memtable): the arena, the entries in key order, and the entry and version rows. Never stored.
 */
export interface PackedMemtable {
  readonly arena: Uint8Array;
  /** Entry numbers in key order. */
  readonly order: Int32Array;
  readonly entries: Int32Array;
  readonly versions: Float64Array;
}

export class Memtable implements KeySource {
  private arena = new Uint8Array(0);
  private used = 0;
  private ents = new Int32Array(0);
  private vers = new Float64Array(0);
  private count = 0;
  readonly map = new KeyIndex(this);
  bytes = 0;
  /** Versions written (the version rows). */
  versions = 0;
  maxSeq = 0;
  /** Highest Raft index whose effects this memtable (and everything older) holds. */
  appliedIndex = 0;

  compare(id: number, key: Bytes): number {
    const a = this.arena, r = id * E_STRIDE, at = this.ents[r + E_KEY_AT]!, len = this.ents[r + E_KEY_LEN]!;
    const n = len < key.length ? len : key.length;
    for (let i = 0; i < n; i++) {
      const d = a[at + i]! - key[i]!;
      if (d !== 0) return d;
    }
    return len - key.length;
  }

  key(id: number): Bytes {
    const r = id * E_STRIDE;
    return new Uint8Array(this.arena.buffer, this.ents[r + E_KEY_AT]!, this.ents[r + E_KEY_LEN]!);
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
    const e = this.map.putIfAbsent(key, this.count);
    if (e < 0) {
      const r = this.count++ * E_STRIDE;
      if (r + E_STRIDE > this.ents.length) this.ents = growI32(this.ents, r + E_STRIDE);
      const ents = this.ents;
      ents[r + E_KEY_AT] = this.append(key);
      ents[r + E_KEY_LEN] = key.length;
      ents[r + E_HEAD] = this.newVersion(seq, value, -1);
    } else {
      const h = e * E_STRIDE + E_HEAD, prev = this.ents[h]!;
      // A later write of the same batch replaces the earlier one.
      if (this.vers[prev * V_STRIDE + V_SEQ] === seq) this.setValue(prev, value);
      else this.ents[h] = this.newVersion(seq, value, prev);
    }
    this.bytes += key.length + (value ? value.length : 0) + ENTRY_OVERHEAD;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  private newVersion(seq: number, value: Bytes | undefined, older: number): number {
    const v = this.versions++, r = v * V_STRIDE;
    if (r + V_STRIDE > this.vers.length) this.vers = growF64(this.vers, r + V_STRIDE);
    this.vers[r + V_SEQ] = seq;
    this.vers[r + V_OLDER] = older;
    this.setValue(v, value);
    return v;
  }

  private setValue(v: number, value: Bytes | undefined): void {
    const r = v * V_STRIDE;
    if (value === undefined) { this.vers[r + V_VAL_LEN] = DELETED; return; }
    // Appended before the row is written: the append may not move the rows, only the arena.
    const at = value.length === 0 ? 0 : this.append(value);
    this.vers[r + V_VAL_AT] = at;
    this.vers[r + V_VAL_LEN] = value.length;
  }

  /** Version `v`'s value as a view (EMPTY for a deletion). */
  valueOf(v: number): Bytes {
    const r = v * V_STRIDE, n = this.vers[r + V_VAL_LEN]!;
    return n <= 0 ? EMPTY : new Uint8Array(this.arena.buffer, this.vers[r + V_VAL_AT]!, n);
  }

  /** The newest version of entry `e` visible at `snap`, or -1. */
  visible(e: number, snap: number): number {
    let v = this.ents[e * E_STRIDE + E_HEAD]!;
    while (v >= 0 && this.vers[v * V_STRIDE + V_SEQ]! > snap) v = this.vers[v * V_STRIDE + V_OLDER]!;
    return v;
  }

  get(key: Bytes, snap: number): Found | undefined {
    const e = this.map.get(key);
    if (e < 0) return undefined;
    const v = this.visible(e, snap);
    if (v < 0) return undefined;
    return this.deleted(v) ? { del: true, value: EMPTY } : { del: false, value: this.valueOf(v) };
  }

  cursor(start: Bytes | undefined, exclusive: boolean, reverse: boolean, snap: number): Cursor {
    return new MemCursor(this, this.map.entries(start, exclusive, reverse), snap);
  }

  /** Version `v`'s sequence number and whether it is a deletion. */
  seqOf(v: number): number { return this.vers[v * V_STRIDE + V_SEQ]!; }
  deleted(v: number): boolean { return this.vers[v * V_STRIDE + V_VAL_LEN] === DELETED; }

  /**
   * The content for a flush. `copy`: fresh arrays (to transfer to the flush thread, while this
   * memtable keeps serving reads); else views of the live arrays (an in-process flush).
   */
  pack(copy: boolean): PackedMemtable {
    const order = new Int32Array(this.count);
    this.map.ordered(order);
    const cut = <T extends Int32Array | Float64Array | Uint8Array>(a: T, n: number): T => (copy ? a.slice(0, n) : a.subarray(0, n)) as T;
    return { arena: cut(this.arena, this.used), order, entries: cut(this.ents, this.count * E_STRIDE), versions: cut(this.vers, this.versions * V_STRIDE) };
  }
}

/** The buffers of a packed memtable, for postMessage's transfer list. */
export function packedBuffers(p: PackedMemtable): ArrayBuffer[] {
  return [p.arena.buffer as ArrayBuffer, p.order.buffer as ArrayBuffer, p.entries.buffer as ArrayBuffer, p.versions.buffer as ArrayBuffer];
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
    if (!(at >= 0 && n >= 0 && at + n <= a.length && (at | 0) === at && (n | 0) === n)) throw corrupt('a packed memtable points outside its bytes');
    return n === 0 ? EMPTY : new Uint8Array(a.buffer, a.byteOffset + at, n);
  }

  /** The next group, or undefined at the end. */
  next(): Entry[] | undefined {
    const p = this.p;
    if (this.i >= p.order.length) return undefined;
    const e = p.order[this.i++]!, ents = p.entries, vers = p.versions;
    const r = e * E_STRIDE;
    if (!(e >= 0 && r + E_STRIDE <= ents.length)) throw corrupt('a packed memtable names an entry it does not hold');
    const key = this.bytes(ents[r + E_KEY_AT]!, ents[r + E_KEY_LEN]!);
    const group = this.group, pool = this.pool, nv = vers.length / V_STRIDE;
    group.length = 0;
    for (let v = ents[r + E_HEAD]!; v !== -1; v = vers[v * V_STRIDE + V_OLDER]!) {
      if (!(v >= 0 && v < nv && v === Math.floor(v)) || group.length >= nv) throw corrupt('a packed memtable names a version it does not hold');
      const x = pool[group.length] ??= { key, seq: 0, del: false, value: EMPTY };
      const vr = v * V_STRIDE, len = vers[vr + V_VAL_LEN]!;
      x.key = key; x.seq = vers[vr + V_SEQ]!; x.del = len === DELETED; x.value = len === DELETED ? EMPTY : this.bytes(vers[vr + V_VAL_AT]!, len);
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
