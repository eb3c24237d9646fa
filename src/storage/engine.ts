/**
 * The LSM engine: a memtable, immutable memtables being flushed, and leveled, encrypted tables.
 *
 * Writes go to the memtable only; the Raft log is the write-ahead log. Each flush records in the
 * manifest the highest Raft index (`appliedIndex`) whose writes it made durable, so recovery is
 * "open the manifest and its tables, then replay the log after `appliedIndex`".
 *
 * Reads are synchronous (memtables, then level 0 newest first, then levels 1..n), through a
 * block cache. Flushes and compactions run in the background in slices that yield to the event
 * loop; they swap in a new set of tables atomically (manifest write, fsync, rename, fsync dir) and
 * delete replaced files once no iterator uses them.
 */
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { TrineError, blake2s, concatBytes, equalBytes } from '../crypto/index.ts';
import { BlockCache } from './block-cache.ts';
import { ByteReader, ByteWriter, corrupt, sameBytes } from './codec.ts';
import { FileKind, type MasterKey, Keyring, finishRekey, rekeyFiles } from './envelope.ts';
import { type FileSystem, nodeFs } from './fs.ts';
import { compareBytes, inRange, type Bytes, type KeyRange, type KvEntry, type KvSnapshot, type KvStore, type WriteFlags, type WriteOp } from './kv.ts';
import {
  defaultCacheBytes, KEY_MAX_BYTES, L0_COMPACTION_TRIGGER, L0_STALL_FILES, MAX_IMMUTABLE_MEMTABLES, L1_BYTES, LEVEL_MULTIPLIER, MAX_LEVELS, MEMTABLE_BYTES, SLICE_ENTRIES,
  STREAM_CHUNK_BYTES, TABLE_BYTES, VALUE_MAX_BYTES,
} from './limits.ts';
import { keyHash } from './bloom.ts';
import { MANIFEST_FILE, type ManifestState, emptyManifest, readManifest, writeManifest } from './manifest.ts';
import { Memtable, PackedReader, packedBuffers } from './memtable.ts';
import { type Cursor, type Found, Table, type TableMeta, tableGeneration, tableName } from './table.ts';
import { type CompactionJob, type Entry, type FlushJob, type GroupSource, LevelCursor, fromIterator, inputCursors, mergeGroups, writeTables } from './compaction.ts';
import { readSnapshotFile, writeSnapshotFile } from './snapshot-file.ts';
import { StorageThread, type ThreadMessage } from './thread.ts';

export interface EngineOptions {
  readonly masterKey: MasterKey;
  readonly fs?: FileSystem;
  /** Byte limit of the block cache (default: `defaultCacheBytes` of the machine's memory). */
  readonly cacheBytes?: number;
  readonly memtableBytes?: number;
  readonly tableBytes?: number;
  readonly l0Trigger?: number;
  readonly l1Bytes?: number;
  /** `throttle()` waits while level 0 holds this many files (default L0_STALL_FILES). */
  readonly l0StallFiles?: number;
  /** Flush and compact on their own when limits are reached (default true). */
  readonly background?: boolean;
  /** Flush and compact on background threads when on the real disk (default true). */
  readonly backgroundThreads?: boolean;
  /** Told when something runs degraded (a background thread that cannot start). */
  readonly onWarning?: (message: string) => void;
}

export interface WriteOptions extends WriteFlags {
  /** The Raft index this batch applies; recorded in the manifest by the flush that persists it. */
  readonly appliedIndex?: number;
}

export interface IterateOptions extends KeyRange {
  readonly snapshot?: KvSnapshot;
}

export interface LevelStats {
  readonly files: number;
  readonly bytes: number;
}

export interface EngineStats {
  readonly levels: LevelStats[];
  readonly tableBytes: number;
  readonly memtableBytes: number;
  readonly immutableMemtables: number;
  readonly sequence: number;
  /** Raft index of the last write applied in memory. */
  readonly appliedIndex: number;
  /** Raft index made durable by the last flush (where log replay starts after a restart). */
  readonly durableAppliedIndex: number;
  readonly cache: { readonly bytes: number; readonly limit: number; readonly hits: number; readonly misses: number; readonly hitRate: number };
  /** Bytes written to tables (flushes and compactions) per byte of keys and values written. */
  readonly writeAmplification: number;
  /** Tables consulted per point read (after range and bloom checks). */
  readonly readAmplification: number;
  /** Sorted runs a read may have to consult: memtables + level-0 files + non-empty deeper levels. */
  readonly sortedRuns: number;
  readonly flushes: number;
  readonly compactions: number;
  /** Flushes and compactions that ran on a background thread (the rest ran on the engine's). */
  readonly threadJobs: number;
}

const isStoreFile = (n: string) => n === MANIFEST_FILE || /^t-\d{16}\.sst$/.test(n);
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/** A memtable's groups for a flush on this thread (no background thread), read in place. */
function inProcess(imm: Memtable): GroupSource {
  const groups = new PackedReader(imm.pack(false));
  return () => groups.next();
}
const EMPTY = new Uint8Array(0);

class Aborted extends Error {}

type Counters = ReturnType<typeof newCounters>;
function newCounters() {
  return { blockReads: 0, gets: 0, probes: 0, userBytes: 0, tableBytesWritten: 0, flushes: 0, compactions: 0, threadJobs: 0 };
}

/** A point-in-time view by sequence number. Release it so compaction may drop old versions. */
export class EngineSnapshot implements KvSnapshot {
  private released = false;
  constructor(private readonly engine: LsmEngine, readonly seq: number, readonly appliedIndex: number, readonly epoch: number) {}
  private check(): void {
    if (this.released) throw new TrineError('STORAGE_SNAPSHOT_RELEASED', 'this snapshot was released; take a new one');
    this.engine.checkSnapshot(this);
  }
  get(key: Bytes): Bytes | undefined {
    this.check();
    return this.engine.getAt(key, this.seq);
  }
  scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    this.check();
    return this.engine.scanAt(range, this.seq);
  }
  /** The whole state as a byte stream (see FORMATS.md, snapshot stream) for `ingest` elsewhere. */
  stream(): AsyncGenerator<Uint8Array> {
    this.check();
    return this.engine.streamAt(this);
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    this.engine.unpin(this.seq);
  }
}

export class LsmEngine implements KvStore {
  private ring: Keyring;
  private readonly fs: FileSystem;
  private readonly cache: BlockCache;
  private readonly counters: Counters;
  private mem = new Memtable();
  private imms: Memtable[] = [];
  private levels: Table[][];
  private state: ManifestState;
  private seq: number;
  private appliedInMemory: number;
  private readonly pins = new Map<number, number>();
  private flushTask: Promise<void> | undefined;
  private compactTask: Promise<void> | undefined;
  private failed: unknown;
  private closing = false;
  private closed = false;
  /** Bumped by `ingest`: snapshots from an earlier epoch describe a state that is gone. */
  private epoch = 0;
  private pauses = 0;
  private readonly compactPointer: (Bytes | undefined)[] = [];
  private readonly memtableBytes: number;
  private readonly tableBytes: number;
  private readonly l0Trigger: number;
  private readonly l1Bytes: number;
  private readonly l0Stall: number;
  private readonly background: boolean;
  private readonly useThread: boolean;
  /** The background threads: undefined until first needed, null when unavailable. */
  private readonly threads: { flush: StorageThread | undefined | null; compact: StorageThread | undefined | null } = { flush: undefined, compact: undefined };
  private readonly warn: (msg: string) => void;

  private constructor(readonly dir: string, opts: EngineOptions, ring: Keyring, state: ManifestState, levels: Table[][], cache: BlockCache, counters: Counters) {
    this.counters = counters;
    this.fs = opts.fs ?? nodeFs;
    this.ring = ring;
    this.state = state;
    this.levels = levels;
    this.cache = cache;
    this.seq = state.lastSeq;
    this.appliedInMemory = state.appliedIndex;
    this.mem.appliedIndex = state.appliedIndex;
    this.memtableBytes = opts.memtableBytes ?? MEMTABLE_BYTES;
    this.tableBytes = opts.tableBytes ?? TABLE_BYTES;
    this.l0Trigger = opts.l0Trigger ?? L0_COMPACTION_TRIGGER;
    this.l1Bytes = opts.l1Bytes ?? L1_BYTES;
    this.l0Stall = opts.l0StallFiles ?? L0_STALL_FILES;
    this.background = opts.background ?? true;
    this.useThread = opts.backgroundThreads ?? true;
    this.warn = opts.onWarning ?? (() => undefined);
    for (const level of levels) for (const t of level) t.refs++;
  }

  /**
   * Opens (or creates) the store in `dir`. A wrong master key throws STORAGE_WRONG_KEY and a
   * damaged file STORAGE_CORRUPT, both before anything on disk is changed.
   */
  static open(dir: string, opts: EngineOptions): LsmEngine {
    const fs = opts.fs ?? nodeFs;
    const ring = Keyring.open(fs, dir, opts.masterKey, isStoreFile);
    const state = fs.exists(join(dir, MANIFEST_FILE)) ? readManifest(fs, dir, ring) : emptyManifest();
    const cache = new BlockCache(opts.cacheBytes ?? defaultCacheBytes(totalmem()));
    const counters = newCounters();
    const opened: Table[] = [];
    const levels: Table[][] = [];
    const live = new Set<string>();
    try {
      for (const metas of state.levels) {
        const level: Table[] = [];
        for (const meta of metas) {
          const path = join(dir, tableName(meta.id));
          if (!fs.exists(path)) throw corrupt(`${tableName(meta.id)} is listed in the manifest but missing (was the manifest replaced by an older one?)`);
          const t = Table.open(fs.open(path, 'read'), ring, meta, cache, counters);
          opened.push(t);
          live.add(tableName(meta.id));
          level.push(t);
        }
        levels.push(level);
      }
      for (const t of opened) {
        if (t.generation >= state.generation) throw corrupt(`${tableName(t.meta.id)} was written from manifest generation ${t.generation}, yet ${MANIFEST_FILE} (generation ${state.generation}) lists it`);
      }
      LsmEngine.checkOrphans(fs, dir, ring, state, live);
    } catch (e) {
      for (const t of opened) t.close();
      throw e;
    }
    if (ring.prev) finishRekey(fs, dir, ring, LsmEngine.keyedFiles(fs, dir, live));
    // Tables a crash left behind before the manifest named them (checkOrphans vouched for them).
    let removed = false;
    for (const name of fs.list(dir)) {
      if ((isStoreFile(name) && name !== MANIFEST_FILE && !live.has(name)) || name.endsWith('.tmp')) { fs.remove(join(dir, name)); removed = true; }
    }
    if (removed) fs.syncDir(dir);
    return new LsmEngine(dir, opts, ring, state, levels, cache, counters);
  }

  /**
   * Refuses a manifest older than the tables on disk. A job records in its tables the generation
   * it started from, and a manifest written since then lists them; so a crash leaves unlisted
   * tables from jobs that started from the current generation or earlier. An unlisted table from
   * a later generation proves that a later manifest existed and was replaced by an older one (or
   * removed). Such files stay where they are: they may be all that is left of the newer state.
   */
  private static checkOrphans(fs: FileSystem, dir: string, ring: Keyring, state: ManifestState, live: Set<string>): void {
    for (const name of fs.list(dir)) {
      if (!isStoreFile(name) || name === MANIFEST_FILE || live.has(name)) continue;
      const f = fs.open(join(dir, name), 'read');
      let generation: number | undefined;
      try { generation = tableGeneration(f, ring, Number(name.slice(2, 18))); } finally { f.close(); }
      if (generation === undefined || generation <= state.generation) continue;
      const manifest = fs.exists(join(dir, MANIFEST_FILE)) ? `${MANIFEST_FILE} is at generation ${state.generation}: the manifest is older than the tables (replaced by an older copy)` : `${MANIFEST_FILE} is missing`;
      throw corrupt(`${name} was written from manifest generation ${generation}, but ${manifest}; nothing was changed`);
    }
  }

  private static keyedFiles(fs: FileSystem, dir: string, tables: Iterable<string>): Map<string, FileKind> {
    const m = new Map<string, FileKind>();
    for (const n of tables) m.set(n, FileKind.Table);
    if (fs.exists(join(dir, MANIFEST_FILE))) m.set(MANIFEST_FILE, FileKind.Manifest);
    return m;
  }

  // ---- state checks ----

  private check(): void {
    if (this.failed) throw new TrineError('STORAGE_FAILED', `the storage engine stopped after an error (${String((this.failed as Error)?.message ?? this.failed)}); restart the node`, { cause: this.failed });
    if (this.closed || this.closing) throw new TrineError('STORAGE_CLOSED', 'the storage engine is closed');
  }

  /** @internal */ checkSnapshot(s: EngineSnapshot): void {
    this.check();
    if (s.epoch !== this.epoch) throw new TrineError('STORAGE_SNAPSHOT_INVALID', 'this snapshot predates an ingest that replaced the whole state; take a new one');
  }

  /** Raft index made durable by the last flush: replay the log from the entry after it. */
  get appliedIndex(): number {
    return this.state.appliedIndex;
  }

  get sequence(): number {
    return this.seq;
  }

  // ---- writes ----

  /** Applies `batch` atomically; a later op on the same key wins. Not durable until a flush. */
  write(batch: readonly WriteOp[], opts?: WriteOptions): void {
    this.check();
    for (const op of batch) {
      if (op.key.length > KEY_MAX_BYTES) throw new TrineError('STORAGE_KEY_TOO_LARGE', `a key is ${op.key.length} bytes; the limit is ${KEY_MAX_BYTES}`);
      if (op.type === 'put' && op.value.length > VALUE_MAX_BYTES) throw new TrineError('STORAGE_VALUE_TOO_LARGE', `a value is ${op.value.length} bytes; the limit is ${VALUE_MAX_BYTES}`);
    }
    const seq = ++this.seq;
    const mem = this.mem;
    let bytes = 0;
    // The memtable copies what it keeps, so a batch the caller reuses (or owns) is safe either way.
    for (const op of batch) {
      bytes += op.key.length;
      if (op.type === 'put') { bytes += op.value.length; mem.put(op.key, seq, op.value); } else mem.put(op.key, seq, undefined);
    }
    if (mem.maxSeq < seq) mem.maxSeq = seq;
    this.counters.userBytes += bytes;
    if (opts?.appliedIndex !== undefined) {
      if (opts.appliedIndex > mem.appliedIndex) mem.appliedIndex = opts.appliedIndex;
      if (opts.appliedIndex > this.appliedInMemory) this.appliedInMemory = opts.appliedIndex;
    }
    if (this.background && mem.bytes >= this.memtableBytes) { this.freeze(); this.startFlushes(); }
  }

  /**
   * Resolves once background work has caught up enough to take more writes: LevelDB's write
   * stall, made explicit because `write` is synchronous. A caller that applies a stream of
   * batches (the Raft driver) awaits it between batches; memory and level 0 then stay bounded.
   */
  async throttle(): Promise<void> {
    while (!this.failed && !this.closing && (this.imms.length > MAX_IMMUTABLE_MEMTABLES || this.levels[0]!.length >= this.l0Stall)) {
      await (this.flushTask ?? this.compactTask ?? yieldToLoop());
    }
    this.check();
  }

  /** Resolves when no flush or compaction is running or due (benchmarks and tests settle with it). */
  async settle(): Promise<void> {
    for (;;) {
      this.check();
      if (this.flushTask || this.compactTask) { await (this.flushTask ?? this.compactTask); continue; }
      if (this.imms.length) { this.startFlushes(); if (!this.flushTask) await yieldToLoop(); continue; }
      if (this.background && this.pickCompaction()) { this.scheduleCompaction(); if (this.compactTask) continue; }
      return;
    }
  }

  /** Moves the memtable to the flush queue (unless it holds nothing new). */
  private freeze(): void {
    const mem = this.mem;
    if (mem.versions === 0 && mem.appliedIndex <= this.lastQueuedApplied()) return;
    this.imms.push(mem);
    this.mem = new Memtable();
    this.mem.appliedIndex = mem.appliedIndex;
    this.mem.maxSeq = mem.maxSeq;
  }

  private lastQueuedApplied(): number {
    return this.imms.length ? this.imms[this.imms.length - 1]!.appliedIndex : this.state.appliedIndex;
  }

  private startFlushes(): void {
    if (this.flushTask || this.pauses > 0) return;
    this.flushTask = this.runFlushes()
      .catch((e) => { if (!(e instanceof Aborted)) this.failed ??= e; })
      .finally(() => { this.flushTask = undefined; if (this.imms.length && !this.failed && !this.closing) this.startFlushes(); });
  }

  private async runFlushes(): Promise<void> {
    while (this.imms.length && !this.failed && this.pauses === 0) {
      const imm = this.imms[0]!;
      const pins = this.pinList();
      const outs = imm.versions === 0 ? [] : (await this.flushInWorker(imm, pins)) ?? await this.buildTables(inProcess(imm), pins, false, Infinity);
      if (this.failed) return;
      this.install(new Set(), outs.map((t) => ({ level: 0, table: t })), { appliedIndex: imm.appliedIndex, lastSeq: imm.maxSeq });
      this.imms.shift();
      this.counters.flushes++;
      this.scheduleCompaction();
    }
  }

  /**
   * Writes entry groups (all versions of one key, newest first, keys ascending) into new tables,
   * cut near `maxBytes`; yields to the event loop every SLICE_ENTRIES entries.
   */
  private async buildTables(next: GroupSource, pins: readonly number[], bottom: boolean, maxBytes: number): Promise<Table[]> {
    const written = await writeTables(next, {
      fs: this.fs, dir: this.dir, ring: this.ring, pins, bottom, maxBytes,
      allocId: () => this.state.nextFileId++,
      generation: this.state.generation,
      onSlice: async () => {
        await yieldToLoop();
        if (this.closing || this.failed) throw new Aborted();
      },
    });
    return written.map((w) => {
      this.counters.tableBytesWritten += w.meta.size;
      return new Table(w.meta, w.file, w.cipher, this.cache, this.counters);
    });
  }

  private removeQuietly(name: string): void {
    try { this.fs.remove(join(this.dir, name)); } catch { /* the next open removes orphans */ }
  }

  /**
   * Swaps in a new set of tables: writes the manifest (atomically, durably), then retires the
   * replaced tables, deleting each file once no iterator still reads it.
   */
  private install(remove: Set<number>, add: { level: number; table: Table }[], opts: { appliedIndex?: number; lastSeq?: number; replace?: boolean } = {}): void {
    const levels = this.levels.map((l) => l.filter((t) => !remove.has(t.meta.id)));
    for (const a of add) levels[a.level]!.push(a.table);
    for (let l = 1; l < levels.length; l++) levels[l]!.sort((a, b) => compareBytes(a.meta.smallest, b.meta.smallest));
    const next: ManifestState = {
      generation: this.state.generation + 1,
      nextFileId: this.state.nextFileId,
      lastSeq: Math.max(this.state.lastSeq, opts.lastSeq ?? 0),
      // Only an ingest (which replaces the whole state) may move the applied index back.
      appliedIndex: opts.replace ? opts.appliedIndex! : Math.max(this.state.appliedIndex, opts.appliedIndex ?? 0),
      levels: levels.map((l) => l.map((t) => t.meta)),
    };
    try {
      writeManifest(this.fs, this.dir, this.ring, next);
    } catch (e) {
      this.failed ??= e;
      throw e;
    }
    this.state = next;
    for (const a of add) a.table.refs++;
    const old = this.levels;
    this.levels = levels;
    for (const level of old) for (const t of level) if (remove.has(t.meta.id) && !add.some((a) => a.table === t)) { t.obsolete = true; this.unref(t); }
    for (const level of old) for (const t of level) if (remove.has(t.meta.id) && add.some((a) => a.table === t)) t.refs--;
  }

  private unref(t: Table): void {
    if (--t.refs > 0 || !t.obsolete) return;
    t.close();
    this.removeQuietly(tableName(t.meta.id));
  }

  // ---- compaction ----

  private levelTarget(level: number): number {
    return this.l1Bytes * LEVEL_MULTIPLIER ** (level - 1);
  }

  private levelBytes(level: number): number {
    let n = 0;
    for (const t of this.levels[level]!) n += t.meta.size;
    return n;
  }

  private scheduleCompaction(): void {
    if (!this.background || this.compactTask || this.pauses > 0 || this.failed || this.closing) return;
    if (!this.pickCompaction()) return;
    this.compactTask = this.runCompactions()
      .catch((e) => { if (!(e instanceof Aborted)) this.failed ??= e; })
      .finally(() => { this.compactTask = undefined; if (!this.failed && !this.closing) this.scheduleCompaction(); });
  }

  private async runCompactions(): Promise<void> {
    for (let c = this.pickCompaction(); c && !this.failed && !this.closing && this.pauses === 0; c = this.pickCompaction()) {
      await this.runCompaction(c.inputs, c.outLevel);
    }
  }

  private overlapping(level: number, lo: Bytes, hi: Bytes): Table[] {
    return this.levels[level]!.filter((t) => compareBytes(t.meta.largest, lo) >= 0 && compareBytes(t.meta.smallest, hi) <= 0);
  }

  private static span(tables: Table[]): [Bytes, Bytes] {
    let lo = tables[0]!.meta.smallest, hi = tables[0]!.meta.largest;
    for (const t of tables) {
      if (compareBytes(t.meta.smallest, lo) < 0) lo = t.meta.smallest;
      if (compareBytes(t.meta.largest, hi) > 0) hi = t.meta.largest;
    }
    return [lo, hi];
  }

  private pickCompaction(): { inputs: Table[]; outLevel: number } | undefined {
    const l0 = this.levels[0]!;
    if (l0.length >= this.l0Trigger) {
      const [lo, hi] = LsmEngine.span(l0);
      return { inputs: [...l0, ...this.overlapping(1, lo, hi)], outLevel: 1 };
    }
    for (let l = 1; l < MAX_LEVELS - 1; l++) {
      if (this.levelBytes(l) <= this.levelTarget(l)) continue;
      // Round-robin through the level's key space, as LevelDB does, so every range gets its turn.
      const tables = this.levels[l]!;
      const ptr = this.compactPointer[l];
      const t = tables.find((x) => !ptr || compareBytes(x.meta.smallest, ptr) > 0) ?? tables[0]!;
      this.compactPointer[l] = t.meta.largest;
      return { inputs: [t, ...this.overlapping(l + 1, t.meta.smallest, t.meta.largest)], outLevel: l + 1 };
    }
    return undefined;
  }

  /** Merges `inputs` into new tables at `outLevel`; a lone input with nothing to merge just moves. */
  private async runCompaction(inputs: Table[], outLevel: number): Promise<void> {
    if (inputs.length === 0) return;
    const [lo, hi] = LsmEngine.span(inputs);
    let bottom = true;
    for (let l = outLevel + 1; l < MAX_LEVELS; l++) if (this.overlapping(l, lo, hi).length) bottom = false;
    const inLevel = this.levels.findIndex((l) => l.includes(inputs[0]!));
    if (inputs.length === 1 && inLevel > 0 && inLevel < outLevel && !bottom) {
      this.install(new Set([inputs[0]!.meta.id]), [{ level: outLevel, table: inputs[0]! }]);
      return;
    }
    for (const t of inputs) t.refs++;
    try {
      const pins = this.pinList();
      let outs = await this.compactInWorker(inputs, pins, bottom);
      if (!outs) {
        const cursors = inputCursors(inputs.map((t) => ({ table: t, level: this.levelOf(t) })));
        outs = await this.buildTables(fromIterator(mergeGroups(cursors)), pins, bottom, this.tableBytes);
      }
      if (this.failed) return;
      this.install(new Set(inputs.map((t) => t.meta.id)), outs.map((t) => ({ level: outLevel, table: t })));
      this.counters.compactions++;
    } finally {
      for (const t of inputs) this.unref(t);
    }
  }

  /**
   * Runs a compaction on the compaction thread when the engine is on the real disk; undefined
   * when no thread can run here (simulated disk, or a runtime that cannot start one), so the
   * caller compacts on this thread instead.
   */
  private async compactInWorker(inputs: Table[], pins: number[], bottom: boolean): Promise<Table[] | undefined> {
    const inputBytes = inputs.reduce((n, t) => n + t.meta.size, 0);
    const maxOutputs = 2 * Math.ceil(inputBytes / this.tableBytes) + 16;
    return this.onThread('compact', maxOutputs, (firstId) => ({
      msg: {
        job: {
          dir: this.dir, master: this.ring.master, firstId, maxOutputs, generation: this.state.generation, pins, bottom, maxBytes: this.tableBytes,
          inputs: inputs.map((t) => ({ meta: t.meta, dataKey: t.dataKey, level: this.levelOf(t) })),
        } satisfies CompactionJob,
      },
      transfer: [],
    }));
  }

  /** Writes `imm` into level-0 tables on the flush thread; undefined as for `compactInWorker`. */
  private flushInWorker(imm: Memtable, pins: number[]): Promise<Table[] | undefined> {
    return this.onThread('flush', 1, (firstId) => {
      const mem = imm.pack(true);
      return {
        msg: { flush: { dir: this.dir, master: this.ring.master, mem, firstId, maxOutputs: 1, generation: this.state.generation, pins } satisfies FlushJob },
        transfer: packedBuffers(mem),
      };
    });
  }

  /**
   * Runs a job on one of the background threads, with `ids` file ids reserved for its outputs,
   * and opens the tables it wrote. A thread that dies (not the data) is not restarted: its work
   * runs on this thread from then on.
   */
  private async onThread(role: 'flush' | 'compact', ids: number, make: (firstId: number) => { msg: ThreadMessage; transfer: ArrayBuffer[] }): Promise<Table[] | undefined> {
    const t = this.thread(role);
    if (!t) return undefined;
    const firstId = this.state.nextFileId;
    this.state.nextFileId += ids;
    const { msg, transfer } = make(firstId);
    let metas: TableMeta[];
    try {
      metas = await t.run(msg, transfer);
    } catch (e) {
      if (e instanceof TrineError || e instanceof Aborted) throw e;
      this.threads[role] = null;
      this.threadUnavailable(role, String((e as Error)?.message ?? e));
      return undefined;
    }
    this.counters.threadJobs++;
    const out: Table[] = [];
    try {
      for (const meta of metas) {
        this.counters.tableBytesWritten += meta.size;
        out.push(Table.open(this.fs.open(join(this.dir, tableName(meta.id)), 'read'), this.ring, meta, this.cache, this.counters));
      }
    } catch (e) {
      for (const x of out) x.close();
      throw e;
    }
    return out;
  }

  private levelOf(t: Table): number {
    return this.levels.findIndex((l) => l.includes(t));
  }

  /** The background thread for `role`: started when first needed; null when it cannot run. */
  private thread(role: 'flush' | 'compact'): StorageThread | undefined {
    const cur = this.threads[role];
    if (cur === null) return undefined;
    if (cur) {
      if (!cur.failed) return cur;
      // It died between jobs (a job running then reports it through onThread).
      this.threads[role] = null;
      this.threadUnavailable(role, 'the thread exited');
      return undefined;
    }
    if (this.fs !== nodeFs || !this.useThread) { this.threads[role] = null; return undefined; }
    const t = StorageThread.start(() => (this.closing ? new Aborted() : undefined));
    if (typeof t === 'string') {
      this.threads[role] = null;
      this.threadUnavailable(role, t);
      return undefined;
    }
    this.threads[role] = t;
    return t;
  }

  private threadUnavailable(role: 'flush' | 'compact', why: string): void {
    this.warn(`storage: background thread unavailable: the ${role} thread failed (${why}); ${role === 'flush' ? 'flushes' : 'compactions'} run on the main thread from now on`);
  }

  // ---- reads ----

  private pinList(): number[] {
    return [...this.pins.keys()].sort((a, b) => a - b);
  }

  /** @internal */ unpin(seq: number): void {
    const n = (this.pins.get(seq) ?? 1) - 1;
    if (n <= 0) this.pins.delete(seq); else this.pins.set(seq, n);
  }

  get(key: Bytes): Bytes | undefined {
    this.check();
    return this.getAt(key, this.seq);
  }

  /** @internal */ getAt(key: Bytes, snap: number): Bytes | undefined {
    const f = this.find(key, snap);
    return f && !f.del ? f.value : undefined;
  }

  private find(key: Bytes, snap: number): Found | undefined {
    this.counters.gets++;
    let f = this.mem.get(key, snap);
    if (f) return f;
    for (let i = this.imms.length - 1; i >= 0; i--) if ((f = this.imms[i]!.get(key, snap))) return f;
    const l0 = this.levels[0]!;
    const h = keyHash(key);
    for (let i = l0.length - 1; i >= 0; i--) {
      const t = l0[i]!;
      if (compareBytes(key, t.meta.smallest) < 0 || compareBytes(key, t.meta.largest) > 0 || !t.mayContain(h)) continue;
      this.counters.probes++;
      if ((f = t.get(key, snap))) return f;
    }
    for (let l = 1; l < this.levels.length; l++) {
      const tables = this.levels[l]!;
      let lo = 0, hi = tables.length;
      while (lo < hi) { const m = (lo + hi) >>> 1; if (compareBytes(tables[m]!.meta.largest, key) < 0) lo = m + 1; else hi = m; }
      const t = tables[lo];
      if (!t || compareBytes(key, t.meta.smallest) < 0 || !t.mayContain(h)) continue;
      this.counters.probes++;
      if ((f = t.get(key, snap))) return f;
    }
    return undefined;
  }

  scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    this.check();
    return this.scanAt(range, this.seq);
  }

  /** Iterates a range, of the latest state or of `snapshot`. */
  iterate(opts: IterateOptions = {}): IterableIterator<KvEntry> {
    return opts.snapshot ? opts.snapshot.scan(opts) : this.scan(opts);
  }

  /** @internal The view is fixed here, at the call, not at the first `next()`. */
  scanAt(range: KeyRange, snap: number): IterableIterator<KvEntry> {
    const reverse = !!range.reverse;
    const start = reverse ? (range.lt ?? range.lte) : (range.gt ?? range.gte);
    const exclusive = reverse ? !!range.lt : !!range.gt;
    const tables: Table[] = [];
    for (const level of this.levels) for (const t of level) { t.refs++; tables.push(t); }
    const cursors: Cursor[] = [];
    try {
      cursors.push(this.mem.cursor(start, exclusive, reverse, snap));
      for (const m of this.imms) cursors.push(m.cursor(start, exclusive, reverse, snap));
      for (const t of this.levels[0]!) cursors.push(t.cursor(start, exclusive, reverse, snap));
      for (let l = 1; l < this.levels.length; l++) if (this.levels[l]!.length) cursors.push(new LevelCursor(this.levels[l]!, start, exclusive, reverse, snap));
    } catch (e) {
      for (const t of tables) this.unref(t);
      throw e;
    }
    // The tables stay open until the iterator ends, throws or is closed (`return`, as `break` in
    // a for-of does), even if it is closed before its first step.
    const gen = this.merge(cursors, range, reverse);
    let open = true;
    const release = () => { if (open) { open = false; for (const t of tables) this.unref(t); } };
    const it: IterableIterator<KvEntry> = {
      next: () => {
        if (!open) return { done: true, value: undefined };
        try {
          const r = gen.next();
          if (r.done) release();
          return r;
        } catch (e) {
          release();
          throw e;
        }
      },
      return: (value?: unknown) => { release(); return { done: true, value }; },
      [Symbol.iterator]: () => it,
    };
    return it;
  }

  private *merge(cursors: Cursor[], range: KeyRange, reverse: boolean): Generator<KvEntry> {
    let limit = range.limit ?? Infinity;
    while (limit > 0) {
      // The smallest (largest, in reverse) key among the cursors; its newest version wins.
      let best: Cursor | undefined;
      for (const c of cursors) {
        if (!c.valid) continue;
        if (!best) { best = c; continue; }
        const cmp = compareBytes(c.key, best.key);
        if (reverse ? cmp > 0 : cmp < 0) best = c;
        else if (cmp === 0 && c.seq > best.seq) best = c;
      }
      if (!best) return;
      const key = best.key, del = best.del, value = best.value;
      if (!inRange(key, range)) return;
      for (const c of cursors) if (c.valid && sameBytes(c.key, key)) c.next();
      if (del) continue;
      limit--;
      yield { key, value };
    }
  }


  snapshot(): EngineSnapshot {
    this.check();
    this.pins.set(this.seq, (this.pins.get(this.seq) ?? 0) + 1);
    return new EngineSnapshot(this, this.seq, this.appliedInMemory, this.epoch);
  }

  // ---- flush, compact, close ----

  /** Makes every write so far durable in tables; resolves when the manifest records it. */
  async flush(): Promise<void> {
    this.check();
    this.freeze();
    while (this.imms.length || this.flushTask) {
      this.check();
      if (!this.flushTask) this.startFlushes();
      // Paused (a rekey or ingest runs): wait a turn rather than spin.
      await (this.flushTask ?? yieldToLoop());
    }
    this.check();
  }



  /** Flushes, then merges every table into one sorted run at the deepest level in use. */
  async compact(): Promise<void> {
    await this.flush();
    while (this.compactTask) await this.compactTask;
    this.check();
    const all = this.levels.flat();
    if (all.length === 0) return;
    let deepest = 1;
    for (let l = 1; l < MAX_LEVELS; l++) if (this.levels[l]!.length) deepest = l;
    const run = this.runCompaction(all, deepest);
    this.compactTask = run.then(() => undefined, () => undefined);
    try { await run; } catch (e) { if (!(e instanceof Aborted)) { this.failed ??= e; } throw e; } finally { this.compactTask = undefined; }
    this.check();
  }

  /** Waits until no flush or compaction runs (background ones may be running). */
  private async quiesce(): Promise<void> {
    this.pauses++;
    while (this.flushTask || this.compactTask) await (this.flushTask ?? this.compactTask);
  }

  private resume(): void {
    this.pauses--;
    if (this.pauses === 0 && !this.failed && !this.closing) { if (this.imms.length) this.startFlushes(); this.scheduleCompaction(); }
  }

  /** Stops background work, flushes (unless `flush: false`) and closes every file. */
  async close(opts: { flush?: boolean } = {}): Promise<void> {
    if (this.closed || this.closing) return;
    if (opts.flush !== false && !this.failed) await this.flush().catch(() => undefined);
    this.closing = true;
    // A job on a background thread is abandoned; its unfinished outputs go at the next open.
    for (const t of [this.threads.flush, this.threads.compact]) if (t) await t.terminate();
    while (this.flushTask || this.compactTask) await (this.flushTask ?? this.compactTask);
    this.closed = true;
    for (const level of this.levels) for (const t of level) t.close();
    this.cache.clear();
  }

  // ---- rekey, stats ----

  /** Rewraps every file's data key under `masterKey`; data is not rewritten. */
  async rekey(masterKey: MasterKey): Promise<void> {
    this.check();
    await this.quiesce();
    try {
      this.check();
      const next = Keyring.derive(masterKey);
      const names = this.levels.flat().map((t) => tableName(t.meta.id));
      try {
        rekeyFiles(this.fs, this.dir, this.ring, next, LsmEngine.keyedFiles(this.fs, this.dir, names));
      } catch (e) { this.failed ??= e; throw e; }
      this.ring = next;
    } finally {
      this.resume();
    }
  }

  stats(): EngineStats {
    const levels = this.levels.map((l) => ({ files: l.length, bytes: l.reduce((n, t) => n + t.meta.size, 0) }));
    const c = this.cache;
    const lookups = c.hits + c.misses;
    return {
      levels,
      tableBytes: levels.reduce((n, l) => n + l.bytes, 0),
      memtableBytes: this.mem.bytes + this.imms.reduce((n, m) => n + m.bytes, 0),
      immutableMemtables: this.imms.length,
      sequence: this.seq,
      appliedIndex: this.appliedInMemory,
      durableAppliedIndex: this.state.appliedIndex,
      cache: { bytes: c.bytes, limit: c.limit, hits: c.hits, misses: c.misses, hitRate: lookups ? c.hits / lookups : 0 },
      writeAmplification: this.counters.userBytes ? this.counters.tableBytesWritten / this.counters.userBytes : 0,
      readAmplification: this.counters.gets ? this.counters.probes / this.counters.gets : 0,
      sortedRuns: 1 + this.imms.length + this.levels[0]!.length + this.levels.slice(1).filter((l) => l.length).length,
      flushes: this.counters.flushes,
      compactions: this.counters.compactions,
      threadJobs: this.counters.threadJobs,
    };
  }

  // ---- snapshot streams, backups and ingest ----

  /** Writes `snapshot` (or the current state) to an encrypted snapshot file at `path`. */
  async writeBackup(path: string, snapshot?: EngineSnapshot): Promise<number> {
    this.check();
    const snap = snapshot ?? this.snapshot();
    try {
      return await writeSnapshotFile(this.fs, path, this.ring, snap.stream());
    } finally {
      if (!snapshot) snap.release();
    }
  }

  /** Replaces the whole state with a snapshot file written by `writeBackup` under the same master key. */
  restoreBackup(path: string): Promise<{ entries: number; appliedIndex: number }> {
    this.check();
    return this.ingest(readSnapshotFile(this.fs, path, this.ring));
  }

  /** @internal */ async *streamAt(snap: EngineSnapshot): AsyncGenerator<Uint8Array> {
    const w = new ByteWriter(STREAM_CHUNK_BYTES + 1024);
    const head = new ByteWriter(64);
    head.bytes(STREAM_MAGIC); head.u64(snap.appliedIndex);
    writeFrame(w, FRAME_HEADER, head.view());
    let chain = blake2s(head.view());
    let count = 0;
    const batch = new ByteWriter(STREAM_CHUNK_BYTES + 1024);
    let n = 0;
    const emit = () => {
      const body = new ByteWriter(batch.len + 8);
      body.varint(n); body.bytes(batch.view());
      writeFrame(w, FRAME_ENTRIES, body.view());
      chain = blake2s(concatBytes(chain, body.view()));
      batch.reset(); n = 0;
    };
    for (const e of snap.scan()) {
      batch.blob(e.key); batch.blob(e.value); n++; count++;
      if (batch.len >= STREAM_CHUNK_BYTES) {
        emit();
        yield w.finish();
        w.reset();
        this.checkSnapshot(snap);
      }
    }
    if (n) emit();
    const end = new ByteWriter(48);
    end.u64(count); end.bytes(chain);
    writeFrame(w, FRAME_END, end.view());
    yield w.finish();
  }

  /**
   * Replaces the whole state with a snapshot stream (from `EngineSnapshot.stream()`): the new
   * tables are written first and swapped in with one manifest write, so a crash leaves either the
   * old state or the new one. Snapshots taken before become invalid, and writes made while it
   * runs are discarded with the old state (Raft applies nothing while it installs a snapshot).
   */
  async ingest(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ entries: number; appliedIndex: number }> {
    this.check();
    await this.quiesce();
    try {
      this.check();
      const seq = this.seq + 1;
      const parser = new FrameParser();
      const chunks = (async function* () { for await (const c of stream as AsyncIterable<Uint8Array>) yield c; })();
      let appliedIndex = -1;
      let chain: Uint8Array | undefined;
      let count = 0;
      let ended = false;
      let last: Bytes | undefined;
      /** The entries of the next frame that has any, or undefined at the end of the stream. */
      const nextFrame = async (): Promise<Entry[][] | undefined> => {
        for (;;) {
          const frame = parser.next();
          if (!frame) {
            const c = await chunks.next();
            if (c.done) return undefined;
            parser.push(c.value);
            continue;
          }
          if (ended) throw corrupt('snapshot stream continues after its end frame');
          if (frame.type === FRAME_HEADER) {
            const r = new ByteReader(frame.body, 'snapshot stream header');
            if (!equalBytes(r.bytes(8), STREAM_MAGIC)) throw corrupt('not a Trine snapshot stream');
            appliedIndex = r.u64();
            chain = blake2s(frame.body);
          } else if (frame.type === FRAME_ENTRIES) {
            if (!chain) throw corrupt('snapshot stream lacks its header');
            chain = blake2s(concatBytes(chain, frame.body));
            const r = new ByteReader(frame.body, 'snapshot stream entries');
            const n = r.varint();
            const groups: Entry[][] = [];
            for (let i = 0; i < n; i++) {
              const key = r.blob().slice(), value = r.blob().slice();
              if (last && compareBytes(last, key) >= 0) throw corrupt('snapshot stream keys are out of order');
              last = key;
              groups.push([{ key, seq, del: false, value }]);
            }
            count += n;
            if (groups.length) return groups;
          } else if (frame.type === FRAME_END) {
            const r = new ByteReader(frame.body, 'snapshot stream end');
            if (r.u64() !== count || !chain || !equalBytes(r.bytes(32), chain)) throw corrupt('snapshot stream is incomplete or altered (count or digest mismatch)');
            ended = true;
          } else {
            throw corrupt(`snapshot stream has an unknown frame type ${frame.type}`);
          }
        }
      };
      let buf: Entry[][] = [];
      let bi = 0;
      const source: GroupSource = () => {
        if (bi < buf.length) return buf[bi++];
        return nextFrame().then((g) => { if (!g) return undefined; buf = g; bi = 1; return g[0]; });
      };
      const outs = await this.buildTables(source, [], true, this.tableBytes);
      if (!ended || appliedIndex < 0) {
        for (const t of outs) { t.close(); this.removeQuietly(tableName(t.meta.id)); }
        throw corrupt('snapshot stream ended before its end frame');
      }
      const remove = new Set(this.levels.flat().map((t) => t.meta.id));
      this.install(remove, outs.map((t) => ({ level: MAX_LEVELS - 1, table: t })), { appliedIndex, lastSeq: seq, replace: true });
      // The new state replaces everything, memtables included.
      this.seq = seq;
      this.mem = new Memtable();
      this.imms = [];
      this.mem.appliedIndex = appliedIndex;
      this.mem.maxSeq = seq;
      this.appliedInMemory = appliedIndex;
      this.epoch++;
      this.pins.clear();
      return { entries: count, appliedIndex };
    } catch (e) {
      // A bad stream leaves the store as it was; anything else (a disk error) stops the engine.
      if (!(e instanceof TrineError && e.code === 'STORAGE_CORRUPT')) this.failed ??= e;
      throw e;
    } finally {
      this.resume();
    }
  }
}

const STREAM_MAGIC = new TextEncoder().encode('TRNSNAP1');
const FRAME_HEADER = 1, FRAME_ENTRIES = 2, FRAME_END = 3;

function writeFrame(w: ByteWriter, type: number, body: Uint8Array): void {
  w.u8(type);
  w.u32(body.length);
  w.bytes(body);
}

/** Splits a byte stream cut at arbitrary points back into frames. */
class FrameParser {
  private buf: Uint8Array = new Uint8Array(0);
  push(chunk: Uint8Array): void {
    this.buf = this.buf.length ? concatBytes(this.buf, chunk) : chunk;
  }
  next(): { type: number; body: Uint8Array } | undefined {
    if (this.buf.length < 5) return undefined;
    const len = new DataView(this.buf.buffer, this.buf.byteOffset + 1, 4).getUint32(0, true);
    if (this.buf.length < 5 + len) return undefined;
    const f = { type: this.buf[0]!, body: this.buf.subarray(5, 5 + len) };
    this.buf = this.buf.subarray(5 + len);
    return f;
  }
}
