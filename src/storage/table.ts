/**
 * Sorted table files (immutable once written): the common header, sealed data blocks, a sealed
 * bloom filter, a sealed block index and a sealed fixed-size footer at the very end that locates
 * the index and filter and records the manifest generation the writing job started from. All versions of one user key sit in one block, so a point read touches one
 * block and a key's versions never straddle two files of a level.
 */
import { blake2s, equalBytes, isTrineError } from '../crypto/index.ts';
import { Block, BlockBuilder, type DecodedBlock } from './block.ts';
import { BlockCache } from './block-cache.ts';
import { bloomMayContain, buildBloom, keyHash } from './bloom.ts';
import { ByteReader, ByteWriter, corrupt, sameBytes } from './codec.ts';
import { type FileCipher, FileKind, type Keyring, newFileHeader, openFileHeader } from './envelope.ts';
import type { FileHandle } from './fs.ts';
import { compareBytes, keyPrefix, lowerBoundPrefixed, type Bytes } from './kv.ts';
import { BLOCK_BYTES, HEADER_BYTES } from './limits.ts';

export const enum BlockType { Data = 1, Index = 2, Filter = 3, Footer = 5 }
const FOOTER_PLAIN = 40;
const FOOTER_SEALED = FOOTER_PLAIN + 16;
/** The footer of the first table format, which lacked the generation: such tables are refused. */
const FORMAT1_FOOTER_SEALED = 48;

/** An entry cursor: one position in key order; `valid` false once past the end. */
export interface Cursor {
  valid: boolean;
  key: Bytes;
  seq: number;
  del: boolean;
  value: Bytes;
  next(): void;
}

/** What the manifest records of a table. */
export interface TableMeta {
  readonly id: number;
  readonly size: number;
  readonly smallest: Bytes;
  readonly largest: Bytes;
  readonly entries: number;
  /** First 8 bytes of BLAKE2s(data key): binds the manifest entry to this exact file. */
  readonly keyCheck: Bytes;
}

export function tableName(id: number): string {
  return `t-${String(id).padStart(16, '0')}.sst`;
}

export function keyCheckOf(cipher: FileCipher): Uint8Array {
  return blake2s(cipher.key).slice(0, 8);
}

export class TableBuilder {
  private readonly block = new BlockBuilder();
  readonly cipher: FileCipher;
  private offset = HEADER_BYTES;
  private readonly idxKeys: Uint8Array[] = [];
  private readonly idxOffs: number[] = [];
  private readonly idxLens: number[] = [];
  private readonly hashes: number[] = [];
  private last: Uint8Array | undefined;
  private smallest: Uint8Array | undefined;
  entries = 0;

  /**
   * `generation` is the manifest generation the writing job started from: the table can only be
   * listed by a later manifest, which lets open tell crash leftovers from a rolled-back manifest.
   */
  constructor(private readonly file: FileHandle, ring: Keyring, readonly id: number, private readonly generation: number) {
    const { header, cipher } = newFileHeader(ring, FileKind.Table, id);
    this.cipher = cipher;
    file.write(header, 0);
  }

  /** Adds an entry; entries come in (key ascending, seq descending) order. */
  add(key: Uint8Array, seq: number, del: boolean, value: Uint8Array, sameKey?: boolean): void {
    const same = sameKey ?? (this.last !== undefined && sameBytes(this.last, key));
    if (!same) {
      // Cut blocks only between user keys, so a key's versions stay in one block.
      if (this.block.count > 0 && this.block.size() >= BLOCK_BYTES) this.flushBlock();
      this.hashes.push(keyHash(key));
      this.last = key;
      this.smallest ??= key;
    }
    this.block.add(key, seq, del, value);
    this.entries++;
  }

  private flushBlock(): void {
    const sealed = this.cipher.seal(this.offset, BlockType.Data, this.block.finish());
    this.file.write(sealed, this.offset);
    this.idxKeys.push(this.last!);
    this.idxOffs.push(this.offset);
    this.idxLens.push(sealed.length);
    this.offset += sealed.length;
  }

  /** Bytes written so far (approximately the final size). */
  get size(): number {
    return this.offset + this.block.size();
  }

  /** Writes filter, index and footer; the caller syncs the file. */
  finish(): TableMeta {
    if (this.block.count > 0) this.flushBlock();
    const filterOff = this.offset;
    const filter = this.cipher.seal(filterOff, BlockType.Filter, buildBloom(this.hashes));
    this.file.write(filter, filterOff);
    this.offset += filter.length;
    const iw = new ByteWriter(64 + this.idxKeys.length * 32);
    iw.varint(this.idxKeys.length);
    for (let i = 0; i < this.idxKeys.length; i++) { iw.blob(this.idxKeys[i]!); iw.varint(this.idxOffs[i]!); iw.varint(this.idxLens[i]!); }
    const indexOff = this.offset;
    const index = this.cipher.seal(indexOff, BlockType.Index, iw.view());
    this.file.write(index, indexOff);
    this.offset += index.length;
    const fw = new ByteWriter(FOOTER_PLAIN);
    fw.u64(indexOff); fw.u32(index.length); fw.u64(filterOff); fw.u32(filter.length); fw.u64(this.entries); fw.u64(this.generation);
    const footer = this.cipher.seal(this.offset, BlockType.Footer, fw.view());
    this.file.write(footer, this.offset);
    this.offset += footer.length;
    return {
      id: this.id, size: this.offset, entries: this.entries, keyCheck: keyCheckOf(this.cipher),
      smallest: this.smallest ?? new Uint8Array(0), largest: this.last ?? new Uint8Array(0),
    };
  }
}

/** Result of a point read in one table: the newest version at or below the snapshot. */
export interface Found {
  del: boolean;
  value: Bytes;
}

let readScratch = new Uint8Array(8192);

interface Footer { indexOff: number; indexLen: number; filterOff: number; filterLen: number; generation: number }

function readFooter(file: FileHandle, cipher: FileCipher, size: number, name: string): Footer {
  if (size < HEADER_BYTES + FOOTER_SEALED) throw corrupt(`${name} is too short to be a table`);
  const sealed = new Uint8Array(FOOTER_SEALED);
  if (file.read(sealed, size - FOOTER_SEALED) !== FOOTER_SEALED) throw corrupt(`${name} footer is cut short`);
  let plain: Uint8Array;
  try {
    plain = cipher.open(size - FOOTER_SEALED, BlockType.Footer, sealed, `${name} footer block`);
  } catch (e) {
    // The sealed length is in the footer's AD, so only a genuine format-1 footer opens here.
    const old = sealed.subarray(FOOTER_SEALED - FORMAT1_FOOTER_SEALED);
    let format1 = false;
    try { cipher.open(size - FORMAT1_FOOTER_SEALED, BlockType.Footer, old, name); format1 = true; } catch { /* not one either: report the first failure */ }
    if (format1) throw corrupt(`${name} is a table of format 1 (no manifest generation in its footer), written by an earlier Trine that this one does not read`);
    throw e;
  }
  const r = new ByteReader(plain, name);
  const indexOff = r.u64(), indexLen = r.u32(), filterOff = r.u64(), filterLen = r.u32();
  r.u64(); // the entry count, which the manifest also holds
  return { indexOff, indexLen, filterOff, filterLen, generation: r.u64() };
}

/**
 * The manifest generation recorded in the table file `id` (one the manifest does not list), or
 * undefined when the file is not a whole table of this store (a flush or compaction cut short).
 */
export function tableGeneration(file: FileHandle, ring: Keyring, id: number): number | undefined {
  const header = new Uint8Array(HEADER_BYTES);
  try {
    if (file.read(header, 0) !== HEADER_BYTES) return undefined;
    const name = tableName(id);
    return readFooter(file, openFileHeader(ring, header, FileKind.Table, id, name), file.size(), name).generation;
  } catch (e) {
    if (isTrineError(e, 'STORAGE_CORRUPT')) return undefined;
    throw e;
  }
}

export class Table {
  /** Versions and iterators using this table; the file is deleted when it is obsolete and unused. */
  refs = 0;
  obsolete = false;
  private readonly idxKeys: Uint8Array[] = [];
  /** `keyPrefix` of each index key: the index search compares numbers first. */
  private readonly idxPre: Float64Array;
  private readonly idxOffs: number[] = [];
  private readonly idxLens: number[] = [];
  private readonly filter: Uint8Array;
  private readonly name: string;
  /** The manifest generation the job that wrote this table started from. */
  readonly generation: number;

  constructor(readonly meta: TableMeta, private readonly file: FileHandle, private readonly cipher: FileCipher, private readonly cache: BlockCache, private readonly counters: { blockReads: number }) {
    this.name = tableName(meta.id);
    const size = file.size();
    if (size !== meta.size) throw corrupt(`${this.name} is ${size} bytes, the manifest says ${meta.size} (truncated or replaced)`);
    const { indexOff, indexLen, filterOff, filterLen, generation } = readFooter(file, cipher, size, this.name);
    this.generation = generation;
    this.filter = this.readSealed(filterOff, filterLen, BlockType.Filter, 'filter');
    const ir = new ByteReader(this.readSealed(indexOff, indexLen, BlockType.Index, 'index'), `${this.name} index`);
    const n = ir.varint();
    for (let i = 0; i < n; i++) { this.idxKeys.push(ir.blob()); this.idxOffs.push(ir.varint()); this.idxLens.push(ir.varint()); }
    this.idxPre = Float64Array.from(this.idxKeys, keyPrefix);
  }

  /** The first block whose last key is >= key. */
  blockFor(key: Bytes): number {
    return lowerBoundPrefixed(this.idxPre, this.idxKeys, key, keyPrefix(key));
  }

  /** Opens a table file and checks it is the one the manifest names. */
  static open(file: FileHandle, ring: Keyring, meta: TableMeta, cache: BlockCache, counters: { blockReads: number }): Table {
    const header = new Uint8Array(HEADER_BYTES);
    file.read(header, 0);
    const name = tableName(meta.id);
    const cipher = openFileHeader(ring, header, FileKind.Table, meta.id, name);
    if (!equalBytes(keyCheckOf(cipher), meta.keyCheck)) throw corrupt(`${name} is not the file the manifest lists (replaced by another or an older file)`);
    return new Table(meta, file, cipher, cache, counters);
  }

  private readSealed(off: number, len: number, type: BlockType, what: string): Uint8Array {
    if (off < HEADER_BYTES || len < 16 || off + len > this.meta.size) throw corrupt(`${this.name} ${what} lies outside the file`);
    // The sealed bytes live only until they are opened into a fresh plaintext buffer, and reads
    // are synchronous, so one scratch buffer serves every read.
    if (readScratch.length < len) readScratch = new Uint8Array(Math.max(len, readScratch.length * 2));
    const buf = readScratch.subarray(0, len);
    if (this.file.read(buf, off) !== len) throw corrupt(`${this.name} ${what} is cut short`);
    return this.cipher.open(off, type, buf, `${this.name} ${what} block`);
  }

  close(): void {
    this.file.close();
  }

  /** The table's data key (handed to the compaction worker, which reads the file itself). */
  get dataKey(): Uint8Array {
    return this.cipher.key;
  }

  get blockCount(): number {
    return this.idxKeys.length;
  }

  block(i: number, fill = true): Block {
    const ck = BlockCache.key(this.meta.id, i);
    let b = fill ? this.cache.get(ck) : this.cache.peek(ck);
    if (!b) {
      this.counters.blockReads++;
      b = new Block(this.readSealed(this.idxOffs[i]!, this.idxLens[i]!, BlockType.Data, 'data'), `${this.name} block ${i}`);
      // Compaction reads each block once: caching them would only evict blocks readers want.
      if (fill) this.cache.set(ck, b);
    }
    return b;
  }

  /** Block `i` decoded into arrays for a cursor; a cached block is charged again for its arrays. */
  decoded(i: number, fill = true): DecodedBlock {
    const b = this.block(i, fill);
    if (b.isDecoded) return b.decoded;
    const d = b.decoded;
    if (fill) this.cache.resize(BlockCache.key(this.meta.id, i));
    return d;
  }

  /** The bloom filter's answer for a key whose `keyHash` is `hash` (one hash serves every table a read probes). */
  mayContain(hash: number): boolean {
    return bloomMayContain(this.filter, hash);
  }

  /** The newest version of `key` at or below `snap`, or undefined when this table has none. */
  get(key: Bytes, snap: number): Found | undefined {
    const bi = this.blockFor(key);
    if (bi >= this.idxKeys.length) return undefined;
    return this.block(bi).find(key, snap);
  }

  /**
   * A cursor from `start` (inclusive unless `exclusive`) in the given direction. In resolved mode
   * it shows each key once, as its newest version at or below `snap` (keys with none are skipped);
   * in raw mode (forward only) it shows every version.
   */
  cursor(start: Bytes | undefined, exclusive: boolean, reverse: boolean, snap: number, raw = false): Cursor {
    return new TableCursor(this, start, exclusive, reverse, snap, raw);
  }
}

class TableCursor implements Cursor {
  valid = false;
  key: Bytes = new Uint8Array(0);
  seq = 0;
  del = false;
  value: Bytes = new Uint8Array(0);
  private bi: number;
  private pos: number;
  private b: DecodedBlock | undefined;

  constructor(private readonly t: Table, start: Bytes | undefined, exclusive: boolean,
    private readonly reverse: boolean, private readonly snap: number, private readonly raw: boolean) {
    const n = t.blockCount;
    if (!reverse) {
      this.bi = start ? t.blockFor(start) : 0;
      this.pos = 0;
      if (this.bi < n && start) {
        const b = (this.b = t.decoded(this.bi, !raw));
        this.pos = exclusive ? b.upperBound(start) : b.lowerBound(start);
      }
    } else {
      this.bi = start ? Math.min(t.blockFor(start), n - 1) : n - 1;
      this.pos = -1;
      if (this.bi >= 0) {
        const b = (this.b = t.decoded(this.bi));
        this.pos = start ? (exclusive ? b.lowerBound(start) : b.upperBound(start)) - 1 : b.n - 1;
      }
    }
    this.settle();
  }

  private settle(): void {
    const t = this.t;
    const n = t.blockCount;
    for (;;) {
      if (!this.reverse) {
        if (this.bi >= n) { this.valid = false; return; }
        const b = (this.b ??= t.decoded(this.bi, !this.raw));
        if (this.pos >= b.n) { this.bi++; this.pos = 0; this.b = undefined; continue; }
        if (this.raw) { this.load(b, this.pos); this.pos++; return; }
        let j = this.pos, hit = -1;
        for (; j < b.n && (j === this.pos || b.sameKey(j, this.pos)); j++) if (hit < 0 && b.seqs[j]! <= this.snap) hit = j;
        this.pos = j;
        if (hit >= 0) { this.load(b, hit); return; }
      } else {
        if (this.bi < 0) { this.valid = false; return; }
        const b = (this.b ??= t.decoded(this.bi));
        if (this.pos < 0) { this.bi--; this.b = undefined; if (this.bi >= 0) this.pos = t.decoded(this.bi).n - 1; continue; }
        let a = this.pos;
        while (a > 0 && b.sameKey(a - 1, this.pos)) a--;
        let hit = -1;
        for (let j = a; j <= this.pos; j++) if (b.seqs[j]! <= this.snap) { hit = j; break; }
        this.pos = a - 1;
        if (hit >= 0) { this.load(b, hit); return; }
      }
    }
  }

  private load(b: DecodedBlock, i: number): void {
    this.valid = true;
    this.key = b.key(i);
    this.seq = b.seqs[i]!;
    this.del = b.dels[i] === 1;
    this.value = b.value(i);
  }

  next(): void {
    this.settle();
  }
}

export function compareMetaRange(a: TableMeta, key: Bytes): number {
  if (compareBytes(key, a.smallest) < 0) return 1;
  if (compareBytes(key, a.largest) > 0) return -1;
  return 0;
}
