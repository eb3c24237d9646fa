/**
 * A transaction's view of the key space: a snapshot of the store overlaid with a write buffer, so a
 * session reads its own writes. Every key and range read is recorded (the read set) for optimistic
 * validation by the layer that commits. Savepoints are positions in an undo log.
 */
import { Buffer } from 'node:buffer';
import { SortedMap } from '../storage/sorted-map.ts';
import { latin1 } from './codec.ts';
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

interface Undo {
  key: Bytes;
  /** The key as a binary string (the buffer's map key). */
  k: string;
  /** Previous buffer entry: undefined = absent, null = tombstone. */
  prev: string | null | undefined;
}

/** A key's bytes as a string of char codes 0-255: string order equals memcmp order. */
function bin(key: Bytes): string {
  return latin1(key, 0, key.length);
}

const NO_BYTES = new Uint8Array(0);

/** Bytes back from a binary string. */
function unbin(s: string): Bytes {
  const n = s.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * The buffer in memcmp key order, keys and values rebuilt as views of one shared buffer; values
 * are null for deletions.
 */
function sortedEntries(map: Map<string, string | null>): { ks: string[]; keys: Bytes[]; values: (Bytes | null)[] } {
  // The default sort compares UTF-16 code units, which for these strings is byte order.
  const ks = [...map.keys()].sort();
  const n = ks.length;
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
  private readonly undo: Undo[] = [];
  /** The key of the latest `get` and its string. */
  private lastKey: Bytes | undefined;
  private lastBin = '';
  readonly reads: ReadSet = { keys: [], ranges: [] };
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
    return this.view().get(key);
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
    // once handed to the transaction, which keeps references to them in its undo log).
    const k = key === this.lastKey ? this.lastBin : bin(key);
    this.undo.push({ key, k, prev: map.get(k) });
    map.set(k, value === null ? null : bin(value));
    this.ordered?.set(key, value);
  }

  /** A savepoint: the current position in the undo log. */
  mark(): number { return this.undo.length; }

  /** Drops the undo log when no savepoint needs it (a whole-transaction ROLLBACK drops the buffer). */
  forgetUndo(): void { this.undo.length = 0; }

  rollbackTo(mark: number): void {
    while (this.undo.length > mark) {
      const u = this.undo.pop()!;
      if (u.prev === undefined) { this.map!.delete(u.k); this.ordered?.delete(u.key); }
      else { this.map!.set(u.k, u.prev); this.ordered?.set(u.key, u.prev === null ? null : unbin(u.prev)); }
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
