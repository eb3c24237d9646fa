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

export class MemoryKv implements KvStore {
  private readonly map = new SortedMap<Version[]>();
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
    const vs = this.map.get(key);
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
        const vs = this.map.get(key);
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

  write(batch: readonly WriteOp[]): void {
    const seq = ++this.seq;
    const keep = this.oldestPinned();
    for (const op of batch) {
      const key = op.key.slice();
      const value = op.type === 'put' ? op.value.slice() : undefined;
      const vs = this.map.get(key);
      if (!vs) {
        if (value !== undefined || keep !== Infinity) this.map.set(key, [{ seq, value }]);
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
      if (keep === Infinity && vs[0]!.value === undefined) this.map.delete(key);
    }
  }
}
