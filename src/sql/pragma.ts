/**
 * PRAGMA statements and their table-valued forms (pragma_table_info(...) and friends), answering
 * with SQLite's columns and row order, which Kysely's introspector relies on.
 */
import type { Schema, View } from './catalog.ts';
import type { Query } from './select.ts';
import { affinityOf, toText, utf8, type Affinity, type Value } from './value.ts';

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
};

/** Pragmas that answer one value from the session or the database header: their column is their name. */
export const VALUE_PRAGMAS = ['foreign_keys', 'defer_foreign_keys', 'user_version', 'schema_version'];

/** Pragmas that take a table or index name and, optionally, a schema name. */
const NAME_PRAGMAS = ['table_info', 'table_xinfo', 'index_list', 'index_info', 'index_xinfo', 'foreign_key_list'];

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

/** Rows of an introspection pragma; `viewQuery` compiles a view to learn its columns. */
export function pragmaRows(name: string, arg: Value, schema: Schema, viewQuery: (name: string) => Query | undefined): Value[][] {
  const a = arg === null || arg === undefined ? '' : toText(arg)!;
  switch (name) {
    case 'table_info':
    case 'table_xinfo': {
      const xinfo = name === 'table_xinfo';
      // The temp schema's table has the same columns as the main one.
      const t = schema.table(a) ?? (/^sqlite_(temp_)?(master|schema)$/i.test(a) ? schema.table('sqlite_schema') : undefined);
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
      const rows: Value[][] = ix.cols.map((c, i) => {
        const base: Value[] = [BigInt(i), c.col >= 0 ? BigInt(c.col) : -2n, c.col >= 0 ? t.cols[c.col]!.name : null];
        if (name === 'index_xinfo') base.push(c.desc ? 1n : 0n, c.coll, 1n);
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
      for (const i of hashOrder(names)) {
        const n = names[i]!;
        if (a && n.toLowerCase() !== a.toLowerCase()) continue;
        const t = i === 0 ? schema.table('sqlite_schema') : schema.table(n);
        const v = t ? undefined : schema.view(n);
        if (t) out.push(['main', i === 0 ? 'sqlite_schema' : t.name, 'table', BigInt(t.cols.length), 0n, t.strict ? 1n : 0n]);
        else if (v) out.push(['main', v.name, 'view', BigInt(viewColumnCount(v, viewQuery)), 0n, 0n]);
      }
      if (!a || a.toLowerCase() === 'sqlite_temp_master') out.push(['temp', 'sqlite_temp_schema', 'table', 5n, 0n, 0n]);
      return out;
    }
    case 'database_list': return [[0n, 'main', '']];
    case 'collation_list': return [[0n, 'RTRIM'], [1n, 'NOCASE'], [2n, 'BINARY']];
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
