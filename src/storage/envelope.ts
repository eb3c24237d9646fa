/**
 * Envelope encryption at rest. A store directory holds a `KEY` file that names the master key
 * (by a key id derived from it) and proves a candidate key right or wrong before anything is
 * touched. Every other file starts with a 256-byte header carrying a fresh random data key wrapped
 * by the master key (two slots, so a rekey can write the new wrap before erasing the old). Blocks
 * and records are sealed with ChaCha20-Poly1305 under the file's data key; the nonce is the byte
 * offset (each file is written once, front to back, so an offset never repeats under its key) and
 * the associated data binds file id, file kind, block type, offset and length.
 */
import { join } from 'node:path';
import {
  TrineError, aeadOpen, aeadSeal, equalBytes, hmacBlake2s, randomBytes, scrypt, utf8, xaeadOpen, xaeadSeal,
} from '../crypto/index.ts';
import type { ScryptParams } from '../crypto/index.ts';
import { ByteReader, ByteWriter, corrupt, readU64, writeU64 } from './codec.ts';
import { type FileHandle, type FileSystem, writeFileAtomic } from './fs.ts';
import { HEADER_BYTES, SCRYPT_DEFAULT } from './limits.ts';

/** A 32-byte master key, or a passphrase stretched by scrypt with the salt kept in `KEY`. */
export type MasterKey = Uint8Array | { readonly passphrase: string; readonly scrypt?: ScryptParams };

export const enum FileKind { LogSegment = 1, Table = 2, Manifest = 3, LogMeta = 4, Snapshot = 5 }

const FILE_MAGIC = utf8('TRNFILE1');
const KEY_MAGIC = utf8('TRNKEY01');
const CHECK_TEXT = utf8('trine storage master key check.');
const SLOT_BYTES = 80;
const SLOT_A = 24;
const SLOT_B = SLOT_A + SLOT_BYTES;
export const KEY_FILE = 'KEY';

function keyIdOf(master: Uint8Array): Uint8Array {
  return hmacBlake2s(master, utf8('trine storage key id')).subarray(0, 8);
}

/** The master key of one store, proven against its KEY file. */
export class Keyring {
  readonly keyId: Uint8Array;
  /** During an interrupted rekey: the previous master, still needed to unwrap some headers. */
  prev: { master: Uint8Array; keyId: Uint8Array } | undefined;
  constructor(readonly master: Uint8Array) {
    this.keyId = keyIdOf(master);
  }

  /**
   * Opens (or, in an empty directory, creates) the KEY file of `dir` and checks `key` against it.
   * A wrong key throws STORAGE_WRONG_KEY before any byte on disk is changed.
   */
  static open(fs: FileSystem, dir: string, key: MasterKey, storeFiles: (name: string) => boolean): Keyring {
    const path = join(dir, KEY_FILE);
    if (!fs.exists(path)) {
      if (fs.exists(dir) && fs.list(dir).some(storeFiles)) {
        throw new TrineError('STORAGE_KEY_FILE_MISSING', `${dir} holds data files but no KEY file; restore the KEY file from a backup of this directory`);
      }
      fs.mkdirp(dir);
      const ring = Keyring.create(key);
      writeFileAtomic(fs, dir, KEY_FILE, ring.encodeKeyFile(ring.salt!, ring.params!));
      return ring;
    }
    return Keyring.fromKeyFile(fs.readFile(path), key, dir);
  }

  salt: Uint8Array | undefined;
  params: ScryptParams | undefined;

  private static create(key: MasterKey): Keyring {
    if (key instanceof Uint8Array) {
      checkRawKey(key);
      const r = new Keyring(key.slice());
      r.salt = new Uint8Array(16); r.params = { N: 0, r: 0, p: 0 };
      return r;
    }
    const salt = randomBytes(16);
    const params = key.scrypt ?? SCRYPT_DEFAULT;
    const r = new Keyring(scrypt(utf8(key.passphrase), salt, params));
    r.salt = salt; r.params = params;
    return r;
  }

  private static fromKeyFile(bytes: Uint8Array, key: MasterKey, dir: string): Keyring {
    const rd = new ByteReader(bytes, 'the KEY file');
    if (bytes.length < 8 || !equalBytes(rd.bytes(8), KEY_MAGIC)) throw corrupt(`${dir}/KEY is not a Trine key file`);
    const kdf = rd.u8();
    const params = { N: rd.u32(), r: rd.u32(), p: rd.u32() };
    const salt = rd.bytes(16).slice();
    const headEnd = rd.pos;
    let master: Uint8Array;
    if (kdf === 0) {
      if (!(key instanceof Uint8Array)) throw wrongKey(dir, 'it was created with a 32-byte key file, not a passphrase');
      checkRawKey(key);
      master = key.slice();
    } else {
      if (key instanceof Uint8Array) throw wrongKey(dir, 'it was created with a passphrase, not a key file');
      master = scrypt(utf8(key.passphrase), salt, params);
    }
    const keyId = rd.bytes(8);
    const nonce = rd.bytes(24);
    const check = rd.bytes(CHECK_TEXT.length + 16);
    const ring = new Keyring(master);
    const opened = xaeadOpen(master, nonce, check, bytes.subarray(0, headEnd));
    if (!equalBytes(ring.keyId, keyId) || !opened || !equalBytes(opened, CHECK_TEXT)) throw wrongKey(dir, 'the key does not match');
    ring.salt = salt; ring.params = params;
    if (rd.u8() === 1) {
      const pn = rd.bytes(24), sealed = rd.bytes(48);
      const prevMaster = xaeadOpen(master, pn, sealed, keyId);
      if (!prevMaster) throw corrupt(`${dir}/KEY holds an unreadable previous key`);
      ring.prev = { master: prevMaster, keyId: keyIdOf(prevMaster) };
    }
    return ring;
  }

  encodeKeyFile(salt: Uint8Array, params: ScryptParams, prev?: Uint8Array): Uint8Array {
    const w = new ByteWriter();
    w.bytes(KEY_MAGIC);
    w.u8(params.N === 0 ? 0 : 1);
    w.u32(params.N); w.u32(params.r); w.u32(params.p);
    w.bytes(salt);
    const head = w.finish();
    w.bytes(this.keyId);
    const nonce = randomBytes(24);
    w.bytes(nonce);
    w.bytes(xaeadSeal(this.master, nonce, CHECK_TEXT, head));
    if (prev) {
      w.u8(1);
      const pn = randomBytes(24);
      w.bytes(pn);
      w.bytes(xaeadSeal(this.master, pn, prev, this.keyId));
    } else {
      w.u8(0);
    }
    return w.finish();
  }

  /** Derives the master key a `rekey` to `key` would use, with a fresh salt for passphrases. */
  static derive(key: MasterKey): Keyring {
    return Keyring.create(key);
  }
}

function checkRawKey(key: Uint8Array): void {
  if (key.length !== 32) throw new TrineError('STORAGE_BAD_MASTER_KEY', `a master key is 32 bytes, got ${key.length}; pass the contents of the node's key file or a passphrase`);
}

function wrongKey(dir: string, why: string): TrineError {
  return new TrineError('STORAGE_WRONG_KEY', `the master key does not open the data directory ${dir} (${why}); nothing was changed. Start the node with the key or passphrase this directory was created with`);
}

/** A file's data key and identity: seals and opens its blocks. */
export class FileCipher {
  private readonly nonce = new Uint8Array(12);
  private readonly ad = new Uint8Array(22);
  constructor(readonly fileId: number, readonly kind: FileKind, readonly key: Uint8Array) {
    writeU64(this.ad, 0, fileId);
    this.ad[8] = kind;
  }
  private setup(offset: number, type: number, length: number): void {
    writeU64(this.nonce, 0, offset);
    this.ad[9] = type;
    writeU64(this.ad, 10, offset);
    new DataView(this.ad.buffer).setUint32(18, length, true);
  }
  /** Seals the block of `type` that starts at `offset`; the result is 16 bytes longer. */
  seal(offset: number, type: number, plaintext: Uint8Array): Uint8Array {
    this.setup(offset, type, plaintext.length + 16);
    return aeadSeal(this.key, this.nonce, plaintext, this.ad);
  }
  /** Opens a sealed block, or throws STORAGE_CORRUPT naming `what`. */
  open(offset: number, type: number, sealed: Uint8Array, what: string): Uint8Array {
    this.setup(offset, type, sealed.length);
    const p = aeadOpen(this.key, this.nonce, sealed, this.ad);
    if (!p) throw corrupt(`${what} at offset ${offset} fails authentication (altered, moved, truncated or from another file)`);
    return p;
  }
}

/** A fresh file header (kind, id, the new data key wrapped by the master) and its cipher. */
export function newFileHeader(ring: Keyring, kind: FileKind, fileId: number): { header: Uint8Array; cipher: FileCipher } {
  const header = new Uint8Array(HEADER_BYTES);
  header.set(FILE_MAGIC, 0);
  header[8] = 1;
  header[9] = kind;
  writeU64(header, 16, fileId);
  const dataKey = randomBytes(32);
  header.set(wrapSlot(ring.master, ring.keyId, dataKey, header.subarray(0, SLOT_A)), SLOT_A);
  return { header, cipher: new FileCipher(fileId, kind, dataKey) };
}

function wrapSlot(master: Uint8Array, keyId: Uint8Array, dataKey: Uint8Array, ad: Uint8Array): Uint8Array {
  const slot = new Uint8Array(SLOT_BYTES);
  slot.set(keyId, 0);
  const nonce = randomBytes(24);
  slot.set(nonce, 8);
  slot.set(xaeadSeal(master, nonce, dataKey, ad), 32);
  return slot;
}

/** Reads and checks a file header; returns its cipher. `what` names the file in errors. */
export function openFileHeader(ring: Keyring, header: Uint8Array, kind: FileKind, fileId: number | undefined, what: string): FileCipher {
  return unwrapHeader(ring, header, kind, fileId, what).cipher;
}

function unwrapHeader(ring: Keyring, header: Uint8Array, kind: FileKind, fileId: number | undefined, what: string): { cipher: FileCipher; slot: number } {
  if (header.length < HEADER_BYTES || !equalBytes(header.subarray(0, 8), FILE_MAGIC)) throw corrupt(`${what} has no Trine file header`);
  if (header[9] !== kind) throw corrupt(`${what} is a file of kind ${header[9]}, expected ${kind}`);
  const id = readU64(header, 16);
  if (fileId !== undefined && id !== fileId) throw corrupt(`${what} carries file id ${id}, expected ${fileId} (a file was renamed or replaced)`);
  const ad = header.subarray(0, SLOT_A);
  const keys = [{ master: ring.master, keyId: ring.keyId }];
  if (ring.prev) keys.push(ring.prev);
  for (const k of keys) {
    for (const at of [SLOT_A, SLOT_B]) {
      if (!equalBytes(header.subarray(at, at + 8), k.keyId)) continue;
      const dk = xaeadOpen(k.master, header.subarray(at + 8, at + 32), header.subarray(at + 32, at + SLOT_BYTES), ad);
      if (dk) return { cipher: new FileCipher(id, kind, dk), slot: at };
    }
  }
  throw corrupt(`${what}: its data key cannot be unwrapped with this master key`);
}

/**
 * Rewraps one file's data key under `ring` (step 1 of a rekey): writes the new wrap into the slot
 * the current key does not use and fsyncs, so a crash at any point leaves one readable slot.
 */
export function addWrap(f: FileHandle, oldRing: Keyring, newRing: Keyring, kind: FileKind, what: string): void {
  const header = readHeader(f);
  // Done already, by a rekey that was cut afterwards: only if the wrap opens (a torn write can
  // leave the new key's id in front of garbage).
  if (slotOpening(header, newRing) >= 0) return;
  const { cipher, slot } = unwrapHeader(oldRing, header, kind, undefined, what);
  const free = slot === SLOT_A ? SLOT_B : SLOT_A;
  f.write(wrapSlot(newRing.master, newRing.keyId, cipher.key, header.subarray(0, SLOT_A)), free);
  f.sync();
}

/** The slot whose wrap `ring`'s own master opens, or -1. */
function slotOpening(header: Uint8Array, ring: Keyring): number {
  const ad = header.subarray(0, SLOT_A);
  for (const at of [SLOT_A, SLOT_B]) {
    if (!equalBytes(header.subarray(at, at + 8), ring.keyId)) continue;
    if (xaeadOpen(ring.master, header.subarray(at + 8, at + 32), header.subarray(at + 32, at + SLOT_BYTES), ad)) return at;
  }
  return -1;
}

/**
 * Erases every wrap but the one `ring` opens (step 2 of a rekey, after the KEY file switched).
 * A file whose new wrap is missing or torn gets it first, from the previous master; without one
 * that opens, nothing is erased.
 */
export function dropOldWraps(f: FileHandle, ring: Keyring, kind: FileKind, what: string): void {
  if (ring.prev && slotOpening(readHeader(f), ring) < 0) addWrap(f, new Keyring(ring.prev.master), ring, kind, what);
  const header = readHeader(f);
  const keep = slotOpening(header, ring);
  if (keep < 0) return;
  let changed = false;
  for (const at of [SLOT_A, SLOT_B]) {
    if (at !== keep && header.subarray(at, at + SLOT_BYTES).some((b) => b !== 0)) {
      f.write(new Uint8Array(SLOT_BYTES), at);
      changed = true;
    }
  }
  if (changed) f.sync();
}

function readHeader(f: FileHandle): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  f.read(header, 0);
  return header;
}

/**
 * Rekeys a store directory: every file in `files` (name -> kind) gets its data key wrapped by
 * `next` too; then KEY switches to `next` (keeping the old master sealed under the new one until
 * the end, so an interrupted rekey finishes at the next open); then the old wraps are erased.
 */
export function rekeyFiles(fs: FileSystem, dir: string, ring: Keyring, next: Keyring, files: Map<string, FileKind>): void {
  for (const [name, kind] of files) {
    const f = fs.open(join(dir, name), 'write');
    try { addWrap(f, ring, next, kind, name); } finally { f.close(); }
  }
  writeFileAtomic(fs, dir, KEY_FILE, next.encodeKeyFile(next.salt!, next.params!, ring.master));
  finishRekey(fs, dir, next, files);
}

/** Erases old wraps and the previous master from KEY (also run at open after an interrupted rekey). */
export function finishRekey(fs: FileSystem, dir: string, ring: Keyring, files: Map<string, FileKind>): void {
  for (const [name, kind] of files) {
    const f = fs.open(join(dir, name), 'write');
    try { dropOldWraps(f, ring, kind, name); } finally { f.close(); }
  }
  writeFileAtomic(fs, dir, KEY_FILE, ring.encodeKeyFile(ring.salt!, ring.params!));
  ring.prev = undefined;
}
