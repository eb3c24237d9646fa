/**
 * The file-system interface every storage file goes through, so tests (and the cluster simulator)
 * can substitute a simulated disk that tears writes and forgets what was not fsynced
 * (`sim-fs.ts`). Reads and writes are synchronous because the SQL layer reads synchronously;
 * `syncAsync` exists so group commit can gather writers while an fsync is in flight.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';

export interface FileHandle {
  /** Reads into `buf` from `position`; returns the bytes read (short at end of file). */
  read(buf: Uint8Array, position: number): number;
  write(data: Uint8Array, position: number): void;
  size(): number;
  truncate(length: number): void;
  sync(): void;
  syncAsync(): Promise<void>;
  close(): void;
}

export interface FileSystem {
  /** 'read' and 'write' open an existing file; 'create' makes a new empty one (replacing any). */
  open(path: string, mode: 'read' | 'write' | 'create'): FileHandle;
  readFile(path: string): Uint8Array;
  exists(path: string): boolean;
  /** Names (not paths) of the entries of `dir`. */
  list(dir: string): string[];
  rename(from: string, to: string): void;
  remove(path: string): void;
  mkdirp(dir: string): void;
  /** Makes creations, renames and removals inside `dir` durable. */
  syncDir(dir: string): void;
}

class NodeFile implements FileHandle {
  constructor(private readonly fd: number) {}
  read(buf: Uint8Array, position: number): number {
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(this.fd, buf, got, buf.length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }
  write(data: Uint8Array, position: number): void {
    let done = 0;
    while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, position + done);
  }
  size(): number { return fs.fstatSync(this.fd).size; }
  truncate(length: number): void { fs.ftruncateSync(this.fd, length); }
  sync(): void { fs.fsyncSync(this.fd); }
  syncAsync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fsync(this.fd, (e) => (e ? reject(e) : resolve())));
  }
  close(): void { fs.closeSync(this.fd); }
}

/** The real disk, through node:fs (also implemented by Bun and Deno). */
export const nodeFs: FileSystem = {
  open(path, mode) {
    return new NodeFile(fs.openSync(path, mode === 'read' ? 'r' : mode === 'write' ? 'r+' : 'w+'));
  },
  readFile(path) { const b = fs.readFileSync(path); return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); },
  exists(path) { return fs.existsSync(path); },
  list(dir) { return fs.readdirSync(dir); },
  rename(from, to) { fs.renameSync(from, to); },
  remove(path) { fs.rmSync(path, { force: true }); },
  mkdirp(dir) { fs.mkdirSync(dir, { recursive: true }); },
  syncDir(dir) {
    let fd: number;
    try { fd = fs.openSync(dir, 'r'); } catch { return; }
    // Some platforms (Windows) refuse fsync on a directory; there the rename is as durable as it gets.
    try { fs.fsyncSync(fd); } catch { /* not supported here */ } finally { fs.closeSync(fd); }
  },
};

/** Writes `data` to `path` so that after a crash the file holds either its old or its new bytes. */
export function writeFileAtomic(fsys: FileSystem, dir: string, name: string, data: Uint8Array): void {
  const tmp = join(dir, `${name}.tmp`);
  const f = fsys.open(tmp, 'create');
  try {
    f.write(data, 0);
    f.sync();
  } finally {
    f.close();
  }
  fsys.rename(tmp, join(dir, name));
  fsys.syncDir(dir);
}
