/**
 * Rows and index entries in the key space. A table row lives at `prefix | rowid` and holds a record
 * of every column (the INTEGER PRIMARY KEY column is stored as NULL: the key holds it). An index
 * entry lives at `prefix | key-encoded values | rowid` and holds a record of the indexed values, so
 * queries that need only those can skip the row (covering reads).
 */
import type * as A from './ast.ts';
import { generatedLoop, generatedOrder, generatedRefs, type Index, type Table } from './catalog.ts';
import { decodeRecord, encodeRecord, indexKey, prefixEnd, readRowid, rowKey } from './codec.ts';
import { SqlError, sqlError } from './errors.ts';
import { ExprCompiler, Scope, type CExpr, type Env, type Source, type SubqueryHost } from './expr.ts';
import type { FnContext } from './functions.ts';
import type { Tx } from './tx.ts';
import { applyAffinity, truth, typeName, type Collation, type Value } from './value.ts';

/** Compiled per-table expressions (index expressions, partial-index predicates, CHECKs, defaults). */
export interface TableRt {
  source: Source;
  indexes: {
    index: Index; values: ((env: Env) => Value)[]; where: CExpr | undefined; colls: Collation[]; descs: boolean[];
    /** Column positions when every key part is a plain column and there is no WHERE (no env needed). */
    plain: number[] | undefined;
  }[];
  checks: { e: CExpr; text: string }[];
  defaults: (CExpr | undefined)[];
  /** Value of each column for rows written before an ADD COLUMN (the column's default). */
  addedDefaults: Value[];
  /** Generated columns in the order SQLite computes them (each after the ones it reads). */
  generated: { col: number; e: CExpr }[];
  /** The error of a loop among generated columns, which then leaves `generated` the ones outside it. */
  loop: string | undefined;
}

const noSubqueries: SubqueryHost = {
  compileSubquery() { throw sqlError('subqueries prohibited in CHECK constraints, DEFAULT values and index expressions'); },
};

const cache = new WeakMap<Table, TableRt>();

/** Slot used by table-level expressions: they see one row, the table's own. */
export const TABLE_SLOT = 0;

export function tableSource(table: Table, slot: number, name = table.name): Source {
  return {
    slot, name, table,
    cols: table.cols.map((c) => ({ name: c.name, aff: c.affinity, coll: c.collate, hidden: false })),
    rowidIdx: table.cols.length, used: new Set(), leftJoined: false,
  };
}

export function tableRt(table: Table): TableRt {
  let rt = cache.get(table);
  if (rt) return rt;
  const ex = new ExprCompiler(noSubqueries);
  const source = tableSource(table, TABLE_SLOT);
  const scope = new Scope(undefined);
  scope.sources.push(source);
  scope.noAgg = 'index';
  const compile = (e: A.Expr): CExpr => ex.compile(e, scope);
  const indexes = table.indexes.map((index) => ({
    index,
    values: index.cols.map((c) => {
      if (c.col >= 0) { const i = c.col; return (env: Env) => env.rows[TABLE_SLOT]![i]!; }
      return compile(c.e!).fn;
    }),
    where: index.where ? compile(index.where) : undefined,
    colls: index.cols.map((c) => c.coll),
    descs: index.cols.map((c) => c.desc),
    plain: !index.where && index.cols.every((c) => c.col >= 0) ? index.cols.map((c) => c.col) : undefined,
  }));
  const empty = new Scope(undefined);
  empty.noAgg = 'DEFAULT';
  const defaults = table.cols.map((c) => (c.dflt ? ex.compile(c.dflt.e, empty) : undefined));
  const addedDefaults = table.cols.map((c, i) => {
    const d = defaults[i];
    if (!d || !d.isConst) return null;
    return applyAffinity(d.fn(readEnv), c.affinity);
  });
  let order: number[];
  let loop: string | undefined;
  try {
    order = generatedOrder(table);
  } catch (e) {
    if (!(e instanceof SqlError)) throw e;
    // Only ADD COLUMN makes a loop. SQLite computes a generated column where it is read, so then
    // every write fails, but only reads of the columns caught in the loop do (generatedLoop).
    loop = e.message;
    const looped = new Set(table.cols.flatMap((c, i) => (c.generated && generatedLoop(table, i) ? [i] : [])));
    const rest = { ...table, cols: table.cols.map((c, i) => (looped.has(i) ? { ...c, generated: undefined } : c)) };
    order = generatedOrder(rest).filter((i) => !looped.has(i));
  }
  rt = {
    source, indexes,
    checks: table.checks.map((c) => ({ e: compile(c.e), text: c.name ?? c.text })),
    defaults, addedDefaults,
    generated: order.map((col) => ({ col, e: compile(table.cols[col]!.generated!.e) })),
    loop,
  };
  cache.set(table, rt);
  return rt;
}

/**
 * Computes the generated columns of `row` from its other columns, each with its column's affinity
 * (SQLite applies none for BLOB). `from`: only the columns at or after this position, which a row
 * stored before they were added lacks (the ones before it are stored); a column caught in a loop
 * is left NULL there, as no query that reads it compiles.
 */
export function computeGenerated(table: Table, row: Value[], env: Env | undefined, from = 0): void {
  const rt = tableRt(table);
  if (from === 0 && rt.loop !== undefined) throw sqlError(rt.loop);
  const gen = rt.generated;
  if (gen.length === 0) return;
  const e: Env = env ? { rows: [row], params: [], agg: null, fn: env.fn, run: env.run, tx: env.tx } : { ...readEnv, rows: [row] };
  for (const g of gen) if (g.col >= from) row[g.col] = applyAffinity(g.e.fn(e), table.cols[g.col]!.affinity);
}

/**
 * Generated expressions and constant defaults are deterministic and hold no subquery, so computing
 * one outside a statement (while decoding a row, or compiling a table) needs none: these never run.
 */
const noContext: FnContext = {
  changes: () => 0n, totalChanges: () => 0n, lastInsertRowid: () => 0n, now: () => Date.now(),
};
const readEnv: Env = { rows: [], params: [], agg: null, fn: noContext, run: 0, tx: undefined as never };

const STRICT_NAME: Record<string, string> = { INT: 'INT', INTEGER: 'INTEGER', REAL: 'REAL', TEXT: 'TEXT', BLOB: 'BLOB', ANY: 'ANY' };

/**
 * A STRICT table's type check, SQLite's OP_TypeCheck, on values that already have their column's
 * affinity: the columns that are not generated (`plain`), the VIRTUAL ones (which SQLite checks as
 * it computes them) or every stored column, generated or not (`stored`). A REAL column turns an
 * integer into a real; any other value of the wrong type fails the statement.
 */
export function strictCheck(table: Table, row: Value[], which: 'plain' | 'virtual' | 'stored'): void {
  const cols = table.cols;
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    const v = row[i]!;
    const g = c.generated;
    if (v === null || i === table.rowidAlias) continue;
    if (which === 'plain' ? g !== undefined : which === 'virtual' ? !g || g.stored : g !== undefined && !g.stored) continue;
    if (!strictFits(c.type, v)) throw new SqlError('SQLITE_CONSTRAINT_DATATYPE', `cannot store ${typeof v === 'bigint' ? 'INT' : typeName(v).toUpperCase()} value in ${STRICT_NAME[c.type.toUpperCase()]!} column ${table.name}.${c.name}`);
    // Only the REAL type gives a STRICT column REAL affinity.
    if (typeof v === 'bigint' && c.affinity === 'REAL') row[i] = Number(v);
  }
}

/** Whether a STRICT column of `type` can hold non-NULL `v` (an integer fits a REAL column). */
export function strictFits(type: string, v: Value): boolean {
  switch (STRICT_NAME[type.toUpperCase()]) {
    case 'INT': case 'INTEGER': return typeof v === 'bigint';
    case 'REAL': return typeof v === 'number' || typeof v === 'bigint';
    case 'TEXT': return typeof v === 'string';
    case 'BLOB': return v instanceof Uint8Array;
    default: return true;
  }
}

/**
 * Column positions an UPDATE assigning `assigned` changes: those, and the generated columns that
 * read any of them, directly or through another (SQLite marks them changed too). The rowid
 * (position `cols.length`) changes its alias column.
 */
export function changedColumns(table: Table, assigned: ReadonlySet<number>): Set<number> {
  const out = new Set(assigned);
  const rowid = table.rowidAlias >= 0 && assigned.has(table.cols.length);
  for (const g of tableRt(table).generated) {
    if (generatedRefs(table, g.col).some((r) => out.has(r) || (rowid && r === table.rowidAlias))) out.add(g.col);
  }
  return out;
}

/** Decodes a stored row into [...columns, rowid]. */
export function decodeRow(table: Table, rowid: bigint, bytes: Uint8Array): Value[] {
  const rec = decodeRecord(bytes);
  const n = table.cols.length;
  const stored = rec.length;
  if (stored < n) {
    const add = tableRt(table).addedDefaults;
    for (let i = stored; i < n; i++) rec.push(add[i]!);
  } else if (stored > n) rec.length = n;
  rec.push(rowid);
  if (table.rowidAlias >= 0) rec[table.rowidAlias] = rowid;
  // A VIRTUAL column added after the row was written reads as its expression.
  if (stored < n) computeGenerated(table, rec, undefined, stored);
  return rec;
}

export function readRow(tx: Tx, table: Table, rowid: bigint): Value[] | null {
  const b = tx.get(rowKey(table.prefix, rowid));
  return b ? decodeRow(table, rowid, b) : null;
}

export function encodeRow(table: Table, row: Value[]): Uint8Array {
  const vals = row.slice(0, table.cols.length);
  if (table.rowidAlias >= 0) vals[table.rowidAlias] = null;
  return encodeRecord(vals);
}

/** Iterates table rows by rowid within [lo, hi] (inclusive bounds; undefined = open). */
export function* scanRows(tx: Tx, table: Table, lo: bigint | undefined, hi: bigint | undefined, reverse: boolean): IterableIterator<Value[]> {
  const p = table.prefix;
  const gte = lo !== undefined ? rowKey(p, lo) : p;
  const range = hi !== undefined ? { gte, lte: rowKey(p, hi), reverse } : { gte, lt: prefixEnd(p), reverse };
  const off = p.length;
  for (const { key, value } of tx.scan(range)) {
    yield decodeRow(table, readRowid(key, off), value);
  }
}

export interface IndexEntry {
  key: Uint8Array;
  values: Value[];
}

function entryEnv(row: Value[], env: Env): Env {
  return { rows: [row], params: [], agg: null, fn: env.fn, run: env.run, tx: env.tx };
}

/** The index entries a row produces (none for a partial index whose WHERE is not true). */
export function indexEntry(rt: TableRt['indexes'][number], row: Value[], rowid: bigint, env: Env): IndexEntry | null {
  const plain = rt.plain;
  if (plain !== undefined) {
    // The common index: no expression to evaluate, so no per-row environment object.
    // Built by push so the array stays packed, like every other record the encoders see.
    const values: Value[] = [];
    for (let i = 0; i < plain.length; i++) values.push(row[plain[i]!]!);
    return { key: indexKey(rt.index.prefix, values, rt.colls, rt.descs, rowid), values };
  }
  const e = entryEnv(row, env);
  if (rt.where && truth(rt.where.fn(e)) !== true) return null;
  const values = rt.values.map((f) => f(e));
  return { key: indexKey(rt.index.prefix, values, rt.colls, rt.descs, rowid), values };
}

export function writeIndexEntries(tx: Tx, table: Table, row: Value[], rowid: bigint, env: Env): void {
  for (const ix of tableRt(table).indexes) {
    const ent = indexEntry(ix, row, rowid, env);
    if (ent) tx.put(ent.key, encodeRecord(ent.values));
  }
}

export function deleteIndexEntries(tx: Tx, table: Table, row: Value[], rowid: bigint, env: Env): void {
  for (const ix of tableRt(table).indexes) {
    const ent = indexEntry(ix, row, rowid, env);
    if (ent) tx.del(ent.key);
  }
}

/** `key`: the row's key when the caller already built it (INSERT probes it for uniqueness). */
export function insertRowRaw(tx: Tx, table: Table, row: Value[], env: Env, key?: Uint8Array): void {
  const rowid = row[table.cols.length] as bigint;
  tx.put(key ?? rowKey(table.prefix, rowid), encodeRow(table, row));
  writeIndexEntries(tx, table, row, rowid, env);
}

export function deleteRowRaw(tx: Tx, table: Table, row: Value[], env: Env): void {
  const rowid = row[table.cols.length] as bigint;
  tx.del(rowKey(table.prefix, rowid));
  deleteIndexEntries(tx, table, row, rowid, env);
}

/** Deletes every key of a table or index tree. */
export function clearTree(tx: Tx, prefix: Uint8Array): void {
  const keys: Uint8Array[] = [];
  for (const { key } of tx.scan({ gte: prefix, lt: prefixEnd(prefix) })) keys.push(key);
  for (const k of keys) tx.del(k);
}

/** Largest rowid in the table, or 0 when empty. */
export function maxRowid(tx: Tx, table: Table): bigint {
  for (const { key } of tx.scan({ gte: table.prefix, lt: prefixEnd(table.prefix), reverse: true, limit: 1 })) {
    return readRowid(key, table.prefix.length);
  }
  return 0n;
}
