/**
 * PRAGMA statements and their table-valued forms (pragma_table_info(...) and friends), answering
 * with SQLite's columns and row order, which Kysely's introspector relies on.
 */
import type * as A from './ast.ts';
import type { Index, Schema, Table, View } from './catalog.ts';
import { indexKeyPrefix, prefixEnd } from './codec.ts';
import { parentLookup } from './dml.ts';
import { sqlError } from './errors.ts';
import type { Env } from './expr.ts';
import { tokenize, type Token } from './lexer.ts';
import { Parser } from './parser.ts';
import { indexEntry, scanRows, strictFits, tableRt } from './rows.ts';
import type { Query } from './select.ts';
import { affinityOf, checkCollation, toText, truth, utf8, type Affinity, type Value } from './value.ts';

export const PRAGMA_COLUMNS: Record<string, string[]> = {
  table_info: ['cid', 'name', 'type', 'notnull', 'dflt_value', 'pk'],
  table_xinfo: ['cid', 'name', 'type', 'notnull', 'dflt_value', 'pk', 'hidden'],
  index_list: ['seq', 'name', 'unique', 'origin', 'partial'],
  index_info: ['seqno', 'cid', 'name'],
  index_xinfo: ['seqno', 'cid', 'name', 'desc', 'coll', 'key'],
  foreign_key_list: ['id', 'seq', 'table', 'from', 'to', 'on_update', 'on_delete', 'match'],
  table_list: ['schema', 'name', 'type', 'ncol', 'wr', 'strict'],
  database_list: ['seq', 'name', 'file'],
  collation_list: ['seq', 'name'],
  foreign_key_check: ['table', 'rowid', 'parent', 'fkid'],
  integrity_check: ['integrity_check'],
  quick_check: ['quick_check'],
};

/** Pragmas that answer one value from the session or the database header: their column is their name. */
export const VALUE_PRAGMAS = ['foreign_keys', 'defer_foreign_keys', 'user_version', 'schema_version'];

/** Pragmas that take a table or index name and, optionally, a schema name. */
const NAME_PRAGMAS = ['table_info', 'table_xinfo', 'index_list', 'index_info', 'index_xinfo', 'foreign_key_list', 'foreign_key_check', 'integrity_check', 'quick_check'];

/** What a pragma reads: the schema, and the statement's environment (its transaction, for CHECKs). */
export interface PragmaHost {
  schema: Schema;
  env: Env;
  /** Compiles a view to learn its columns. */
  viewQuery(name: string): Query | undefined;
}

/**
 * The database a schema prefix or a pragma's schema argument names: `main` or `temp` (which holds
 * no user tables here); anything else fails, in the PRAGMA statement's or the table-valued form's
 * words.
 */
export function schemaName(v: Value, quoted: boolean): 'main' | 'temp' {
  if (v === null) return 'main';
  const n = toText(v)!;
  const l = n.toLowerCase();
  if (l === 'main' || l === 'temp') return l;
  throw sqlError(`unknown database ${quoted ? `'${n}'` : n}`);
}

/**
 * The columns of SQLite's eponymous virtual table for a pragma (pragma_<name>): its result
 * columns, then a hidden `arg` when it takes an argument and a hidden `schema` when it takes a
 * schema name, which hold the table-valued function's arguments.
 */
export function pragmaTable(name: string): { names: string[]; hidden: number } | undefined {
  const cols = PRAGMA_COLUMNS[name] ?? (VALUE_PRAGMAS.includes(name) ? [name] : undefined);
  if (!cols) return undefined;
  const hidden = NAME_PRAGMAS.includes(name) ? ['arg', 'schema'] : name === 'table_list' ? ['arg'] : [];
  return { names: [...cols, ...hidden], hidden: hidden.length };
}

/**
 * Rows of an introspection pragma. `args`: its argument and schema name as the table-valued form
 * takes them; `statement`: run as a PRAGMA statement, where an integer argument of integrity_check
 * is its error limit rather than a table name.
 */
export function pragmaRows(name: string, args: Value[], h: PragmaHost, statement: boolean): Value[][] {
  const arg = args[0] ?? null;
  const a = arg === null ? '' : toText(arg)!;
  const db = schemaName(args[1] ?? null, !statement);
  const schema = h.schema;
  const viewQuery = h.viewQuery;
  if (db === 'temp' && NAME_PRAGMAS.includes(name)) {
    // The temp schema is always empty: its checks pass, and it has no table to name.
    const check = name === 'integrity_check' || name === 'quick_check';
    const named = arg !== null && !(check && statement && typeof arg !== 'string');
    if (named && (check || name === 'foreign_key_check')) throw sqlError(`no such table: temp.${a}`);
    // Its own schema table, which it also calls sqlite_master, has the main one's columns.
    if (name.startsWith('table_') && /^sqlite_(temp_)?(master|schema)$/i.test(a)) return pragmaRows(name, ['sqlite_schema'], h, statement);
    return check ? [['ok']] : [];
  }
  switch (name) {
    case 'table_info':
    case 'table_xinfo': {
      const xinfo = name === 'table_xinfo';
      // The temp schema's table has the same columns as the main one; `main.` names only main's.
      const schemaTable = args[1] === undefined || args[1] === null ? /^sqlite_(temp_)?(master|schema)$/i : /^sqlite_(master|schema)$/i;
      const t = schema.table(a) ?? (schemaTable.test(a) ? schema.table('sqlite_schema') : undefined);
      if (t) {
        const out: Value[][] = [];
        for (const c of t.cols) {
          // SQLite hides generated columns from table_info (numbering the others without them);
          // table_xinfo marks them 2 (VIRTUAL) or 3 (STORED).
          const hidden = c.generated ? (c.generated.stored ? 3n : 2n) : 0n;
          if (hidden && !xinfo) continue;
          const r: Value[] = [BigInt(out.length), c.name, c.type, c.notNull ? 1n : 0n, c.dflt ? c.dflt.text : null, BigInt(c.pk)];
          if (xinfo) r.push(hidden);
          out.push(r);
        }
        return out;
      }
      const v = schema.view(a);
      if (v) {
        const q = viewQuery(v.name);
        if (!q) return [];
        // SQLite answers from the view's column list, untyped, even when the query gives another
        // number of columns.
        const listed = v.cols !== undefined && v.cols.length !== q.columns.length;
        return (listed ? v.cols! : q.tableColumns ?? q.columns).map((c, i) => {
          const r: Value[] = [BigInt(i), v.cols ? v.cols[i]! : c, listed ? '' : viewColumnType(q.declTypes[i] ?? '', q.aff[i] ?? null), 0n, null, 0n];
          if (xinfo) r.push(0n);
          return r;
        });
      }
      return [];
    }
    case 'index_list': {
      const t = schema.table(a);
      if (!t) return [];
      return t.indexes.slice().reverse().map((ix, i) => [BigInt(i), ix.name, ix.unique ? 1n : 0n, ix.origin, ix.where ? 1n : 0n]);
    }
    case 'index_info':
    case 'index_xinfo': {
      const ix = schema.index(a);
      if (!ix) return [];
      const t = schema.table(ix.table)!;
      const written = name === 'index_xinfo' ? writtenCollations(ix, t) : [];
      const rows: Value[][] = ix.cols.map((c, i) => {
        const base: Value[] = [BigInt(i), c.col >= 0 ? BigInt(c.col) : -2n, c.col >= 0 ? t.cols[c.col]!.name : null];
        if (name === 'index_xinfo') base.push(c.desc ? 1n : 0n, written[i] ?? c.coll, 1n);
        return base;
      });
      if (name === 'index_xinfo') rows.push([BigInt(ix.cols.length), -1n, null, 0n, 'BINARY', 0n]);
      return rows;
    }
    case 'foreign_key_list': {
      const t = schema.table(a);
      if (!t) return [];
      const out: Value[][] = [];
      // SQLite lists foreign keys newest first.
      t.fks.slice().reverse().forEach((fk, id) => {
        fk.cols.forEach((c, seq) => {
          out.push([BigInt(id), BigInt(seq), fk.table, c, fk.refCols ? fk.refCols[seq]! : null, fk.onUpdate, fk.onDelete, 'NONE']);
        });
      });
      return out;
    }
    case 'table_list': {
      // SQLite lists each database's tables and views from its hash table, in that table's order,
      // and matches the argument against the internal names sqlite_master and sqlite_temp_master.
      const names = ['sqlite_master', ...schema.loadOrder];
      const out: Value[][] = [];
      const all = args[1] === undefined || args[1] === null;
      for (const i of all || db === 'main' ? hashOrder(names) : []) {
        const n = names[i]!;
        if (a && n.toLowerCase() !== a.toLowerCase()) continue;
        const t = i === 0 ? schema.table('sqlite_schema') : schema.table(n);
        const v = t ? undefined : schema.view(n);
        if (t) out.push(['main', i === 0 ? 'sqlite_schema' : t.name, 'table', BigInt(t.cols.length), 0n, t.strict ? 1n : 0n]);
        else if (v) out.push(['main', v.name, 'view', BigInt(viewColumnCount(v, viewQuery)), 0n, 0n]);
      }
      if ((all || db === 'temp') && (!a || a.toLowerCase() === 'sqlite_temp_master')) out.push(['temp', 'sqlite_temp_schema', 'table', 5n, 0n, 0n]);
      return out;
    }
    case 'database_list': return [[0n, 'main', '']];
    case 'collation_list': return [[0n, 'RTRIM'], [1n, 'NOCASE'], [2n, 'BINARY']];
    case 'foreign_key_check': return foreignKeyCheck(h, checkedTables(schema, arg === null ? undefined : a));
    case 'integrity_check':
    case 'quick_check': {
      // A number in the statement form is the error limit (SQLite reads its integer part).
      const isLimit = statement && (typeof arg === 'bigint' || typeof arg === 'number');
      const limit = isLimit ? Math.trunc(Number(arg)) : 0;
      const tables = checkedTables(schema, arg === null || isLimit ? undefined : a);
      const errors = integrityCheck(h, tables, limit > 0 ? limit : INTEGRITY_MAX_ERRORS, name === 'quick_check');
      return errors.length ? errors.map((e) => [e]) : [['ok']];
    }
    default: return [];
  }
}

/**
 * The order SQLite's hash table (hash.c) keeps keys inserted in that order: each goes to the front
 * of its bucket's run of the element list, or of the whole list when it has no buckets yet; from
 * the fifth key on, the table grows to three buckets per key (at most 64) whenever the keys
 * outnumber twice its buckets, relinking every element in list order. Returns indexes of `keys`.
 */
function hashOrder(keys: string[]): number[] {
  const hash = (k: string): number => {
    let h = 0;
    // Case-insensitive: the bit that tells ASCII upper from lower case is left out.
    for (const b of utf8(k)) h = Math.imul((h + (b & 0xdf)) >>> 0, 0x9e3779b1) >>> 0;
    return h;
  };
  const hs = keys.map(hash);
  let list: number[] = [];
  let buckets: { count: number; chain: number }[] = [];
  const insert = (i: number): void => {
    const b = buckets.length ? buckets[hs[i]! % buckets.length]! : undefined;
    let at = 0;
    if (b) {
      if (b.count) at = list.indexOf(b.chain);
      b.count++;
      b.chain = i;
    }
    list.splice(at, 0, i);
  };
  keys.forEach((_, i) => {
    const count = i + 1;
    if (count >= 5 && count > 2 * buckets.length) {
      const size = Math.min(count * 3, HASH_MAX_BUCKETS);
      if (size !== buckets.length) {
        const old = list;
        list = [];
        buckets = Array.from({ length: size }, () => ({ count: 0, chain: -1 }));
        for (const j of old) insert(j);
      }
    }
    insert(i);
  });
  return list;
}

/** SQLite caps a hash table at SQLITE_MALLOC_SOFT_LIMIT (1024) bytes of 16-byte buckets. */
const HASH_MAX_BUCKETS = 64;

/** A view's column count: its column list's length, or 0 (as SQLite shows) when its query does not compile. */
function viewColumnCount(v: View, viewQuery: (name: string) => Query | undefined): number {
  try {
    const n = viewQuery(v.name)?.columns.length ?? 0;
    return v.cols?.length ?? n;
  } catch {
    return 0;
  }
}

/**
 * The type SQLite shows for a view column: the declared type of the column it reads when that
 * gives the column's affinity, else a standard name of the affinity (so an untyped column shows
 * BLOB and CAST(x AS TEXT) shows TEXT); an expression without affinity shows ''.
 */
function viewColumnType(declared: string, aff: Affinity | null): string {
  if (declared && aff === affinityOf(declared)) return declared;
  if (aff === null) return '';
  return aff === 'INTEGER' ? 'INT' : aff === 'NUMERIC' ? 'NUM' : aff;
}

/**
 * The tables a check pragma visits: the one named (none for a view, which holds no rows), or every
 * table in the order SQLite's checks visit them, its table hash's.
 */
function checkedTables(schema: Schema, name: string | undefined): Table[] {
  if (name !== undefined) {
    const t = schema.tableOrMaster(name);
    if (t) return [t];
    if (schema.view(name)) return [];
    throw sqlError(`no such table: ${name}`);
  }
  const names = ['sqlite_master', ...schema.loadOrder];
  return hashOrder(names).flatMap((i) => {
    const t = i === 0 ? undefined : schema.table(names[i]!);
    return t ? [t] : [];
  });
}

/**
 * The collation names index_xinfo shows: as the index or the column definition spells them, which
 * SQLite keeps. The catalog and the parser's COLLATE nodes hold only canonical names, so the
 * spellings come from the tokens after COLLATE in the definition's text: in the CREATE INDEX, or
 * for an automatic index in its table constraint's stretch of the CREATE TABLE. Undefined where
 * the default applies.
 */
function writtenCollations(ix: Index, t: Table): (string | undefined)[] {
  const def = new Parser(t.sql).statement().stmt as A.CreateTable;
  const colColl = (c: number): string | undefined => (c >= 0 && c < def.cols.length ? def.cols[c]!.collate : undefined);
  let cols: A.IndexedCol[] | undefined;
  let tokens: Token[] = [];
  if (ix.sql) {
    cols = (new Parser(ix.sql).statement().stmt as A.CreateIndex).cols;
    tokens = tokenize(ix.sql);
  } else {
    // An automatic index of a table constraint: the constraint over the same columns and collations.
    const same = (cs: A.IndexedCol[]): boolean => cs.length === ix.cols.length && cs.every((c, i) => {
      const ic = ix.cols[i]!;
      return ic.col >= 0 && c.e.k === 'col' && c.e.name.toLowerCase() === t.cols[ic.col]!.name.toLowerCase() && (c.coll ? checkCollation(c.coll) : t.cols[ic.col]!.collate) === ic.coll;
    });
    const k = ix.origin === 'pk' ? 'pk' : 'unique';
    const j = def.constraints.findIndex((c) => (c.k === 'pk' || c.k === 'unique') && c.k === k && same(c.cols));
    if (j >= 0) {
      cols = (def.constraints[j] as { cols: A.IndexedCol[] }).cols;
      const all = tokenize(t.sql);
      // Table constraints start right after a comma of the column list.
      const starts: number[] = [];
      let depth = 0;
      all.forEach((tk, i) => {
        if (tk.kind === 'op' && tk.text === '(') depth++;
        else if (tk.kind === 'op' && tk.text === ')') depth--;
        else if (depth === 1 && i > 0 && all[i - 1]!.text === ',' && all[i - 1]!.kind === 'op' && ['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN'].includes(tk.kw)) starts.push(i);
      });
      tokens = all.slice(starts[j], starts[j + 1]);
    }
  }
  const spelled = tokens.flatMap((tk, i) => (tk.kw === 'COLLATE' && tokens[i + 1] ? [tokens[i + 1]!.text] : []));
  let at = 0;
  return ix.cols.map((c, i) => {
    const canonical = cols?.[i]?.coll;
    if (canonical === undefined) return colColl(c.col);
    while (at < spelled.length && spelled[at]!.toUpperCase() !== canonical.toUpperCase()) at++;
    return spelled[at++] ?? canonical;
  });
}

/** SQLite's default limit on the errors integrity_check reports (SQLITE_INTEGRITY_CHECK_ERROR_MAX). */
const INTEGRITY_MAX_ERRORS = 100;

/**
 * What SQLite's integrity_check finds that our key space can get wrong, in its words and order: per
 * table, first (not for quick_check) each full index's entry count against the row count; then per
 * row, NOT NULL and STRICT types per column, the CHECK constraints, and (not for quick_check) the
 * row's entry in each index and UNIQUE. Like SQLite, it does not look for a partial index's surplus
 * entries. The page-level checks have nothing to check here.
 */
function integrityCheck(h: PragmaHost, tables: Table[], max: number, quick: boolean): string[] {
  const errors: string[] = [];
  const report = (e: string): boolean => errors.push(e) >= max;
  const count = (p: Uint8Array): number => {
    let n = 0;
    for (const _ of h.env.tx.scan({ gte: p, lt: prefixEnd(p) })) n++;
    return n;
  };
  for (const t of tables) {
    if (t.system) continue;
    const rt = tableRt(t);
    if (!quick) {
      const rows = count(t.prefix);
      for (const ix of t.indexes) if (!ix.where && count(ix.prefix) !== rows && report(`wrong # of entries in index ${ix.name}`)) return errors;
    }
    const seen = rt.indexes.map((ix) => (ix.index.unique ? new Set<string>() : undefined));
    for (const row of scanRows(h.env.tx, t, undefined, undefined, false)) {
      const rowid = row[t.cols.length] as bigint;
      for (let i = 0; i < t.cols.length; i++) {
        const c = t.cols[i]!;
        const v = row[i]!;
        if (v === null ? c.notNull && report(`NULL value in ${t.name}.${c.name}`)
          : t.strict && i !== t.rowidAlias && !strictFits(c.type, v) && report(`non-${c.type.toUpperCase()} value in ${t.name}.${c.name}`)) return errors;
      }
      const env: Env = { ...h.env, rows: [row], agg: null };
      if (rt.checks.some((ch) => truth(ch.e.fn(env)) === false) && report(`CHECK constraint failed in ${t.name}`)) return errors;
      if (quick) continue;
      for (let k = 0; k < rt.indexes.length; k++) {
        const ix = rt.indexes[k]!;
        const ent = indexEntry(ix, row, rowid, env);
        if (!ent) continue;
        if (h.env.tx.get(ent.key) === undefined && report(`row ${rowid} missing from index ${ix.index.name}`)) return errors;
        const s = seen[k];
        if (!s || ent.values.some((v) => v === null)) continue;
        const key = indexKeyPrefix(ix.index.prefix, ent.values, ix.colls, ix.descs).join();
        if (s.has(key) && report(`non-unique entry in index ${ix.index.name}`)) return errors;
        s.add(key);
      }
    }
  }
  return errors;
}

/**
 * SQLite's foreign_key_check: each child row whose key, all non-NULL, has no parent row, per table
 * in check order, per row by rowid, per key by foreign_key_list's id. A missing parent table has no
 * rows; a parent key that is neither its rowid nor a UNIQUE index's columns fails the pragma.
 */
function foreignKeyCheck(h: PragmaHost, tables: Table[]): Value[][] {
  const out: Value[][] = [];
  for (const t of tables) {
    const fks = t.fks.slice().reverse();
    if (fks.length === 0) continue;
    const keys = fks.map((fk) => fk.cols.map((c) => t.cols.findIndex((x) => x.name.toLowerCase() === c.toLowerCase())));
    const probes = fks.map((fk) => parentProbe(h, t, fk));
    for (const row of scanRows(h.env.tx, t, undefined, undefined, false)) {
      for (let id = 0; id < fks.length; id++) {
        const vals: Value[] = keys[id]!.map((c) => row[c < 0 ? t.cols.length : c]!);
        if (vals.includes(null) || probes[id]!(vals)) continue;
        out.push([t.name, row[t.cols.length]!, fks[id]!.table, BigInt(id)]);
      }
    }
  }
  return out;
}

/** Whether a parent row holds a child key (parentLookup); a missing parent table has no rows. */
function parentProbe(h: PragmaHost, child: Table, fk: A.ForeignKey): (vals: Value[]) => boolean {
  const p = h.schema.table(fk.table);
  if (!p) return () => false;
  const probe = parentLookup(p, fk);
  if (!probe) throw sqlError(`foreign key mismatch - "${child.name}" referencing "${p.name}"`);
  return (vals) => probe(h.env.tx, vals);
}
