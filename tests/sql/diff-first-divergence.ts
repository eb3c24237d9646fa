/**
 * Debugging aid for the differential test (not a test file): replays one generated script on SQLite
 * and Trine and prints the first statement after which a table's contents differ.
 *   node --import tsx tests/sql/diff-first-divergence.ts <seed>
 */
import Sqlite from 'better-sqlite3';
import { MemoryKv } from '../../src/storage/memory-kv.ts';
import { Database } from '../../src/sql/index.ts';
import { Gen } from './gen.ts';
const seed = Number(process.argv[2]);
const g = new Gen(seed);
const lite = new Sqlite(':memory:'); lite.defaultSafeIntegers(true);
const ours = new Database(new MemoryKv()).session();
const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => {
  if (typeof x === 'bigint') return `${x}n`;
  if (x instanceof Uint8Array) return `blob:${Buffer.from(x).toString('hex')}`;
  // Buffers reach the replacer already turned into { type: 'Buffer', data } by their toJSON.
  const o = x as { type?: string; data?: number[] } | null;
  if (o && typeof o === 'object' && o.type === 'Buffer' && Array.isArray(o.data)) return `blob:${Buffer.from(o.data).toString('hex')}`;
  return typeof x === 'number' ? `r${x}` : x;
});
// The generator's schema model follows SQLite, as in the differential test.
for (let i = 0; i <= 150; i++) {
  const st = i < 150 ? g.next() : g.finish()[0];
  if (!st) break;
  try { const p = lite.prepare(st.sql); p.reader ? p.raw(true).all() : p.run(); st.apply?.(); } catch { /* */ }
  try { ours.execute(st.sql); } catch { /* */ }
  for (const t of g.tableNames()) {
    let a = '', b = '';
    try { a = show(lite.prepare(`select rowid, * from ${t} order by rowid`).raw(true).all()); } catch { a = 'ERR'; }
    try { b = show(ours.execute(`select rowid, * from ${t} order by rowid`, [], { safeIntegers: true }).rows); } catch { b = 'ERR'; }
    if (a !== b) { console.log(`after #${i + 1}: ${st.sql}\n table ${t}\n sqlite ${a.slice(0, 700)}\n trine  ${b.slice(0, 700)}`); process.exit(0); }
  }
}
console.log('no divergence');
