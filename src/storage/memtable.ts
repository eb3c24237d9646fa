/**
 * The memtable: recent writes, every version kept (newest first) until the memtable is flushed,
 * so snapshots and open iterators see a stable past. Keys are user keys; versions carry the write
 * batch's sequence number; a deletion is a version without a value.
 */
import { KeyIndex } from './key-index.ts';
import type { Bytes } from './kv.ts';
import type { Cursor, Found } from './table.ts';

/**
 * The versions of one key as a chain, newest first. The head object stays in the map for the
 * memtable's life (a new version moves the head's fields into a new older link), so a write
 * costs one search.
 */
export interface MemVersion {
  seq: number;
  value: Bytes | undefined;
  older: MemVersion | undefined;
}

/** Per-entry bookkeeping bytes counted against the memtable limit besides key and value. */
const ENTRY_OVERHEAD = 48;

export class Memtable {
  readonly map = new KeyIndex<MemVersion>();
  bytes = 0;
  versions = 0;
  maxSeq = 0;
  /** Highest Raft index whose effects this memtable (and everything older) holds. */
  appliedIndex = 0;

  put(key: Bytes, seq: number, value: Bytes | undefined): void {
    const head = this.map.putIfAbsent(key, { seq, value, older: undefined });
    if (head) {
      if (head.seq !== seq) head.older = { seq: head.seq, value: head.value, older: head.older };
      head.seq = seq;
      head.value = value;
    }
    this.bytes += key.length + (value ? value.length : 0) + ENTRY_OVERHEAD;
    this.versions++;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  get(key: Bytes, snap: number): Found | undefined {
    for (let v = this.map.get(key); v; v = v.older) {
      if (v.seq <= snap) return v.value === undefined ? { del: true, value: EMPTY } : { del: false, value: v.value };
    }
    return undefined;
  }

  cursor(start: Bytes | undefined, exclusive: boolean, reverse: boolean, snap: number): Cursor {
    return new MemCursor(this.map.entries(start, exclusive, reverse), snap);
  }
}

const EMPTY = new Uint8Array(0);

class MemCursor implements Cursor {
  valid = false;
  key: Bytes = EMPTY;
  seq = 0;
  del = false;
  value: Bytes = EMPTY;
  constructor(private readonly it: Iterator<[Bytes, MemVersion]>, private readonly snap: number) {
    this.next();
  }
  next(): void {
    for (;;) {
      const r = this.it.next();
      if (r.done) { this.valid = false; return; }
      const [key, head] = r.value;
      for (let v: MemVersion | undefined = head; v; v = v.older) {
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
