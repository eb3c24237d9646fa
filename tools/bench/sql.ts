/**
 * SQL benchmark, side by side with SQLite (better-sqlite3), not a test:
 *   node --import tsx tools/bench/sql.ts [--n 100000] [--reads 100000] [--rounds 5] [--disk]
 *
 * In memory: Trine's SQL engine over MemoryKv vs SQLite ':memory:'. With --disk, also Trine over
 * the LSM engine (no Raft log) vs SQLite on a file (journal_mode=WAL, synchronous=NORMAL).
 * Workloads: N inserts in one transaction into a table with a secondary index; point selects by
 * primary key; index range selects (~10 rows each); single-row updates by key (autocommit).
 * The two engines take turns, round after round (--rounds 5), each round on fresh databases, so a
 * busy neighbour on a shared machine slows both alike. The first round only warms up (the JIT and
 * caches, as in a long-running server); the report gives each figure's median over the other
 * rounds and the median of the per-round ratios.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import Sqlite from 'better-sqlite3';
import { Database } from '../../src/sql/index.ts';
import type { KvStore } from '../../src/storage/kv.ts';
import { MemoryKv } from '../../src/storage/memory-kv.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const N = arg('n', 100_000);
const READS = arg('reads', 100_000);
const UPDATES = arg('updates', 50_000);
const RANGE = 10;
const ROUNDS = Math.max(2, arg('rounds', 5));

const SCHEMA = 'CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT); CREATE INDEX t_a ON t(a)';
// Deterministic pseudo-random sequence, the same for both engines.
let state = 12345;
const rnd = (n: number): number => { state = (state * 1103515245 + 12345) % 2147483648; return state % n; };
const ids = Array.from({ length: Math.max(READS, UPDATES) }, () => 1 + rnd(N));
const aOf = (i: number): number => (i * 7919) % N;

interface Figures { insert: number; point: number; range: number; update: number }

function time(fn: () => number): number {
  const t0 = performance.now();
  const rows = fn();
  return rows / ((performance.now() - t0) / 1000);
}

function sqlite(file: string): Figures {
  const db = new Sqlite(file);
  if (file !== ':memory:') { db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); }
  db.exec(SCHEMA);
  const ins = db.prepare('INSERT INTO t (id, a, b) VALUES (?, ?, ?)');
  const insert = time(() => {
    db.transaction(() => { for (let i = 1; i <= N; i++) ins.run(i, aOf(i), `row ${i}`); })();
    return N;
  });
  const sel = db.prepare('SELECT * FROM t WHERE id = ?');
  const point = time(() => { for (let i = 0; i < READS; i++) sel.get(ids[i]); return READS; });
  const rng = db.prepare('SELECT id, a FROM t WHERE a BETWEEN ? AND ?');
  const range = time(() => {
    let rows = 0;
    for (let i = 0; i < READS / 10; i++) { const lo = ids[i]! % (N - RANGE); rows += rng.all(lo, lo + RANGE - 1).length; }
    return rows;
  });
  const upd = db.prepare('UPDATE t SET b = ? WHERE id = ?');
  const update = time(() => { for (let i = 0; i < UPDATES; i++) upd.run(`u${i}`, ids[i]); return UPDATES; });
  db.close();
  return { insert, point, range, update };
}

function trine(kv: KvStore): Figures {
  const db = new Database(kv);
  const s = db.session();
  s.execute(SCHEMA);
  const insert = time(() => {
    s.execute('BEGIN');
    for (let i = 1; i <= N; i++) s.execute('INSERT INTO t (id, a, b) VALUES (?, ?, ?)', [i, aOf(i), `row ${i}`]);
    s.execute('COMMIT');
    return N;
  });
  const point = time(() => { for (let i = 0; i < READS; i++) s.execute('SELECT * FROM t WHERE id = ?', [ids[i]]); return READS; });
  const range = time(() => {
    let rows = 0;
    for (let i = 0; i < READS / 10; i++) { const lo = ids[i]! % (N - RANGE); rows += s.execute('SELECT id, a FROM t WHERE a BETWEEN ? AND ?', [lo, lo + RANGE - 1]).rows.length; }
    return rows;
  });
  const update = time(() => { for (let i = 0; i < UPDATES; i++) s.execute('UPDATE t SET b = ? WHERE id = ?', [`u${i}`, ids[i]]); return UPDATES; });
  return { insert, point, range, update };
}

const WORKLOADS: [string, keyof Figures][] = [
  [`insert ${N} rows, one transaction`, 'insert'], ['point select by primary key', 'point'],
  [`index range select (${RANGE} rows)`, 'range'], ['update by key (autocommit)', 'update'],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Runs both engines in turns for ROUNDS rounds and prints medians of all rounds but the first. */
async function compare(title: string, us: (round: number) => Figures | Promise<Figures>, them: (round: number) => Figures): Promise<void> {
  const ours: Figures[] = [], theirs: Figures[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = them(r), u = await us(r);
    if (r > 0) { theirs.push(t); ours.push(u); }
  }
  const f = (x: number): string => Math.round(x).toLocaleString('en-US').padStart(12);
  console.log(`\n${title} (median of ${ROUNDS - 1} rounds after a warm-up round)`);
  console.log(`${'workload'.padEnd(34)}${'trine rows/s'.padStart(12)}${'sqlite rows/s'.padStart(14)}  ratio  (per round)`);
  for (const [name, k] of WORKLOADS) {
    const ratios = ours.map((o, i) => o[k] / theirs[i]![k] * 100);
    console.log(`${name.padEnd(34)}${f(median(ours.map((o) => o[k])))}  ${f(median(theirs.map((o) => o[k])))}  ${median(ratios).toFixed(1)}%  (${ratios.map((x) => x.toFixed(0)).join(' ')})`);
  }
}

await compare('in memory: Trine over MemoryKv vs SQLite :memory:', () => trine(new MemoryKv()), () => sqlite(':memory:'));

if (process.argv.includes('--disk')) {
  const dir = mkdtempSync(join(tmpdir(), 'trine-sql-bench-'));
  try {
    const { LsmEngine } = await import('../../src/storage/engine.ts');
    await compare('on disk: Trine over LsmEngine (no Raft log) vs SQLite file (WAL, synchronous=NORMAL)', async (r) => {
      const engine = LsmEngine.open(join(dir, `lsm-${r}`), { masterKey: new Uint8Array(32).fill(7) });
      const f = trine(engine);
      await engine.close();
      return f;
    }, (r) => sqlite(join(dir, `bench-${r}.sqlite`)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
