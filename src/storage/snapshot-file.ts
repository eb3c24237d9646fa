/**
 * Snapshot files (backups, staged Raft snapshots): a snapshot stream sealed record by record
 * under a fresh data key, with an end record so a cut file is refused rather than half-restored.
 */
import { dirname } from 'node:path';
import { randomBytes } from '../crypto/index.ts';
import { corrupt, readU64 } from './codec.ts';
import { FileKind, type Keyring, newFileHeader, openFileHeader } from './envelope.ts';
import type { FileSystem } from './fs.ts';
import { HEADER_BYTES, LOG_RECORD_MAX } from './limits.ts';

const CHUNK_TYPE = 1;
const END_TYPE = 2;

/** Writes `chunks` to `path` (via `path.tmp`, fsync, rename, fsync dir); returns bytes written. */
export async function writeSnapshotFile(fs: FileSystem, path: string, ring: Keyring, chunks: AsyncIterable<Uint8Array>): Promise<number> {
  const tmp = `${path}.tmp`;
  const f = fs.open(tmp, 'create');
  try {
    const { header, cipher } = newFileHeader(ring, FileKind.Snapshot, readU64(Uint8Array.of(...randomBytes(6), 0, 0), 0));
    f.write(header, 0);
    let pos = HEADER_BYTES;
    const put = (type: number, plain: Uint8Array) => {
      const sealed = cipher.seal(pos + 4, type, plain);
      const rec = new Uint8Array(4 + sealed.length);
      new DataView(rec.buffer).setUint32(0, sealed.length, true);
      rec.set(sealed, 4);
      f.write(rec, pos);
      pos += rec.length;
    };
    for await (const c of chunks) put(CHUNK_TYPE, c);
    put(END_TYPE, new Uint8Array(0));
    await f.syncAsync();
    f.close();
    fs.rename(tmp, path);
    fs.syncDir(dirname(path));
    return pos;
  } catch (e) {
    try { f.close(); } catch { /* already closed */ }
    fs.remove(tmp);
    throw e;
  }
}

/** The snapshot stream stored in `path`; throws STORAGE_CORRUPT on any damage or a missing end. */
export async function* readSnapshotFile(fs: FileSystem, path: string, ring: Keyring): AsyncGenerator<Uint8Array> {
  const f = fs.open(path, 'read');
  try {
    const header = new Uint8Array(HEADER_BYTES);
    f.read(header, 0);
    const cipher = openFileHeader(ring, header, FileKind.Snapshot, undefined, path);
    const size = f.size();
    let pos = HEADER_BYTES;
    const len = new Uint8Array(4);
    for (;;) {
      if (pos + 4 > size) throw corrupt(`${path} ends before its end record`);
      f.read(len, pos);
      const n = new DataView(len.buffer).getUint32(0, true);
      if (n < 16 || n > LOG_RECORD_MAX || pos + 4 + n > size) throw corrupt(`${path} has a bad record length at ${pos}`);
      const sealed = new Uint8Array(n);
      f.read(sealed, pos + 4);
      let type = CHUNK_TYPE;
      let plain: Uint8Array;
      try {
        plain = cipher.open(pos + 4, CHUNK_TYPE, sealed, path);
      } catch {
        plain = cipher.open(pos + 4, END_TYPE, sealed, path);
        type = END_TYPE;
      }
      pos += 4 + n;
      if (type === END_TYPE) {
        if (pos !== size) throw corrupt(`${path} has bytes after its end record`);
        return;
      }
      yield plain;
    }
  } finally {
    f.close();
  }
}
