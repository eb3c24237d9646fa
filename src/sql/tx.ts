/**
 * A transaction's view of the key space: a snapshot of the store overlaid with a write buffer, so a
 * session reads its own writes. Every key and range read is recorded (the read set) for optimistic
 * validation by the layer that commits. Savepoints are positions in an undo log.
 */
import { SortedMap } from '../storage/sorted-map.ts';
import { latin1 } from './codec.ts';
import { overlayScan, type Bytes, type KeyRange, type KvEntry, type KvReader, type KvSnapshot, type KvStore, type WriteOp } from '../storage/kv.ts';

/** Keys and ranges a transaction read: what a concurrent commit must not have changed. */
export interface ReadSet {
  readonly keys: Bytes[];
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
  prev: Bytes | null | undefined;
}

interface Entry { key: Bytes; k: string; value: Bytes | null }

/** A key's bytes as a string of char codes 0-255: string order equals memcmp order. */
function bin(key: Bytes): string {
  return latin1(key, 0, key.length);
}

function byKey(x: Entry, y: Entry): number { return x.k < y.k ? -1 : 1; }

export class Tx implements KvReader {
  private snap: KvSnapshot | undefined;
  /**
   * The write buffer: a hash map for point reads and writes, plus an ordered copy that exists only
   * once a range scan needs it (bulk inserts never pay for ordering until commit).
   */
  private map: Map<string, Entry> | undefined;
  private ordered: SortedMap<Bytes | null> | undefined;
  private readonly undo: Undo[] = [];
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
      const all = [...this.map!.values()].sort(byKey);
      for (const e of all) m.set(e.key, e.value);
      this.ordered = m;
    }
    return this.ordered;
  }

  /** Pins the snapshot now (BEGIN IMMEDIATE/EXCLUSIVE, or the first statement). */
  start(): void { this.view(); }

  get(key: Bytes): Bytes | undefined {
    this.reads.keys.push(key);
    if (this.map !== undefined && this.map.size > 0) {
      const e = this.map.get(bin(key));
      if (e !== undefined) return e.value === null ? undefined : e.value;
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
    const k = bin(key);
    const e = map.get(k);
    this.undo.push({ key, k, prev: e === undefined ? undefined : e.value });
    if (e === undefined) map.set(k, { key, k, value });
    else e.value = value;
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
      else { this.map!.get(u.k)!.value = u.prev; this.ordered?.set(u.key, u.prev); }
    }
  }

  /** The write batch: every buffered put and delete, in key order (stores ingest sorted runs fastest). */
  batch(): WriteOp[] {
    const out: WriteOp[] = [];
    if (!this.map) return out;
    const all = [...this.map.values()].sort(byKey);
    for (const e of all) out.push(e.value === null ? { type: 'del', key: e.key } : { type: 'put', key: e.key, value: e.value });
    return out;
  }

  release(): void {
    this.snap?.release();
    this.snap = undefined;
  }
}
