/**
 * The encrypted append-only log: Raft's log and the database's only write-ahead log.
 *
 * Entries (index, term, opaque bytes) are appended in batches; each batch is one sealed record.
 * `append` writes at once and resolves when an fsync covers it; appends made while an fsync is in
 * flight share the next one (group commit). A segment is never appended to after it was closed or
 * after a restart: a new segment (with a new data key) is started instead, so an offset is never
 * sealed twice under one key, even where a torn record was cut away.
 *
 * Recovery replays segments in order. A record whose first index is at or below the last index
 * seen supersedes everything from that index on (that is how a suffix truncation is recorded).
 * A record of the last segment that fails to read ends the log there: that is a torn write, and
 * it is reported in `recovery` with the bytes dropped; unless a later record of the same segment
 * reads, which a crash cannot cause (files grow front to back), so open refuses with
 * STORAGE_CORRUPT.
 *
 * Every segment opens with a link record naming the segment before it, that segment's length and
 * the tag that ends it; the previous segment is made durable before the link is written. So only
 * the last segment can have a torn tail, and an older copy of a closed segment, a segment deleted
 * from the middle or one put in another's place fails open instead of reading as a shorter log.
 * A suffix truncation's link names the segment it cuts; open finishes a cut a crash interrupted
 * (or drops the truncation's segment when that never reached the disk), so every link must then
 * match exactly, and a cut segment put back uncut is refused rather than read.
 * LOGMETA vouches for the last segment as far as it was durable when LOGMETA was last written;
 * rolling it back past that, or the whole directory, is beyond what this disk alone can show.
 */
import { join } from 'node:path';
import { TrineError } from '../crypto/index.ts';
import { ByteReader, ByteWriter, corrupt, readU64, sameBytes, writeU64 } from './codec.ts';
import {
  type FileCipher, FileKind, type MasterKey, KEY_FILE, Keyring, finishRekey, newFileHeader, openFileHeader, rekeyFiles,
} from './envelope.ts';
import { type FileHandle, type FileSystem, nodeFs, writeFileAtomic } from './fs.ts';
import { HEADER_BYTES, LOG_CACHE_RECORDS, LOG_RECORD_MAX, LOG_SEGMENT_BYTES } from './limits.ts';

export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

/** What recovery found and dropped at open. */
export interface LogRecovery {
  /**
   * Bytes cut from the end of the log because a record was torn or unreadable, or because a crash
   * interrupted a suffix truncation and open finished its cut or dropped it (0 when clean).
   */
  readonly droppedBytes: number;
  /**
   * Segment files removed: a last one with a torn link, one a suffix truncation started but did not
   * make durable, or those the cut of an interrupted truncation removes.
   */
  readonly droppedSegments: number;
  /** Why, when anything was dropped. */
  readonly detail?: string;
}

export interface LogOptions {
  readonly masterKey: MasterKey;
  readonly fs?: FileSystem;
  /** Start a new segment past this many bytes (default LOG_SEGMENT_BYTES). */
  readonly segmentBytes?: number;
}

interface Rec {
  offset: number;
  /** Bytes on disk including the 4-byte length prefix. */
  size: number;
  first: number;
  /** Last index still valid in this record (lowered when a later record supersedes part of it). */
  last: number;
}

interface Segment {
  id: number;
  name: string;
  file: FileHandle;
  cipher: FileCipher;
  records: Rec[];
  end: number;
  /** Bytes known to be on disk: synced by this process, or found at open. */
  synced: number;
}

const META_FILE = 'LOGMETA';
const RECORD_TYPE = 1;
const META_TYPE = 2;
/**
 * Checks the end `LOGMETA` recorded (segment `id`, its first `len` bytes ending in `tag`): unless a
 * later segment's link vouches for that segment, it must still be there and reach at least that far.
 */
function checkAnchor(segs: Segment[], links: (Link | undefined)[], a: Anchor): void {
  if (a.id === 0 || segs.some((s, j) => s.id > a.id && links[j])) return;
  const x = segs.find((s) => s.id === a.id);
  if (!x) throw corrupt(`${segName(a.id)} is missing: ${META_FILE} recorded it as the newest log segment, holding ${a.len} bytes on disk`);
  const size = x.file.size();
  if (size < a.len || !sameBytes(endTag(x, a.len), a.tag)) {
    throw corrupt(`${x.name} is ${size} bytes long and does not hold the ${a.len} bytes ${META_FILE} recorded as on disk: it is an older copy or was altered`);
  }
}

const segName = (id: number) => `log-${String(id).padStart(16, '0')}.seg`;
const LINK_TYPE = 3;
/** Link plaintext: previous segment id u64 | its length u64 | its last 16 bytes | u8 cut flag. */
const LINK_PLAIN = 33;
const LINK_END = HEADER_BYTES + 4 + LINK_PLAIN + 16;

interface Link {
  prevId: number;
  prevLen: number;
  tag: Uint8Array;
  /** Written by a suffix truncation: the previous segment is being cut to prevLen. */
  cut: boolean;
}

interface Anchor {
  id: number;
  len: number;
  tag: Uint8Array;
}

function readLink(s: Segment): Link | undefined {
  const buf = new Uint8Array(LINK_END - HEADER_BYTES);
  if (s.end < 0 || s.file.read(buf, HEADER_BYTES) < buf.length) return undefined;
  if (new DataView(buf.buffer).getUint32(0, true) !== LINK_PLAIN + 16) return undefined;
  try {
    const p = s.cipher.open(HEADER_BYTES + 4, LINK_TYPE, buf.subarray(4), s.name);
    return { prevId: readU64(p, 0), prevLen: readU64(p, 8), tag: p.slice(16, 32), cut: p[32] === 1 };
  } catch {
    return undefined;
  }
}

function endTag(s: Segment, length: number): Uint8Array {
  const tag = new Uint8Array(16);
  s.file.read(tag, length - 16);
  return tag;
}

/** A suffix truncation a crash interrupted: `segs[seg]`'s link cuts `segs[prev]` to `len`. */
interface OpenCut {
  seg: number;
  prev: number;
  len: number;
}

/**
 * Checks every segment against the link of the one after it, before anything is changed. A
 * segment is complete and durable before its successor's link is written, so a mismatch is not a
 * crash. A link may name a segment older than every file present (prefix truncation deleted it).
 * A truncation's link also accepts its segment still uncut and segments between still present, but
 * only in the last segment: a truncation returns once its cut is durable, and open finishes an
 * interrupted one before it starts a segment. That cut is returned, for open to finish.
 */
function checkChain(segs: Segment[], links: (Link | undefined)[]): OpenCut | undefined {
  const pos = new Map(segs.map((s, i) => [s.id, i]));
  let open: OpenCut | undefined;
  for (let j = 0; j < segs.length; j++) {
    const s = segs[j]!, l = links[j];
    if (!l) {
      if (j < segs.length - 1) throw corrupt(`${s.name} has no readable link record but later segments exist, so it was damaged or altered on disk`);
      continue;
    }
    const i = pos.get(l.prevId);
    if (i === undefined) {
      if (j > 0) throw corrupt(`${segName(l.prevId)}, which ${s.name} follows, is missing while older segments remain: a log segment was deleted or renamed`);
      continue;
    }
    const p = segs[i]!;
    if (i >= j || (!l.cut && i !== j - 1)) throw corrupt(`${s.name} was started after ${p.name}, but the segment before it is ${segs[j - 1]?.name ?? 'none'}: log segments were renamed, swapped or deleted`);
    const size = p.file.size();
    if (size < l.prevLen) throw corrupt(`${p.name} is ${size} bytes long but was ${l.prevLen} when ${s.name} was started: it is an older copy or was cut short`);
    if ((!l.cut && size !== l.prevLen) || !sameBytes(endTag(p, l.prevLen), l.tag)) {
      throw corrupt(`${p.name} does not end as it did when ${s.name} was started (${size} bytes, linked at ${l.prevLen}): it was replaced by another copy or altered`);
    }
    if (l.cut && (size > l.prevLen || i < j - 1)) {
      if (j < segs.length - 1) {
        throw corrupt(size > l.prevLen
          ? `${p.name} is ${size} bytes long, but the suffix truncation that started ${s.name} cut it to ${l.prevLen} and later segments exist, so that cut was done: it is an uncut copy put back or was altered`
          : `${segs[i + 1]!.name} is present, but the suffix truncation that started ${s.name} removed it and later segments exist, so that cut was done: it was put back or altered`);
      }
      open = { seg: j, prev: i, len: l.prevLen };
    }
  }
  return open;
}

/**
 * What a suffix truncation's segment holds past its link: 'kept' when just the record the
 * truncation writes before it cuts (the entries it keeps, maybe none), 'torn' when that record did
 * not reach the disk, 'more' when records follow (written after the cut was done) or the first is
 * damaged while a later one is intact.
 */
function truncationRecord(s: Segment): 'kept' | 'torn' | 'more' {
  const size = s.file.size();
  const lenBuf = new Uint8Array(4);
  if (s.file.read(lenBuf, LINK_END) === 4) {
    const len = new DataView(lenBuf.buffer).getUint32(0, true);
    if (len >= 17 && len <= LOG_RECORD_MAX && LINK_END + 4 + len <= size) {
      const sealed = new Uint8Array(len);
      s.file.read(sealed, LINK_END + 4);
      try {
        s.cipher.open(LINK_END + 4, RECORD_TYPE, sealed, s.name);
        return LINK_END + 4 + len === size ? 'kept' : 'more';
      } catch { /* torn, unless a later record opens */ }
    }
  }
  return readableRecordAfter(s, LINK_END + 1, size) ? 'more' : 'torn';
}

/**
 * Does a suffix truncation's cut on disk: removes `doomed` (the segments after the cut one but the
 * truncation's own), then cuts `file` to `at`. The removals go first, newest first, and durably:
 * were the file shortened while one of them survived a crash, that segment's link would no longer
 * match; and those a crash leaves are a run right after the cut segment, each still following the
 * segment its link names.
 */
function doCut(fs: FileSystem, dir: string, doomed: Segment[], file: FileHandle, at: number): void {
  for (const s of [...doomed].reverse()) {
    s.file.close();
    fs.remove(join(dir, s.name));
  }
  fs.syncDir(dir);
  file.truncate(at);
  file.sync();
}
/**
 * Whether a sealed record starts anywhere in `s` from `from` on and opens: records are sealed with
 * their offset as associated data, so only a real record boundary opens. Run only when recovery
 * meets a bad record, over the bytes after it.
 */
function readableRecordAfter(s: Segment, from: number, size: number): boolean {
  if (size - from < 4 + 17) return false;
  const rest = new Uint8Array(size - from);
  s.file.read(rest, from);
  const dv = new DataView(rest.buffer);
  for (let q = 0; q + 4 + 17 <= rest.length; q++) {
    const len = dv.getUint32(q, true);
    if (len < 17 || q + 4 + len > rest.length) continue;
    try {
      s.cipher.open(from + q + 4, RECORD_TYPE, rest.subarray(q + 4, q + 4 + len), s.name);
      return true;
    } catch { /* not a record boundary */ }
  }
  return false;
}

const isSegName = (n: string) => /^log-\d{16}\.seg$/.test(n);
const isStoreFile = (n: string) => isSegName(n) || n === META_FILE;

function encodeEntries(entries: readonly LogEntry[]): Uint8Array {
  const w = new ByteWriter(64 + entries.reduce((n, e) => n + e.data.length + 24, 0));
  w.varint(entries.length);
  for (const e of entries) { w.u64(e.index); w.u64(e.term); w.blob(e.data); }
  return w.view();
}

function decodeEntries(p: Uint8Array): LogEntry[] {
  const r = new ByteReader(p, 'a log record');
  const n = r.varint();
  const out: LogEntry[] = [];
  for (let i = 0; i < n; i++) out.push({ index: r.u64(), term: r.u64(), data: r.blob().slice() });
  return out;
}

export class LogStore {
  private ring: Keyring;
  private segs: Segment[] = [];
  /** Terms of entries firstIndex..lastIndex, so `term()` needs no disk read. */
  private terms: number[] = [];
  private first = 1;
  private hard: Uint8Array | undefined;
  private nextId = 1;
  private cache = new Map<string, LogEntry[]>();
  private dirty = new Set<Segment>();
  private dirDirty = false;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private syncing = false;
  private failed: unknown;
  private closed = false;
  readonly recovery: LogRecovery;
  private readonly fs: FileSystem;
  private readonly segmentBytes: number;

  private constructor(readonly dir: string, opts: LogOptions, ring: Keyring) {
    this.fs = opts.fs ?? nodeFs;
    this.segmentBytes = opts.segmentBytes ?? LOG_SEGMENT_BYTES;
    this.ring = ring;
    this.recovery = { droppedBytes: 0, droppedSegments: 0 };
  }

  /** Opens (or creates) the log in `dir`; a wrong master key throws STORAGE_WRONG_KEY and changes nothing. */
  static open(dir: string, opts: LogOptions): LogStore {
    const fs = opts.fs ?? nodeFs;
    const ring = Keyring.open(fs, dir, opts.masterKey, isStoreFile);
    const log = new LogStore(dir, opts, ring);
    log.recover();
    return log;
  }

  private recover(): void {
    const fs = this.fs;
    const metaPath = join(this.dir, META_FILE);
    let anchor: Anchor | undefined;
    if (fs.exists(metaPath)) {
      const b = fs.readFile(metaPath);
      const c = openFileHeader(this.ring, b.subarray(0, HEADER_BYTES), FileKind.LogMeta, 0, META_FILE);
      const r = new ByteReader(b.subarray(HEADER_BYTES), META_FILE);
      const len = r.u32();
      const p = new ByteReader(c.open(HEADER_BYTES + 4, META_TYPE, r.bytes(len), META_FILE), META_FILE);
      this.first = p.u64();
      const hs = p.blob();
      this.hard = p.u8() === 1 ? hs.slice() : undefined;
      anchor = { id: p.u64(), len: p.u64(), tag: p.bytes(16).slice() };
    }
    const names = fs.list(this.dir).filter(isSegName).sort();
    // Open every header first, so a bad file is reported before anything is changed.
    const opened: Segment[] = names.map((name) => {
      const file = fs.open(join(this.dir, name), 'write');
      const header = new Uint8Array(HEADER_BYTES);
      const id = Number(name.slice(4, 20));
      if (file.read(header, 0) < HEADER_BYTES) return { id, name, file, cipher: undefined as unknown as FileCipher, records: [], end: -1, synced: 0 };
      return { id, name, file, cipher: openFileHeader(this.ring, header, FileKind.LogSegment, id, name), records: [], end: HEADER_BYTES, synced: 0 };
    });
    const links = opened.map(readLink);
    const open = checkChain(opened, links);
    if (anchor) checkAnchor(opened, links, anchor);
    // A truncation cuts only once its record is durable: when that record is whole, the cut is
    // finished below, once everything is read; when it is torn, the cut never began, so the
    // truncation's segment goes and the log is as before it. Anything after that record was
    // written once the cut was done, so the longer segment or the segments between were put back.
    let finish: { seg: Segment; at: number; doomed: Segment[] } | undefined;
    let undone: Segment | undefined;
    if (open) {
      const n = opened[open.seg]!, p = opened[open.prev]!;
      const state = truncationRecord(n);
      if (state === 'more') {
        throw corrupt(`the suffix truncation that started ${n.name} cut ${p.name} to ${open.len} bytes and ${n.name} holds what was written after that cut was done, yet ${p.name} is ${p.file.size()} bytes long${open.prev < open.seg - 1 ? ` and ${opened[open.prev + 1]!.name} is present` : ''}: a file the cut removed was put back, or one was altered`);
      }
      if (state === 'kept') finish = { seg: p, at: open.len, doomed: opened.slice(open.prev + 1, open.seg) };
      else undone = n;
    }
    const keyed = opened.filter((s) => s.end >= 0);
    for (const s of opened) this.nextId = Math.max(this.nextId, s.id + 1);
    // Read the log as it is once the cut is finished or the truncation dropped.
    const gone = new Set([...finish?.doomed ?? [], ...undone ? [undone] : []]);
    const segs = opened.filter((s) => !gone.has(s));
    const segLinks = segs.map((s) => links[opened.indexOf(s)]);
    let last = this.first - 1;
    let cut: { seg: number; at: number; why: string } | undefined;
    for (let si = 0; si < segs.length && !cut; si++) {
      const s = segs[si]!;
      // checkChain let only the last segment lack its link: torn while being started, so it goes whole.
      if (s.end < 0) { cut = { seg: si, at: 0, why: `${s.name} has a torn header` }; break; }
      const size = s === finish?.seg ? finish.at : s.file.size();
      if (!segLinks[si]) {
        if (readableRecordAfter(s, HEADER_BYTES + 1, size)) {
          throw corrupt(`${s.name}: its link record fails authentication but later records are intact, so it was damaged or altered on disk (a crash tears only the tail)`);
        }
        cut = { seg: si, at: 0, why: `${s.name} has a torn link record` };
        break;
      }
      // Segments before the last were durable before the next one started: nothing in them is torn.
      const tornOr = (why: string) => {
        const next = segs[si + 1] ?? undone;
        if (next) throw corrupt(`${why}, but ${next.name} was started after it was complete, so it was damaged or altered on disk`);
        return why;
      };
      let pos = LINK_END;
      const lenBuf = new Uint8Array(4);
      while (pos < size) {
        if (pos + 4 > size) { cut = { seg: si, at: pos, why: tornOr(`${s.name} ends inside a record length`) }; break; }
        s.file.read(lenBuf, pos);
        const len = new DataView(lenBuf.buffer).getUint32(0, true);
        if (len < 17 || len > LOG_RECORD_MAX || pos + 4 + len > size) {
          if (readableRecordAfter(s, pos + 1, size)) {
            throw corrupt(`${s.name}: the record length at offset ${pos} is damaged but later records are intact, so it was damaged or altered on disk (a crash tears only the tail)`);
          }
          cut = { seg: si, at: pos, why: tornOr(`${s.name} has a torn record at offset ${pos}`) };
          break;
        }
        const sealed = new Uint8Array(len);
        s.file.read(sealed, pos + 4);
        let entries: LogEntry[];
        try {
          entries = decodeEntries(s.cipher.open(pos + 4, RECORD_TYPE, sealed, s.name));
        } catch {
          // A crash tears only the last record a file received; a sealed record intact after
          // this one means the damage is not a torn write but the disk or someone altering it.
          if (readableRecordAfter(s, pos + 1, size)) {
            throw corrupt(`${s.name}: the record at offset ${pos} fails authentication but later records are intact, so it was damaged or altered on disk (a crash tears only the tail)`);
          }
          cut = { seg: si, at: pos, why: tornOr(`${s.name} has an unreadable record at offset ${pos}`) };
          break;
        }
        if (entries.length === 0) {
          // Only a suffix truncation writes records without entries (see truncateSuffix).
          if (!segLinks[si]!.cut) throw corrupt(`${s.name} holds an empty record at offset ${pos}`);
          pos += 4 + len;
          continue;
        }
        const f = entries[0]!.index;
        for (let i = 1; i < entries.length; i++) if (entries[i]!.index !== f + i) throw corrupt(`${s.name} holds a record with non-consecutive indexes`);
        const l = f + entries.length - 1;
        // Wholly below the snapshot point: nothing in it is part of the log any more.
        if (l < this.first) { pos += 4 + len; continue; }
        // Records are written in index order and each segment is durable before the next starts.
        if (f > Math.max(last + 1, this.first)) throw corrupt(`${s.name} skips from index ${Math.max(last, this.first - 1)} to ${f} at offset ${pos}: entries were removed from the log on disk`);
        if (f <= last) this.supersede(f);
        this.addRecord(s, { offset: pos, size: len + 4, first: f, last: l }, entries);
        last = l;
        pos += 4 + len;
      }
      s.end = s.synced = pos;
      this.segs.push(s);
    }
    // Only now, with every record read and checked, does open change anything on disk.
    if (this.ring.prev) finishRekey(fs, this.dir, this.ring, this.keyedFiles(keyed));
    const dropped: LogRecovery[] = [];
    if (finish) {
      const bytes = finish.seg.file.size() - finish.at + finish.doomed.reduce((n, s) => n + s.file.size(), 0);
      doCut(fs, this.dir, finish.doomed, finish.seg.file, finish.at);
      const removed = finish.doomed.length ? ` and removed ${finish.doomed.map((s) => s.name).join(', ')}` : '';
      dropped.push({ droppedBytes: bytes, droppedSegments: finish.doomed.length, detail: `a crash interrupted a suffix truncation: cut ${finish.seg.name} to ${finish.at} bytes${removed}` });
    }
    if (undone) {
      const bytes = undone.file.size();
      undone.file.close();
      fs.remove(join(this.dir, undone.name));
      fs.syncDir(this.dir);
      dropped.push({ droppedBytes: bytes, droppedSegments: 1, detail: `a crash came before a suffix truncation reached the disk: removed ${undone.name}, which it had started` });
    }
    if (cut) {
      // Only the last segment is ever cut (tornOr refuses the others).
      const s = segs[cut.seg]!;
      const droppedBytes = s.file.size() - cut.at;
      if (cut.at === 0) { s.file.close(); fs.remove(join(this.dir, s.name)); this.segs = this.segs.filter((x) => x !== s); }
      else { s.file.truncate(cut.at); s.file.sync(); s.end = s.synced = cut.at; }
      fs.syncDir(this.dir);
      dropped.push({ droppedBytes, droppedSegments: cut.at === 0 ? 1 : 0, detail: cut.why });
    }
    if (dropped.length) {
      (this as { recovery: LogRecovery }).recovery = {
        droppedBytes: dropped.reduce((n, d) => n + d.droppedBytes, 0),
        droppedSegments: dropped.reduce((n, d) => n + d.droppedSegments, 0),
        detail: dropped.map((d) => d.detail).join('; '),
      };
    }
    this.dropBelow(this.first);
    // The new segment's link vouches for the last one, whose bytes a crashed process may have
    // left in the page cache only: startSegment syncs a dirty previous segment first.
    if (this.segs.length) this.dirty.add(this.active);
    this.startSegment();
    this.fs.syncDir(this.dir);
    this.dirDirty = false;
  }

  private keyedFiles(segs: Segment[]): Map<string, FileKind> {
    const m = new Map<string, FileKind>();
    for (const s of segs) m.set(s.name, FileKind.LogSegment);
    if (this.fs.exists(join(this.dir, META_FILE))) m.set(META_FILE, FileKind.LogMeta);
    return m;
  }

  /** Forgets every entry at or above `index` in memory (records on disk stay until cleaned). */
  private supersede(index: number): void {
    for (let si = this.segs.length - 1; si >= 0; si--) {
      const s = this.segs[si]!;
      while (s.records.length && s.records[s.records.length - 1]!.first >= index) s.records.pop();
      const r = s.records[s.records.length - 1];
      if (r && r.last >= index) r.last = index - 1;
    }
    const keep = index - this.termsStart;
    if (keep < this.terms.length) this.terms.length = Math.max(0, keep);
    this.cache.clear();
  }

  private addRecord(s: Segment, r: Rec, entries: LogEntry[]): void {
    s.records.push(r);
    if (this.terms.length === 0) this.termsStart = r.first;
    else if (r.first !== this.termsStart + this.terms.length) throw new Error(`log invariant: record at ${r.first} does not follow ${this.termsStart + this.terms.length - 1}`);
    for (const e of entries) this.terms.push(e.term);
    this.remember(s, r, entries);
  }
  private termsStart = 1;

  private remember(s: Segment, r: Rec, entries: LogEntry[]): void {
    const k = `${s.id}:${r.offset}`;
    this.cache.delete(k);
    this.cache.set(k, entries);
    if (this.cache.size > LOG_CACHE_RECORDS) this.cache.delete(this.cache.keys().next().value!);
  }

  /**
   * Starts a segment linked to the active one, or, for a suffix truncation, to `cutTo.seg` as it
   * will be once cut at `cutTo.at`.
   */
  private startSegment(cutTo?: { seg: Segment; at: number }): void {
    const prev = cutTo?.seg ?? (this.segs.length ? this.active : undefined);
    const link = new Uint8Array(LINK_PLAIN);
    if (prev) {
      // The link vouches for prev's bytes: they must be on disk before the link can be.
      if (this.dirty.has(prev)) { prev.file.sync(); prev.synced = prev.end; this.dirty.delete(prev); }
      const at = cutTo?.at ?? prev.end;
      writeU64(link, 0, prev.id);
      writeU64(link, 8, at);
      link.set(endTag(prev, at), 16);
      link[32] = cutTo ? 1 : 0;
    }
    const id = this.nextId++;
    const name = segName(id);
    const file = this.fs.open(join(this.dir, name), 'create');
    const { header, cipher } = newFileHeader(this.ring, FileKind.LogSegment, id);
    const sealed = cipher.seal(HEADER_BYTES + 4, LINK_TYPE, link);
    const head = new Uint8Array(LINK_END);
    head.set(header, 0);
    new DataView(head.buffer).setUint32(HEADER_BYTES, sealed.length, true);
    head.set(sealed, HEADER_BYTES + 4);
    file.write(head, 0);
    const s: Segment = { id, name, file, cipher, records: [], end: LINK_END, synced: 0 };
    this.segs.push(s);
    this.dirty.add(s);
    this.dirDirty = true;
  }

  private get active(): Segment {
    return this.segs[this.segs.length - 1]!;
  }

  /** Index of the first entry the log holds (or would hold next, when empty). */
  firstIndex(): number {
    return this.first;
  }

  /** Index of the last entry; firstIndex() - 1 when the log is empty. */
  lastIndex(): number {
    return this.termsStart + this.terms.length - 1 >= this.first ? this.termsStart + this.terms.length - 1 : this.first - 1;
  }

  /** Term of entry `index`, or undefined when the log does not hold it. */
  term(index: number): number | undefined {
    if (index < this.first) return undefined;
    return this.terms[index - this.termsStart];
  }

  /** The small durable record Raft keeps beside its log (term, vote, commit): opaque bytes. */
  hardState(): Uint8Array | undefined {
    return this.hard?.slice();
  }

  /** Replaces the hard state durably before returning. */
  saveHardState(state: Uint8Array): void {
    this.check();
    this.writeMeta(this.first, state.slice());
  }

  private writeMeta(first: number, hard: Uint8Array | undefined): void {
    const p = new ByteWriter();
    p.u64(first);
    p.blob(hard ?? new Uint8Array(0));
    p.u8(hard ? 1 : 0);
    // The newest segment with durable bytes past its link, and how far: open checks the log still
    // reaches that far, which catches an older copy of the last segment that no link covers.
    const a = [...this.segs].reverse().find((s) => s.synced >= LINK_END);
    p.u64(a?.id ?? 0);
    p.u64(a?.synced ?? 0);
    p.bytes(a ? endTag(a, a.synced) : new Uint8Array(16));
    const { header, cipher } = newFileHeader(this.ring, FileKind.LogMeta, 0);
    const sealed = cipher.seal(HEADER_BYTES + 4, META_TYPE, p.view());
    const out = new Uint8Array(HEADER_BYTES + 4 + sealed.length);
    out.set(header, 0);
    new DataView(out.buffer).setUint32(HEADER_BYTES, sealed.length, true);
    out.set(sealed, HEADER_BYTES + 4);
    this.guard(() => writeFileAtomic(this.fs, this.dir, META_FILE, out));
    this.first = first;
    this.hard = hard;
  }

  private check(): void {
    if (this.failed) throw new TrineError('STORAGE_FAILED', 'the log failed earlier and accepts no more operations; restart the node', { cause: this.failed });
    if (this.closed) throw new TrineError('STORAGE_CLOSED', 'the log is closed');
  }

  private guard<T>(f: () => T): T {
    try { return f(); } catch (e) { this.failed ??= e; throw e; }
  }

  /**
   * Appends `entries` (consecutive indexes starting at lastIndex() + 1) and resolves once they
   * are durable (at once with `sync: false`). The entries are readable at once.
   */
  append(entries: readonly LogEntry[], opts?: { sync?: boolean }): Promise<void> {
    try {
      this.check();
      if (entries.length === 0) return this.requestSync();
      const next = this.lastIndex() + 1;
      for (let i = 0; i < entries.length; i++) {
        if (entries[i]!.index !== next + i) throw new TrineError('STORAGE_LOG_GAP', `log append must continue at index ${next + i}, got ${entries[i]!.index}`);
      }
      this.guard(() => this.writeRecord(entries.slice()));
      // sync: false leaves the fsync to a later append or sync() (as LevelDB's sync: false does).
      return opts?.sync === false ? Promise.resolve() : this.requestSync();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private writeRecord(entries: LogEntry[]): void {
    if (this.active.end >= this.segmentBytes) this.startSegment();
    this.seal(this.active, entries);
  }

  private seal(s: Segment, entries: LogEntry[]): void {
    const sealed = s.cipher.seal(s.end + 4, RECORD_TYPE, encodeEntries(entries));
    const buf = new Uint8Array(4 + sealed.length);
    new DataView(buf.buffer).setUint32(0, sealed.length, true);
    buf.set(sealed, 4);
    s.file.write(buf, s.end);
    const first = entries[0]?.index;
    if (first !== undefined) this.addRecord(s, { offset: s.end, size: buf.length, first, last: first + entries.length - 1 }, entries);
    s.end += buf.length;
    this.dirty.add(s);
  }

  private requestSync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.syncing) void this.runSyncs();
    });
  }

  private async runSyncs(): Promise<void> {
    this.syncing = true;
    // Let writers of this turn of the event loop join the first fsync.
    await new Promise<void>((r) => setImmediate(r));
    while (this.waiters.length) {
      const batch = this.waiters;
      this.waiters = [];
      const files = [...this.dirty];
      const ends = files.map((s) => s.end);
      this.dirty.clear();
      const dir = this.dirDirty;
      this.dirDirty = false;
      try {
        if (this.failed) throw this.failed;
        // Oldest first: a segment is durable only after every earlier one is.
        for (const s of files) await s.file.syncAsync();
        if (dir) this.fs.syncDir(this.dir);
        // A suffix truncation may have cut a file while its fsync ran (cut records what it synced).
        files.forEach((s, i) => { s.synced = Math.max(s.synced, Math.min(ends[i]!, s.end)); });
        for (const w of batch) w.resolve();
      } catch (e) {
        this.failed ??= e;
        for (const w of [...batch, ...this.waiters]) w.reject(e);
        this.waiters = [];
      }
    }
    this.syncing = false;
  }

  /** Resolves when everything appended so far is durable. */
  sync(): Promise<void> {
    return this.requestSync();
  }

  private findRecord(index: number): { s: Segment; r: Rec } | undefined {
    for (let si = this.segs.length - 1; si >= 0; si--) {
      const s = this.segs[si]!;
      const recs = s.records;
      if (!recs.length || recs[0]!.first > index) continue;
      let lo = 0, hi = recs.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (recs[mid]!.first <= index) lo = mid; else hi = mid - 1;
      }
      const r = recs[lo]!;
      return index <= r.last ? { s, r } : undefined;
    }
    return undefined;
  }

  private readRecord(s: Segment, r: Rec): LogEntry[] {
    const k = `${s.id}:${r.offset}`;
    const hit = this.cache.get(k);
    if (hit) return hit;
    const sealed = new Uint8Array(r.size - 4);
    s.file.read(sealed, r.offset + 4);
    const entries = decodeEntries(s.cipher.open(r.offset + 4, RECORD_TYPE, sealed, s.name));
    if (entries[0]?.index !== r.first) throw corrupt(`${s.name} record at offset ${r.offset} changed on disk`);
    this.remember(s, r, entries);
    return entries;
  }

  /** Entries with lo <= index < hi (hi clipped to lastIndex() + 1), read synchronously. */
  entries(lo: number, hi: number, maxBytes = Infinity): LogEntry[] {
    this.check();
    if (lo < this.first) throw new TrineError('STORAGE_LOG_COMPACTED', `log entries before ${this.first} were discarded after a snapshot`);
    hi = Math.min(hi, this.lastIndex() + 1);
    const out: LogEntry[] = [];
    let bytes = 0;
    let i = lo;
    while (i < hi) {
      const f = this.findRecord(i);
      if (!f) throw corrupt(`log entry ${i} is missing`);
      const es = this.readRecord(f.s, f.r);
      for (let j = i - f.r.first; j < es.length && i < hi && i <= f.r.last; j++, i++) {
        bytes += es[j]!.data.length;
        if (out.length > 0 && bytes > maxBytes) return out;
        out.push(es[j]!);
      }
    }
    return out;
  }

  /**
   * Removes entries at and above `index` (a Raft conflict). Durable on return: entries below
   * `index` are rewritten into a fresh segment before anything is cut, so they survive any crash.
   */
  truncateSuffix(index: number): void {
    this.check();
    if (index > this.lastIndex()) return;
    if (index < this.first) index = this.first;
    this.guard(() => {
      // Unsynced appends before the cut must be durable first: the cut is durable on return.
      for (const s of this.dirty) { s.file.sync(); s.synced = s.end; }
      this.dirty.clear();
      const f = this.findRecord(index)!;
      const keptFrom = Math.max(f.r.first, this.first);
      const kept = this.entries(keptFrom, index);
      // The new segment's link names f.s as cut at f.r.offset; the kept entries rewritten into it
      // supersede the old record from its first index on (see recovery). They go in one record
      // even when none are kept, durable before the cut begins: open finishes a cut a crash
      // interrupted when that record is whole, and drops the new segment when it is torn.
      this.startSegment({ seg: f.s, at: f.r.offset });
      this.supersede(keptFrom);
      this.seal(this.active, kept);
      this.active.file.sync();
      this.fs.syncDir(this.dir);
      this.active.synced = this.active.end;
      this.dirDirty = false;
      this.dirty.delete(this.active);
      this.cut(f.s, f.r.offset, this.active);
      // An empty record after the kept one says the cut is done, so open refuses f.s put back
      // uncut instead of cutting it again. It waits for the next fsync: a crash before then
      // leaves the cut durable, and a put-back copy is cut again to the same log.
      this.seal(this.active, []);
    });
  }

  /** Physically drops bytes from `seg` at `offset` and every later segment except `keep`. */
  private cut(seg: Segment, offset: number, keep: Segment): void {
    const si = this.segs.indexOf(seg);
    const doomed = this.segs.slice(si + 1).filter((s) => s !== keep);
    for (const s of doomed) this.dirty.delete(s);
    doCut(this.fs, this.dir, doomed, seg.file, offset);
    seg.end = seg.synced = offset;
    this.segs = [...this.segs.slice(0, si + 1), keep];
  }

  /** Discards entries below `index` (after a snapshot covers them); durable on return. */
  truncatePrefix(index: number): void {
    this.check();
    if (index <= this.first) return;
    this.guard(() => {
      const last = this.lastIndex();
      const dropTerms = Math.min(this.terms.length, index - this.termsStart);
      this.writeMeta(index, this.hard);
      if (index > last) {
        this.terms = [];
        this.termsStart = index;
        this.startSegment();
        this.fs.syncDir(this.dir);
        this.dirDirty = false;
      } else if (dropTerms > 0) {
        this.terms = this.terms.slice(dropTerms);
        this.termsStart += dropTerms;
      }
      this.dropBelow(index);
    });
  }

  /** Deletes whole segments whose entries all lie below `index` (never the active one). */
  private dropBelow(index: number): void {
    let removed = false;
    while (this.segs.length > 1) {
      const s = this.segs[0]!;
      const lastRec = s.records[s.records.length - 1];
      if (lastRec && lastRec.last >= index) break;
      // LOGMETA may name this segment as the log's end: a later link must be on disk to take over
      // before it goes (see checkAnchor). Only a segment started since the last sync needs this.
      if (!removed && this.active.synced < LINK_END) {
        this.active.file.sync();
        this.fs.syncDir(this.dir);
        this.active.synced = this.active.end;
        this.dirty.delete(this.active);
        this.dirDirty = false;
      }
      s.file.close();
      this.fs.remove(join(this.dir, s.name));
      this.dirty.delete(s);
      this.segs.shift();
      removed = true;
    }
    for (const s of this.segs) while (s.records.length && s.records[0]!.last < index) s.records.shift();
    if (removed) this.fs.syncDir(this.dir);
  }

  /** Rewraps every file's data key under `masterKey` without rewriting data. */
  rekey(masterKey: MasterKey): void {
    this.check();
    const next = Keyring.derive(masterKey);
    this.guard(() => {
      rekeyFiles(this.fs, this.dir, this.ring, next, this.keyedFiles(this.segs));
      this.ring = next;
    });
  }

  /** Waits for pending fsyncs and closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.failed && (this.waiters.length || this.syncing || this.dirty.size)) await this.requestSync().catch(() => undefined);
    this.closed = true;
    for (const s of this.segs) s.file.close();
  }

  /** Bytes the log's files take on disk. */
  diskBytes(): number {
    let n = 0;
    for (const s of this.segs) n += s.end;
    return n;
  }
}

export { KEY_FILE };
