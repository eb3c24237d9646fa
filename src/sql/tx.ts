/**
 * A transaction's view of the key space: a snapshot of the store overlaid with a write buffer, so a
 * session reads its own writes. Every key and range read is recorded (the read set) for optimistic
 * validation by the layer that commits. Savepoints are positions in an undo log.
 */
import { SortedMap } from '../storage/sorted-map.ts';
import { compareBytes, type Bytes, type KeyRange, type KvEntry, type KvReader, type KvSnapshot, type KvStore, type WriteOp } from '../storage/kv.ts';

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
  /** Previous buffer entry: undefined = absent, null = tombstone. */
  prev: Bytes | null | undefined;
}

export class Tx implements KvReader {
  private snap: KvSnapshot | undefined;
  /** Created on the first write: most autocommit statements only read. */
  private buf: SortedMap<Bytes | null> | undefined;
  private get buffer(): SortedMap<Bytes | null> { return (this.buf ??= new SortedMap<Bytes | null>()); }
  private readonly undo: Undo[] = [];
  readonly reads: ReadSet = { keys: [], ranges: [] };
  /** Whether any write happened (read-only transactions commit nothing). */
  get dirty(): boolean { return this.buf !== undefined && this.buf.size > 0; }

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

  /** Pins the snapshot now (BEGIN IMMEDIATE/EXCLUSIVE, or the first statement). */
  start(): void { this.view(); }

  get(key: Bytes): Bytes | undefined {
    this.reads.keys.push(key);
    if (this.buf !== undefined && this.buf.size > 0) {
      const b = this.buf.get(key);
      if (b !== undefined) return b === null ? undefined : b;
    }
    return this.view().get(key);
  }

  *scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    this.reads.ranges.push(range);
    const limit = range.limit ?? Infinity;
    if (limit <= 0) return;
    const inner: KeyRange = { ...range, limit: undefined };
    if (this.buf === undefined || this.buf.size === 0) {
      yield* this.view().scan(range);
      return;
    }
    const rev = range.reverse === true;
    const a = this.buffer.entries(inner);
    const b = this.view().scan(inner);
    let x = a.next(), y = b.next();
    let n = 0;
    while (!x.done || !y.done) {
      let takeBuf: boolean;
      let same = false;
      if (x.done) takeBuf = false;
      else if (y.done) takeBuf = true;
      else {
        const c = compareBytes(x.value[0], y.value.key);
        same = c === 0;
        takeBuf = rev ? c >= 0 : c <= 0;
      }
      if (takeBuf) {
        const [k, v] = x.value!;
        x = a.next();
        if (same) y = b.next();
        if (v === null) continue;
        yield { key: k, value: v };
      } else {
        yield y.value as KvEntry;
        y = b.next();
      }
      if (++n >= limit) return;
    }
  }

  put(key: Bytes, value: Bytes): void {
    this.write(key, value);
  }

  del(key: Bytes): void {
    this.write(key, null);
  }

  private write(key: Bytes, value: Bytes | null): void {
    // One search when the key is new to the buffer (the common case): insert and learn at once.
    const prev = this.buffer.putIfAbsent(key, value);
    if (prev !== undefined) this.buffer.set(key, value);
    this.undo.push({ key, prev });
  }

  /** A savepoint: the current position in the undo log. */
  mark(): number { return this.undo.length; }

  rollbackTo(mark: number): void {
    while (this.undo.length > mark) {
      const u = this.undo.pop()!;
      if (u.prev === undefined) this.buffer.delete(u.key);
      else this.buffer.set(u.key, u.prev);
    }
  }

  /** The write batch: every buffered put and delete, in key order. */
  batch(): WriteOp[] {
    const out: WriteOp[] = [];
    if (!this.buf) return out;
    for (const [key, v] of this.buf.entries()) out.push(v === null ? { type: 'del', key } : { type: 'put', key, value: v });
    return out;
  }

  release(): void {
    this.snap?.release();
    this.snap = undefined;
  }
}
