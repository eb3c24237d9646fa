/**
 * One background thread of the engine (`worker.ts`): flushes run on one, compactions on another,
 * so that a long compaction never holds up the flush that frees a memtable (LevelDB's background
 * thread gives flushes the same priority between compaction steps). Jobs are sent as messages and
 * answer with the metadata of the tables they wrote; the engine opens those itself.
 */
import { Worker } from 'node:worker_threads';
import { TrineError } from '../crypto/index.ts';
import type { TableMeta } from './table.ts';

/** Where the worker's module is, under each way Trine runs. */
function workerUrl(): URL {
  const here = import.meta.url;
  // `bun build --compile` bundles every entry point under one virtual root, named after its path
  // below the entries' common directory (src/): compile.sh names src/storage/worker.ts as one.
  if (here.startsWith('file:///$bunfs/') || here.startsWith('file:///~BUN/') || here.startsWith('file:///B:/~BUN/')) {
    return new URL('/$bunfs/root/storage/worker.ts', 'file:///');
  }
  return new URL('./worker.ts', here);
}

export type ThreadMessage = Record<string, unknown>;

export class StorageThread {
  private readonly jobs = new Map<number, { resolve: (m: TableMeta[]) => void; reject: (e: unknown) => void }>();
  private seq = 0;
  private dead: unknown;

  private constructor(private readonly w: Worker, private readonly abort: () => unknown) {
    w.unref();
    w.on('message', (m: { id: number; metas?: TableMeta[]; error?: string; code?: string }) => {
      const j = this.jobs.get(m.id);
      if (!j) return;
      this.jobs.delete(m.id);
      if (this.jobs.size === 0) w.unref();
      if (m.error !== undefined) j.reject(m.code ? new TrineError(m.code, m.error) : new Error(m.error));
      else j.resolve(m.metas!);
    });
    w.on('error', (e) => this.failAll(e));
    w.on('exit', () => this.failAll(new Error('the storage worker thread exited')));
  }

  /**
   * Starts a thread, or returns the reason it cannot run here. `abort` names the error pending
   * jobs fail with when the thread goes away (the engine's Aborted while it closes).
   */
  static start(abort: () => unknown): StorageThread | string {
    try {
      const url = workerUrl();
      let w: Worker;
      if (url.pathname.endsWith('.ts') && url.protocol === 'file:' && !('Bun' in globalThis) && !('Deno' in globalThis)) {
        // Node runs our TypeScript through tsx, whose loader hooks a worker does not inherit.
        const tsx = import.meta.resolve('tsx/esm/api');
        w = new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true });
      } else {
        w = new Worker(url);
      }
      return new StorageThread(w, abort);
    } catch (e) {
      return String((e as Error)?.message ?? e);
    }
  }

  /** True once the thread died; jobs then run on the engine's own thread. */
  get failed(): boolean { return this.dead !== undefined; }

  run(msg: ThreadMessage, transfer: ArrayBuffer[] = []): Promise<TableMeta[]> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const id = ++this.seq;
    return new Promise<TableMeta[]>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      this.w.ref();
      this.w.postMessage({ ...msg, id }, transfer);
    });
  }

  async terminate(): Promise<void> {
    await this.w.terminate();
  }

  private failAll(e: unknown): void {
    this.dead ??= e;
    const err = this.abort() ?? e;
    for (const j of this.jobs.values()) j.reject(err);
    this.jobs.clear();
  }
}
