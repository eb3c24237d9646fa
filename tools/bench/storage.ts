/**
 * Storage benchmark, side by side with LevelDB (classic-level, chained batches):
 *   node --import tsx tools/bench/storage.ts [--n 1000000] [--batch 1000] [--gets 200000] [--cache-mb M] [--rounds 3]
 *
 * LevelDB and Trine take turns for --rounds rounds (a busy neighbour on a shared machine then slows
 * both alike); each figure is the median over the rounds, each ratio the median of per-round ratios.
 *
 * The block cache is the engine's default (a quarter of the machine's memory) unless --cache-mb is
 * given; LevelDB's files meanwhile sit in the OS page cache, which for an encrypted store holds only
 * sealed blocks.
 *
 * Trine's write path is the real one: each batch is appended to the encrypted Raft log (the only
 * write-ahead log) and applied to the LSM engine. Keys are 16 random bytes, values 100 random bytes.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { ClassicLevel } from 'classic-level';
import { randomBytes } from '../../src/crypto/index.ts';
import { ByteWriter } from '../../src/storage/codec.ts';
import { LsmEngine } from '../../src/storage/engine.ts';
import type { WriteOp } from '../../src/storage/kv.ts';
import { LogStore } from '../../src/storage/log.ts';
import { defaultCacheBytes } from '../../src/storage/limits.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const N = arg('n', 1_000_000);
const BATCH = arg('batch', 1000);
const GETS = arg('gets', Math.min(N, 200_000));
const CACHE_MB = arg('cache-mb', 0);
const ROUNDS = Math.max(1, arg('rounds', 3));
const cacheOpt = CACHE_MB > 0 ? { cacheBytes: CACHE_MB << 20 } : {};
const KEY = randomBytes(32);
const now = () => performance.now();
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const st = statSync(p);
    n += st.isDirectory() ? duBytes(p) : st.size;
  }
  return n;
}

const keys = randomBytes(16 * N);
const values = randomBytes(100 * N);
const key = (i: number) => keys.subarray(16 * i, 16 * i + 16);
const value = (i: number) => values.subarray(100 * i, 100 * i + 100);
const order = Array.from({ length: GETS }, () => Math.floor(Math.random() * N));

/** The batch as a Raft entry payload: count, then per op `kind | varint len | key | varint len | value`. */
function encodeBatch(ops: WriteOp[]): Uint8Array {
  let size = 5;
  for (const op of ops) size += 11 + op.key.length + (op.type === 'put' ? op.value.length : 0);
  const w = new ByteWriter(size);
  w.varint(ops.length);
  const b = w.buf;
  for (const op of ops) {
    b[w.len++] = op.type === 'put' ? 1 : 0;
    w.varintUnchecked(op.key.length);
    for (let i = 0; i < op.key.length; i++) b[w.len++] = op.key[i]!;
    if (op.type === 'put') {
      w.varintUnchecked(op.value.length);
      b.set(op.value, w.len);
      w.len += op.value.length;
    }
  }
  return w.view();
}

interface Figures { putsNoSync: number; putsNoSyncFlushed: number; putsSync: number; gets1: number; gets16?: number; scan: number; scanNextv?: number; disk: number }

async function trine(root: string): Promise<Figures> {
  const run = async (sync: boolean) => {
    const dir = mkdtempSync(join(root, 'trine-'));
    const log = LogStore.open(join(dir, 'log'), { masterKey: KEY });
    const db = LsmEngine.open(join(dir, 'db'), { masterKey: KEY, ...cacheOpt });
    const t0 = now();
    let index = 0;
    for (let b = 0; b < N; b += BATCH) {
      const ops: WriteOp[] = [];
      for (let i = b; i < Math.min(N, b + BATCH); i++) ops.push({ type: 'put', key: key(i), value: value(i) });
      index++;
      const p = log.append([{ index, term: 1, data: encodeBatch(ops) }], { sync });
      if (sync) await p;
      db.write(ops, { appliedIndex: index });
      // Let background work run, and wait while it is behind (the engine's write stall).
      if (!sync) await yieldToLoop();
      await db.throttle();
    }
    const t1 = now();
    await log.sync();
    await db.flush();
    const t2 = now();
    // What the Raft driver does once a flush made entries durable in tables: drop them from the log.
    log.truncatePrefix(db.appliedIndex + 1);
    await db.settle();
    return { dir, log, db, rate: N / ((t1 - t0) / 1000), flushedRate: N / ((t2 - t0) / 1000) };
  };
  const a = await run(false);
  const db = a.db;
  let t = now();
  let found = 0;
  for (const i of order) if (db.get(key(i))) found++;
  const gets1 = GETS / ((now() - t) / 1000);
  if (found !== GETS) throw new Error(`trine: ${GETS - found} keys not found`);
  t = now();
  let rows = 0;
  for (const _ of db.scan()) rows++;
  const scan = rows / ((now() - t) / 1000);
  const st = db.stats();
  console.log(`  trine stats (after settling background compaction): levels ${st.levels.map((l) => l.files).join('/')}, write amp ${st.writeAmplification.toFixed(2)}, read amp ${st.readAmplification.toFixed(2)}, cache hit ${(st.cache.hitRate * 100).toFixed(1)}%, compactions ${st.compactions}`);
  await db.close();
  await a.log.close();
  const disk = duBytes(a.dir);
  const b = await run(true);
  await b.db.close();
  await b.log.close();
  return { putsNoSync: a.rate, putsNoSyncFlushed: a.flushedRate, putsSync: b.rate, gets1, scan, disk };
}

async function leveldb(root: string): Promise<Figures> {
  const run = async (sync: boolean) => {
    const dir = mkdtempSync(join(root, 'leveldb-'));
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    const t0 = now();
    for (let b = 0; b < N; b += BATCH) {
      const batch = db.batch();
      for (let i = b; i < Math.min(N, b + BATCH); i++) batch.put(key(i), value(i));
      await batch.write({ sync });
    }
    return { dir, db, rate: N / ((now() - t0) / 1000) };
  };
  const a = await run(false);
  const db = a.db;
  let t = now();
  for (const i of order) await db.get(key(i));
  const gets1 = GETS / ((now() - t) / 1000);
  t = now();
  let next = 0;
  const worker = async () => { while (next < GETS) await db.get(key(order[next++]!)); };
  await Promise.all(Array.from({ length: 16 }, worker));
  const gets16 = GETS / ((now() - t) / 1000);
  t = now();
  let rows = 0;
  for await (const _ of db.iterator()) rows++;
  const scan = rows / ((now() - t) / 1000);
  t = now();
  rows = 0;
  const it = db.iterator();
  for (let e = await it.nextv(1000); e.length; e = await it.nextv(1000)) rows += e.length;
  await it.close();
  const scanNextv = rows / ((now() - t) / 1000);
  await db.close();
  const disk = duBytes(a.dir);
  const b = await run(true);
  await b.db.close();
  return { putsNoSync: a.rate, putsNoSyncFlushed: a.rate, putsSync: b.rate, gets1, gets16, scan, scanNextv, disk };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const root = mkdtempSync(join(tmpdir(), 'trine-bench-'));
try {
  console.log(`storage benchmark: ${N} puts (16-byte keys, 100-byte values) in batches of ${BATCH}; ${GETS} random gets; trine block cache ${CACHE_MB > 0 ? `${CACHE_MB} MiB` : `default (${Math.round(defaultCacheBytes(totalmem()) / 2 ** 20)} MiB here)`}; ${ROUNDS} rounds, LevelDB and Trine in turns`);
  const Ls: Figures[] = [], Ts: Figures[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    Ls.push(await leveldb(root));
    Ts.push(await trine(root));
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root);
  }
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  const row = (name: string, t: (f: Figures) => number, l: (f: Figures) => number, unit: string) => {
    const ratios = Ts.map((f, i) => t(f) / l(Ls[i]!));
    console.log(`${name.padEnd(44)} trine ${fmt(median(Ts.map(t))).padStart(11)} ${unit}   leveldb ${fmt(median(Ls.map(l))).padStart(11)} ${unit}   ratio ${median(ratios).toFixed(2)}${ROUNDS > 1 ? `  (${ratios.map((x) => x.toFixed(2)).join(' ')})` : ''}`);
  };
  console.log(`medians over ${ROUNDS} rounds; the ratio is the median of the per-round ratios (each round's in brackets)`);
  row('batched puts, no sync', (f) => f.putsNoSync, (f) => f.putsNoSync, 'puts/s');
  row('batched puts, no sync, incl. final flush', (f) => f.putsNoSyncFlushed, (f) => f.putsNoSync, 'puts/s');
  row('batched puts, sync each batch', (f) => f.putsSync, (f) => f.putsSync, 'puts/s');
  row('random gets (trine sync; leveldb 1 at a time)', (f) => f.gets1, (f) => f.gets1, 'gets/s');
  row('random gets (trine sync; leveldb 16 in flight)', (f) => f.gets1, (f) => f.gets16!, 'gets/s');
  row('full ordered scan (leveldb for-await)', (f) => f.scan, (f) => f.scan, 'rows/s');
  row('full ordered scan (leveldb nextv(1000))', (f) => f.scan, (f) => f.scanNextv!, 'rows/s');
  row('bytes on disk (lower is better)', (f) => f.disk, (f) => f.disk, 'bytes ');
} finally {
  rmSync(root, { recursive: true, force: true });
}
