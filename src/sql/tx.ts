/**
 * A transaction's view of the key space: a snapshot of the store overlaid with a write buffer, so a
 * session reads its own writes. Every key and range read is recorded (the read set) for optimistic
 * validation by the layer that commits. Savepoints are positions in an undo log.
 */
import { SortedMap } from '../storage/sorted-map.ts';
import { SCHEMA_ROOT } from './catalog.ts';
import { SPACE_TREE, latin1, treePrefix } from './codec.ts';
import { copyBytes, hashBytes, overlayScan, type Bytes, type KeyRange, type KvEntry, type KvReader, type KvSnapshot, type KvStore, type WriteOp } from '../storage/kv.ts';

/** Keys and ranges a transaction read: what a concurrent commit must not have changed. */
export interface ReadSet {
  /** Keys read by point lookups, as binary strings (char code = byte; `binaryKey` of the key). */
  readonly keys: string[];
  readonly ranges: KeyRange[];
}

/**
 * Receives a committed transaction: one atomic batch plus what it read. The default applies the
 * batch to the store; the server replaces it with "propose through Raft, validate the read set".
 * Throwing aborts the commit (the session's transaction is then rolled back).
 */
export type Committer = (batch: WriteOp[], reads: ReadSet) => void;

const NO_BYTES = new Uint8Array(0);

/** An entry's value length meaning "deleted in this transaction" (a tombstone to commit). */
const TOMBSTONE = -1;
/** An entry's value length meaning "not written" (an entry whose writes were rolled back). */
const ABSENT = -2;

const SCHEMA_TREE = treePrefix(SCHEMA_ROOT);

/** Whether key[at, at+len) lies in a table or index tree other than the schema table's. */
function isTreeKey(b: Uint8Array, at: number, len: number): boolean {
  if (len < 5 || b[at] !== SPACE_TREE) return false;
  for (let i = 0; i < SCHEMA_TREE.length; i++) if (b[at + i] !== SCHEMA_TREE[i]) return true;
  return false;
}

/**
 * Buffers start empty and grow by doubling: an autocommit statement makes a Tx of its own, and
 * allocating typed arrays it never uses cost more than the statement.
 */
const EMPTY_I32 = new Int32Array(0);

function grow(a: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
  if (need <= a.length) return a;
  let n = Math.max(16, a.length * 2);
  while (n < need) n *= 2;
  const out = new Int32Array(n);
  out.set(a);
  return out;
}

function growBytes(a: Uint8Array<ArrayBuffer>, used: number, need: number): Uint8Array<ArrayBuffer> {
  if (need <= a.length) return a;
  let n = Math.max(64, a.length * 2);
  while (n < need) n *= 2;
  const out = new Uint8Array(n);
  out.set(a.subarray(0, used));
  return out;
}


/** "Not hashed": no int32 equals it. */
const NO_HASH = 0.5;

/**
 * A transaction's buffers. The write buffer: keys and values copied into one growing byte arena,
 * found through an open-addressing hash table of entry numbers, with each entry's offsets in typed
 * arrays. A large transaction's buffer holds no JavaScript object per write: a string or
 * Uint8Array per key made the garbage collector copy the whole buffer again and again while it
 * grew (a fifth of a bulk insert's time), and a Map of them cost a rebuild at every doubling.
 * Overwritten values stay in the arena (the undo log points at them); entries are never removed, a
 * rolled-back one is marked ABSENT. The read log keeps the keys read the same way.
 *
 * Buffers are reused by later transactions (typed arrays cost more to allocate than an autocommit
 * statement costs to run), so nothing handed out may point into them: reads return copies, and
 * only a large commit batch is made of views of the arena, which is then given away with it.
 */
class TxBuffer {
  arena = NO_BYTES;
  used = 0;
  /** The arena's bytes belong to a commit batch now: a reuse starts a new arena. */
  given = false;
  /** Entries: where the key and the current value are in the arena (valLen: TOMBSTONE, ABSENT). */
  keyAt = EMPTY_I32;
  keyLen = EMPTY_I32;
  valAt = EMPTY_I32;
  valLen = EMPTY_I32;
  hashes = EMPTY_I32;
  count = 0;
  /** Entries whose value is not ABSENT: what a commit would write. */
  live = 0;
  /** Open addressing, linear probing: entry number + 1, 0 = empty slot. */
  private slots = EMPTY_I32;
  /** The undo log: per write, the entry and the value offset and length it replaced. */
  undo = EMPTY_I32;
  undoLen = 0;
  /** Keys read (the read set's point reads) and their end offsets. */
  readArena = NO_BYTES;
  readUsed = 0;
  readEnds = EMPTY_I32;
  readCount = 0;
  /** The read log belongs to a read set handed out: a reuse starts a new one. */
  readsGiven = false;

  /** Empties the buffers for another transaction; false when they grew too large to keep. */
  reset(): boolean {
    if (this.slots.length > POOL_MAX_SLOTS || this.arena.length > POOL_MAX_BYTES || this.readArena.length > POOL_MAX_BYTES
      || this.undo.length > POOL_MAX_SLOTS * 3 || this.readEnds.length > POOL_MAX_SLOTS) return false;
    if (this.given) { this.arena = NO_BYTES; this.given = false; }
    if (this.readsGiven) { this.readArena = NO_BYTES; this.readEnds = EMPTY_I32; this.readsGiven = false; }
    if (this.count > 0) this.slots.fill(0);
    this.used = this.count = this.live = this.undoLen = this.readUsed = this.readCount = 0;
    return true;
  }

  private append(b: Bytes): number {
    const at = this.used, n = b.length;
    if (at + n > this.arena.length) this.arena = growBytes(this.arena, at, at + n);
    const a = this.arena;
    if (n <= 32) for (let i = 0; i < n; i++) a[at + i] = b[i]!;
    else a.set(b, at);
    this.used = at + n;
    return at;
  }

  recordRead(key: Bytes): void {
    const at = this.readUsed, n = key.length, i = this.readCount++;
    if (at + n > this.readArena.length) this.readArena = growBytes(this.readArena, at, at + n);
    const a = this.readArena;
    if (n <= 32) for (let j = 0; j < n; j++) a[at + j] = key[j]!;
    else a.set(key, at);
    this.readUsed = at + n;
    if (i >= this.readEnds.length) this.readEnds = grow(this.readEnds, i + 1);
    this.readEnds[i] = at + n;
  }

  private sameKey(e: number, key: Bytes): boolean {
    const n = key.length;
    if (this.keyLen[e] !== n) return false;
    const a = this.arena, at = this.keyAt[e]!;
    for (let i = 0; i < n; i++) if (a[at + i] !== key[i]) return false;
    return true;
  }

  /** The entry of `key`, or -1. `h` is its hash. */
  find(key: Bytes, h: number): number {
    if (this.count === 0) return -1;
    const slots = this.slots, mask = slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const e = slots[s]! - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === h && this.sameKey(e, key)) return e;
    }
  }

  /** A new entry for `key` (known absent), its value ABSENT. */
  add(key: Bytes, h: number): number {
    const e = this.count++;
    if (e >= this.keyAt.length) {
      const need = e + 1;
      this.keyAt = grow(this.keyAt, need); this.keyLen = grow(this.keyLen, need);
      this.valAt = grow(this.valAt, need); this.valLen = grow(this.valLen, need);
      this.hashes = grow(this.hashes, need);
    }
    this.keyAt[e] = this.append(key);
    this.keyLen[e] = key.length;
    this.valLen[e] = ABSENT;
    this.hashes[e] = h;
    if (this.count * 2 > this.slots.length) this.rehash(Math.max(32, this.slots.length * 2));
    else this.place(e);
    return e;
  }

  private place(e: number): void {
    const slots = this.slots, mask = slots.length - 1;
    let s = this.hashes[e]! & mask;
    while (slots[s] !== 0) s = (s + 1) & mask;
    slots[s] = e + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let e = 0; e < this.count; e++) this.place(e);
  }

  /** Records entry `e`'s current value in the undo log. */
  saveUndo(e: number): void {
    const u = this.undoLen;
    if (u + 3 > this.undo.length) this.undo = grow(this.undo, u + 3);
    this.undo[u] = e; this.undo[u + 1] = this.valAt[e]!; this.undo[u + 2] = this.valLen[e]!;
    this.undoLen = u + 3;
  }

  /** Sets entry `e`'s value: bytes (appended to the arena), or null for a deletion. */
  setValue(e: number, value: Bytes | null): void {
    if (this.valLen[e] === ABSENT) this.live++;
    if (value === null) { this.valLen[e] = TOMBSTONE; return; }
    this.valAt[e] = value.length === 0 ? 0 : this.append(value);
    this.valLen[e] = value.length;
  }

  /** Puts back a value the undo log saved (its offset and length, or TOMBSTONE/ABSENT). */
  restore(e: number, at: number, len: number): void {
    const was = this.valLen[e]!;
    if (was === ABSENT && len !== ABSENT) this.live++;
    else if (was !== ABSENT && len === ABSENT) this.live--;
    this.valAt[e] = at;
    this.valLen[e] = len;
  }

  /** A copy of entry `e`'s key. */
  key(e: number): Bytes {
    return copyBytes(this.arena, this.keyAt[e]!, this.keyLen[e]!);
  }

  /** A copy of entry `e`'s value, null for a tombstone, undefined if absent. */
  value(e: number): Bytes | null | undefined {
    const n = this.valLen[e]!;
    if (n === ABSENT) return undefined;
    if (n === TOMBSTONE) return null;
    return n === 0 ? NO_BYTES : copyBytes(this.arena, this.valAt[e]!, n);
  }

  /** memcmp of two entries' keys. */
  compare(x: number, y: number): number {
    const a = this.arena;
    const xa = this.keyAt[x]!, xl = this.keyLen[x]!, ya = this.keyAt[y]!, yl = this.keyLen[y]!;
    const n = xl < yl ? xl : yl;
    for (let i = 0; i < n; i++) {
      const d = a[xa + i]! - a[ya + i]!;
      if (d !== 0) return d;
    }
    return xl - yl;
  }

  /** The first `n` bytes from `from` of entry `e`'s key as a number (missing bytes as 0). */
  private keyBits(e: number, from: number, n: number): number {
    const a = this.arena, at = this.keyAt[e]!, len = this.keyLen[e]!;
    let v = 0;
    for (let i = from; i < from + n; i++) v = v * 256 + (i < len ? a[at + i]! : 0);
    return v;
  }

  /**
   * The live entries in memcmp key order. Entries are grouped by their first 5 bytes (the SQL
   * layer's tree id; shorter keys padded with zeros, which keeps them before their extensions):
   * rows arrive in rowid order, which only has to be confirmed, and only the index entries
   * interleaved with them need a real sort, by the next 6 bytes first and the whole key on ties.
   */
  sorted(): Int32Array {
    const out = new Int32Array(this.live);
    if (this.live === 0) return out;
    const groups = new Map<number, number[]>();
    for (let e = 0; e < this.count; e++) {
      if (this.valLen[e] === ABSENT) continue;
      const p = this.keyBits(e, 0, 5);
      const g = groups.get(p);
      if (g) g.push(e); else groups.set(p, [e]);
    }
    let o = 0;
    // Ranks by entry number, made once for all the groups that need a sort.
    let rank: Float64Array | undefined;
    for (const p of [...groups.keys()].sort((a, b) => a - b)) {
      const g = groups.get(p)!;
      let ordered = true;
      for (let i = 1; i < g.length && ordered; i++) ordered = this.compare(g[i - 1]!, g[i]!) < 0;
      if (!ordered) {
        const r = (rank ??= new Float64Array(this.count));
        for (const e of g) r[e] = this.keyBits(e, 5, 6);
        g.sort((x, y) => r[x]! - r[y]! || this.compare(x, y));
      }
      for (const e of g) out[o++] = e;
    }
    return out;
  }
}

/** Buffers of finished transactions, for the next ones. */
const pool: TxBuffer[] = [];
const POOL_SIZE = 4;
/** Buffers that grew past these sizes are not kept: emptying them would cost more than new ones. */
const POOL_MAX_SLOTS = 4096;
const POOL_MAX_BYTES = 1 << 16;
/** Batches up to this many keys are copied out of the arena, which the buffer then keeps. */
const SMALL_BATCH = 16;

export class Tx implements KvReader {
  private snap: KvSnapshot | undefined;
  /** Taken from the pool at the first read or write, returned by `release`. */
  private b: TxBuffer | undefined;
  /** An ordered copy of the write buffer, made only once a range scan needs it (bulk inserts never pay for it). */
  private ordered: SortedMap<Bytes | null> | undefined;
  private readonly ranges: KeyRange[] = [];
  /** The key of the latest `get`, its hash and its entry (-1: not in the buffer). */
  private lastKey: Bytes | undefined;
  private lastHash = 0;
  private lastEntry = -1;

  private get buf(): TxBuffer {
    return (this.b ??= pool.pop() ?? new TxBuffer());
  }

  /**
   * What the transaction read. The keys become strings when the committer first asks for them,
   * not per read (the default committer never does); the read log then belongs to the read set.
   */
  get reads(): ReadSet {
    const b = this.b;
    if (!b) return { keys: [], ranges: this.ranges };
    const arena = b.readArena, ends = b.readEnds, count = b.readCount;
    b.readsGiven = true;
    let keys: string[] | undefined;
    return {
      get keys(): string[] {
        if (keys) return keys;
        keys = new Array<string>(count);
        for (let i = 0, at = 0; i < count; i++) {
          const end = ends[i]!;
          keys[i] = latin1(arena, at, end);
          at = end;
        }
        return keys;
      },
      ranges: this.ranges,
    };
  }

  /**
   * Whether the transaction read a table or index (a key under the SQL trees' prefix 0x02, the
   * schema table's tree 1 aside): SQLite starts a read transaction then, and ending one ends
   * `defer_foreign_keys`; a statement such as `SELECT 1` starts none.
   */
  get readTables(): boolean {
    const b = this.b;
    if (b) {
      for (let i = 0, at = 0; i < b.readCount; i++) {
        const end = b.readEnds[i]!;
        if (isTreeKey(b.readArena, at, end - at)) return true;
        at = end;
      }
    }
    for (const r of this.ranges) {
      const k = r.gte ?? r.gt ?? r.lt ?? r.lte;
      if (k !== undefined && isTreeKey(k, 0, k.length)) return true;
    }
    return false;
  }
  /** Whether any write happened (read-only transactions commit nothing). */
  get dirty(): boolean { return this.b !== undefined && this.b.live > 0; }

  /**
   * `live`: the transaction lives within one synchronous call (an autocommit statement), so no
   * other write can interleave and the store itself is a consistent view: no snapshot needed.
   */
  constructor(private readonly kv: KvStore, private readonly live = false) {}

  private view(): KvReader {
    if (this.live) return this.kv;
    if (!this.snap) this.snap = this.kv.snapshot();
    return this.snap;
  }

  private sorted(): SortedMap<Bytes | null> {
    if (!this.ordered) {
      const m = new SortedMap<Bytes | null>();
      const b = this.buf;
      for (const e of b.sorted()) m.append(b.key(e), b.value(e)!);
      this.ordered = m;
    }
    return this.ordered;
  }

  /** Pins the snapshot now (BEGIN IMMEDIATE/EXCLUSIVE, or the first statement). */
  start(): void { this.view(); }

  get(key: Bytes): Bytes | undefined {
    const b = this.buf;
    b.recordRead(key);
    // An empty buffer (a read-only statement, the first probe) needs no hash.
    const h = b.count > 0 ? hashBytes(key) : NO_HASH;
    const e = h === NO_HASH ? -1 : b.find(key, h);
    this.lastKey = key;
    this.lastHash = h;
    this.lastEntry = e;
    if (e >= 0) {
      const v = b.value(e);
      if (v !== undefined) return v === null ? undefined : v;
    }
    return this.view().get(key);
  }

  *scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    this.ranges.push(range);
    const limit = range.limit ?? Infinity;
    if (limit <= 0) return;
    const inner: KeyRange = { ...range, limit: undefined };
    if (!this.dirty) {
      yield* this.view().scan(range);
      return;
    }
    yield* overlayScan(this.sorted().entries(inner), this.view().scan(inner), range.reverse === true, limit);
  }

  put(key: Bytes, value: Bytes): void {
    this.write(key, value);
  }

  del(key: Bytes): void {
    this.write(key, null);
  }

  private write(key: Bytes, value: Bytes | null): void {
    const b = this.buf;
    let e: number;
    // INSERT probes a key and then writes it: the probe's hash and lookup serve both (keys are
    // never mutated once handed to the transaction, which keeps references to them in its
    // ordered copy).
    if (key === this.lastKey) {
      e = this.lastEntry;
      if (e < 0) e = this.lastEntry = b.add(key, this.lastHash === NO_HASH ? hashBytes(key) : this.lastHash);
    } else {
      const h = hashBytes(key);
      e = b.find(key, h);
      // A new entry makes a remembered "not in the buffer" wrong.
      if (e < 0) { e = b.add(key, h); this.lastKey = undefined; }
    }
    b.saveUndo(e);
    b.setValue(e, value);
    this.ordered?.set(key, value);
  }

  /** A savepoint: the current position in the undo log. */
  mark(): number { return this.b ? this.b.undoLen : 0; }

  /** Drops the undo log when no savepoint needs it (a whole-transaction ROLLBACK drops the buffer). */
  forgetUndo(): void { if (this.b) this.b.undoLen = 0; }

  rollbackTo(mark: number): void {
    const b = this.b;
    if (!b) return;
    const undo = b.undo;
    while (b.undoLen > mark) {
      const u = (b.undoLen -= 3);
      const e = undo[u]!;
      b.restore(e, undo[u + 1]!, undo[u + 2]!);
      if (this.ordered) {
        const v = b.value(e);
        if (v === undefined) this.ordered.delete(b.key(e)); else this.ordered.set(b.key(e), v);
      }
    }
  }

  /**
   * The write batch: every buffered put and delete, in key order (stores ingest sorted runs
   * fastest). A large batch's keys and values are views of one buffer the store may keep
   * (`owned`): the arena itself when most of it is live, else a compact copy (a transaction that
   * rewrote its rows many times would otherwise pin every old value).
   */
  batch(): WriteOp[] {
    const b = this.b;
    if (!b) return [];
    const order = b.sorted();
    const n = order.length;
    const out = new Array<WriteOp>(n);
    if (n <= SMALL_BATCH) {
      for (let i = 0; i < n; i++) {
        const e = order[i]!, value = b.value(e)!;
        out[i] = value === null ? { type: 'del', key: b.key(e) } : { type: 'put', key: b.key(e), value };
      }
      return out;
    }
    let liveBytes = 0;
    for (let i = 0; i < n; i++) { const e = order[i]!; liveBytes += b.keyLen[e]! + Math.max(0, b.valLen[e]!); }
    let src: Uint8Array = b.arena, keyAt = b.keyAt, valAt = b.valAt;
    if (liveBytes * 2 < b.used) {
      const copy = new Uint8Array(liveBytes);
      keyAt = new Int32Array(b.count); valAt = new Int32Array(b.count);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const e = order[i]!, kl = b.keyLen[e]!, vl = b.valLen[e]!;
        copy.set(src.subarray(b.keyAt[e]!, b.keyAt[e]! + kl), at); keyAt[e] = at; at += kl;
        if (vl > 0) { copy.set(src.subarray(b.valAt[e]!, b.valAt[e]! + vl), at); valAt[e] = at; at += vl; }
      }
      src = copy;
    } else {
      b.given = true;
    }
    const ab = src.buffer;
    for (let i = 0; i < n; i++) {
      const e = order[i]!, vl = b.valLen[e]!;
      const key = new Uint8Array(ab, keyAt[e]!, b.keyLen[e]!);
      out[i] = vl === TOMBSTONE ? { type: 'del', key } : { type: 'put', key, value: vl === 0 ? NO_BYTES : new Uint8Array(ab, valAt[e]!, vl) };
    }
    return out;
  }

  release(): void {
    this.snap?.release();
    this.snap = undefined;
    const b = this.b;
    this.b = undefined;
    this.ordered = undefined;
    this.lastKey = undefined;
    if (b && pool.length < POOL_SIZE && b.reset()) pool.push(b);
  }
}
