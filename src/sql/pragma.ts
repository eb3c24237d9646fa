/**
 * PRAGMA statements and their table-valued forms (pragma_table_info(...) and friends), answering
 * with SQLite's columns and row order, which Kysely's introspector relies on.
 */
import type { Schema, View } from './catalog.ts';
import type { Query } from './select.ts';
import { affinityOf, toText, type Affinity, type Value } from './value.ts';

export const PRAGMA_COLUMNS: Record<string, string[]> = {
  table_info: ['cid', 'name', 'type', 'notnull', 'dflt_value', 'pk'],
  table_xinfo: ['cid', 'name', 'type', 'notnull', 'dflt_value', 'pk', 'hidden'],
  index_list: ['seq', 'name', 'unique', 'origin', 'partial'],
  index_info: ['seqno', 'cid', 'name'],
  index_xinfo: ['seqno', 'cid', 'name', 'desc', 'coll', 'key'],
  foreign_key_list: ['id', 'seq', 'table', 'from', 'to', 'on_update', 'on_delete', 'match'],
  table_list: ['schema', 'name', 'type', 'ncol', 'wr', 'strict'],
  database_list: ['seq', 'name', 'file'],
};

/** Rows of an introspection pragma; `viewQuery` compiles a view to learn its columns. */
export function pragmaRows(name: string, arg: Value, schema: Schema, viewQuery: (name: string) => Query | undefined): Value[][] {
  const a = arg === null || arg === undefined ? '' : toText(arg)!;
  switch (name) {
    case 'table_info':
    case 'table_xinfo': {
      const xinfo = name === 'table_xinfo';
      const t = schema.table(a) ?? (/^sqlite_(master|schema)$/i.test(a) ? schema.table('sqlite_schema') : undefined);
      if (t) {
        return t.cols.map((c, i) => {
          const r: Value[] = [BigInt(i), c.name, c.type, c.notNull ? 1n : 0n, c.dflt ? c.dflt.text : null, BigInt(c.pk)];
          if (xinfo) r.push(0n);
          return r;
        });
      }
      const v = schema.view(a);
      if (v) {
        const q = viewQuery(v.name);
        if (!q) return [];
        // SQLite answers from the view's column list even when the query gives another number of columns.
        if (v.cols && v.cols.length !== q.columns.length) return v.cols.map((c, i) => (xinfo ? [BigInt(i), c, '', 0n, null, 0n, 0n] : [BigInt(i), c, '', 0n, null, 0n]));
        return q.columns.map((c, i) => {
          const r: Value[] = [BigInt(i), v.cols ? v.cols[i]! : c, viewColumnType(q.declTypes[i] ?? '', q.aff[i] ?? null), 0n, null, 0n];
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
      const out: Value[][] = [];
      for (const t of schema.tables.values()) {
        if (a && t.name.toLowerCase() !== a.toLowerCase()) continue;
        out.push(['main', t.name === 'sqlite_schema' ? 'sqlite_schema' : t.name, 'table', BigInt(t.cols.length), 0n, t.strict ? 1n : 0n]);
      }
      for (const v of schema.views.values()) {
        if (a && v.name.toLowerCase() !== a.toLowerCase()) continue;
        out.push(['main', v.name, 'view', BigInt(viewColumnCount(v, viewQuery)), 0n, 0n]);
      }
      return out;
    }
    case 'database_list': return [[0n, 'main', '']];
    default: return [];
  }
}

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
