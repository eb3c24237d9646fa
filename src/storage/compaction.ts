/**
 * The merge at the heart of flushes and compactions: entry groups (all versions of one user key,
 * newest first) in key order, pruned to the versions some reader can still see, written into
 * new tables cut near a size limit. Runs on the engine's background threads (`worker.ts`) when the
 * engine sits on the real disk, else on the engine's own thread.
 */
import { join } from 'node:path';
import { sameBytes } from './codec.ts';
import { BlockCache } from './block-cache.ts';
import { FileCipher, FileKind, Keyring } from './envelope.ts';
import type { FileHandle, FileSystem } from './fs.ts';
import { compareBytes, type Bytes } from './kv.ts';
import { SLICE_ENTRIES } from './limits.ts';
import { PackedReader, type PackedMemtable } from './memtable.ts';
import { type Cursor, Table, TableBuilder, type TableMeta, tableName } from './table.ts';

export interface Entry { key: Bytes; seq: number; del: boolean; value: Bytes }

/** Supplies entry groups in key order; undefined at the end. */
export type GroupSource = () => Entry[] | undefined | Promise<Entry[] | undefined>;

const EMPTY = new Uint8Array(0);

export function fromIterator(it: Iterator<Entry[]>): GroupSource {
  return () => { const r = it.next(); return r.done ? undefined : r.value; };
}

/** True when some pinned snapshot sequence p satisfies lo <= p < hi (`pins` sorted ascending). */
function pinIn(pins: readonly number[], lo: number, hi: number): boolean {
  let a = 0, b = pins.length;
  while (a < b) { const m = (a + b) >>> 1; if (pins[m]! < lo) a = m + 1; else b = m; }
  return a < pins.length && pins[a]! < hi;
}

/**
 * Which versions of one key (newest first) must survive: the newest, and each older one that a
 * pinned snapshot sees. At the bottom level, trailing deletions hide nothing and go.
 */
export function retain(vs: Entry[], pins: readonly number[], bottom: boolean): Entry[] {
  if (vs.length === 1 && !(bottom && vs[0]!.del)) return vs;
  const out = [vs[0]!];
  for (let i = 1; i < vs.length; i++) if (pinIn(pins, vs[i]!.seq, vs[i - 1]!.seq)) out.push(vs[i]!);
  if (bottom) while (out.length && out[out.length - 1]!.del) out.pop();
  return out;
}

/**
 * Merges raw cursors (every version) into entry groups. The group array is reused. The cursors
 * sit in a binary min-heap by key: a level-0 compaction merges a dozen inputs, and finding the
 * smallest key by scanning every cursor was the compaction's largest cost.
 */
export function* mergeGroups(cursors: Cursor[]): Generator<Entry[]> {
  const group: Entry[] = [];
  const pool: Entry[] = [];
  const heap = cursors.filter((c) => c.valid);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i);
  while (heap.length) {
    const min = heap[0]!.key;
    group.length = 0;
    let sources = 0;
    while (heap.length && sameBytes(heap[0]!.key, min)) {
      const c = heap[0]!;
      sources++;
      while (c.valid && sameBytes(c.key, min)) {
        const e = pool[group.length] ??= { key: c.key, seq: 0, del: false, value: EMPTY };
        e.key = c.key; e.seq = c.seq; e.del = c.del; e.value = c.value;
        group.push(e);
        c.next();
      }
      if (!c.valid) {
        const last = heap.pop()!;
        if (heap.length === 0) break;
        heap[0] = last;
      }
      siftDown(heap, 0);
    }
    if (sources > 1) group.sort((a, b) => b.seq - a.seq);
    yield group;
  }
}

/** Restores the heap order below slot `i` (the smallest key at the top). */
function siftDown(heap: Cursor[], i: number): void {
  const n = heap.length;
  const c = heap[i]!;
  for (;;) {
    let m = 2 * i + 1;
    if (m >= n) break;
    if (m + 1 < n && compareBytes(heap[m + 1]!.key, heap[m]!.key) < 0) m++;
    if (compareBytes(heap[m]!.key, c.key) >= 0) break;
    heap[i] = heap[m]!;
    i = m;
  }
  heap[i] = c;
}

/** Walks the tables of one level >= 1 (sorted, disjoint) as one cursor. */
export class LevelCursor implements Cursor {
  valid = false;
  key: Bytes = EMPTY;
  seq = 0;
  del = false;
  value: Bytes = EMPTY;
  private i: number;
  private cur: Cursor | undefined;
  constructor(private readonly tables: Table[], private start: Bytes | undefined, private exclusive: boolean,
    private readonly reverse: boolean, private readonly snap: number, private readonly raw = false) {
    const n = tables.length;
    if (!reverse) {
      let lo = 0, hi = n;
      if (start) while (lo < hi) { const m = (lo + hi) >>> 1; if (compareBytes(tables[m]!.meta.largest, start) < 0) lo = m + 1; else hi = m; }
      this.i = lo;
    } else {
      let lo = 0, hi = n;
      if (start) { while (lo < hi) { const m = (lo + hi) >>> 1; if (compareBytes(tables[m]!.meta.smallest, start) <= 0) lo = m + 1; else hi = m; } this.i = lo - 1; }
      else this.i = n - 1;
    }
    this.open();
  }
  private open(): void {
    for (;;) {
      if (this.i < 0 || this.i >= this.tables.length) { this.valid = false; this.cur = undefined; return; }
      this.cur = this.tables[this.i]!.cursor(this.start, this.exclusive, this.reverse, this.snap, this.raw);
      this.start = undefined;
      if (this.cur.valid) { this.copy(); return; }
      this.i += this.reverse ? -1 : 1;
    }
  }
  private copy(): void {
    const c = this.cur!;
    this.valid = true; this.key = c.key; this.seq = c.seq; this.del = c.del; this.value = c.value;
  }
  next(): void {
    if (!this.cur) return;
    this.cur.next();
    if (this.cur.valid) { this.copy(); return; }
    this.i += this.reverse ? -1 : 1;
    this.open();
  }
}

/**
 * Raw cursors over compaction inputs: one per level-0 table (they overlap), one per deeper level
 * (its tables are disjoint and sorted), so the merge compares a handful of cursors per key.
 */
export function inputCursors(inputs: { table: Table; level: number }[]): Cursor[] {
  const out: Cursor[] = [];
  const byLevel = new Map<number, Table[]>();
  for (const i of inputs) {
    if (i.level <= 0) { out.push(i.table.cursor(undefined, false, false, Infinity, true)); continue; }
    let l = byLevel.get(i.level);
    if (!l) byLevel.set(i.level, (l = []));
    l.push(i.table);
  }
  for (const tables of byLevel.values()) {
    tables.sort((a, b) => compareBytes(a.meta.smallest, b.meta.smallest));
    out.push(new LevelCursor(tables, undefined, false, false, Infinity, true));
  }
  return out;
}

export interface WrittenTable { meta: TableMeta; file: FileHandle; cipher: FileCipher }

export interface WriteTablesOptions {
  fs: FileSystem;
  dir: string;
  ring: Keyring;
  allocId: () => number;
  /** The manifest generation the job started from, recorded in every table it writes. */
  generation: number;
  pins: readonly number[];
  bottom: boolean;
  maxBytes: number;
  /** Called every SLICE_ENTRIES entries; may yield to the event loop and throw to abort. */
  onSlice?: () => Promise<void>;
}

/** Writes groups into new, fsynced tables. On failure, removes what it wrote and rethrows. */
export async function writeTables(next: GroupSource, o: WriteTablesOptions): Promise<WrittenTable[]> {
  const out: WrittenTable[] = [];
  let builder: TableBuilder | undefined;
  let file: FileHandle | undefined;
  let since = 0;
  let fileId = 0;
  const finish = async () => {
    if (!builder || !file) return;
    const meta = builder.finish();
    if (o.onSlice) await file.syncAsync(); else file.sync();
    out.push({ meta, file, cipher: builder.cipher });
    builder = undefined; file = undefined;
  };
  try {
    for (;;) {
      let g = next();
      if (g instanceof Promise) g = await g;
      if (!g) break;
      const kept = retain(g, o.pins, o.bottom);
      if (kept.length === 0) continue;
      if (builder && builder.size >= o.maxBytes) await finish();
      if (!builder) {
        fileId = o.allocId();
        file = o.fs.open(join(o.dir, tableName(fileId)), 'create');
        builder = new TableBuilder(file, o.ring, fileId, o.generation);
      }
      for (let i = 0; i < kept.length; i++) { const e = kept[i]!; builder.add(e.key, e.seq, e.del, e.value, i > 0); }
      since += kept.length;
      if (since >= SLICE_ENTRIES && o.onSlice) { since = 0; await o.onSlice(); }
    }
    await finish();
  } catch (e) {
    // Unfinished outputs are not in the manifest; they go now (or at the next open).
    const quietly = (name: string) => { try { o.fs.remove(join(o.dir, name)); } catch { /* next open removes orphans */ } };
    for (const t of out) { t.file.close(); quietly(tableName(t.meta.id)); }
    if (file) { file.close(); quietly(tableName(fileId)); }
    throw e;
  }
  return out;
}

/** File ids the engine set aside for a job on its background thread. */
function reservedIds(first: number, count: number): () => number {
  let id = first;
  return () => {
    if (id >= first + count) throw new Error('a background job wrote more tables than the engine reserved ids for');
    return id++;
  };
}

/** A compaction as the worker receives it: everything needed to read inputs and seal outputs. */
export interface CompactionJob {
  readonly dir: string;
  readonly master: Uint8Array;
  readonly inputs: { readonly meta: TableMeta; readonly dataKey: Uint8Array; readonly level: number }[];
  readonly firstId: number;
  readonly maxOutputs: number;
  readonly generation: number;
  readonly pins: readonly number[];
  readonly bottom: boolean;
  readonly maxBytes: number;
}

/** Runs a whole compaction on `fs` (the worker's side); returns the new tables' metadata. */
export async function runCompactionJob(fs: FileSystem, job: CompactionJob): Promise<TableMeta[]> {
  const ring = new Keyring(job.master);
  const cache = new BlockCache(0);
  const counters = { blockReads: 0 };
  const tables = job.inputs.map((i) => new Table(i.meta, fs.open(join(job.dir, tableName(i.meta.id)), 'read'), new FileCipher(i.meta.id, FileKind.Table, i.dataKey), cache, counters));
  try {
    const cursors = inputCursors(tables.map((t, i) => ({ table: t, level: job.inputs[i]!.level })));
    const written = await writeTables(fromIterator(mergeGroups(cursors)), {
      fs, dir: job.dir, ring, generation: job.generation, pins: job.pins, bottom: job.bottom, maxBytes: job.maxBytes,
      allocId: reservedIds(job.firstId, job.maxOutputs),
    });
    for (const w of written) w.file.close();
    return written.map((w) => w.meta);
  } finally {
    for (const t of tables) t.close();
  }
}

/** A flush as the flush thread receives it: the frozen memtable's content (`Memtable.pack`). */
export interface FlushJob {
  readonly dir: string;
  readonly master: Uint8Array;
  readonly mem: PackedMemtable;
  readonly firstId: number;
  readonly maxOutputs: number;
  readonly generation: number;
  readonly pins: readonly number[];
}

/** Writes a packed memtable into level-0 tables on `fs` (the worker's side); returns their metadata. */
export async function runFlushJob(fs: FileSystem, job: FlushJob): Promise<TableMeta[]> {
  const groups = new PackedReader(job.mem);
  const written = await writeTables(() => groups.next(), {
    fs, dir: job.dir, ring: new Keyring(job.master), generation: job.generation, pins: job.pins, bottom: false, maxBytes: Infinity,
    allocId: reservedIds(job.firstId, job.maxOutputs),
  });
  for (const w of written) w.file.close();
  return written.map((w) => w.meta);
}
