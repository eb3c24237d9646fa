/**
 * The manifest: which tables are live at which level, the last sequence number and the Raft
 * index made durable by the last flush. Rewritten whole and replaced atomically on every change.
 */
import { join } from 'node:path';
import { ByteReader, ByteWriter, corrupt } from './codec.ts';
import { FileKind, type Keyring, newFileHeader, openFileHeader } from './envelope.ts';
import { type FileSystem, writeFileAtomic } from './fs.ts';
import { HEADER_BYTES, MAX_LEVELS } from './limits.ts';
import type { TableMeta } from './table.ts';

export const MANIFEST_FILE = 'MANIFEST';
const BODY_TYPE = 1;
const FORMAT = 1;

export interface ManifestState {
  /**
   * Counts manifest writes; also the manifest's file id. Each table records the generation its
   * job started from, so open can tell a manifest older than the tables on disk.
   */
  generation: number;
  nextFileId: number;
  lastSeq: number;
  appliedIndex: number;
  levels: TableMeta[][];
}

export function emptyManifest(): ManifestState {
  return { generation: 0, nextFileId: 1, lastSeq: 0, appliedIndex: 0, levels: Array.from({ length: MAX_LEVELS }, () => []) };
}

export function writeManifest(fs: FileSystem, dir: string, ring: Keyring, s: ManifestState): void {
  const w = new ByteWriter(1024);
  w.varint(FORMAT);
  w.u64(s.generation); w.u64(s.nextFileId); w.u64(s.lastSeq); w.u64(s.appliedIndex);
  w.varint(s.levels.length);
  for (const level of s.levels) {
    w.varint(level.length);
    for (const t of level) {
      w.u64(t.id); w.u64(t.size); w.u64(t.entries); w.bytes(t.keyCheck); w.blob(t.smallest); w.blob(t.largest);
    }
  }
  const { header, cipher } = newFileHeader(ring, FileKind.Manifest, s.generation);
  const sealed = cipher.seal(HEADER_BYTES + 4, BODY_TYPE, w.view());
  const out = new Uint8Array(HEADER_BYTES + 4 + sealed.length);
  out.set(header, 0);
  new DataView(out.buffer).setUint32(HEADER_BYTES, sealed.length, true);
  out.set(sealed, HEADER_BYTES + 4);
  writeFileAtomic(fs, dir, MANIFEST_FILE, out);
}

export function readManifest(fs: FileSystem, dir: string, ring: Keyring): ManifestState {
  const b = fs.readFile(join(dir, MANIFEST_FILE));
  const cipher = openFileHeader(ring, b.subarray(0, HEADER_BYTES), FileKind.Manifest, undefined, MANIFEST_FILE);
  const lr = new ByteReader(b.subarray(HEADER_BYTES), MANIFEST_FILE);
  const len = lr.u32();
  if (HEADER_BYTES + 4 + len !== b.length) throw corrupt(`${MANIFEST_FILE} has ${b.length} bytes, its length field says ${HEADER_BYTES + 4 + len}`);
  const r = new ByteReader(cipher.open(HEADER_BYTES + 4, BODY_TYPE, lr.bytes(len), MANIFEST_FILE), MANIFEST_FILE);
  if (r.varint() !== FORMAT) throw corrupt(`${MANIFEST_FILE} has an unknown format version`);
  const s: ManifestState = { generation: r.u64(), nextFileId: r.u64(), lastSeq: r.u64(), appliedIndex: r.u64(), levels: [] };
  if (s.generation !== cipher.fileId) throw corrupt(`${MANIFEST_FILE} generation does not match its header`);
  const nl = r.varint();
  if (nl !== MAX_LEVELS) throw corrupt(`${MANIFEST_FILE} lists ${nl} levels`);
  for (let l = 0; l < nl; l++) {
    const n = r.varint();
    const level: TableMeta[] = [];
    for (let i = 0; i < n; i++) {
      level.push({ id: r.u64(), size: r.u64(), entries: r.u64(), keyCheck: r.bytes(8).slice(), smallest: r.blob().slice(), largest: r.blob().slice() });
    }
    s.levels.push(level);
  }
  return s;
}
