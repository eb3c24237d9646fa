/**
 * The schema: tables, indexes and views, built from the CREATE statements stored in the schema
 * table (rootpage 1, SQLite's sqlite_schema layout: type, name, tbl_name, rootpage, sql). Every
 * table is a rowid table; a non-INTEGER primary key and each UNIQUE constraint get an automatic
 * index (`sqlite_autoindex_<table>_<n>`), as in SQLite.
 */
import type * as A from './ast.ts';
import { treePrefix } from './codec.ts';
import { sqlError } from './errors.ts';
import { affinityOf, checkCollation, type Affinity, type Collation } from './value.ts';

export interface Column {
  name: string;
  type: string;
  affinity: Affinity;
  notNull: boolean;
  notNullConflict: A.ConflictAction | undefined;
  dflt: { e: A.Expr; text: string } | undefined;
  collate: Collation;
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number;
  generated: { e: A.Expr; stored: boolean } | undefined;
}

export interface IndexColumn {
  /** Table column index, or -1 for an expression. */
  col: number;
  e: A.Expr | undefined;
  coll: Collation;
  desc: boolean;
  /** Name shown by PRAGMA index_info (null for expressions). */
  name: string | null;
}

export interface Index {
  name: string;
  table: string;
  rootpage: number;
  prefix: Uint8Array;
  unique: boolean;
  /** 'c' = CREATE INDEX, 'u' = UNIQUE constraint, 'pk' = PRIMARY KEY. */
  origin: 'c' | 'u' | 'pk';
  cols: IndexColumn[];
  where: A.Expr | undefined;
  conflict: A.ConflictAction | undefined;
  sql: string | null;
}

export interface Table {
  name: string;
  rootpage: number;
  prefix: Uint8Array;
  cols: Column[];
  /** Index of the INTEGER PRIMARY KEY column (the rowid alias), or -1. */
  rowidAlias: number;
  rowidConflict: A.ConflictAction | undefined;
  autoincrement: boolean;
  checks: { e: A.Expr; name: string | undefined; text: string }[];
  fks: A.ForeignKey[];
  indexes: Index[];
  sql: string;
  strict: boolean;
  /** Built-in tables (the schema table, sqlite_sequence) refuse some user operations. */
  system: boolean;
}

export interface View {
  name: string;
  cols: string[] | undefined;
  select: A.Select;
  sql: string;
}

export class Schema {
  readonly tables = new Map<string, Table>();
  readonly indexes = new Map<string, Index>();
  readonly views = new Map<string, View>();
  /** Names of the tables and views in the order of their schema rows, which SQLite loads them in. */
  readonly loadOrder: string[] = [];
  constructor(readonly cookie: number) {}

  table(name: string): Table | undefined {
    return this.tables.get(name.toLowerCase());
  }
  index(name: string): Index | undefined {
    return this.indexes.get(name.toLowerCase());
  }
  view(name: string): View | undefined {
    return this.views.get(name.toLowerCase());
  }
  /** A table by name, where sqlite_master also names the schema table, as in SQLite. */
  tableOrMaster(name: string): Table | undefined {
    return this.table(name) ?? (/^sqlite_master$/i.test(name) ? this.table('sqlite_schema') : undefined);
  }
  /** True when any table, index or view has this name. */
  has(name: string): boolean {
    const n = name.toLowerCase();
    return this.tables.has(n) || this.indexes.has(n) || this.views.has(n);
  }
  maxRootpage(): number {
    let m = 1;
    for (const t of this.tables.values()) m = Math.max(m, t.rootpage);
    for (const i of this.indexes.values()) m = Math.max(m, i.rootpage);
    return m;
  }
}

export const SCHEMA_ROOT = 1;

/** The built-in schema table, whose rows describe every other object. */
export function schemaTable(): Table {
  const col = (name: string, type: string): Column => ({
    name, type, affinity: affinityOf(type), notNull: false, notNullConflict: undefined, dflt: undefined, collate: 'BINARY', pk: 0, generated: undefined,
  });
  return {
    name: 'sqlite_schema', rootpage: SCHEMA_ROOT, prefix: treePrefix(SCHEMA_ROOT),
    cols: [col('type', 'TEXT'), col('name', 'TEXT'), col('tbl_name', 'TEXT'), col('rootpage', 'INT'), col('sql', 'TEXT')],
    rowidAlias: -1, rowidConflict: undefined, autoincrement: false, checks: [], fks: [], indexes: [],
    sql: 'CREATE TABLE sqlite_schema(type text, name text, tbl_name text, rootpage int, sql text)', strict: false, system: true,
  };
}

/** A readable rendering of an expression (for CHECK failure messages when no name is given). */
export function renderExpr(e: A.Expr): string {
  switch (e.k) {
    case 'lit':
      if (e.v === null) return 'NULL';
      if (typeof e.v === 'string') return `'${e.v.replace(/'/g, "''")}'`;
      if (e.v instanceof Uint8Array) return `X'${[...e.v].map((b) => b.toString(16).padStart(2, '0')).join('')}'`;
      return String(e.v);
    case 'param': return e.name ?? '?';
    case 'col': return e.table ? `${e.table}.${e.name}` : e.name;
    case 'unary': return e.op === 'NOT' ? `NOT ${renderExpr(e.e)}` : `${e.op}${renderExpr(e.e)}`;
    case 'bin': return `${renderExpr(e.l)} ${e.op} ${renderExpr(e.r)}`;
    case 'like': return `${renderExpr(e.l)}${e.not ? ' NOT' : ''} ${e.op} ${renderExpr(e.r)}`;
    case 'between': return `${renderExpr(e.e)}${e.not ? ' NOT' : ''} BETWEEN ${renderExpr(e.lo)} AND ${renderExpr(e.hi)}`;
    case 'in': return `${renderExpr(e.e)}${e.not ? ' NOT' : ''} IN (${(e.list ?? []).map(renderExpr).join(', ')})`;
    case 'isnull': return `${renderExpr(e.e)} ${e.not ? 'NOT NULL' : 'ISNULL'}`;
    case 'cast': return `CAST(${renderExpr(e.e)} AS ${e.type})`;
    case 'collate': return `${renderExpr(e.e)} COLLATE ${e.coll}`;
    case 'fn': return `${e.name}(${e.star ? '*' : e.args.map(renderExpr).join(', ')})`;
    default: return '...';
  }
}

/** Builds a table from its CREATE TABLE statement; autoindexes get rootpages from `roots`. */
export function buildTable(ct: A.CreateTable, rootpage: number, autoRoots: number[]): Table {
  if (ct.withoutRowid) throw sqlError('WITHOUT ROWID tables are not supported; drop WITHOUT ROWID (a rowid table with the same PRIMARY KEY behaves the same)');
  const names = new Set<string>();
  const cols: Column[] = ct.cols.map((c) => {
    const lower = c.name.toLowerCase();
    if (names.has(lower)) throw sqlError(`duplicate column name: ${c.name}`);
    names.add(lower);
    // A STRICT table's ANY column keeps values as given (SQLite gives it no affinity).
    const affinity = ct.strict && c.type.toUpperCase() === 'ANY' ? 'BLOB' : affinityOf(c.type);
    return {
      name: c.name, type: c.type, affinity, notNull: c.notNull !== undefined,
      notNullConflict: c.notNull, dflt: c.dflt, collate: c.collate ? checkCollation(c.collate) : 'BINARY', pk: 0, generated: c.generated,
    };
  });
  const colIndex = (n: string): number => {
    const i = cols.findIndex((c) => c.name.toLowerCase() === n.toLowerCase());
    if (i < 0) throw sqlError(`no such column: ${n}`);
    return i;
  };
  const table: Table = {
    name: ct.name, rootpage, prefix: treePrefix(rootpage), cols, rowidAlias: -1, rowidConflict: undefined, autoincrement: false,
    checks: [], fks: [], indexes: [], sql: ct.sql, strict: ct.strict, system: false,
  };
  // Primary key: from a column constraint or a table constraint (only one allowed).
  let pk: { cols: A.IndexedCol[]; conflict: A.ConflictAction | undefined; autoincrement: boolean } | undefined;
  ct.cols.forEach((c) => {
    if (c.pk) {
      if (pk) throw sqlError(`table "${ct.name}" has more than one primary key`);
      pk = { cols: [{ e: { k: 'col', table: undefined, name: c.name }, coll: undefined, desc: c.pk.desc }], conflict: c.pk.conflict, autoincrement: c.pk.autoincrement };
    }
  });
  for (const tc of ct.constraints) {
    if (tc.k === 'pk') {
      if (pk) throw sqlError(`table "${ct.name}" has more than one primary key`);
      pk = tc;
    }
  }
  const uniques: { cols: A.IndexedCol[]; conflict: A.ConflictAction | undefined; origin: 'u' | 'pk' }[] = [];
  // SQLite creates autoindexes in the order the constraints appear: column constraints first.
  if (pk) {
    const pkCols = pk.cols.map((ic) => {
      if (ic.e.k !== 'col' || ic.e.table !== undefined) throw sqlError('expressions prohibited in PRIMARY KEY and UNIQUE constraints');
      return colIndex(ic.e.name);
    });
    if (pkCols.some((ci) => cols[ci]!.generated)) throw sqlError('generated columns cannot be part of the PRIMARY KEY');
    pkCols.forEach((ci, k) => { cols[ci]!.pk = k + 1; });
    const only = pkCols.length === 1 ? cols[pkCols[0]!]! : undefined;
    if (only && only.type.toUpperCase() === 'INTEGER' && !pk.cols[0]!.desc) {
      table.rowidAlias = pkCols[0]!;
      table.rowidConflict = pk.conflict;
      table.autoincrement = pk.autoincrement;
    } else {
      if (pk.autoincrement) throw sqlError('AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY');
      uniques.push({ cols: pk.cols, conflict: pk.conflict, origin: 'pk' });
    }
    // A STRICT table's primary key columns are NOT NULL, except the rowid alias.
    if (ct.strict) {
      for (const ci of pkCols) {
        const c = cols[ci]!;
        if (ci !== table.rowidAlias && !c.notNull) { c.notNull = true; c.notNullConflict = 'ABORT'; }
      }
    }
  }
  const colUniques: typeof uniques = [];
  ct.cols.forEach((c) => {
    for (const conflict of c.unique) colUniques.push({ cols: [{ e: { k: 'col', table: undefined, name: c.name }, coll: undefined, desc: false }], conflict, origin: 'u' });
  });
  const ordered: typeof uniques = [];
  // Column-level PRIMARY KEY comes in column order together with UNIQUE column constraints.
  const pkFromColumn = ct.cols.some((c) => c.pk);
  if (pkFromColumn) {
    for (const c of ct.cols) {
      if (c.pk) ordered.push(...uniques.filter((u) => u.origin === 'pk'));
      ordered.push(...colUniques.filter((u) => (u.cols[0]!.e as { name: string }).name === c.name));
    }
  } else {
    ordered.push(...colUniques);
  }
  // Column constraints come first, in column order, as SQLite's parser builds its lists.
  for (const c of ct.cols) {
    for (const ch of c.check) table.checks.push({ e: ch.e, name: ch.name, text: ch.text });
    if (c.fk) table.fks.push(c.fk);
  }
  for (const tc of ct.constraints) {
    if (tc.k === 'pk' && uniques.some((u) => u.origin === 'pk')) ordered.push(...uniques.filter((u) => u.origin === 'pk'));
    else if (tc.k === 'unique') ordered.push({ cols: tc.cols, conflict: tc.conflict, origin: 'u' });
    else if (tc.k === 'check') table.checks.push({ e: tc.e, name: tc.name, text: tc.text });
    else if (tc.k === 'fk') {
      const unknown = tc.fk.cols.find((n) => !names.has(n.toLowerCase()));
      if (unknown !== undefined) throw sqlError(`unknown column "${unknown}" in foreign key definition`);
      table.fks.push(tc.fk);
    }
  }
  let n = 0;
  const seen = new Map<string, Index>();
  for (const u of ordered) {
    const icols: IndexColumn[] = u.cols.map((ic) => {
      if (ic.e.k !== 'col' || ic.e.table !== undefined) throw sqlError('expressions prohibited in PRIMARY KEY and UNIQUE constraints');
      const ci = colIndex(ic.e.name);
      return { col: ci, e: undefined, coll: ic.coll ? checkCollation(ic.coll) : cols[ci]!.collate, desc: ic.desc, name: cols[ci]!.name };
    });
    // Identical constraints share one index, as in SQLite: it is the primary key's if either is,
    // and takes the ON CONFLICT clause of whichever names one.
    const sig = icols.map((c) => `${c.col}/${c.coll}`).join(',');
    const same = seen.get(sig);
    if (same) {
      if (u.origin === 'pk') same.origin = 'pk';
      if (same.conflict !== undefined && u.conflict !== undefined && same.conflict !== u.conflict) throw sqlError('conflicting ON CONFLICT clauses specified');
      same.conflict ??= u.conflict;
      continue;
    }
    const root = autoRoots[n] ?? 0;
    n++;
    const ix: Index = {
      name: `sqlite_autoindex_${ct.name}_${n}`, table: ct.name, rootpage: root, prefix: treePrefix(root), unique: true,
      origin: u.origin, cols: icols, where: undefined, conflict: u.conflict, sql: null,
    };
    seen.set(sig, ix);
    table.indexes.push(ix);
  }
  return table;
}

/** Number of automatic indexes a CREATE TABLE will need (to allocate their rootpages). */
export function autoIndexCount(ct: A.CreateTable): number {
  return buildTable(ct, 0, []).indexes.length;
}

export function buildIndex(ci: A.CreateIndex, table: Table, rootpage: number): Index {
  const cols: IndexColumn[] = ci.cols.map((ic) => {
    const e = ic.e;
    if (e.k === 'col' && e.table === undefined) {
      const i = table.cols.findIndex((c) => c.name.toLowerCase() === e.name.toLowerCase());
      if (i >= 0) return { col: i, e: undefined, coll: ic.coll ? checkCollation(ic.coll) : table.cols[i]!.collate, desc: ic.desc, name: table.cols[i]!.name };
      if (['rowid', 'oid', '_rowid_'].includes(e.name.toLowerCase())) throw sqlError(`no such column: ${e.name}`);
      throw sqlError(`no such column: ${e.name}`);
    }
    if (e.k === 'lit' && typeof e.v === 'string') {
      // SQLite treats a string literal in an index column list as a column name when one matches.
      const i = table.cols.findIndex((c) => c.name.toLowerCase() === (e.v as string).toLowerCase());
      if (i >= 0) return { col: i, e: undefined, coll: ic.coll ? checkCollation(ic.coll) : table.cols[i]!.collate, desc: ic.desc, name: table.cols[i]!.name };
    }
    return { col: -1, e, coll: ic.coll ? checkCollation(ic.coll) : 'BINARY', desc: ic.desc, name: null };
  });
  return {
    name: ci.name, table: table.name, rootpage, prefix: treePrefix(rootpage), unique: ci.unique, origin: 'c', cols,
    where: ci.where, conflict: undefined, sql: ci.sql,
  };
}

/** Every object of an AST (an object or array), depth first; blob literals are values, not nodes. */
export function* nodes(node: unknown): Generator<Record<string, unknown>> {
  if (Array.isArray(node)) for (const x of node) yield* nodes(x);
  else if (node !== null && typeof node === 'object' && !(node instanceof Uint8Array)) {
    yield node as Record<string, unknown>;
    for (const v of Object.values(node)) yield* nodes(v);
  }
}

/** Positions of the columns generated column `col` reads (the rowid reads as its alias column). */
export function generatedRefs(table: Table, col: number): number[] {
  const out: number[] = [];
  for (const o of nodes(table.cols[col]!.generated?.e)) {
    if (o.k !== 'col' || typeof o.name !== 'string') continue;
    const name = o.name.toLowerCase();
    const i = table.cols.findIndex((c) => c.name.toLowerCase() === name);
    if (i >= 0 && !out.includes(i)) out.push(i);
  }
  return out;
}

/** The name of the column where a walk of generated column `col`'s inputs comes back to itself, if it does. */
export function generatedLoop(table: Table, col: number, busy: number[] = []): string | undefined {
  if (busy.includes(col)) return table.cols[col]!.name;
  busy.push(col);
  try {
    for (const r of generatedRefs(table, col)) {
      const name = table.cols[r]!.generated ? generatedLoop(table, r, busy) : undefined;
      if (name !== undefined) return name;
    }
    return undefined;
  } finally { busy.pop(); }
}

/**
 * SQLite computes a generated column where a statement reads it, so a statement fails when one of
 * the columns it reads (`cols`) is caught in a loop: with the loop found from the first such one.
 */
export function checkGeneratedLoops(table: Table, cols: Iterable<number>): void {
  for (const i of cols) {
    const name = table.cols[i]?.generated ? generatedLoop(table, i) : undefined;
    if (name !== undefined) throw sqlError(`generated column loop on "${name}"`);
  }
}

/**
 * The order in which SQLite computes a table's generated columns: passes over the columns, each
 * computing those whose inputs are all available and putting off the rest, until a pass makes no
 * progress; then the last column put off is reported as a loop.
 */
export function generatedOrder(table: Table): number[] {
  const pending = new Set(table.cols.map((c, i) => (c.generated ? i : -1)).filter((i) => i >= 0));
  const order: number[] = [];
  while (pending.size > 0) {
    let redo = -1, progress = false;
    for (const i of [...pending]) {
      if (generatedRefs(table, i).some((r) => pending.has(r))) { redo = i; continue; }
      pending.delete(i);
      order.push(i);
      progress = true;
    }
    if (!progress) throw sqlError(`generated column loop on "${table.cols[redo]!.name}"`);
  }
  return order;
}

/** Quotes an identifier the way SQLite writes it into rewritten schema text. */
export function quoteId(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
