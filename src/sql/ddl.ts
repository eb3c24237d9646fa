/**
 * Schema changes. The schema lives in the key space as rows of the schema table (rootpage 1), in
 * SQLite's sqlite_schema layout, and a schema cookie (bumped by every change) tells sessions when
 * their cached schema is stale. DDL runs inside the session's transaction like any write.
 */
import type * as A from './ast.ts';
import { SCHEMA_ROOT, Schema, autoIndexCount, buildIndex, buildTable, checkGeneratedLoops, generatedOrder, nodes, quoteId, schemaTable, type Table } from './catalog.ts';
import { SPACE_META, decodeRecord, encodeRecord, readRowid, rowKey, prefixEnd, treePrefix } from './codec.ts';
import { compileDelete, type DmlHost, type FkCounters } from './dml.ts';
import { constraintError, sqlError } from './errors.ts';
import type { Env } from './expr.ts';
import { AGGREGATES, SCALARS } from './functions.ts';
import { tokenize } from './lexer.ts';
import { Parser } from './parser.ts';
import { clearTree, computeGenerated, decodeRow, strictFits, encodeRow, indexEntry, insertRowRaw, maxRowid, scanRows, tableRt } from './rows.ts';
import type { QueryCompiler } from './select.ts';
import type { Tx } from './tx.ts';
import { applyAffinity, checkCollation, truth, type Affinity, type Value } from './value.ts';

const COOKIE_KEY = new Uint8Array([SPACE_META, 0x63]);
const USER_VERSION_KEY = new Uint8Array([SPACE_META, 0x75]);

export function readCookie(tx: Tx): number {
  const b = tx.get(COOKIE_KEY);
  return b ? Number(decodeRecord(b)[0] as bigint) : 0;
}

function bumpCookie(tx: Tx): void {
  tx.put(COOKIE_KEY, encodeRecord([BigInt(readCookie(tx) + 1)]));
}

export function readUserVersion(tx: Tx): bigint {
  const b = tx.get(USER_VERSION_KEY);
  return b ? (decodeRecord(b)[0] as bigint) : 0n;
}
export function writeUserVersion(tx: Tx, v: bigint): void {
  tx.put(USER_VERSION_KEY, encodeRecord([BigInt.asIntN(32, v)]));
}

function parseOne(sql: string): A.Stmt {
  const p = new Parser(sql);
  return p.statement().stmt;
}

/** Builds the schema from the schema table as seen by `tx`. */
export function loadSchema(tx: Tx, cookie: number): Schema {
  const schema = new Schema(cookie);
  const st = schemaTable();
  schema.tables.set('sqlite_schema', st);
  const rows = [...scanRows(tx, st, undefined, undefined, false)];
  const autoRoots = new Map<string, number[]>();
  for (const r of rows) {
    // A connection that creates sqlite_sequence (with the first AUTOINCREMENT table, whose row is
    // just before it) loads it before that table, and SQLite's PRAGMA table_list shows that order.
    if (r[0] === 'table' && String(r[1]).toLowerCase() === 'sqlite_sequence' && schema.loadOrder.length) schema.loadOrder.splice(-1, 0, String(r[1]));
    else if (r[0] === 'table' || r[0] === 'view') schema.loadOrder.push(String(r[1]));
    if (r[0] === 'index' && r[4] === null) {
      const t = String(r[2]).toLowerCase();
      if (!autoRoots.has(t)) autoRoots.set(t, []);
      autoRoots.get(t)!.push(Number(r[3]));
    }
  }
  for (const r of rows) {
    if (r[0] !== 'table') continue;
    const ct = parseOne(String(r[4])) as A.CreateTable;
    const t = buildTable(ct, Number(r[3]), autoRoots.get(String(r[1]).toLowerCase()) ?? []);
    if (t.name.toLowerCase() === 'sqlite_sequence') t.system = true;
    schema.tables.set(t.name.toLowerCase(), t);
    for (const ix of t.indexes) schema.indexes.set(ix.name.toLowerCase(), ix);
  }
  for (const r of rows) {
    if (r[0] === 'index' && r[4] !== null) {
      const ci = parseOne(String(r[4])) as A.CreateIndex;
      const t = schema.table(ci.table)!;
      const ix = buildIndex(ci, t, Number(r[3]));
      t.indexes.push(ix);
      schema.indexes.set(ix.name.toLowerCase(), ix);
    } else if (r[0] === 'view') {
      const cv = parseOne(String(r[4])) as A.CreateView;
      pinToMain(cv.select);
      schema.views.set(cv.name.toLowerCase(), { name: cv.name, cols: cv.cols, select: cv.select, sql: cv.sql });
    }
  }
  return schema;
}

/**
 * Qualifies a view's tables with `main`, as SQLite fixes a view to its database: a table missing
 * when the view is used is then reported as `main.<name>`. Names of the view's own common table
 * expressions stay bare, so they still resolve to those.
 */
function pinToMain(select: A.Select): void {
  const ctes = new Set<string>();
  for (const o of nodes(select)) if (o.type === 'select') for (const c of o.with as A.Cte[]) ctes.add(c.name.toLowerCase());
  for (const o of nodes(select)) {
    if (o.k === 'table' && 'indexed' in o && o.schema === undefined && !ctes.has(String(o.name).toLowerCase())) o.schema = 'main';
  }
}

export interface DdlContext {
  tx: Tx;
  schema: Schema;
  env: Env;
  qc: QueryCompiler;
  /** PRAGMA foreign_keys of the session; ALTER TABLE ADD COLUMN assumes on when it is not given. */
  foreignKeys?: boolean;
  /** The session's foreign key counters, which DROP TABLE's implicit DELETE counts into. */
  fkCounters: FkCounters;
}

function schemaRows(tx: Tx): { rowid: bigint; row: Value[] }[] {
  const st = schemaTable();
  const out: { rowid: bigint; row: Value[] }[] = [];
  for (const { key, value } of tx.scan({ gte: st.prefix, lt: prefixEnd(st.prefix) })) {
    const rowid = readRowid(key, st.prefix.length);
    out.push({ rowid, row: decodeRow(st, rowid, value) });
  }
  return out;
}

function addSchemaRow(tx: Tx, type: string, name: string, tbl: string, root: number, sql: string | null): void {
  const st = schemaTable();
  const rid = maxRowid(tx, st) + 1n;
  tx.put(rowKey(st.prefix, rid), encodeRow(st, [type, name, tbl, BigInt(root), sql, rid]));
}

function nameTaken(schema: Schema, name: string): void {
  const n = name.toLowerCase();
  if (schema.tables.has(n)) throw sqlError(`table ${name} already exists`);
  if (schema.views.has(n)) throw sqlError(`view ${name} already exists`);
  if (schema.indexes.has(n)) throw sqlError(`there is already an index named ${name}`);
}

function reserved(name: string): void {
  if (name.toLowerCase().startsWith('sqlite_')) throw sqlError(`object name reserved for internal use: ${name}`);
}

/** The name SQLite's messages give a table: the schema table is sqlite_master there. */
const messageName = (t: Table): string => (t.name === 'sqlite_schema' ? 'sqlite_master' : t.name);

const hasColumn = (t: Table, name: string): boolean => t.cols.some((c) => c.name.toLowerCase() === name.toLowerCase());

/** Where SQLite resolves an expression stored in the schema, as its messages name it. */
type SelfRef = 'index expressions' | 'partial index WHERE clauses' | 'CHECK constraints' | 'generated columns';

/** Date and time functions SQLite lets a schema expression call: they fail only when they read 'now'. */
const SLOW_CHANGING = new Set(['date', 'time', 'datetime', 'julianday', 'unixepoch', 'strftime']);

/**
 * SQLite's restrictions on an expression stored in the schema of `table`, reported as its name
 * resolver reports the first it meets: subqueries, parameters, non-deterministic functions (not
 * in CHECK), aggregates, qualified names (only the table's own, and not in index expressions or
 * generated columns) and unknown columns.
 */
function selfReference(e: A.Expr | undefined, table: Table, where: SelfRef): void {
  for (const o of nodes(e)) {
    if (o.k === 'subq' || o.k === 'exists' || (o.k === 'in' && o.select)) throw sqlError(`subqueries prohibited in ${where}`);
    if (o.k === 'param') throw sqlError(`parameters prohibited in ${where}`);
    if (o.k === 'fn') {
      const f = o as Extract<A.Expr, { k: 'fn' }>;
      const name = f.name.toLowerCase();
      const agg = AGGREGATES[name];
      if (agg && (f.star || agg.nargs.includes(f.args.length))) throw sqlError(`misuse of aggregate function ${f.name}()`);
      if (where !== 'CHECK constraints' && SCALARS[name]?.deterministic === false && !SLOW_CHANGING.has(name)) throw sqlError(`non-deterministic functions prohibited in ${where}`);
    }
    if (o.k !== 'col') continue;
    const c = o as Extract<A.Expr, { k: 'col' }>;
    if (c.table !== undefined && (where === 'index expressions' || where === 'generated columns')) throw sqlError(`the "." operator prohibited in ${where}`);
    const known = hasColumn(table, c.name) || (where !== 'index expressions' && where !== 'generated columns' && ['rowid', 'oid', '_rowid_'].includes(c.name.toLowerCase()));
    if ((c.table !== undefined && c.table.toLowerCase() !== table.name.toLowerCase()) || !known) throw sqlError(`no such column: ${c.table !== undefined ? `${c.table}.` : ''}${c.name}`);
  }
}

/**
 * Whether a DEFAULT is what SQLite accepts as constant: no column, parameter or subquery (any
 * function is allowed, even random()).
 */
function constantDefault(e: A.Expr): boolean {
  for (const o of nodes(e)) {
    if (o.k === 'col' || o.k === 'param' || o.k === 'subq' || o.k === 'exists' || (o.k === 'in' && o.select)) return false;
  }
  return true;
}

/** SQLite's STRICT column types, the only ones a STRICT table accepts. */
const STRICT_TYPES = new Set(['INT', 'INTEGER', 'REAL', 'TEXT', 'BLOB', 'ANY']);

/**
 * The checks SQLite makes when a CREATE TABLE ends, in its order: STRICT column types, then the
 * CHECK constraints and generated columns (the last failure among them is the one reported, as
 * SQLite's later messages replace earlier ones), unless no column is left that is not generated.
 */
function checkNewTable(ct: A.CreateTable, table: Table): void {
  if (ct.strict) {
    for (const c of ct.cols) {
      if (!c.type) throw sqlError(`missing datatype for ${ct.name}.${c.name}`);
      if (!STRICT_TYPES.has(c.type.toUpperCase())) throw sqlError(`unknown datatype for ${ct.name}.${c.name}: "${c.type}"`);
    }
  }
  let failure: unknown;
  try {
    for (const ch of table.checks) selfReference(ch.e, table, 'CHECK constraints');
  } catch (e) {
    failure = e;
  }
  for (const c of ct.cols) {
    if (!c.generated) continue;
    try { selfReference(c.generated.e, table, 'generated columns'); } catch (e) { failure = e; }
  }
  if (ct.cols.every((c) => c.generated)) throw sqlError('must have at least one non-generated column');
  if (failure) throw failure;
}

export function createTable(ct: A.CreateTable, cx: DdlContext): void {
  if (ct.temp) throw sqlError('TEMP tables are not supported yet; create a regular table (without TEMP) and drop it when done');
  const { tx, schema } = cx;
  if (schema.table(ct.name) || schema.view(ct.name)) {
    if (ct.ifNotExists) return;
    nameTaken(schema, ct.name);
  }
  if (schema.index(ct.name)) nameTaken(schema, ct.name);
  reserved(ct.name);
  let def = ct;
  let rows: Value[][] = [];
  if (ct.as) {
    const q = cx.qc.compileSelect(ct.as, undefined);
    q.run(cx.env, (r) => { rows.push(r); });
    const typeOf = (a: Affinity | null): string => (a === 'INTEGER' ? 'INT' : a === 'REAL' ? 'REAL' : a === 'TEXT' ? 'TEXT' : a === 'NUMERIC' ? 'NUM' : '');
    const cols = (q.tableColumns ?? q.columns).map((name, i) => {
      const t = typeOf(q.aff[i] ?? null);
      return `${quoteIdIfNeeded(name)}${t ? ` ${t}` : ''}`;
    });
    const sql = `CREATE TABLE ${quoteIdIfNeeded(ct.name)}(${cols.join(',')})`;
    def = parseOne(sql) as A.CreateTable;
  } else if (ct.cols.length === 0) throw sqlError('must have at least one non-generated column');
  // SQLite checks each DEFAULT as it parses the column, before the table's other checks.
  for (const c of def.cols) if (c.dflt && !constantDefault(c.dflt.e)) throw sqlError(`default value of column [${c.name}] is not constant`);
  let root = schema.maxRootpage() + 1;
  const nAuto = autoIndexCount(def);
  const table = buildTable(def, root, Array.from({ length: nAuto }, (_, i) => root + 1 + i));
  if (!ct.as) {
    checkNewTable(def, table);
    // SQLite refuses a loop among generated columns here; after ADD COLUMN it accepts one, and
    // reading the table fails instead (tableRt).
    generatedOrder(table);
  }
  addSchemaRow(tx, 'table', def.name, def.name, root, def.sql);
  for (const ix of table.indexes) addSchemaRow(tx, 'index', ix.name, def.name, ix.rootpage, null);
  root += 1 + nAuto;
  if (table.autoincrement && !schema.table('sqlite_sequence')) {
    addSchemaRow(tx, 'table', 'sqlite_sequence', 'sqlite_sequence', root, 'CREATE TABLE sqlite_sequence(name,seq)');
  }
  for (const r of rows) {
    const row = [...r.map((v, i) => applyAffinity(v, table.cols[i]!.affinity)), 0n];
    row[table.cols.length] = maxRowid(tx, table) + 1n;
    insertRowRaw(tx, table, row, cx.env);
  }
  bumpCookie(tx);
}

function quoteIdIfNeeded(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : quoteId(name);
}

export function createIndex(ci: A.CreateIndex, cx: DdlContext): void {
  const { tx, schema } = cx;
  if (schema.has(ci.name)) {
    if (ci.ifNotExists && schema.index(ci.name)) return;
    if (schema.index(ci.name)) throw sqlError(`index ${ci.name} already exists`);
    throw sqlError(`there is already a table named ${ci.name}`);
  }
  reserved(ci.name);
  const table = schema.tableOrMaster(ci.table);
  if (!table) throw sqlError(`no such table: main.${ci.table}`);
  if (table.system) throw sqlError(`table ${messageName(table)} may not be indexed`);
  selfReference(ci.where, table, 'partial index WHERE clauses');
  for (const ic of ci.cols) {
    if (ic.e.k === 'col' && ic.e.table === undefined && hasColumn(table, ic.e.name)) continue;
    // SQLite takes a string as a column name here, so one naming no column is an unknown column.
    if (ic.e.k === 'lit' && typeof ic.e.v === 'string') {
      if (!hasColumn(table, ic.e.v)) throw sqlError(`no such column: ${ic.e.v}`);
      continue;
    }
    selfReference(ic.e, table, 'index expressions');
  }
  if (tableRt(table).loop !== undefined) {
    // A generated column caught in a loop (ADD COLUMN allows one) fails where the index reads it.
    for (const e of [...ci.cols.map((ic) => ic.e), ci.where]) {
      for (const o of nodes(e)) {
        const name = o.k === 'col' ? (o as { name: string }).name : o === e && o.k === 'lit' && typeof o.v === 'string' ? o.v : undefined;
        if (name !== undefined) checkGeneratedLoops(table, [table.cols.findIndex((c) => c.name.toLowerCase() === name.toLowerCase())]);
      }
    }
  }
  const root = schema.maxRootpage() + 1;
  const ix = buildIndex(ci, table, root);
  // Build the entries (and check uniqueness) through a table copy that has only the new index.
  const probe: Table = { ...table, indexes: [ix] };
  const rt = tableRt(probe).indexes[0]!;
  const seen = new Set<string>();
  for (const row of scanRows(tx, table, undefined, undefined, false)) {
    const ent = indexEntry(rt, row, row[table.cols.length] as bigint, cx.env);
    if (!ent) continue;
    if (ix.unique && !ent.values.some((v) => v === null)) {
      const k = Array.from(ent.key.subarray(0, ent.key.length - 8)).join(',');
      if (seen.has(k)) {
        const names = ix.cols.some((c) => c.col < 0) ? `index '${ix.name}'` : ix.cols.map((c) => `${table.name}.${c.name}`).join(', ');
        throw constraintError('UNIQUE', `UNIQUE constraint failed: ${names}`);
      }
      seen.add(k);
    }
    tx.put(ent.key, encodeRecord(ent.values));
  }
  addSchemaRow(tx, 'index', ci.name, table.name, root, ci.sql);
  bumpCookie(tx);
}

export function createView(cv: A.CreateView, cx: DdlContext): void {
  if (cv.temp) throw sqlError('TEMP views are not supported yet; create a regular view (without TEMP) and drop it when done');
  const { tx, schema } = cx;
  if (schema.has(cv.name)) {
    if (cv.ifNotExists && (schema.view(cv.name) || schema.table(cv.name))) return;
    nameTaken(schema, cv.name);
  }
  reserved(cv.name);
  // Like SQLite, the query is not resolved here: a view may name tables and columns that do not
  // exist yet, and fails when it is used until they do.
  for (const o of nodes(cv.select)) if (o.k === 'param') throw sqlError('parameters are not allowed in views');
  addSchemaRow(tx, 'view', cv.name, cv.name, 0, cv.sql);
  bumpCookie(tx);
}

/**
 * Drops a table, index or view. A DROP TABLE that empties the table first (see fkDropTable)
 * returns that DELETE's counts, which set changes() and add to total_changes() as in SQLite; any
 * other DROP leaves them alone (undefined).
 */
export function drop(d: A.Drop, cx: DdlContext): { changes: number; actionChanges: number } | undefined {
  const { tx, schema } = cx;
  const n = d.name.toLowerCase();
  let counted: { changes: number; actionChanges: number } | undefined;
  if (d.what === 'TABLE') {
    if (/^sqlite_(master|schema|temp_master|temp_schema)$/i.test(d.name)) throw sqlError(`table ${/temp/i.test(d.name) ? 'sqlite_temp_master' : 'sqlite_master'} may not be dropped`);
    const t = schema.table(d.name);
    if (!t) {
      if (schema.view(d.name)) throw sqlError(`use DROP VIEW to delete view ${d.name}`);
      if (d.ifExists) return;
      throw sqlError(`no such table: ${d.name}`);
    }
    if (n === 'sqlite_sequence') throw sqlError('table sqlite_sequence may not be dropped');
    if (cx.foreignKeys) counted = fkDropTable(t, cx);
    clearTree(tx, t.prefix);
    for (const ix of t.indexes) clearTree(tx, ix.prefix);
    for (const { rowid, row } of schemaRows(tx)) {
      if (String(row[2]).toLowerCase() === n) tx.del(rowKey(schemaTable().prefix, rowid));
    }
    const seq = schema.table('sqlite_sequence');
    if (seq) {
      for (const r of [...scanRows(tx, seq, undefined, undefined, false)]) {
        if (String(r[0]).toLowerCase() === n) tx.del(rowKey(seq.prefix, r[2] as bigint));
      }
    }
  } else if (d.what === 'INDEX') {
    const ix = schema.index(d.name);
    if (!ix) {
      if (d.ifExists) return;
      throw sqlError(`no such index: ${d.name}`);
    }
    if (ix.origin !== 'c') throw sqlError('index associated with UNIQUE or PRIMARY KEY constraint cannot be dropped');
    clearTree(tx, ix.prefix);
    for (const { rowid, row } of schemaRows(tx)) {
      if (row[0] === 'index' && String(row[1]).toLowerCase() === n) tx.del(rowKey(schemaTable().prefix, rowid));
    }
  } else if (d.what === 'VIEW') {
    if (!schema.view(d.name)) {
      if (schema.table(d.name)) throw sqlError(`use DROP TABLE to delete table ${d.name}`);
      if (d.ifExists) return;
      throw sqlError(`no such view: ${d.name}`);
    }
    for (const { rowid, row } of schemaRows(tx)) {
      if (row[0] === 'view' && String(row[1]).toLowerCase() === n) tx.del(rowKey(schemaTable().prefix, rowid));
    }
  } else {
    if (d.ifExists) return;
    throw sqlError(`no such trigger: ${d.name}`);
  }
  bumpCookie(tx);
  return counted;
}

/**
 * With foreign keys on, SQLite may empty a table before dropping it with an implicit DELETE that runs
 * the foreign key actions (CASCADE, SET NULL, SET DEFAULT, RESTRICT) and counts violations as any
 * DELETE does; an immediate one fails the DROP, which then drops nothing. A table no foreign key
 * references is emptied only when one of its own keys is deferred and deferred violations are
 * outstanding, which removing its rows may resolve.
 */
function fkDropTable(t: Table, cx: DdlContext): { changes: number; actionChanges: number } | undefined {
  const counters = cx.fkCounters;
  const tables = [...cx.schema.tables.values()];
  const referenced = tables.some((c) => c.fks.some((fk) => fk.table.toLowerCase() === t.name.toLowerCase()));
  if (!referenced) {
    if (!t.fks.some((fk) => fk.deferred || counters.deferAll)) return undefined;
    // SQLite compiled the DELETE and skips it at run time: it still sets changes() to 0.
    if (counters.deferred + counters.deferredImm === 0) return { changes: 0, actionChanges: 0 };
  }
  const host: DmlHost = {
    foreignKeys: () => true,
    fkCounters: () => counters,
    setLastInsertRowid: () => {},
    table: (name) => cx.schema.table(name),
    allTables: () => tables,
    skipMismatched: true,
  };
  const del = compileDelete({ type: 'delete', with: [], table: t.name, alias: undefined, where: undefined, returning: undefined }, cx.qc, host);
  const env: Env = { ...cx.env, rows: new Array(Math.max(cx.qc.slotCount, cx.env.rows.length)).fill(null) };
  return del.run(env);
}

/** Replaces the first identifier equal to `from` (case-insensitively) after keyword `after` with `to`, quoted. */
function renameIdent(sql: string, from: string, to: string, after: string): string {
  let armed = false;
  for (const t of tokenize(sql)) {
    if (!armed) { armed = t.kind === 'id' && t.kw === after; continue; }
    if ((t.kind === 'id' || t.kind === 'str') && t.text.toLowerCase() === from.toLowerCase() && !['IF', 'NOT', 'EXISTS'].includes(t.kw)) {
      return sql.slice(0, t.start) + quoteId(to) + sql.slice(t.end);
    }
  }
  return sql;
}

/** Replaces every table name equal to `from` after REFERENCES with `to`, quoted (as SQLite does). */
function renameReferences(sql: string, from: string, to: string): string {
  const toks = tokenize(sql);
  let out = '';
  let last = 0;
  for (let i = 1; i < toks.length; i++) {
    const t = toks[i]!;
    if (toks[i - 1]!.kw !== 'REFERENCES' || (t.kind !== 'id' && t.kind !== 'str') || t.text.toLowerCase() !== from.toLowerCase()) continue;
    out += sql.slice(last, t.start) + quoteId(to);
    last = t.end;
  }
  return out + sql.slice(last);
}

/**
 * Rewrites a view's text for table `from` renamed to `to`, as SQLite does: the table where a FROM
 * clause or JOIN names it, and as the qualifier of column references (unless a view alias shadows
 * it). Tokens elsewhere (string literals, aliases, column names) stay.
 */
function renameTableInView(sql: string, from: string, to: string): string {
  const toks = tokenize(sql);
  const lfrom = from.toLowerCase();
  const aliased = toks.some((t, i) => toks[i - 1]?.kw === 'AS' && t.kind === 'id' && t.text.toLowerCase() === lfrom);
  // Whether the innermost open parenthesis (or the statement) is in a FROM clause's table list.
  const inFrom: boolean[] = [false];
  let out = '';
  let last = 0;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const prev = toks[i - 1], next = toks[i + 1];
    if (t.kind === 'op' && t.text === '(') { inFrom.push(false); continue; }
    if (t.kind === 'op' && t.text === ')') { inFrom.pop(); continue; }
    if (t.kw === 'FROM' || t.kw === 'JOIN') { inFrom[inFrom.length - 1] = true; continue; }
    if (['WHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'WINDOW', 'UNION', 'EXCEPT', 'INTERSECT', 'ON', 'USING', 'SELECT'].includes(t.kw)) {
      inFrom[inFrom.length - 1] = false;
      continue;
    }
    if (t.kind !== 'id' || t.text.toLowerCase() !== lfrom || prev?.kw === 'AS') continue;
    const named = inFrom[inFrom.length - 1] && (prev?.kw === 'FROM' || prev?.kw === 'JOIN' || (prev?.kind === 'op' && prev.text === ','));
    const qualifier = !aliased && next?.kind === 'op' && next.text === '.' && !(prev?.kind === 'op' && prev.text === '.');
    if (!named && !qualifier) continue;
    out += sql.slice(last, t.start) + quoteId(to);
    last = t.end;
  }
  return out + sql.slice(last);
}

/** Words that can follow a table name in a FROM clause without being its alias. */
const NOT_ALIASES = ['WHERE', 'JOIN', 'ON', 'USING', 'LEFT', 'RIGHT', 'FULL', 'INNER', 'OUTER', 'CROSS', 'NATURAL', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'WINDOW', 'UNION', 'EXCEPT', 'INTERSECT', 'INDEXED', 'NOT'];
const JOIN_WORDS = ['JOIN', 'LEFT', 'RIGHT', 'FULL', 'INNER', 'OUTER', 'CROSS', 'NATURAL'];
const CLAUSES = ['FROM', 'WHERE', 'GROUP', 'HAVING', 'WINDOW', 'ORDER', 'LIMIT'];
/** Words after which a name continues an expression rather than naming a result column. */
const EXPR_WORDS = ['SELECT', 'DISTINCT', 'ALL', 'NOT', 'IS', 'AND', 'OR', 'IN', 'LIKE', 'GLOB', 'MATCH', 'REGEXP', 'BETWEEN', 'ESCAPE', 'CASE', 'WHEN', 'THEN', 'ELSE', 'FROM', 'COLLATE'];

/** A FROM item of one SELECT: its columns when known (undefined for subqueries and views). */
interface ViewSource { name: string; target: boolean; cols: Set<string> | undefined }
interface ViewScope { sources: ViewSource[]; aliases: Set<string>; parent: ViewScope | undefined }

/**
 * Rewrites a view's text for column `from` of `table` renamed to `to`: the references that SQLite
 * resolves to that column, found by following the view's SELECTs (compound parts, subqueries,
 * common table expressions) and the tables each one reads, innermost first. The view's own column
 * list, aliases and USING lists stay. Like renameColumnSql, a bare reference gets the bare new name
 * unless that was written quoted.
 */
function renameColumnInView(sql: string, schema: Schema, table: string, from: string, to: string, toQuoted: boolean): string {
  const toks = tokenize(sql);
  const lfrom = from.toLowerCase(), ltable = table.toLowerCase();
  const close: number[] = [];
  const stack: number[] = [];
  toks.forEach((t, i) => {
    if (t.kind !== 'op') return;
    if (t.text === '(') stack.push(i);
    else if (t.text === ')' && stack.length) close[stack.pop()!] = i;
  });
  const isQuery = (i: number): boolean => ['SELECT', 'WITH', 'VALUES'].includes(toks[i]?.kw ?? '');
  const renamed: number[] = [];
  /** Result column aliases written without AS, which are names, not references. */
  const aliasAt = new Set<number>();
  const ctes: Map<string, Set<string> | undefined>[] = [];
  const cteCols = (name: string): Set<string> | undefined | false => {
    for (let k = ctes.length - 1; k >= 0; k--) if (ctes[k]!.has(name)) return ctes[k]!.get(name);
    return false;
  };

  /** Where a bare or qualified name resolves: true when to the renamed column. */
  const resolves = (scope: ViewScope, qual: string | undefined, ctx: 'order' | 'where' | 'cols'): boolean => {
    for (let s: ViewScope | undefined = scope; s; s = s.parent) {
      if (qual !== undefined) {
        const src = s.sources.find((x) => x.name === qual);
        if (src) return src.target;
        continue;
      }
      // ORDER BY prefers a result column alias, WHERE/GROUP BY/HAVING fall back on one.
      if (s === scope && ctx === 'order' && s.aliases.has(lfrom)) return false;
      if (s.sources.some((x) => x.target)) return true;
      if (s.sources.some((x) => !x.cols || x.cols.has(lfrom))) return false;
      if (s === scope && ctx !== 'cols' && s.aliases.has(lfrom)) return false;
    }
    return false;
  };

  /** Column references in tokens [s, e) of `scope`; subqueries open scopes of their own. */
  const refs = (s: number, e: number, scope: ViewScope, ctx: 'order' | 'where' | 'cols'): void => {
    for (let i = s; i < e; i++) {
      const t = toks[i]!;
      const prev = toks[i - 1], next = toks[i + 1];
      if (t.kind === 'op' && t.text === '(' && close[i] !== undefined) {
        if (isQuery(i + 1)) { query(i + 1, close[i]!, scope); i = close[i]!; }
        continue;
      }
      if (t.kind !== 'id' || t.text.toLowerCase() !== lfrom || aliasAt.has(i)) continue;
      if (prev?.kw === 'AS' || prev?.kw === 'COLLATE') continue;
      if (next?.kind === 'op' && (next.text === '(' || next.text === '.')) continue;
      const qualified = prev?.kind === 'op' && prev.text === '.';
      if (resolves(scope, qualified ? toks[i - 2]?.text.toLowerCase() : undefined, ctx)) renamed.push(i);
    }
  };

  /** The index of the first token in [s, e) at this parenthesis level that `pred` accepts, or e. */
  const find = (s: number, e: number, pred: (i: number) => boolean): number => {
    for (let i = s; i < e; i++) {
      if (toks[i]!.kind === 'op' && toks[i]!.text === '(' && close[i] !== undefined) { i = close[i]!; continue; }
      if (pred(i)) return i;
    }
    return e;
  };

  /** A SELECT statement in tokens [s, e): its WITH clause, then its compound parts. */
  const query = (s: number, e: number, parent: ViewScope | undefined): void => {
    const own = new Map<string, Set<string> | undefined>();
    ctes.push(own);
    let i = s;
    if (toks[i]?.kw === 'WITH') {
      i++;
      if (toks[i]?.kw === 'RECURSIVE') i++;
      while (i < e) {
        const name = toks[i++]!.text.toLowerCase();
        let cols: Set<string> | undefined;
        if (toks[i]?.text === '(' && close[i] !== undefined) {
          cols = new Set(toks.slice(i + 1, close[i]).filter((x) => x.kind === 'id').map((x) => x.text.toLowerCase()));
          i = close[i]! + 1;
        }
        while (i < e && !(toks[i]!.kind === 'op' && toks[i]!.text === '(')) i++;
        if (i >= e || close[i] === undefined) break;
        query(i + 1, close[i]!, parent);
        own.set(name, cols);
        i = close[i]! + 1;
        if (toks[i]?.text !== ',') break;
        i++;
      }
    }
    while (i < e) {
      const end = find(i, e, (k) => ['UNION', 'EXCEPT', 'INTERSECT'].includes(toks[k]!.kw));
      core(i, end, parent);
      i = end + 1;
      if (toks[i]?.kw === 'ALL') i++;
    }
    ctes.pop();
  };

  /** One SELECT (or VALUES) in tokens [s, e). */
  const core = (s: number, e: number, parent: ViewScope | undefined): void => {
    const scope: ViewScope = { sources: [], aliases: new Set(), parent };
    if (toks[s]?.kw !== 'SELECT') { refs(s, e, scope, 'cols'); return; }
    const clause = (i: number): boolean => CLAUSES.includes(toks[i]!.kw) && !(toks[i]!.kw === 'FROM' && toks[i - 1]?.kw === 'DISTINCT');
    const colsEnd = find(s + 1, e, clause);
    // Result column aliases: after AS, or a name right after an expression.
    for (let i = find(s + 1, colsEnd, () => true); i < colsEnd; i = find(i + 1, colsEnd, () => true)) {
      const t = toks[i]!, prev = toks[i - 1]!, next = toks[i + 1];
      const ends = next === undefined || i + 1 >= colsEnd || next.text === ',';
      if (t.kind !== 'id' || !ends) continue;
      if (prev.kw === 'AS' || prev.kind === 'num' || prev.kind === 'str' || (prev.kind === 'op' && prev.text === ')') || (prev.kind === 'id' && !EXPR_WORDS.includes(prev.kw))) {
        scope.aliases.add(t.text.toLowerCase());
        aliasAt.add(i);
      }
    }
    const exprs: [number, number, 'order' | 'where' | 'cols'][] = [[s + 1, colsEnd, 'cols']];
    let i = colsEnd;
    if (toks[i]?.kw === 'FROM') {
      const fromEnd = find(i + 1, e, (k) => clause(k) && toks[k]!.kw !== 'FROM');
      i++;
      while (i < fromEnd) {
        const t = toks[i]!;
        if (JOIN_WORDS.includes(t.kw) || t.text === ',') { i++; continue; }
        if (t.kw === 'ON') {
          const end = find(i + 1, fromEnd, (k) => JOIN_WORDS.includes(toks[k]!.kw) || toks[k]!.text === ',');
          exprs.push([i + 1, end, 'where']);
          i = end;
          continue;
        }
        if (t.kw === 'USING' && close[i + 1] !== undefined) { i = close[i + 1]! + 1; continue; }
        let name: string;
        let cols: Set<string> | undefined;
        let target = false;
        if (t.kind === 'op' && t.text === '(' && close[i] !== undefined) {
          if (isQuery(i + 1)) query(i + 1, close[i]!, parent);
          name = '';
          i = close[i]! + 1;
        } else {
          if (toks[i + 1]?.text === '.') i += 2;
          name = toks[i]!.text.toLowerCase();
          i++;
          if (toks[i]?.text === '(' && close[i] !== undefined) {
            exprs.push([i + 1, close[i]!, 'where']);
            i = close[i]! + 1;
          } else {
            const cte = cteCols(name);
            const tbl = cte === false ? schema.table(name) : undefined;
            cols = cte === false ? (tbl ? new Set(tbl.cols.map((c) => c.name.toLowerCase())) : undefined) : cte;
            target = cte === false && name === ltable;
          }
        }
        if (toks[i]?.kw === 'AS') i++;
        const alias = toks[i];
        if (alias && i < fromEnd && (alias.kind === 'id' || alias.kind === 'str') && !NOT_ALIASES.includes(alias.kw)) { name = alias.text.toLowerCase(); i++; }
        if (toks[i]?.kw === 'INDEXED') i += 3;
        else if (toks[i]?.kw === 'NOT' && toks[i + 1]?.kw === 'INDEXED') i += 2;
        scope.sources.push({ name, target, cols });
      }
    }
    // WHERE, GROUP BY, HAVING, WINDOW, ORDER BY, LIMIT: each up to the next clause.
    while (i < e) {
      const end = find(i + 1, e, clause);
      exprs.push([i + 1, end, toks[i]!.kw === 'ORDER' ? 'order' : 'where']);
      i = end;
    }
    for (const [a, b, ctx] of exprs) refs(a, b, scope, ctx);
  };

  // The view's own column list, before the first AS, names the view's columns, not the table's.
  query(toks.findIndex((t) => t.kw === 'AS') + 1, toks.length - 1, undefined);
  let out = '';
  let last = 0;
  for (const i of renamed.sort((a, b) => a - b)) {
    const t = toks[i]!;
    out += sql.slice(last, t.start) + (!toQuoted && t.kw !== '' ? to : quoteId(to));
    last = t.end;
  }
  return out + sql.slice(last);
}

/**
 * Rewrites the schema text of `table` or one of its indexes for a column renamed from `from` to
 * `to`, replacing only the tokens SQLite's parser would resolve to that column: column definition
 * names, names in key lists (and in REFERENCES lists that point back at `table`), and column
 * references in expressions. String literals, function and collation names, constraint names,
 * type names and other tables' columns stay. Like SQLite, a reference written bare gets the bare
 * new name unless the new name was written quoted; a quoted one gets it double-quoted.
 * `own` is false for another table's CREATE TABLE: there only its REFERENCES `table` lists change.
 */
function renameColumnSql(sql: string, table: string, from: string, to: string, toQuoted: boolean, own = true): string {
  const toks = tokenize(sql);
  const lfrom = from.toLowerCase(), ltable = table.toLowerCase();
  const quoted = quoteId(to);
  /**
   * What each open parenthesis holds: 'table' is a CREATE TABLE body (only the first token of an
   * element is a column name), 'keys' a list of this table's column names, 'index' an index's
   * column list (expressions), 'expr' an expression, 'other' another table's column names.
   */
  const open: ('table' | 'keys' | 'index' | 'expr' | 'other')[] = [];
  let started = false;
  let out = '';
  let last = 0;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const prev = toks[i - 1], next = toks[i + 1];
    if (t.kind === 'op' && t.text === '(') {
      const outer = open[open.length - 1];
      let kind: (typeof open)[number];
      if (prev?.kind === 'id' && toks[i - 2]?.kw === 'REFERENCES') kind = prev.text.toLowerCase() === ltable ? 'keys' : 'other';
      else if (!own || outer === 'other') kind = 'other';
      else if (!started) kind = /^\s*CREATE\s+TABLE/i.test(sql) ? 'table' : 'index';
      else if (outer === 'table' && (prev?.kw === 'KEY' || prev?.kw === 'UNIQUE')) kind = 'keys';
      else kind = 'expr';
      started = true;
      open.push(kind);
      continue;
    }
    if (t.kind === 'op' && t.text === ')') { open.pop(); continue; }
    if (!started || (t.kind !== 'id' && t.kind !== 'str') || t.text.toLowerCase() !== lfrom) continue;
    const ctx = open[open.length - 1] ?? 'expr';
    if (ctx === 'other') continue;
    const first = prev?.kind === 'op' && (prev.text === '(' || prev.text === ',');
    if (t.kind === 'str' || ctx === 'table') {
      // A string names a column only where a name stands alone (SQLite converts it to one there).
      if (!first || (t.kind === 'str' && ctx === 'expr')) continue;
    } else {
      if (prev?.kw === 'COLLATE' || prev?.kw === 'CONSTRAINT') continue;
      if (next?.kind === 'op' && (next.text === '(' || next.text === '.')) continue;
      if (prev?.kind === 'op' && prev.text === '.' && toks[i - 2]?.text.toLowerCase() !== ltable) continue;
    }
    const bare = !toQuoted && t.kind === 'id' && t.kw !== '';
    // Like SQLite, keep a space between the closing quote and a quote that follows it.
    out += sql.slice(last, t.start) + (bare ? to : sql[t.end] === '"' ? `${quoted} ` : quoted);
    last = t.end;
  }
  return out + sql.slice(last);
}

/**
 * Where ALTER TABLE ADD COLUMN inserts `, <definition>` into a CREATE TABLE text: at the comma
 * that opens the table constraints, or else at the parenthesis that closes the body (as SQLite does).
 */
function addColumnOffset(sql: string): number {
  const ct = parseOne(sql) as A.CreateTable;
  const end = ct.cols[ct.cols.length - 1]!.span![1];
  let depth = 0;
  for (const t of tokenize(sql.slice(end))) {
    if (t.kind !== 'op') continue;
    if (t.text === '(') depth++;
    else if (t.text === ')' && depth-- === 0) return end + t.start;
    else if (t.text === ',' && depth === 0) return end + t.start;
  }
  return sql.lastIndexOf(')');
}

/**
 * Whether a DEFAULT is a value SQLite can store for existing rows without evaluating anything: a
 * literal, possibly signed, cast or parenthesised (SQLite's sqlite3ValueFromExpr).
 */
function storableConstant(e: A.Expr): boolean {
  if (e.k === 'lit') return true;
  if (e.k === 'unary') return (e.op === '-' || e.op === '+') && storableConstant(e.e);
  if (e.k === 'cast') return storableConstant(e.e);
  return false;
}

/** The names of the columns an AST node (an expression, constraint or definition) refers to. */
function columnRefs(node: unknown): Set<string> {
  const out = new Set<string>();
  for (const o of nodes(node)) if (o.k === 'col' && typeof o.name === 'string') out.add(o.name.toLowerCase());
  return out;
}

/**
 * Compiles every view, reporting the first that fails the way SQLite's ALTER TABLE does (`when`
 * says which step broke it). With `written`, against the schema as the statement has rewritten it.
 */
function checkViews(cx: DdlContext, when: string, written = false): void {
  const { schema } = cx;
  if (!written) {
    for (const v of schema.views.values()) checkView(cx, v.name, v.select, when);
    return;
  }
  // The statement's compiler reads cx.schema, so lend it the rewritten schema's contents.
  const fresh = loadSchema(cx.tx, schema.cookie);
  const saved = [new Map(schema.tables), new Map(schema.indexes), new Map(schema.views)] as const;
  const lend = <K, V>(to: Map<K, V>, from: Map<K, V>): void => { to.clear(); for (const [k, v] of from) to.set(k, v); };
  lend(schema.tables, fresh.tables); lend(schema.indexes, fresh.indexes); lend(schema.views, fresh.views);
  try {
    for (const v of schema.views.values()) checkView(cx, v.name, v.select, when);
  } finally {
    lend(schema.tables, saved[0]); lend(schema.indexes, saved[1]); lend(schema.views, saved[2]);
  }
}

function checkView(cx: DdlContext, name: string, select: A.Select, when: string): void {
  try {
    cx.qc.compileSelect(select, undefined);
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    const msg = e.message.replace(/^no such table: (?!main\.)/, 'no such table: main.');
    throw sqlError(`error in view ${name}${when}: ${msg}`);
  }
}

export function alter(a: A.Alter, cx: DdlContext): void {
  const { tx, schema } = cx;
  const t = schema.tableOrMaster(a.table);
  // SQLite's checks, in its order for each form of ALTER TABLE.
  const clash = (): void => {
    if (a.op === 'rename' && schema.has(a.to)) throw sqlError(`there is already another table or index with this name: ${a.to}`);
  };
  if (!t) {
    const v = schema.view(a.table);
    if (!v) throw sqlError(`no such table: ${a.table}`);
    if (a.op === 'addColumn') throw sqlError('Cannot add a column to a view');
    clash();
    if (/^sqlite_/i.test(v.name)) throw sqlError(`table ${v.name} may not be altered`);
    if (a.op === 'rename') { reserved(a.to); throw sqlError(`view ${v.name} may not be altered`); }
    throw sqlError(`cannot ${a.op === 'renameColumn' ? 'rename columns of' : 'drop column from'} view "${v.name}"`);
  }
  clash();
  if (t.system || /^sqlite_/i.test(t.name)) throw sqlError(`table ${messageName(t)} may not be altered`);
  const st = schemaTable();
  const rows = schemaRows(tx);
  const lname = t.name.toLowerCase();
  const tableRow = rows.find(({ row }) => row[0] === 'table' && String(row[1]).toLowerCase() === lname)!;
  const put = (rowid: bigint, row: Value[]): void => { tx.put(rowKey(st.prefix, rowid), encodeRow(st, [...row.slice(0, 5), rowid])); };
  switch (a.op) {
    case 'rename': {
      reserved(a.to);
      checkViews(cx, '');
      for (const { rowid, row } of rows) {
        if (String(row[2]).toLowerCase() !== lname) {
          if (row[0] === 'view') {
            const sql = renameTableInView(String(row[4]), t.name, a.to);
            if (sql !== row[4]) put(rowid, [row[0]!, row[1]!, row[2]!, row[3]!, sql]);
            continue;
          }
          // Foreign keys in other tables follow the parent to its new name, as in SQLite.
          if (row[0] !== 'table' || row[4] === null) continue;
          const sql = renameReferences(String(row[4]), t.name, a.to);
          if (sql !== row[4]) put(rowid, [row[0]!, row[1]!, row[2]!, row[3]!, sql]);
          continue;
        }
        if (row[0] === 'table') put(rowid, ['table', a.to, a.to, row[3]!, renameReferences(renameIdent(String(row[4]), t.name, a.to, 'TABLE'), t.name, a.to)]);
        else if (row[4] === null) put(rowid, ['index', String(row[1]).replace(/^sqlite_autoindex_.*_(\d+)$/, `sqlite_autoindex_${a.to}_$1`), a.to, row[3]!, null]);
        else put(rowid, ['index', row[1]!, a.to, row[3]!, renameIdent(String(row[4]), t.name, a.to, 'ON')]);
      }
      const seq = schema.table('sqlite_sequence');
      if (seq) {
        for (const r of [...scanRows(tx, seq, undefined, undefined, false)]) {
          if (String(r[0]).toLowerCase() === lname) tx.put(rowKey(seq.prefix, r[2] as bigint), encodeRecord([a.to, r[1]!]));
        }
      }
      checkViews(cx, ' after rename', true);
      break;
    }
    case 'renameColumn': {
      const i = t.cols.findIndex((c) => c.name.toLowerCase() === a.from.toLowerCase());
      if (i < 0) throw sqlError(`no such column: "${a.from}"`);
      // SQLite finds the clash when it parses the rewritten table, at the later of the two columns.
      const j = t.cols.findIndex((c) => c.name.toLowerCase() === a.to.toLowerCase());
      if (j >= 0 && j !== i) throw sqlError(`error in table ${t.name} after rename: duplicate column name: ${j > i ? t.cols[j]!.name : a.to}`);
      checkViews(cx, '');
      for (const { rowid, row } of rows) {
        if (row[4] === null) continue;
        if (String(row[2]).toLowerCase() === lname) {
          put(rowid, [row[0]!, row[1]!, row[2]!, row[3]!, renameColumnSql(String(row[4]), t.name, a.from, a.to, a.toQuoted)]);
        } else if (row[0] === 'table' || row[0] === 'view') {
          // Foreign keys and views that name the column in other tables follow it, as in SQLite.
          const sql = row[0] === 'view'
            ? renameColumnInView(String(row[4]), schema, t.name, a.from, a.to, a.toQuoted)
            : renameColumnSql(String(row[4]), t.name, a.from, a.to, a.toQuoted, false);
          if (sql !== row[4]) put(rowid, [row[0]!, row[1]!, row[2]!, row[3]!, sql]);
        }
      }
      checkViews(cx, ' after rename', true);
      break;
    }
    case 'addColumn': {
      const c = a.col;
      // SQLite checks the name, collation and default as it parses the definition, before the rest.
      if (hasColumn(t, c.name)) throw sqlError(`duplicate column name: ${c.name}`);
      if (c.collate) checkCollation(c.collate);
      if (c.dflt && !constantDefault(c.dflt.e)) throw sqlError(`default value of column [${c.name}] is not constant`);
      if (c.pk) throw sqlError('Cannot add a PRIMARY KEY column');
      if (c.unique.length) throw sqlError('Cannot add a UNIQUE column');
      // SQLite refuses these only when existing rows would get the column, and in this order.
      const hasRows = !scanRows(tx, t, undefined, undefined, false).next().done;
      const dflt = c.dflt && !(c.dflt.e.k === 'lit' && c.dflt.e.v === null) ? c.dflt.e : undefined;
      if (hasRows && !c.generated) {
        if (cx.foreignKeys !== false && c.fk && dflt) throw sqlError('Cannot add a REFERENCES column with non-NULL default value');
        if (c.notNull && !dflt) throw sqlError('Cannot add a NOT NULL column with default value NULL');
        if (dflt && !storableConstant(dflt)) throw sqlError('Cannot add a column with non-constant default');
      } else if (hasRows && c.generated?.stored) throw sqlError('cannot add a STORED column');
      const sql = String(tableRow.row[4]);
      const at = addColumnOffset(sql);
      const added = `${sql.slice(0, at)}, ${a.text}${sql.slice(at)}`;
      const def = parseOne(added) as A.CreateTable;
      const nt = buildTable(def, t.rootpage, t.indexes.filter((ix) => ix.origin !== 'c').map((ix) => ix.rootpage));
      // SQLite then reloads the table, and reports what fails there as the schema's error.
      try {
        checkNewTable(def, nt);
      } catch (e) {
        if (e instanceof Error) throw sqlError(`error in table ${t.name} after add column: ${e.message}`);
        throw e;
      }
      if (hasRows && (nt.checks.length > 0 || (c.notNull && c.generated) || t.strict)) {
        // Existing rows must pass the table's constraints with the new column's value, in the
        // order SQLite's quick_check reports a row's problems: NOT NULL, the STRICT type, CHECK.
        const rt = tableRt(nt);
        const n = t.cols.length;
        const col = nt.cols[n]!;
        const value = rt.addedDefaults[n]!;
        for (const r of scanRows(tx, t, undefined, undefined, false)) {
          const row = [...r.slice(0, n), value, r[n]!];
          if (c.generated) computeGenerated(nt, row, cx.env, n);
          const v = row[n]!;
          const fits = !t.strict || v === null || strictFits(col.type, v);
          // A generated value fails as SQLite computes it, with the bare message of its code.
          if (!fits && c.generated) throw constraintError('DATATYPE', 'constraint failed');
          // SQLite reports these as a schema error (SQLITE_ERROR), not a constraint failure of a write.
          if (v === null && col.notNull) throw sqlError('NOT NULL constraint failed');
          if (!fits) throw sqlError('type mismatch on DEFAULT');
          const e: Env = { ...cx.env, rows: [row], agg: null };
          if (rt.checks.some((ch) => truth(ch.e.fn(e)) === false)) throw sqlError('CHECK constraint failed');
        }
      }
      put(tableRow.rowid, [...tableRow.row.slice(0, 4), added]);
      break;
    }
    case 'dropColumn': {
      const i = t.cols.findIndex((c) => c.name.toLowerCase() === a.col.toLowerCase());
      if (i < 0) throw sqlError(`no such column: "${a.col}"`);
      const col = t.cols[i]!;
      const sql = String(tableRow.row[4]);
      const ct = parseOne(sql) as A.CreateTable;
      const def = ct.cols[i]!;
      if (col.pk) throw sqlError(`cannot drop PRIMARY KEY column: "${col.name}"`);
      // Only a column UNIQUE constraint refuses this way; a table one fails the schema check below.
      if (def.unique.length) throw sqlError(`cannot drop UNIQUE column: "${col.name}"`);
      if (t.cols.length === 1) throw sqlError(`cannot drop column "${col.name}": no other columns exist`);
      checkViews(cx, '');
      const lcol = col.name.toLowerCase();
      const [s, e] = def.span!;
      // Remove the definition and the comma that separates it from its neighbour.
      let from = s, to = e;
      const before = sql.lastIndexOf(',', s);
      if (i > 0 && before >= 0) from = before;
      else { const after = sql.indexOf(',', e); if (after >= 0) to = after + 1; }
      let cut = sql.slice(0, from) + sql.slice(to);
      if (i === 0) cut = cut.replace(/\(\s+/, '(');
      // Like SQLite, refuse when what remains of the schema still names the column.
      const rest = parseOne(cut) as A.CreateTable;
      const fk = rest.constraints.find((c) => c.k === 'fk' && c.fk.cols.some((n) => n.toLowerCase() === lcol));
      if (fk) throw sqlError(`error in table ${t.name} after drop column: unknown column "${col.name}" in foreign key definition`);
      if (columnRefs([rest.cols, rest.constraints]).has(lcol)) throw sqlError(`error in table ${t.name} after drop column: no such column: ${col.name}`);
      const used = t.indexes.find((ix) => ix.origin === 'c' && (ix.cols.some((c) => c.col === i) || columnRefs([ix.cols, ix.where]).has(lcol)));
      if (used) throw sqlError(`error in index ${used.name} after drop column: no such column: ${col.name}`);
      put(tableRow.rowid, [...tableRow.row.slice(0, 4), cut]);
      checkViews(cx, ' after drop column', true);
      // Rewrite every row without the column.
      const rewritten: { key: Uint8Array; rec: Uint8Array }[] = [];
      for (const r of scanRows(tx, t, undefined, undefined, false)) {
        const vals = r.slice(0, t.cols.length);
        if (t.rowidAlias >= 0) vals[t.rowidAlias] = null;
        vals.splice(i, 1);
        rewritten.push({ key: rowKey(t.prefix, r[t.cols.length] as bigint), rec: encodeRecord(vals) });
      }
      for (const x of rewritten) tx.put(x.key, x.rec);
      break;
    }
  }
  bumpCookie(tx);
}

export { SCHEMA_ROOT, treePrefix };
export type { Table };
