/**
 * The memtable: recent writes, every version kept (newest first) until the memtable is flushed,
 * so snapshots and open iterators see a stable past. Keys are user keys; versions carry the write
 * batch's sequence number; a deletion is a version without a value.
 */
import { SortedMap } from './sorted-map.ts';
import type { Bytes } from './kv.ts';
import type { Cursor, Found } from './table.ts';

export interface MemVersion {
  readonly seq: number;
  value: Bytes | undefined;
}

/** Per-entry bookkeeping bytes counted against the memtable limit besides key and value. */
const ENTRY_OVERHEAD = 48;

export class Memtable {
  readonly map = new SortedMap<MemVersion[]>();
  bytes = 0;
  versions = 0;
  maxSeq = 0;
  /** Highest Raft index whose effects this memtable (and everything older) holds. */
  appliedIndex = 0;

  put(key: Bytes, seq: number, value: Bytes | undefined): void {
    const vs = this.map.get(key);
    if (!vs) this.map.set(key, [{ seq, value }]);
    else if (vs[0]!.seq === seq) vs[0]!.value = value;
    else vs.unshift({ seq, value });
    this.bytes += key.length + (value ? value.length : 0) + ENTRY_OVERHEAD;
    this.versions++;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  get(key: Bytes, snap: number): Found | undefined {
    const vs = this.map.get(key);
    if (!vs) return undefined;
    for (const v of vs) if (v.seq <= snap) return v.value === undefined ? { del: true, value: EMPTY } : { del: false, value: v.value };
    return undefined;
  }

  cursor(start: Bytes | undefined, exclusive: boolean, reverse: boolean, snap: number): Cursor {
    const range = reverse
      ? { reverse: true, ...(start ? (exclusive ? { lt: start } : { lte: start }) : {}) }
      : start ? (exclusive ? { gt: start } : { gte: start }) : {};
    return new MemCursor(this.map.entries(range), snap);
  }
}

const EMPTY = new Uint8Array(0);

class MemCursor implements Cursor {
  valid = false;
  key: Bytes = EMPTY;
  seq = 0;
  del = false;
  value: Bytes = EMPTY;
  constructor(private readonly it: Iterator<[Bytes, MemVersion[]]>, private readonly snap: number) {
    this.next();
  }
  next(): void {
    for (;;) {
      const r = this.it.next();
      if (r.done) { this.valid = false; return; }
      const [key, vs] = r.value;
      for (const v of vs) {
        if (v.seq <= this.snap) {
          this.valid = true;
          this.key = key;
          this.seq = v.seq;
          this.del = v.value === undefined;
          this.value = v.value ?? EMPTY;
          return;
        }
      }
    }
  }
}
