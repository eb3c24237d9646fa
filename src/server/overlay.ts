/**
 * The leader's execution view: the applied state (the engine) overlaid with the write batches it
 * has admitted but not yet applied, in admission order. A transaction that starts while an earlier
 * one is still being replicated therefore sees its writes (as a single SQLite sees the previous
 * commit), and a request of several statements sees its own earlier statements. Within one
 * leadership term admitted batches reach the log in admission order, so a batch that depends on an
 * earlier one can only commit if that one did.
 */
import { TrineError } from '../crypto/errors.ts';
import { SortedMap } from '../storage/sorted-map.ts';
import { overlayScan, type Bytes, type KeyRange, type KvEntry, type KvSnapshot, type KvStore, type WriteOp } from '../storage/kv.ts';

/** A pinned engine snapshot with a frozen copy of the admitted batches on top. */
class OverlaySnapshot implements KvSnapshot {
  constructor(private readonly base: KvSnapshot, private readonly top: SortedMap<Bytes | null>) {}

  get(key: Bytes): Bytes | undefined {
    const t = this.top.get(key);
    if (t !== undefined) return t === null ? undefined : t;
    return this.base.get(key);
  }

  scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    const inner: KeyRange = { ...range, limit: undefined };
    return overlayScan(this.top.entries(inner), this.base.scan(inner), range.reverse === true, range.limit ?? Infinity);
  }

  release(): void {
    this.base.release();
  }
}

export class OverlayStore implements KvStore {
  /** Admitted, unapplied batches in admission order. */
  readonly batches: { seq: number; ops: readonly WriteOp[] }[] = [];
  /** Called whenever a snapshot is pinned (the node records which batches it saw). */
  onSnapshot: (() => void) | undefined;

  constructor(private readonly base: KvStore) {}

  private top(): SortedMap<Bytes | null> {
    const m = new SortedMap<Bytes | null>();
    for (const b of this.batches) for (const op of b.ops) m.set(op.key, op.type === 'put' ? op.value : null);
    return m;
  }

  snapshot(): KvSnapshot {
    this.onSnapshot?.();
    const base = this.base.snapshot();
    if (this.batches.length === 0) return base;
    return new OverlaySnapshot(base, this.top());
  }

  get(key: Bytes): Bytes | undefined {
    const s = this.snapshot();
    try { return s.get(key); } finally { s.release(); }
  }

  *scan(range?: KeyRange): IterableIterator<KvEntry> {
    const s = this.snapshot();
    try { yield* s.scan(range); } finally { s.release(); }
  }

  write(): void {
    throw new TrineError('SERVER_INTERNAL', 'the execution view is written only through Raft');
  }

  /** Drops the batches with `seq` at or below `upTo` (they are in the engine now). */
  dropThrough(upTo: number): void {
    let i = 0;
    while (i < this.batches.length && this.batches[i]!.seq <= upTo) i++;
    if (i) this.batches.splice(0, i);
  }
}
