/**
 * The memtable: recent writes, every version kept (newest first) until the memtable is flushed,
 * so snapshots and open iterators see a stable past. Keys are user keys; versions carry the write
 * batch's sequence number; a deletion is a version without a value.
 */
import { ByteReader, ByteWriter } from './codec.ts';
import type { Entry } from './compaction.ts';
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

/**
 * The memtable as entry groups (all versions of a key, newest first; keys ascending), as a flush
 * writes them. One group array and its entries are reused: the table builder copies what it gets.
 */
export function* memGroups(m: Memtable): Generator<Entry[]> {
  const group: Entry[] = [];
  const pool: Entry[] = [];
  for (const [key, head] of m.map.entries(undefined, false, false)) {
    group.length = 0;
    for (let v: MemVersion | undefined = head; v; v = v.older) {
      const e = pool[group.length] ??= { key, seq: 0, del: false, value: EMPTY };
      e.key = key; e.seq = v.seq; e.del = v.value === undefined; e.value = v.value ?? EMPTY;
      group.push(e);
    }
    yield group;
  }
}

/**
 * The memtable packed into one buffer for the flush thread (a transferable ArrayBuffer, so the
 * hand-over copies nothing more). Per key: `varint key length | key | varint versions`, then per
 * version, newest first: `varint seq | u8 deleted | varint value length | value`. Never stored.
 */
export function packGroups(m: Memtable): Uint8Array {
  // `bytes` counts key + value + ENTRY_OVERHEAD per version: more than the packing needs.
  const w = new ByteWriter(m.bytes + 64);
  const put = (b: Bytes) => {
    w.varintUnchecked(b.length);
    // Short keys and values are copied faster by hand than through a native call.
    if (b.length > 48) { w.buf.set(b, w.len); w.len += b.length; return; }
    const buf = w.buf;
    let at = w.len;
    for (let i = 0; i < b.length; i++) buf[at++] = b[i]!;
    w.len = at;
  };
  m.map.forEach((key, head) => {
    let n = 0, size = key.length + 16;
    for (let v: MemVersion | undefined = head; v; v = v.older) { n++; size += 16 + (v.value ? v.value.length : 0); }
    w.ensure(size);
    put(key);
    w.varintUnchecked(n);
    for (let v: MemVersion | undefined = head; v; v = v.older) {
      w.varintUnchecked(v.seq);
      w.buf[w.len++] = v.value === undefined ? 1 : 0;
      put(v.value ?? EMPTY);
    }
  });
  return w.view();
}

/** The groups `packGroups` wrote, as views into `buf` (reused arrays, as `memGroups`). */
export function* unpackGroups(buf: Uint8Array): Generator<Entry[]> {
  const r = new ByteReader(buf, 'packed memtable');
  const group: Entry[] = [];
  const pool: Entry[] = [];
  while (!r.done) {
    const key = r.blob();
    const n = r.varint();
    group.length = 0;
    for (let i = 0; i < n; i++) {
      const e = pool[i] ??= { key, seq: 0, del: false, value: EMPTY };
      e.key = key; e.seq = r.varint(); e.del = r.u8() === 1; e.value = r.blob();
      group.push(e);
    }
    yield group;
  }
}

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
