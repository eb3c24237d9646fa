/**
 * A transaction's view of the key space: a snapshot of the store overlaid with a write buffer, so a
 * session reads its own writes. Every key and range read is recorded (the read set) for optimistic
 * validation by the layer that commits. Savepoints are positions in an undo log.
 */
import { Buffer } from 'node:buffer';
import { SortedMap } from '../storage/sorted-map.ts';
import { SCHEMA_ROOT } from './catalog.ts';
import { SPACE_TREE, latin1, treePrefix } from './codec.ts';
import { overlayScan, type Bytes, type KeyRange, type KvEntry, type KvReader, type KvSnapshot, type KvStore, type WriteOp } from '../storage/kv.ts';

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

/** A key's bytes as a string of char codes 0-255: string order equals memcmp order. */
function bin(key: Bytes): string {
  return latin1(key, 0, key.length);
}

const NO_BYTES = new Uint8Array(0);

/** Batches up to this many keys are built key by key (the bulk path's setup costs more). */
const SMALL_BATCH = 16;

const SCHEMA_TREE = bin(treePrefix(SCHEMA_ROOT));

/** A key (binary string) in a table or index tree other than the schema table's. */
function isTreeKey(k: string): boolean {
  return k.length >= 5 && k.charCodeAt(0) === SPACE_TREE && !k.startsWith(SCHEMA_TREE);
}

/** Bytes back from a binary string. */
function unbin(s: string): Bytes {
  const n = s.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * The buffer's keys in memcmp order. Keys are sorted per 5-byte prefix (the SQL layer's tree id):
 * rows arrive in rowid order, which the sort only has to confirm, and only the index entries,
 * interleaved with them in the buffer, need a real sort. Keys shorter than 5 bytes are merged in.
 */
function sortedKeys(map: Map<string, string | null>): string[] {
  // The default sort compares UTF-16 code units, which for these strings is byte order.
  if (map.size <= SMALL_BATCH) return [...map.keys()].sort();
  const buckets = new Map<number, string[]>();
  const short: string[] = [];
  for (const k of map.keys()) {
    if (k.length < 5) { short.push(k); continue; }
    const p = k.charCodeAt(0) * 0x100000000 + (((k.charCodeAt(1) << 24) | (k.charCodeAt(2) << 16) | (k.charCodeAt(3) << 8) | k.charCodeAt(4)) >>> 0);
    const b = buckets.get(p);
    if (b) b.push(k); else buckets.set(p, [k]);
  }
  const ks = [...buckets.keys()].sort((a, b) => a - b).flatMap((p) => buckets.get(p)!.sort());
  if (short.length === 0) return ks;
  short.sort();
  const out = new Array<string>(ks.length + short.length);
  let i = 0, j = 0, o = 0;
  while (i < ks.length && j < short.length) out[o++] = ks[i]! < short[j]! ? ks[i++]! : short[j++]!;
  while (i < ks.length) out[o++] = ks[i++]!;
  while (j < short.length) out[o++] = short[j++]!;
  return out;
}

/**
 * The buffer in memcmp key order, keys and values rebuilt as views of one shared buffer; values
 * are null for deletions.
 */
function sortedEntries(map: Map<string, string | null>): { ks: string[]; keys: Bytes[]; values: (Bytes | null)[] } {
  const ks = sortedKeys(map);
  const n = ks.length;
  if (n <= SMALL_BATCH) {
    // An autocommit statement's few keys: a shared buffer and joins would cost more than they save.
    const keys = ks.map(unbin);
    const values = ks.map((k) => { const v = map.get(k)!; return v === null ? null : v.length === 0 ? NO_BYTES : unbin(v); });
    return { ks, keys, values };
  }
  const vs = new Array<string>(n);
  const dels: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = map.get(ks[i]!)!;
    if (v === null) { vs[i] = ''; dels.push(i); } else vs[i] = v;
  }
  // Two joined strings copied by one native latin1 write each: a per-character loop over
  // thousands of small strings scattered in the heap cost several times more.
  const allKeys = ks.join(''), allValues = vs.join('');
  const buf = Buffer.allocUnsafe(allKeys.length + allValues.length);
  buf.write(allKeys, 0, 'latin1');
  buf.write(allValues, allKeys.length, 'latin1');
  const ab = buf.buffer, base = buf.byteOffset;
  const keys = new Array<Bytes>(n);
  const values = new Array<Bytes | null>(n);
  let ka = base, va = base + allKeys.length;
  for (let i = 0; i < n; i++) {
    const kl = ks[i]!.length, vl = vs[i]!.length;
    keys[i] = new Uint8Array(ab, ka, kl);
    // Index entries have empty values: one shared empty array serves them all.
    values[i] = vl === 0 ? NO_BYTES : new Uint8Array(ab, va, vl);
    ka += kl; va += vl;
  }
  for (const i of dels) values[i] = null;
  return { ks, keys, values };
}

export class Tx implements KvReader {
  private snap: KvSnapshot | undefined;
  /**
   * The write buffer: a hash map from the key to the value (both as binary strings) or null for a
   * deletion, plus an ordered copy that exists only once a range scan needs it (bulk inserts never
   * pay for ordering until commit). A short string is one small object where a Uint8Array is
   * several: a large transaction's buffer is what the garbage collector copies again and again.
   */
  private map: Map<string, string | null> | undefined;
  private ordered: SortedMap<Bytes | null> | undefined;
  /**
   * The undo log as two parallel arrays (no object per write): each write's key (a binary string)
   * and the buffer entry it replaced (undefined = absent, null = tombstone).
   */
  private readonly undoKeys: string[] = [];
  private readonly undoPrev: (string | null | undefined)[] = [];
  /** The key of the latest `get` and its string. */
  private lastKey: Bytes | undefined;
  private lastBin = '';
  readonly reads: ReadSet = { keys: [], ranges: [] };
  /**
   * Whether the transaction read a table or index (a key under the SQL trees' prefix 0x02, the
   * schema table's tree 1 aside): SQLite starts a read transaction then, and ending one ends
   * `defer_foreign_keys`; a statement such as `SELECT 1` starts none.
   */
  get readTables(): boolean {
    const { keys, ranges } = this.reads;
    for (const k of keys) if (isTreeKey(k)) return true;
    for (const r of ranges) {
      const k = r.gte ?? r.gt ?? r.lt ?? r.lte;
      if (k !== undefined && isTreeKey(latin1(k, 0, Math.min(k.length, 5)))) return true;
    }
    return false;
  }
  /** Whether any write happened (read-only transactions commit nothing). */
  get dirty(): boolean { return this.map !== undefined && this.map.size > 0; }

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
      const map = this.map!;
      const { keys, values } = sortedEntries(map);
      for (let i = 0; i < keys.length; i++) m.set(keys[i]!, values[i]!);
      this.ordered = m;
    }
    return this.ordered;
  }

  /** Pins the snapshot now (BEGIN IMMEDIATE/EXCLUSIVE, or the first statement). */
  start(): void { this.view(); }

  get(key: Bytes): Bytes | undefined {
    // Kept as a string: a large transaction's read set must not hold one Uint8Array per key.
    const k = bin(key);
    this.reads.keys.push(k);
    this.lastKey = key;
    this.lastBin = k;
    if (this.map !== undefined && this.map.size > 0) {
      const e = this.map.get(k);
      if (e !== undefined) return e === null ? undefined : unbin(e);
    }
    return this.view().get(key, k);
  }

  *scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    this.reads.ranges.push(range);
    const limit = range.limit ?? Infinity;
    if (limit <= 0) return;
    const inner: KeyRange = { ...range, limit: undefined };
    if (this.map === undefined || this.map.size === 0) {
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
    const map = (this.map ??= new Map());
    // INSERT probes a key and then writes it: one string serves both (keys are never mutated
    // once handed to the transaction, which keeps references to them in its ordered copy).
    const k = key === this.lastKey ? this.lastBin : bin(key);
    this.undoKeys.push(k);
    this.undoPrev.push(map.get(k));
    map.set(k, value === null ? null : bin(value));
    this.ordered?.set(key, value);
  }

  /** A savepoint: the current position in the undo log. */
  mark(): number { return this.undoKeys.length; }

  /** Drops the undo log when no savepoint needs it (a whole-transaction ROLLBACK drops the buffer). */
  forgetUndo(): void { this.undoKeys.length = 0; this.undoPrev.length = 0; }

  rollbackTo(mark: number): void {
    while (this.undoKeys.length > mark) {
      const k = this.undoKeys.pop()!, prev = this.undoPrev.pop();
      if (prev === undefined) { this.map!.delete(k); this.ordered?.delete(unbin(k)); }
      else { this.map!.set(k, prev); this.ordered?.set(unbin(k), prev === null ? null : unbin(prev)); }
    }
  }

  /** The write batch: every buffered put and delete, in key order (stores ingest sorted runs fastest). */
  batch(): WriteOp[] {
    const map = this.map;
    if (!map) return [];
    const { ks, keys, values } = sortedEntries(map);
    const out = new Array<WriteOp>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const value = values[i]!;
      out[i] = value === null ? { type: 'del', key: keys[i]!, bin: ks[i]! } : { type: 'put', key: keys[i]!, value, bin: ks[i]! };
    }
    return out;
  }

  release(): void {
    this.snap?.release();
    this.snap = undefined;
  }
}
