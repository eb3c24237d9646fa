/**
 * A simulated disk for crash tests and the cluster simulator. Writes land in a volatile view;
 * `sync` makes a file's bytes durable, `syncDir` makes a directory's names durable. `crashAt(n)`
 * makes the n-th mutating operation fail (a write may land partly), and every later one too;
 * `afterCrash(rng)` returns the disk a reboot would find: durable state plus a random prefix of
 * the unsynced operations, the last one possibly torn.
 */
import { dirname } from 'node:path';
import type { FileHandle, FileSystem } from './fs.ts';

type FileOp = { kind: 'write'; pos: number; data: Uint8Array } | { kind: 'truncate'; length: number };
/** Directory operations, by full path; a rename within one directory is atomic. */
type DirOp =
  | { kind: 'link'; path: string; node: SimNode }
  | { kind: 'unlink'; path: string }
  | { kind: 'rename'; from: string; to: string; node: SimNode };

class SimNode {
  data: Uint8Array;
  length: number;
  durable: Uint8Array;
  pending: FileOp[] = [];
  constructor(durable = new Uint8Array(0)) {
    this.durable = durable;
    this.data = durable.slice();
    this.length = durable.length;
  }
  apply(op: FileOp): void {
    if (op.kind === 'truncate') {
      if (op.length > this.data.length) this.grow(op.length);
      this.data.fill(0, Math.min(op.length, this.length), this.length);
      this.length = op.length;
      return;
    }
    const end = op.pos + op.data.length;
    if (end > this.data.length) this.grow(end);
    if (op.pos > this.length) this.data.fill(0, this.length, op.pos);
    this.data.set(op.data, op.pos);
    if (end > this.length) this.length = end;
  }
  private grow(n: number): void {
    const nd = new Uint8Array(Math.max(n, this.data.length * 2));
    nd.set(this.data.subarray(0, this.length));
    this.data = nd;
  }
  bytes(): Uint8Array { return this.data.subarray(0, this.length); }
}

export class SimCrash extends Error {
  constructor() { super('simulated crash: the disk stopped accepting operations'); this.name = 'SimCrash'; }
}

/** A deterministic pseudo-random generator (mulberry32) for tests that must replay from a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function applyDirOp(names: Map<string, SimNode>, op: DirOp, map: (n: SimNode) => SimNode): void {
  if (op.kind === 'link') names.set(op.path, map(op.node));
  else if (op.kind === 'unlink') names.delete(op.path);
  else { names.delete(op.from); names.set(op.to, map(op.node)); }
}

export class SimFs implements FileSystem {
  private names = new Map<string, SimNode>();
  private durableNames = new Map<string, SimNode>();
  private pendingDir = new Map<string, DirOp[]>();
  private dirs = new Set<string>(['/', '.']);
  /** Mutating operations performed so far. */
  ops = 0;
  private crashOp = Infinity;
  crashed = false;
  private tornRng: () => number = prng(1);

  /** Fails operation number `n` (counting from the current count) and everything after it. */
  crashAt(n: number, rng: () => number = prng(n)): void {
    this.crashOp = this.ops + n;
    this.tornRng = rng;
  }

  private mutate(): void {
    if (this.crashed) throw new SimCrash();
    this.ops++;
    if (this.ops >= this.crashOp) { this.crashed = true; throw new SimCrash(); }
  }

  private dirOp(path: string, op: DirOp): void {
    const d = dirname(path);
    let l = this.pendingDir.get(d);
    if (!l) this.pendingDir.set(d, (l = []));
    l.push(op);
  }

  /** The disk after a power cut: durable state plus a random prefix of what was pending. */
  afterCrash(rng: () => number): SimFs {
    const out = new SimFs();
    out.dirs = new Set(this.dirs);
    const nodes = new Set<SimNode>([...this.names.values(), ...this.durableNames.values()]);
    for (const l of this.pendingDir.values()) for (const op of l) if (op.kind !== 'unlink') nodes.add(op.node);
    const copies = new Map<SimNode, SimNode>();
    for (const n of nodes) {
      const c = new SimNode(n.durable.slice());
      const keep = Math.floor(rng() * (n.pending.length + 1));
      for (let i = 0; i < keep; i++) c.apply(n.pending[i]!);
      const torn = n.pending[keep];
      if (torn && torn.kind === 'write' && rng() < 0.5) {
        c.apply({ kind: 'write', pos: torn.pos, data: torn.data.subarray(0, Math.floor(rng() * torn.data.length)) });
      }
      c.durable = c.bytes().slice();
      copies.set(n, c);
    }
    const names = new Map<string, SimNode>();
    for (const [p, n] of this.durableNames) names.set(p, copies.get(n)!);
    for (const [d, l] of this.pendingDir) {
      const keep = Math.floor(rng() * (l.length + 1));
      for (let i = 0; i < keep; i++) applyDirOp(names, l[i]!, (n) => copies.get(n)!);
    }
    out.names = names;
    out.durableNames = new Map(names);
    return out;
  }

  /** Every file's current bytes (for tests that inspect what is on the disk). */
  files(): Map<string, Uint8Array> {
    const m = new Map<string, Uint8Array>();
    for (const [p, n] of this.names) m.set(p, n.bytes().slice());
    return m;
  }

  /** Replaces a file's bytes durably, as an attacker with access to the disk would. */
  tamper(path: string, data: Uint8Array): void {
    const n = new SimNode(data.slice());
    this.names.set(path, n);
    this.durableNames.set(path, n);
  }

  private node(path: string): SimNode {
    const n = this.names.get(path);
    if (!n) throw Object.assign(new Error(`ENOENT: no such file ${path}`), { code: 'ENOENT' });
    return n;
  }

  open(path: string, mode: 'read' | 'write' | 'create'): FileHandle {
    if (this.crashed) throw new SimCrash();
    let n: SimNode;
    if (mode === 'create') {
      this.mutate();
      n = new SimNode();
      this.names.set(path, n);
      this.dirOp(path, { kind: 'link', path, node: n });
    } else {
      n = this.node(path);
    }
    return new SimHandle(this, n, mode !== 'read');
  }
  /** @internal */ fileWrite(n: SimNode, data: Uint8Array, pos: number): void {
    if (this.crashed) throw new SimCrash();
    this.ops++;
    const op: FileOp = { kind: 'write', pos, data: data.slice() };
    if (this.ops >= this.crashOp) {
      this.crashed = true;
      // The cut write may have reached the page cache in part.
      n.pending.push({ kind: 'write', pos, data: op.data.subarray(0, Math.floor(this.tornRng() * data.length)) });
      throw new SimCrash();
    }
    n.apply(op);
    n.pending.push(op);
  }
  /** @internal */ fileTruncate(n: SimNode, length: number): void {
    this.mutate();
    const op: FileOp = { kind: 'truncate', length };
    n.apply(op);
    n.pending.push(op);
  }
  /** @internal */ fileSync(n: SimNode): void {
    this.mutate();
    n.durable = n.bytes().slice();
    n.pending = [];
  }
  readFile(path: string): Uint8Array {
    if (this.crashed) throw new SimCrash();
    return this.node(path).bytes().slice();
  }
  exists(path: string): boolean { return this.names.has(path) || this.dirs.has(path); }
  list(dir: string): string[] {
    const out: string[] = [];
    for (const p of this.names.keys()) if (dirname(p) === dir) out.push(p.slice(dir.length + 1));
    return out.sort();
  }
  rename(from: string, to: string): void {
    if (dirname(from) !== dirname(to)) throw new Error('SimFs renames only within one directory');
    const n = this.node(from);
    this.mutate();
    this.names.delete(from);
    this.names.set(to, n);
    this.dirOp(from, { kind: 'rename', from, to, node: n });
  }
  remove(path: string): void {
    if (!this.names.has(path)) return;
    this.mutate();
    this.names.delete(path);
    this.dirOp(path, { kind: 'unlink', path });
  }
  mkdirp(dir: string): void {
    let d = dir;
    while (!this.dirs.has(d)) { this.dirs.add(d); d = dirname(d); }
  }
  syncDir(dir: string): void {
    this.mutate();
    const l = this.pendingDir.get(dir);
    if (!l) return;
    for (const op of l) applyDirOp(this.durableNames, op, (n) => n);
    this.pendingDir.delete(dir);
  }
}

class SimHandle implements FileHandle {
  private closed = false;
  constructor(private readonly fs: SimFs, private readonly n: SimNode, private readonly writable: boolean) {}
  private check(write: boolean): void {
    if (this.closed) throw new Error('file handle used after close');
    if (write && !this.writable) throw new Error('file opened read-only');
  }
  read(buf: Uint8Array, position: number): number {
    this.check(false);
    if (this.fs.crashed) throw new SimCrash();
    const src = this.n.bytes();
    if (position >= src.length) return 0;
    const n = Math.min(buf.length, src.length - position);
    buf.set(src.subarray(position, position + n));
    return n;
  }
  write(data: Uint8Array, position: number): void { this.check(true); this.fs.fileWrite(this.n, data, position); }
  size(): number { return this.n.length; }
  truncate(length: number): void { this.check(true); this.fs.fileTruncate(this.n, length); }
  sync(): void { this.check(false); this.fs.fileSync(this.n); }
  syncAsync(): Promise<void> {
    try { this.sync(); return Promise.resolve(); } catch (e) { return Promise.reject(e); }
  }
  close(): void { this.closed = true; }
}
