/**
 * Query compiler and planner: SELECT (and the FROM/WHERE machinery DML reuses) compiled to nested
 * loops over access paths. The planner picks, per table, a rowid lookup or range, an index
 * equality/range search, an index-ordered scan that makes ORDER BY free, or a full scan; and it
 * reads only the index when the index holds every column the query needs (covering).
 */
import type * as A from './ast.ts';
import { checkGeneratedLoops, type Index, type IndexColumn, type Schema, type Table, type View } from './catalog.ts';
import { KEY_NULL, ByteWriter, decodeRecord, groupKey, prefixEnd, readRowid, rowKey, writeKeyValue } from './codec.ts';
import { sqlError } from './errors.ts';
import { compareBytes } from '../storage/kv.ts';
import {
  ExprCompiler, Scope, comparisonAffinity, comparisonCollation, makeAccumulators, stepAccumulators,
  type AggCall, type CExpr, type Env, type Source, type SubqueryHost,
} from './expr.ts';
import { MinMaxAcc, SCALARS } from './functions.ts';
import { MAX_VIEW_DEPTH } from './limits.ts';
import { decodeRow, scanRows, tableRt, tableSource } from './rows.ts';
import {
  INT64_MAX, INT64_MIN, affinityOf, applyAffinity, compareValues, realToInt64, toInteger, truth,
  type Affinity, type Collation, type Value,
} from './value.ts';

export interface PlanRow { id: number; parent: number; detail: string }

export interface Query {
  columns: string[];
  aff: (Affinity | null)[];
  colls: (Collation | null)[];
  /** Declared types of result columns that are plain table columns (PRAGMA table_info of views). */
  declTypes: string[];
  /**
   * The column names of this query as a FROM subquery or CTE, when they differ from `columns`;
   * SQLite takes them from the unresolved result expressions (see sourceNames).
   */
  srcColumns?: string[];
  /**
   * The column names of a view (or CREATE TABLE AS table) made from this query, when they differ
   * from `columns`; SQLite takes them from the resolved expressions, so a rowid is named after its
   * INTEGER PRIMARY KEY column.
   */
  tableColumns?: string[];
  /**
   * Per SELECT arm (a VALUES row counts as one), each column's affinity and the kinds of value
   * it may produce; a compound's `aff` folds these (see compoundAffinity).
   */
  arms?: { aff: (Affinity | null)[]; kinds: number[] }[];
  /** The affinity the value of `(SELECT ...)` or `IN (SELECT ...)` has when it differs from `aff`. */
  exprAff?: (Affinity | null)[];
  /**
   * Per arm of a compound without LIMIT: its own column affinities and the outer WHERE terms pushed
   * into it (see pushIntoCompound), which keep only the arm rows they accept.
   */
  pushdown?: { aff: (Affinity | null)[]; filters: ((env: Env, row: Value[]) => boolean)[] }[];
  correlated: boolean;
  run(env: Env, emit: (row: Value[]) => boolean | void): void;
  explain(out: PlanRow[], parent: number): void;
}

/** Table-valued functions (pragma_*), supplied by the session layer. */
export interface TableFunctions {
  /** Its columns; the last `hidden` of them are the hidden ones that take its arguments. */
  columns(name: string): { names: string[]; hidden: number } | undefined;
  /** Rows of its visible columns. */
  rows(name: string, args: Value[], env: Env): Value[][];
}

interface Conjunct { ce: CExpr; ast: A.Expr; slots: Set<number> }

interface Bound { e: CExpr; incl: boolean }

type Access =
  | { k: 'scan'; reverse: boolean }
  | { k: 'rowidEq'; values: CExpr[] }
  | { k: 'rowidRange'; lo: Bound | undefined; hi: Bound | undefined; reverse: boolean }
  | {
      /** Per leading index column, the values it must equal: one, or an IN list's items. */
      k: 'index'; index: Index; eq: CExpr[][]; eqAff: (Affinity | null)[]; lo: Bound | undefined; hi: Bound | undefined;
      rangeAff: Affinity | null; covering: boolean; reverse: boolean; desc: string;
    };

interface Level {
  src: Source;
  table: Table | undefined;
  /** Rows of a materialised source (subquery, view, CTE, table-valued function). */
  produce: ((env: Env) => Value[][]) | undefined;
  subLabel: string | undefined;
  subQuery: Query | undefined;
  left: boolean;
  on: CExpr[];
  filters: CExpr[];
  access: Access;
  indexed: string | null | undefined;
  /** When set, WHERE terms pushed into the compound subquery apply only while this holds. */
  pushIf?: () => boolean;
  /**
   * Compiles a table-valued function's arguments; called after the WHERE and ON clauses (`terms`).
   * `anyOrder`: they may read any other source (the join is reordered). Returns the slots they read.
   */
  resolveArgs?: (terms: A.Expr[], anyOrder: boolean) => Set<number>;
}

/** A CTE in scope, with the FROM items that name it. */
interface CteEntry { cte: A.Cte; busy: boolean; refs: Set<A.FromItem> }

const NUMERIC = new Set(['INTEGER', 'REAL', 'NUMERIC']);

/**
 * Moves each table-valued function of an inner join after the sources its arguments read, as
 * SQLite's planner orders it (only these moves: the rest keeps the written order).
 */
function orderAfterArguments(levels: Level[], argSlots: Map<Level, Set<number>>): void {
  for (let moves = 0; ; moves++) {
    const i = levels.findIndex((l, k) => levels.some((d, j) => j > k && argSlots.get(l)?.has(d.src.slot)));
    if (i < 0) return;
    // Functions whose arguments read each other have no order; SQLite finds no plan either.
    if (moves > levels.length * levels.length) throw sqlError('no query solution');
    const l = levels[i]!;
    let last = i;
    levels.forEach((d, j) => { if (argSlots.get(l)!.has(d.src.slot)) last = Math.max(last, j); });
    levels.splice(i, 1);
    levels.splice(last, 0, l);
  }
}

function conjuncts(e: A.Expr | undefined, out: A.Expr[] = []): A.Expr[] {
  if (!e) return out;
  if (e.k === 'bin' && e.op === 'AND') { conjuncts(e.l, out); conjuncts(e.r, out); } else out.push(e);
  return out;
}

export class QueryCompiler implements SubqueryHost {
  private slots = 0;
  readonly ex: ExprCompiler;
  private readonly ctes: Map<string, CteEntry>[] = [];
  private viewDepth = 0;
  private subqueryCount = 0;
  /** Expression subqueries compiled so far that read an enclosing query's columns. */
  private correlatedSubqueries = 0;

  constructor(readonly schema: Schema, private readonly tvf: TableFunctions) {
    this.ex = new ExprCompiler(this);
  }

  newSlot(): number { return this.slots++; }
  get slotCount(): number { return this.slots; }

  compileSubquery(select: A.Select, scope: Scope): ReturnType<SubqueryHost['compileSubquery']> {
    const q = this.compileSelect(select, scope.parent);
    if (q.correlated) this.correlatedSubqueries++;
    return { run: q.run, aff: q.exprAff ?? q.aff, colls: q.colls, ncols: q.columns.length, correlated: q.correlated };
  }

  pushCtes(ctes: A.Cte[]): void {
    if (ctes.length === 0) return;
    const m = new Map<string, CteEntry>();
    for (const c of ctes) m.set(c.name.toLowerCase(), { cte: c, busy: false, refs: new Set() });
    this.ctes.push(m);
  }
  popCtes(ctes: A.Cte[]): void { if (ctes.length) this.ctes.pop(); }

  private findCte(name: string): CteEntry | undefined {
    for (let i = this.ctes.length - 1; i >= 0; i--) {
      const c = this.ctes[i]!.get(name.toLowerCase());
      if (c) return c;
    }
    return undefined;
  }

  compileSelect(sel: A.Select, parent: Scope | undefined): Query {
    this.pushCtes(sel.with);
    try {
      if (sel.cores.length === 1) return this.compileCore(sel.cores[0]!, sel, parent);
      return this.compileCompound(sel, parent);
    } finally {
      this.popCtes(sel.with);
    }
  }

  // ---- compound selects ----
  private compileCompound(sel: A.Select, parent: Scope | undefined): Query {
    const parts = sel.cores.map((c) => this.compileCore(c, undefined, parent));
    const n = parts[0]!.columns.length;
    for (let i = 1; i < parts.length; i++) {
      if (parts[i]!.columns.length !== n) {
        throw sqlError(`SELECTs to the left and right of ${sel.ops[i - 1]} do not have the same number of result columns`);
      }
    }
    const first = parts[0]!;
    const last = parts[parts.length - 1]!;
    const arms = parts.flatMap((p) => p.arms ?? []);
    const colls = first.colls.map((c) => c ?? 'BINARY');
    const scope = new Scope(parent);
    const order = sel.orderBy.map((t) => {
      let idx = -1;
      if (t.e.k === 'lit' && typeof t.e.v === 'bigint') {
        idx = Number(t.e.v) - 1;
        if (idx < 0 || idx >= n) throw sqlError(`1st ORDER BY term out of range - should be between 1 and ${n}`);
      } else {
        let e = t.e;
        let coll: Collation | undefined;
        if (e.k === 'collate') { coll = e.coll as Collation; e = e.e; }
        if (e.k === 'col') idx = first.columns.findIndex((c) => c.toLowerCase() === (e as { name: string }).name.toLowerCase());
        if (idx < 0) throw sqlError(`1st ORDER BY term does not match any column in the result set`);
        return { idx, desc: t.desc, nulls: t.nulls, coll: coll ?? colls[idx]! };
      }
      return { idx, desc: t.desc, nulls: t.nulls, coll: colls[idx]! };
    });
    const limit = sel.limit ? this.ex.compile(sel.limit, scope) : undefined;
    const offset = sel.offset ? this.ex.compile(sel.offset, scope) : undefined;
    const ops = sel.ops;
    const pushdown = sel.limit ? undefined : parts.map((p) => ({ aff: p.aff, filters: [] as ((env: Env, row: Value[]) => boolean)[] }));
    const armRows = (i: number, env: Env, out: Value[][]): void => {
      const filters = pushdown?.[i]!.filters ?? [];
      parts[i]!.run(env, (r) => { if (filters.every((f) => f(env, r))) out.push(r); });
    };
    return {
      columns: first.columns, srcColumns: first.srcColumns, tableColumns: first.tableColumns,
      aff: first.aff.map((_, i) => compoundAffinity(arms, i)), colls: first.colls, declTypes: first.declTypes,
      // An expression subquery takes its affinity from the rightmost arm, as SQLite does.
      arms, exprAff: last.exprAff ?? last.aff, pushdown,
      correlated: parts.some((p) => p.correlated) || scope.correlated,
      run: (env, emit) => {
        let rows: Value[][] = [];
        armRows(0, env, rows);
        for (let i = 1; i < parts.length; i++) {
          const op = ops[i - 1]!;
          const right: Value[][] = [];
          armRows(i, env, right);
          if (op === 'UNION ALL') { rows = rows.concat(right); continue; }
          const key = (r: Value[]): string => groupKey(r, colls);
          if (op === 'UNION') rows = distinctRows(rows.concat(right), key);
          else if (op === 'INTERSECT') { const s = new Set(right.map(key)); rows = distinctRows(rows.filter((r) => s.has(key(r))), key); }
          else { const s = new Set(right.map(key)); rows = distinctRows(rows.filter((r) => !s.has(key(r))), key); }
          // SQLite's set operations deliver rows in sorted order (they run through a sorter).
          rows.sort((a, b) => compareRows(a, b, colls));
        }
        if (order.length) {
          rows.sort((a, b) => {
            for (const o of order) {
              const c = orderCompare(a[o.idx]!, b[o.idx]!, o.coll, o.desc, o.nulls);
              if (c !== 0) return c;
            }
            return 0;
          });
        }
        let lim = limit ? limitValue(limit.fn(env)) : -1;
        let off = offset ? Math.max(0, limitValue(offset.fn(env))) : 0;
        for (const r of rows) {
          if (off > 0) { off--; continue; }
          if (lim === 0) return;
          if (emit(r) === false) return;
          if (lim > 0) lim--;
        }
      },
      explain: (out, p) => {
        const id = out.length + 1;
        out.push({ id, parent: p, detail: 'COMPOUND QUERY' });
        parts.forEach((q, i) => {
          const lid = out.length + 1;
          out.push({ id: lid, parent: id, detail: i === 0 ? 'LEFT-MOST SUBQUERY' : `${ops[i - 1]} USING TEMP B-TREE` });
          q.explain(out, lid);
        });
      },
    };
  }

  // ---- FROM ----
  /** Adds the FROM items to `scope` as sources and returns their loop levels (without access paths). */
  buildFrom(from: A.JoinItem[], scope: Scope, parent: Scope | undefined): { levels: Level[]; onTerms: { level: number; e: A.Expr }[] } {
    const levels: Level[] = [];
    const onTerms: { level: number; e: A.Expr }[] = [];
    for (let i = 0; i < from.length; i++) {
      const j = from[i]!;
      if (j.join === 'RIGHT' || j.join === 'FULL') throw sqlError('RIGHT and FULL OUTER JOIN are not supported yet; rewrite as LEFT JOIN');
      const level = this.fromItem(j.item, scope, parent);
      level.left = j.join === 'LEFT';
      const src = level.src;
      if (scope.sources.some((s) => s.name.toLowerCase() === src.name.toLowerCase())) {
        // SQLite allows duplicate names only through aliases; a clash is ambiguous on use.
      }
      // NATURAL and USING: equality on the shared columns; the right copy hides from unqualified names.
      let using = j.using;
      if (j.natural) {
        using = src.cols.filter((c) => !c.hidden && scope.sources.some((s) => s.cols.some((d) => d.name.toLowerCase() === c.name.toLowerCase()))).map((c) => c.name);
      }
      const leftSources = scope.sources.slice();
      scope.sources.push(src);
      if (using) {
        src.usingHidden = new Set();
        for (const name of using) {
          const ln = name.toLowerCase();
          const l = leftSources.find((s) => s.cols.some((c) => c.name.toLowerCase() === ln) && !s.usingHidden?.has(ln));
          if (!l || !src.cols.some((c) => c.name.toLowerCase() === ln)) {
            throw sqlError(`cannot join using column ${name} - column not present in both tables`);
          }
          src.usingHidden.add(ln);
          onTerms.push({ level: i, e: { k: 'bin', op: '=', l: { k: 'col', table: l.name, name }, r: { k: 'col', table: src.name, name } } });
        }
      }
      if (j.on) for (const c of conjuncts(j.on)) onTerms.push({ level: i, e: c });
      levels.push(level);
    }
    for (const l of levels) if (l.left) l.src.leftJoined = true;
    return { levels, onTerms };
  }

  private fromItem(item: A.FromItem, scope: Scope, parent: Scope | undefined): Level {
    const base = { left: false, on: [], filters: [], access: { k: 'scan', reverse: false } as Access, indexed: undefined, subLabel: undefined, subQuery: undefined };
    if (item.k === 'table') {
      const cte = item.schema === undefined ? this.findCte(item.name) : undefined;
      if (cte) {
        if (cte.busy) throw sqlError(`recursive common table expressions are not supported yet: ${item.name}`);
        cte.busy = true;
        try {
          const q = this.compileSelect(cte.cte.select, parent);
          const names = cte.cte.cols ? sourceNames(cte.cte.cols) : q.srcColumns ?? q.columns;
          if (cte.cte.cols && cte.cte.cols.length !== q.columns.length) {
            throw sqlError(`table ${cte.cte.name} has ${q.columns.length} values for ${cte.cte.cols.length} columns`);
          }
          cte.refs.add(item);
          // SQLite materialises a CTE named more than once and pushes no WHERE term into it.
          return { ...this.materialized(q, item.alias ?? item.name, names, base, item.alias ?? item.name), pushIf: () => cte.refs.size === 1 };
        } finally { cte.busy = false; }
      }
      const lname = item.name.toLowerCase();
      const view = this.schema.view(item.name);
      if (view) return this.viewLevel(view, item.alias ?? view.name, base);
      let table = this.schema.table(item.name);
      if (!table && (lname === 'sqlite_master' || lname === 'sqlite_schema' || lname === 'sqlite_temp_master' || lname === 'sqlite_temp_schema')) {
        table = this.schema.table('sqlite_schema');
        if (lname.startsWith('sqlite_temp')) {
          return this.materialized(constQuery(['type', 'name', 'tbl_name', 'rootpage', 'sql'], []), item.alias ?? item.name, undefined, base, item.name);
        }
      }
      // A table-valued pragma named without arguments is SQLite's eponymous virtual table.
      if (!table && this.tvf.columns(lname)) return this.fromItem({ k: 'fn', name: item.name, args: [], alias: item.alias }, scope, parent);
      if (!table) throw sqlError(`no such table: ${item.schema ? `${item.schema}.` : ''}${item.name}`);
      const name = item.alias ?? (table.system ? item.name : table.name);
      const src = tableSource(table, this.newSlot(), name);
      return { ...base, src, table, produce: undefined, indexed: item.indexed };
    }
    if (item.k === 'sub') {
      const q = this.compileSelect(item.select, parent);
      const label = `(subquery-${++this.subqueryCount})`;
      return this.materialized(q, item.alias ?? label, q.srcColumns, base, label);
    }
    // Table-valued function: arguments may refer to sources to its left (and result column
    // aliases); SQLite resolves their names after the WHERE and ON clauses.
    const cols = this.tvf.columns(item.name.toLowerCase());
    if (!cols) throw sqlError(`no such table: ${item.name}`);
    if (item.args.length > cols.hidden) throw sqlError(`too many arguments on ${item.name.toLowerCase()}() - max ${cols.hidden}`);
    const visible = scope.sources.length;
    const nVisible = cols.names.length - cols.hidden;
    // Its columns are declared without types, so they have BLOB affinity like untyped table columns.
    const src: Source = {
      slot: this.newSlot(), name: item.alias ?? item.name, table: undefined,
      cols: cols.names.map((c, i) => ({ name: c, aff: 'BLOB', coll: 'BINARY', hidden: i >= nVisible })), rowidIdx: -1, used: new Set(), leftJoined: false,
    };
    // Each argument: one expression, several (an IN list or ORed equalities on its hidden column,
    // one run per distinct value, in order, as SQLite probes an IN list), or none.
    let args: (CExpr | CExpr[] | undefined)[] = [];
    const resolveArgs = (terms: A.Expr[], anyOrder: boolean): Set<number> => {
      const all = scope.sources;
      const deps = new Set<number>();
      // SQLite orders an inner join so that the function comes after the sources its arguments
      // read; otherwise they may read only the sources to its left.
      const usable = anyOrder ? all.filter((s) => s !== src) : all.slice(0, visible);
      const ok = new Set(usable.map((s) => s.slot));
      const track = (e: A.Expr): CExpr | undefined => {
        const ce = this.ex.compileTracked(e, scope);
        if ([...ce.slots].some((sl) => !ok.has(sl) && scope.sources.some((s) => s.slot === sl))) return undefined;
        for (const sl of ce.slots) deps.add(sl);
        return ce.ce;
      };
      const isHidden = (c: A.Expr, h: number): boolean => {
        const r = c.k === 'col' ? this.ex.resolve(c, scope) : null;
        return r?.src === src && r.idx === nVisible + h;
      };
      // SQLite's xBestIndex takes `hidden = value` (or `hidden IN (...)`) for an argument not given.
      const values = (t: A.Expr, h: number): A.Expr[] | undefined => {
        if (t.k === 'bin' && t.op === '=') {
          if (isHidden(t.l, h)) return [t.r];
          if (isHidden(t.r, h)) return [t.l];
        }
        if (t.k === 'in' && !t.not && t.list && isHidden(t.e, h)) return t.list;
        if (t.k === 'bin' && t.op === 'OR') {
          const l = values(t.l, h);
          const r = l && values(t.r, h);
          return r && [...l!, ...r];
        }
        return undefined;
      };
      const pushed = (h: number): CExpr | CExpr[] | undefined => {
        for (const t of terms) {
          const vs = values(t, h);
          if (!vs) continue;
          const saved = new Set(deps);
          const ces = vs.map(track);
          if (ces.every((c) => c !== undefined)) return t.k === 'bin' && t.op === '=' ? ces[0] : (ces as CExpr[]);
          deps.clear();
          for (const d of saved) deps.add(d);
        }
        return undefined;
      };
      scope.sources = usable;
      try {
        args = item.args.map((a) => {
          const ce = this.ex.compileTracked(a, scope);
          for (const sl of ce.slots) deps.add(sl);
          return ce.ce;
        });
      } finally { scope.sources = all; }
      for (let h = args.length; h < cols.hidden; h++) args.push(pushed(h));
      return deps;
    };
    const name = item.name.toLowerCase();
    const run = (vals: Value[], env: Env): Value[][] => {
      const hidden = Array.from({ length: cols.hidden }, (_, h) => vals[h] ?? null);
      return this.tvf.rows(name, vals, env).map((r) => [...r, ...hidden]);
    };
    return {
      ...base, src, table: undefined, subLabel: `${item.alias ?? item.name} VIRTUAL TABLE INDEX 0:`, resolveArgs,
      produce: (env) => {
        let sets: Value[][] = [[]];
        for (const a of args) {
          if (!Array.isArray(a)) { const v = a ? a.fn(env) : null; sets = sets.map((s) => [...s, v]); continue; }
          const vs: Value[] = [];
          for (const c of a) { const v = c.fn(env); if (v !== null && !vs.some((w) => compareValues(w, v) === 0)) vs.push(v); }
          vs.sort((x, y) => compareValues(x, y));
          sets = sets.flatMap((s) => vs.map((v) => [...s, v]));
        }
        return sets.flatMap((vals) => run(vals, env));
      },
    };
  }

  /** A view's query, compiled outside the CTEs of the statement that names it. */
  viewQuery(view: View): Query {
    if (++this.viewDepth > MAX_VIEW_DEPTH) throw sqlError(`view ${view.name} is circularly defined`);
    const saved = this.ctes.splice(0);
    try { return this.compileSelect(view.select, undefined); } finally { this.ctes.push(...saved); this.viewDepth--; }
  }

  private viewLevel(view: View, name: string, base: Omit<Level, 'src' | 'table' | 'produce'>): Level {
    const q = this.viewQuery(view);
    if (view.cols && view.cols.length !== q.columns.length) throw sqlError(`expected ${view.cols.length} columns for '${view.name}' but got ${q.columns.length}`);
    return this.materialized(q, name, view.cols ? sourceNames(view.cols) : q.tableColumns, base, name);
  }

  private materialized(q: Query, name: string, names: string[] | undefined, base: Omit<Level, 'src' | 'table' | 'produce'>, label: string): Level {
    const src: Source = {
      slot: this.newSlot(), name, table: undefined,
      cols: q.columns.map((c, i) => ({ name: names ? names[i]! : c, aff: q.aff[i] ?? null, coll: q.colls[i] ?? 'BINARY', hidden: false })),
      rowidIdx: -1, used: new Set(), leftJoined: false,
    };
    let cacheRun = -1;
    let cached: Value[][] = [];
    return {
      ...base, src, table: undefined, subLabel: label, subQuery: q,
      produce: (env) => {
        if (!q.correlated && cacheRun === env.run) return cached;
        const rows: Value[][] = [];
        q.run(env, (r) => { rows.push(r); });
        cacheRun = env.run;
        cached = rows;
        return rows;
      },
    };
  }

  // ---- one SELECT core ----
  private compileCore(core: A.SelectCore | A.ValuesCore, sel: A.Select | undefined, parent: Scope | undefined): Query {
    if (core.k === 'values') return this.compileValues(core, sel, parent);
    const scope = new Scope(parent);
    const { levels, onTerms } = this.buildFrom(core.from, scope, parent);

    // Result columns, with * expanded.
    const items: { e: A.Expr; alias: string | undefined; text: string }[] = [];
    for (const rc of core.cols) {
      if (rc.star) {
        const srcs = rc.table ? scope.sources.filter((s) => s.name.toLowerCase() === rc.table!.toLowerCase()) : scope.sources;
        if (rc.table && srcs.length === 0) throw sqlError(`no such table: ${rc.table}`);
        if (!rc.table && scope.sources.length === 0) throw sqlError('no tables specified');
        for (const s of srcs) {
          s.cols.forEach((c) => {
            if (c.hidden || (!rc.table && s.usingHidden?.has(c.name.toLowerCase()))) return;
            items.push({ e: { k: 'col', table: s.name, name: c.name }, alias: c.name, text: c.name });
          });
        }
      } else {
        items.push({ e: rc.expr!, alias: rc.alias, text: rc.text });
      }
    }
    const aliases = new Map<string, A.Expr>();
    core.cols.forEach((rc) => { if (rc.alias && rc.expr) aliases.set(rc.alias.toLowerCase(), rc.expr); });

    // SQLite resolves names in the result columns, HAVING, WHERE, the ON clauses in join order,
    // ORDER BY and then GROUP BY, so when several names are unknown the first of these reports.
    // Aggregates are collected from the result columns, HAVING and ORDER BY.
    const aggs: AggCall[] = [];
    scope.aggs = aggs;
    const outs = items.map((it) => this.ex.compile(it.e, scope));
    const colAff = (e: A.Expr & { k: 'col' }): Affinity | null => {
      const r = this.ex.resolve(e, scope);
      return r ? r.src.cols[r.idx]?.aff ?? 'INTEGER' : null;
    };
    const names = items.map((it, i) => {
      if (it.alias !== undefined) return it.alias;
      const c = outs[i]!.col;
      if (c && it.e.k === 'col') return columnName(c.src, c.idx);
      return it.text;
    });
    const srcColumns = sourceNames(items.map((it) => {
      const e = skipCollate(it.e);
      return it.alias ?? (e.k === 'col' ? e.name : it.text);
    }));
    const tableColumns = sourceNames(items.map((it) => {
      if (it.alias !== undefined) return it.alias;
      const e = skipCollate(it.e, true);
      const r = e.k === 'col' ? this.ex.resolve(e, scope) : null;
      return r ? columnName(r.src, r.idx) : it.text;
    }));
    // Whether the query aggregates is settled by its result columns and GROUP BY.
    const isAgg = aggs.length > 0 || core.groupBy.length > 0;
    if (core.having && !isAgg) throw sqlError('HAVING clause on a non-aggregate query');
    // The other clauses may name result columns by alias.
    scope.aliases = aliases;
    const having = core.having ? this.ex.compileCond(core.having, scope) : undefined;
    scope.noAgg = 'WHERE';
    const whereTerms: Conjunct[] = conjuncts(core.where).map((e) => { const t = this.ex.compileTracked(e, scope); return { ...t, ast: e }; });
    const written = levels.slice();
    const onCompiled = onTerms.map((t) => ({ level: t.level, c: { ...this.ex.compileTracked(t.e, scope), ast: t.e } }));
    const anyOrder = !levels.some((l) => l.left);
    const argSlots = new Map<Level, Set<number>>();
    for (const l of levels) if (l.resolveArgs) argSlots.set(l, l.resolveArgs([...whereTerms, ...onCompiled.map((o) => o.c)].map((t) => t.ast), anyOrder));
    if (anyOrder && argSlots.size) {
      orderAfterArguments(levels, argSlots);
      for (const o of onCompiled) o.level = levels.indexOf(written[o.level]!);
    }
    const slotLevel = new Map<number, number>();
    levels.forEach((l, i) => slotLevel.set(l.src.slot, i));
    scope.noAgg = undefined;
    const ordered = aggs.length;
    const order = sel ? this.orderTerms(sel.orderBy, items.map((it) => ({ e: it.e, name: it.alias ?? '' })), outs, scope) : [];
    // SQLite finds an aggregate in the ORDER BY of a query that does not aggregate as it generates code.
    if (!isAgg && aggs.length > ordered) throw sqlError(`misuse of aggregate: ${aggs[ordered]!.name}()`);
    scope.noAgg = 'GROUP BY';
    const groupBy = core.groupBy.map((g) => {
      if (g.k === 'lit' && typeof g.v === 'bigint') {
        const k = Number(g.v);
        if (k < 1 || k > items.length) throw sqlError(`1st GROUP BY term out of range - should be between 1 and ${items.length}`);
        return this.ex.compile(items[k - 1]!.e, scope);
      }
      return this.ex.compile(g, scope);
    });
    scope.noAgg = undefined;
    scope.aliases = undefined;
    const limit = sel?.limit ? this.ex.compile(sel.limit, new Scope(parent)) : undefined;
    const offset = sel?.offset ? this.ex.compile(sel.offset, new Scope(parent)) : undefined;

    // Attach each WHERE conjunct to the innermost level it depends on; ON terms of LEFT JOINs
    // stay match conditions of their level, ON terms of inner joins act like WHERE.
    const levelOf = (slots: Set<number>): number => {
      let m = 0;
      for (const s of slots) { const l = slotLevel.get(s); if (l !== undefined && l > m) m = l; }
      return m;
    };
    const accessCandidates: Conjunct[][] = levels.map(() => []);
    for (const c of whereTerms) {
      const li = levels.length ? levelOf(c.slots) : 0;
      if (levels.length) levels[li]!.filters.push(c.ce);
      for (let k = 0; k < levels.length; k++) if (!levels[k]!.left && c.slots.has(levels[k]!.src.slot)) accessCandidates[k]!.push(c);
    }
    for (const { level, c } of onCompiled) {
      const l = levels[level]!;
      if (l.left) { l.on.push(c.ce); accessCandidates[level]!.push(c); } else {
        const li = Math.max(level, levelOf(c.slots));
        levels[li]!.filters.push(c.ce);
        for (let k = 0; k < levels.length; k++) if (!levels[k]!.left && c.slots.has(levels[k]!.src.slot)) accessCandidates[k]!.push(c);
      }
    }
    const constFilters: CExpr[] = levels.length === 0 ? whereTerms.map((c) => c.ce) : [];
    this.pushIntoCompounds(levels, whereTerms, onCompiled, scope);

    // Access paths.
    levels.forEach((l, i) => {
      if (l.table) l.access = this.chooseAccess(l, accessCandidates[i]!, slotLevel, i, scope);
    });

    // ORDER BY satisfied by the scan order of a single table?
    let sortNeeded = order.length > 0;
    if (sortNeeded && levels.length === 1 && !isAgg && !core.distinct && levels[0]!.table) {
      if (this.orderFromAccess(levels[0]!, order)) sortNeeded = false;
    }
    for (const l of levels) if (l.access.k === 'index') l.access.covering = this.isCovering(l, l.access.index);
    this.checkLoops(levels);

    const distinct = core.distinct;
    const outColls = outs.map((o) => o.coll ?? 'BINARY');
    const ncols = outs.length;
    const orderFns = order.map((o) => o.ce.fn);
    const nOrder = order.length;
    const sorter = (a: { k: Value[] }, b: { k: Value[] }): number => {
      for (let i = 0; i < nOrder; i++) {
        const o = order[i]!;
        const c = orderCompare(a.k[i]!, b.k[i]!, o.coll, o.desc, o.nulls);
        if (c !== 0) return c;
      }
      return 0;
    };
    const runLevels = this.buildLoop(levels);
    const groupColls = groupBy.map((g) => g.coll ?? 'BINARY');
    const slotsOfScope = levels.map((l) => l.src.slot);
    const hasMinMax = aggs.some((a) => a.name === 'min' || a.name === 'max');

    const run = (env: Env, emit: (row: Value[]) => boolean | void): void => {
      for (const f of constFilters) if (truth(f.fn(env)) !== true) return;
      let lim = limit ? limitValue(limit.fn(env)) : -1;
      let off = offset ? Math.max(0, limitValue(offset.fn(env))) : 0;
      if (lim === 0) return;
      const st = new Delivery(emit, distinct ? new Set<string>() : undefined, sortNeeded ? [] : undefined, outColls, off, lim);
      const ctl = st.ctl;
      const sorted = st.sorted;
      if (!isAgg) {
        runLevels(env, ctl, () => {
          const row = new Array<Value>(ncols);
          for (let i = 0; i < ncols; i++) row[i] = outs[i]!.fn(env);
          let keys: Value[] | undefined;
          if (sorted) { keys = new Array(nOrder); for (let i = 0; i < nOrder; i++) keys[i] = orderFns[i]!(env); }
          st.deliver(row, keys);
        });
      } else {
        const groups = new Map<string, { accs: ReturnType<typeof makeAccumulators>; rows: (Value[] | null)[] }>();
        const savedAgg = env.agg;
        env.agg = null;
        runLevels(env, { stop: false }, () => {
          const key = groupBy.length ? groupKey(groupBy.map((g) => g.fn(env)), groupColls) : '';
          let g = groups.get(key);
          let fresh = false;
          if (!g) { g = { accs: makeAccumulators(aggs), rows: slotsOfScope.map(() => null) }; groups.set(key, g); fresh = true; }
          stepAccumulators(aggs, g.accs, env);
          // Bare columns read the row where a min()/max() last changed its value; without
          // min()/max() they read the group's first row (SQLite's "hit" register).
          let hit = false;
          if (hasMinMax) {
            for (const a of g.accs) if (a.acc instanceof MinMaxAcc && a.acc.hit) { hit = true; a.acc.hit = false; }
          }
          if (fresh) hit = true;
          if (hit) g.rows = slotsOfScope.map((s) => env.rows[s]!);
        });
        if (groups.size === 0 && groupBy.length === 0) groups.set('', { accs: makeAccumulators(aggs), rows: slotsOfScope.map(() => null) });
        const keys = [...groups.keys()];
        if (groupBy.length) keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const k of keys) {
          if (ctl.stop) break;
          const g = groups.get(k)!;
          slotsOfScope.forEach((s, i) => { env.rows[s] = g.rows[i]!; });
          env.agg = g.accs.map((a) => a.acc.final());
          if (having && truth(having.fn(env)) !== true) continue;
          const row = outs.map((o) => o.fn(env));
          st.deliver(row, sorted ? orderFns.map((f) => f(env)) : undefined);
        }
        env.agg = savedAgg;
      }
      if (sorted) {
        sorted.sort(sorter);
        let { off, lim } = st;
        for (const s of sorted) {
          if (off > 0) { off--; continue; }
          if (emit(s.r) === false) return;
          if (lim > 0 && --lim === 0) return;
        }
      }
    };
    const explain = (out: PlanRow[], p: number): void => {
      for (const l of levels) {
        if (l.subQuery && l.subLabel) {
          const id = out.length + 2;
          out.push({ id, parent: p, detail: `CO-ROUTINE ${l.subLabel}` });
          l.subQuery.explain(out, id);
        }
        out.push({ id: out.length + 2, parent: p, detail: describeLevel(l) });
      }
      if (isAgg && groupBy.length) out.push({ id: out.length + 2, parent: p, detail: 'USE TEMP B-TREE FOR GROUP BY' });
      if (distinct) out.push({ id: out.length + 2, parent: p, detail: 'USE TEMP B-TREE FOR DISTINCT' });
      if (sortNeeded) out.push({ id: out.length + 2, parent: p, detail: 'USE TEMP B-TREE FOR ORDER BY' });
    };
    return {
      columns: names, srcColumns, tableColumns, aff: outs.map((o) => o.aff), colls: outs.map((o) => o.coll),
      declTypes: outs.map((o) => {
        const t = o.col?.src.table;
        if (!t) return '';
        // A rowid has its INTEGER PRIMARY KEY column's declared type, else INTEGER.
        if (o.col!.idx === o.col!.src.rowidIdx) return t.rowidAlias >= 0 ? t.cols[t.rowidAlias]!.type : 'INTEGER';
        return t.cols[o.col!.idx]?.type ?? '';
      }),
      arms: [{ aff: outs.map((o) => o.aff), kinds: items.map((it, i) => valueKinds(it.e, colAff, outs[i]!.aff)) }],
      pushdown: isAgg || sel?.limit || levels.length !== 1 ? undefined : projectPushdown(levels[0]!, outs),
      correlated: scope.correlated, run, explain,
    };
  }

  private compileValues(core: A.ValuesCore, sel: A.Select | undefined, parent: Scope | undefined): Query {
    const scope = new Scope(parent);
    scope.noAgg = 'VALUES';
    const rows = core.rows.map((r) => r.map((e) => this.ex.compile(e, scope)));
    const n = rows[0]!.length;
    const names = Array.from({ length: n }, (_, i) => `column${i + 1}`);
    const arms = rows.map((r, ri) => ({ aff: r.map((c) => c.aff), kinds: core.rows[ri]!.map((e, j) => valueKinds(e, () => null, r[j]!.aff)) }));
    const order = sel?.orderBy ?? [];
    const ord = order.map((t) => {
      if (t.e.k === 'lit' && typeof t.e.v === 'bigint') {
        const k = Number(t.e.v);
        if (k < 1 || k > n) throw sqlError(`1st ORDER BY term out of range - should be between 1 and ${n}`);
        return { idx: k - 1, t };
      }
      if (t.e.k === 'col') {
        const idx = names.indexOf((t.e as { name: string }).name.toLowerCase());
        if (idx >= 0) return { idx, t };
      }
      throw sqlError('1st ORDER BY term does not match any column in the result set');
    });
    const limit = sel?.limit ? this.ex.compile(sel.limit, scope) : undefined;
    const offset = sel?.offset ? this.ex.compile(sel.offset, scope) : undefined;
    return {
      columns: names, aff: names.map((_, i) => compoundAffinity(arms, i)), colls: names.map(() => null), declTypes: names.map(() => ''),
      // SQLite gives the value of a multi-row VALUES subquery expression no affinity.
      arms, exprAff: arms.length > 1 ? names.map(() => null) : undefined,
      correlated: scope.correlated,
      run: (env, emit) => {
        let out = rows.map((r) => r.map((c) => c.fn(env)));
        if (ord.length) out = out.sort((a, b) => {
          for (const o of ord) { const c = orderCompare(a[o.idx]!, b[o.idx]!, 'BINARY', o.t.desc, o.t.nulls); if (c) return c; }
          return 0;
        });
        let lim = limit ? limitValue(limit.fn(env)) : -1;
        let off = offset ? Math.max(0, limitValue(offset.fn(env))) : 0;
        for (const r of out) {
          if (off > 0) { off--; continue; }
          if (lim === 0) return;
          if (emit(r) === false) return;
          if (lim > 0) lim--;
        }
      },
      explain: (out, p) => { out.push({ id: out.length + 2, parent: p, detail: `SCAN ${rows.length} CONSTANT ROWS` }); },
    };
  }

  private orderTerms(terms: A.OrderTerm[], items: { e: A.Expr; name: string }[], outs: CExpr[], scope: Scope): { ce: CExpr; desc: boolean; nulls: 'FIRST' | 'LAST' | undefined; coll: Collation }[] {
    return terms.map((t) => {
      let e = t.e;
      let explicit: Collation | undefined;
      if (e.k === 'collate') { explicit = e.coll as Collation; e = e.e; }
      let ce: CExpr | undefined;
      if (e.k === 'lit' && typeof e.v === 'bigint') {
        const k = Number(e.v);
        if (k < 1 || k > outs.length) throw sqlError(`1st ORDER BY term out of range - should be between 1 and ${outs.length}`);
        ce = outs[k - 1]!;
      } else if (e.k === 'col' && e.table === undefined) {
        const ln = e.name.toLowerCase();
        const i = items.findIndex((it) => it.name.toLowerCase() === ln);
        if (i >= 0) ce = outs[i]!;
      }
      if (!ce) {
        const saved = scope.aliases;
        scope.aliases = undefined;
        try { ce = this.ex.compile(e, scope); } catch (err) {
          scope.aliases = saved;
          ce = this.ex.compile(e, scope);
        }
        scope.aliases = saved;
      }
      const coll = explicit ?? ce.coll ?? 'BINARY';
      return { ce, desc: t.desc, nulls: t.nulls, coll };
    });
  }

  // ---- planner ----
  private chooseAccess(l: Level, cands: Conjunct[], slotLevel: Map<number, number>, li: number, scope: Scope): Access {
    const table = l.table!;
    const slot = l.src.slot;
    const avail = (slots: Set<number>): boolean => {
      for (const s of slots) {
        if (s === slot) return false;
        const lv = slotLevel.get(s);
        if (lv !== undefined && lv >= li) return false;
      }
      return true;
    };
    /** `col`: a column number (the rowid is `table.cols.length`) or an indexed expression's key. */
    interface Term { col: number | string; op: string; e: CExpr; colCe: CExpr; list?: CExpr[]; colRight?: boolean }
    const terms: Term[] = [];
    const indexes = l.indexed ? table.indexes.filter((ix) => ix.name.toLowerCase() === l.indexed!.toLowerCase()) : l.indexed === null ? [] : table.indexes;
    const exprKeys = new Set<string>();
    for (const ix of indexes) for (const ic of ix.cols) if (ic.col < 0) exprKeys.add(exprKey(ic.e!));
    for (const c of cands) {
      const a = c.ast;
      if (a.k === 'bin' && ['=', '<', '<=', '>', '>=', 'IS'].includes(a.op)) {
        for (const [colSide, other, flip] of [[a.l, a.r, false], [a.r, a.l, true]] as const) {
          const cs = this.side(colSide, slot, scope, exprKeys);
          if (!cs) continue;
          const os = this.ex.compileTracked(other, scope);
          if (!avail(os.slots) || os.ce.fn === undefined) continue;
          let op = a.op === 'IS' ? '=' : a.op;
          if (a.op === 'IS' && false) op = '=';
          if (flip) op = op === '<' ? '>' : op === '>' ? '<' : op === '<=' ? '>=' : op === '>=' ? '<=' : op;
          terms.push({ col: cs.idx, op: a.op === 'IS' ? 'IS' : op, e: os.ce, colCe: cs.ce, colRight: flip });
          if (!flip) { /* try only one orientation when the left side is our column */ break; }
        }
      } else if (a.k === 'between' && !a.not) {
        const cs = this.side(a.e, slot, scope, exprKeys);
        if (cs) {
          const lo = this.ex.compileTracked(a.lo, scope), hi = this.ex.compileTracked(a.hi, scope);
          if (avail(lo.slots)) terms.push({ col: cs.idx, op: '>=', e: lo.ce, colCe: cs.ce });
          if (avail(hi.slots)) terms.push({ col: cs.idx, op: '<=', e: hi.ce, colCe: cs.ce });
        }
      } else if (a.k === 'in' && !a.not && a.list && a.list.length > 0) {
        const cs = this.side(a.e, slot, scope, exprKeys);
        if (cs) {
          const items = a.list.map((x) => this.ex.compileTracked(x, scope));
          if (items.every((x) => avail(x.slots))) terms.push({ col: cs.idx, op: 'IN', e: items[0]!.ce, colCe: cs.ce, list: items.map((x) => x.ce) });
        }
      }
    }
    const rowidIdx = table.cols.length;
    const isRowid = (t: Term): boolean => t.col === rowidIdx;
    const usableRowid = (t: Term): boolean => {
      // The rowid has INTEGER affinity; a comparison that would apply TEXT to it cannot use the key.
      return comparisonAffinity('INTEGER', t.e.aff) !== null || t.e.aff === null;
    };
    if (l.indexed === undefined || l.indexed === null) {
      const eq = terms.find((t) => isRowid(t) && (t.op === '=' || t.op === 'IS') && usableRowid(t));
      if (eq) return { k: 'rowidEq', values: [eq.e] };
      const inl = terms.find((t) => isRowid(t) && t.op === 'IN');
      if (inl) return { k: 'rowidEq', values: inl.list! };
    }
    // Index candidates.
    let best: { access: Access; score: number; lists: number } | undefined;
    if (l.indexed && indexes.length === 0) throw sqlError(`no such index: ${l.indexed}`);
    for (const ix of indexes) {
      if (ix.where && !this.partialImplied(ix, cands)) continue;
      const eq: CExpr[][] = [];
      const eqAff: (Affinity | null)[] = [];
      const parts: string[] = [];
      let lists = 0;
      let k = 0;
      for (; k < ix.cols.length; k++) {
        const ic = ix.cols[k]!;
        const key = ic.col >= 0 ? ic.col : exprKey(ic.e!);
        const t = terms.find((t) => t.col === key && t.op === '=' && this.indexUsable(table, ic, t));
        if (t) {
          eq.push([t.e]);
          eqAff.push(comparisonAffinity(keyAffinity(table, ic, t), t.e.aff));
        } else {
          // `x IN (list)` compares under x's affinity and the collation x has against the first
          // item (as the IN expression itself does), so every item probes the same way.
          const inl = terms.find((t) => t.col === key && t.op === 'IN' && comparisonCollation(t.colCe, t.e) === ic.coll);
          if (!inl) break;
          eq.push(inl.list!);
          eqAff.push(comparisonAffinity(keyAffinity(table, ic, inl), null));
          lists++;
        }
        parts.push(`${ic.name ?? '<expr>'}=?`);
      }
      let lo: Bound | undefined, hi: Bound | undefined;
      let rangeAff: Affinity | null = null;
      const next = ix.cols[k];
      if (next && !next.desc) {
        const key = next.col >= 0 ? next.col : exprKey(next.e!);
        for (const t of terms) {
          if (t.col !== key || !this.indexUsable(table, next, t)) continue;
          if ((t.op === '>' || t.op === '>=') && !lo) { lo = { e: t.e, incl: t.op === '>=' }; rangeAff = comparisonAffinity(keyAffinity(table, next, t), t.e.aff); }
          if ((t.op === '<' || t.op === '<=') && !hi) { hi = { e: t.e, incl: t.op === '<=' }; rangeAff = rangeAff ?? comparisonAffinity(keyAffinity(table, next, t), t.e.aff); }
        }
        if (lo) parts.push(`${next.name ?? '<expr>'}>?`);
        if (hi) parts.push(`${next.name ?? '<expr>'}<?`);
      }
      if (eq.length === 0 && !lo && !hi) continue;
      // With IN lists a unique index makes several one-row probes: better than an equality on a
      // non-unique index, not as good as one more equality column.
      const full = eq.length === ix.cols.length && ix.unique;
      const score = (full ? (lists ? 5 : 1000) : 0) + eq.length * 10 + (lo ? 3 : 0) + (hi ? 3 : 0);
      // On a tie, single values beat IN lists (one probe instead of several).
      if (!best || score > best.score || (score === best.score && lists < best.lists)) {
        best = { access: { k: 'index', index: ix, eq, eqAff, lo, hi, rangeAff, covering: false, reverse: false, desc: parts.join(' AND ') }, score, lists };
      }
    }
    if (best && (best.score >= 1000 || l.indexed)) return best.access;
    if (l.indexed === undefined) {
      const lo = terms.find((t) => isRowid(t) && (t.op === '>' || t.op === '>=') && usableRowid(t));
      const hi = terms.find((t) => isRowid(t) && (t.op === '<' || t.op === '<=') && usableRowid(t));
      if ((lo || hi) && (!best || best.score < 10)) {
        return { k: 'rowidRange', lo: lo && { e: lo.e, incl: lo.op === '>=' }, hi: hi && { e: hi.e, incl: hi.op === '<=' }, reverse: false };
      }
    }
    if (best) return best.access;
    if (l.indexed && !indexes[0]!.where) {
      // INDEXED BY forces the index even when no term can search it: a full index scan.
      return { k: 'index', index: indexes[0]!, eq: [], eqAff: [], lo: undefined, hi: undefined, rangeAff: null, covering: false, reverse: false, desc: '' };
    }
    return { k: 'scan', reverse: false };
  }

  /**
   * If `e` is a plain reference to a column (or the rowid) of the source at `slot`, returns it; if
   * it is an expression over that source alone that an index holds (its key in `exprKeys`), returns
   * the expression's key.
   */
  private side(e: A.Expr, slot: number, scope: Scope, exprKeys: Set<string>): { idx: number | string; ce: CExpr } | undefined {
    if (e.k !== 'col') {
      if (exprKeys.size === 0 || e.k === 'lit' || e.k === 'param') return undefined;
      const key = exprKey(e);
      if (!exprKeys.has(key)) return undefined;
      // Structural equality ignores qualifiers, so every column must come from this source.
      const r = this.ex.compileTracked(e, scope);
      if (r.slots.size !== 1 || !r.slots.has(slot)) return undefined;
      return { idx: key, ce: r.ce };
    }
    const r = this.ex.compileTracked(e, scope);
    if (!r.ce.col || r.ce.col.slot !== slot) return undefined;
    const t = r.ce.col.src.table;
    // The INTEGER PRIMARY KEY column is the rowid.
    if (t && t.rowidAlias === r.ce.col.idx) return { idx: t.cols.length, ce: r.ce };
    return { idx: r.ce.col.idx, ce: r.ce };
  }

  /** Whether a comparison term can be answered from an index column (affinity and collation agree). */
  private indexUsable(table: Table, ic: IndexColumn, t: { e: CExpr; colCe: CExpr; colRight?: boolean }): boolean {
    const caff = keyAffinity(table, ic, t);
    const aff = comparisonAffinity(caff, t.e.aff);
    const okAff = aff === null || (aff === 'NUMERIC' && caff !== null && NUMERIC.has(caff)) || (aff === 'TEXT' && caff === 'TEXT');
    if (!okAff) return false;
    // The comparison's collation depends on which side the column is on (the left one wins).
    const cmpColl = t.colRight ? comparisonCollation(t.e, t.colCe) : comparisonCollation(t.colCe, t.e);
    return cmpColl === ic.coll;
  }

  /** A partial index is usable when its WHERE appears verbatim among the query's conjuncts. */
  private partialImplied(ix: Index, cands: Conjunct[]): boolean {
    const want = JSON.stringify(ix.where, bigintJson);
    return cands.some((c) => JSON.stringify(c.ast, tablelessJson) === want);
  }

  /** SQLite computes a generated column where it is read, so only reading one caught in a loop fails. */
  private checkLoops(levels: Level[]): void {
    for (const l of levels) {
      const t = l.table;
      if (t && tableRt(t).loop !== undefined) checkGeneratedLoops(t, l.src.used);
    }
  }

  private isCovering(l: Level, ix: Index): boolean {
    const have = new Set(ix.cols.filter((c) => c.col >= 0).map((c) => c.col));
    const table = l.table!;
    for (const u of l.src.used) {
      if (u === table.cols.length || u === table.rowidAlias) continue;
      if (!have.has(u)) return false;
    }
    return true;
  }

  private orderFromAccess(l: Level, order: { ce: CExpr; desc: boolean; nulls: string | undefined; coll: Collation }[]): boolean {
    const table = l.table!;
    const slot = l.src.slot;
    const defaultNulls = (o: { desc: boolean; nulls: string | undefined }): boolean => o.nulls === undefined || (o.nulls === 'FIRST') === !o.desc;
    const colOf = (o: { ce: CExpr }): number | undefined => (o.ce.col && o.ce.col.slot === slot ? o.ce.col.idx : undefined);
    const isRowidCol = (c: number | undefined): boolean => c === table.cols.length || (c !== undefined && c === table.rowidAlias);
    const a = l.access;
    if ((a.k === 'scan' || a.k === 'rowidRange') && order.length >= 1 && isRowidCol(colOf(order[0]!)) && defaultNulls(order[0]!)) {
      a.reverse = order[0]!.desc;
      return true;
    }
    const tryIndex = (ix: Index, skip: number): boolean | 'reverse' => {
      let dir: boolean | undefined;
      let k = skip;
      for (const o of order) {
        const c = colOf(o);
        if (c === undefined || !defaultNulls(o)) return false;
        if (isRowidCol(c) && k === ix.cols.length) {
          const d = o.desc;
          if (dir !== undefined && d !== dir) return false;
          dir = d;
          k++;
          continue;
        }
        const ic = ix.cols[k];
        if (!ic || ic.col !== c || ic.coll !== o.coll) return false;
        const d = o.desc !== ic.desc;
        if (dir !== undefined && d !== dir) return false;
        dir = d;
        k++;
      }
      return dir ? 'reverse' : true;
    };
    if (a.k === 'index') {
      if (a.lo || a.hi || a.eq.length) {
        // Columns fixed to one value need no order; from the first IN list on, the probes run in
        // index order, so the order continues there.
        const list = a.eq.findIndex((l) => l.length > 1);
        const r = tryIndex(a.index, list < 0 ? a.eq.length : list);
        if (r) { a.reverse = r === 'reverse'; return true; }
      }
      return false;
    }
    if (a.k === 'scan' && l.indexed !== null) {
      for (const ix of table.indexes) {
        if (ix.where) continue;
        if (l.indexed && ix.name.toLowerCase() !== l.indexed.toLowerCase()) continue;
        const r = tryIndex(ix, 0);
        if (r) {
          l.access = { k: 'index', index: ix, eq: [], eqAff: [], lo: undefined, hi: undefined, rangeAff: null, covering: false, reverse: r === 'reverse', desc: '' };
          return true;
        }
      }
    }
    return false;
  }

  // ---- execution ----
  buildLoop(levels: Level[]): (env: Env, ctl: { stop: boolean }, inner: () => void) => void {
    const runners = levels.map((l) => this.levelRunner(l));
    const n = levels.length;
    // Closures made per run are costly (and named ones more so under transpilers), so the common
    // shapes get direct code.
    if (n === 0) return (_env, _ctl, inner) => { inner(); };
    if (n === 1) { const r0 = runners[0]!; return (env, ctl, inner) => { r0(env, ctl, inner); }; }
    function step(i: number, env: Env, ctl: { stop: boolean }, inner: () => void): void {
      if (i === n) { inner(); return; }
      runners[i]!(env, ctl, () => step(i + 1, env, ctl, inner));
    }
    return (env, ctl, inner) => step(0, env, ctl, inner);
  }

  private levelRunner(l: Level): (env: Env, ctl: { stop: boolean }, next: () => void) => void {
    const slot = l.src.slot;
    const filters = l.filters.map((f) => f.fn);
    const on = l.on.map((f) => f.fn);
    const nf = filters.length, non = on.length;
    const rows = this.rowSource(l);
    const width = l.src.cols.length + (l.src.rowidIdx >= 0 ? 1 : 0);
    const nullRow: Value[] = new Array(width).fill(null);
    const left = l.left;
    return (env, ctl, next) => {
      let matched = false;
      rows(env, (row: Value[]): boolean => {
        env.rows[slot] = row;
        for (let i = 0; i < non; i++) if (truth(on[i]!(env)) !== true) return true;
        matched = true;
        for (let i = 0; i < nf; i++) if (truth(filters[i]!(env)) !== true) return true;
        next();
        return !ctl.stop;
      });
      if (left && !matched && !ctl.stop) {
        env.rows[slot] = nullRow;
        for (let i = 0; i < nf; i++) if (truth(filters[i]!(env)) !== true) return;
        next();
      }
    };
  }

  /** The row producer for a level's access path: calls `visit` per row until it returns false. */
  private rowSource(l: Level): (env: Env, visit: (row: Value[]) => boolean) => void {
    if (l.produce) {
      const produce = l.produce;
      return (env, visit) => { for (const r of produce(env)) if (!visit(r)) return; };
    }
    const table = l.table!;
    const a = l.access;
    switch (a.k) {
      case 'scan': {
        const rev = a.reverse;
        return (env, visit) => { for (const r of scanRows(env.tx, table, undefined, undefined, rev)) if (!visit(r)) return; };
      }
      case 'rowidEq': {
        const vals = a.values.map((v) => v.fn);
        const prefix = table.prefix;
        if (vals.length === 1) {
          const f0 = vals[0]!;
          return (env, visit) => {
            const id = rowidProbe(f0(env));
            if (id === undefined) return;
            const b = env.tx.get(rowKey(prefix, id));
            if (b) visit(decodeRow(table, id, b));
          };
        }
        return (env, visit) => {
          const seen = vals.length > 1 ? new Set<bigint>() : undefined;
          const ids: bigint[] = [];
          for (const f of vals) {
            const id = rowidProbe(f(env));
            if (id === undefined || seen?.has(id)) continue;
            seen?.add(id);
            ids.push(id);
          }
          if (ids.length > 1) ids.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
          for (const id of ids) {
            const b = env.tx.get(rowKey(prefix, id));
            if (b && !visit(decodeRow(table, id, b))) return;
          }
        };
      }
      case 'rowidRange': {
        const lo = a.lo, hi = a.hi, rev = a.reverse;
        return (env, visit) => {
          let from: bigint | undefined, to: bigint | undefined;
          if (lo) { const v = rangeBound(lo.e.fn(env), 'lo'); if (v === null) return; from = v; }
          if (hi) { const v = rangeBound(hi.e.fn(env), 'hi'); if (v === null) return; to = v; }
          if (from !== undefined && to !== undefined && from > to) return;
          for (const r of scanRows(env.tx, table, from, to, rev)) if (!visit(r)) return;
        };
      }
      case 'index': {
        const ix = a.index;
        const eq = a.eq.map((l) => l.map((e) => e.fn));
        const eqAff = a.eqAff;
        const colls = ix.cols.map((c) => c.coll);
        const descs = ix.cols.map((c) => c.desc);
        const lo = a.lo, hi = a.hi, rangeAff = a.rangeAff;
        const covering = a.covering;
        const rev = a.reverse;
        const cols = ix.cols;
        const ncols = table.cols.length;
        const k = eq.length;
        /** Visits the entries under `base` (the prefix the equalities fixed); false once `visit` stops. */
        const search = (env: Env, base: Uint8Array, visit: (row: Value[]) => boolean): boolean => {
          let gte: Uint8Array = base, lt: Uint8Array = prefixEnd(base);
          if (lo || hi) {
            if (lo) {
              let v = lo.e.fn(env);
              if (v === null) return true;
              if (rangeAff) v = applyAffinity(v, rangeAff);
              const kb = keyWith(base, v, colls[k]!);
              gte = lo.incl ? kb : prefixEnd(kb);
            } else {
              gte = concatBytes(base, new Uint8Array([KEY_NULL + 1]));
            }
            if (hi) {
              let v = hi.e.fn(env);
              if (v === null) return true;
              if (rangeAff) v = applyAffinity(v, rangeAff);
              const kb = keyWith(base, v, colls[k]!);
              lt = hi.incl ? prefixEnd(kb) : kb;
            }
          }
          const entries = env.tx.scan({ gte, lt, reverse: rev });
          for (const { key, value } of entries) {
            const rowid = readRowid(key, key.length - 8);
            let row: Value[] | null;
            if (covering) {
              const vals = decodeRecord(value);
              row = new Array<Value>(ncols + 1).fill(null);
              for (let i = 0; i < cols.length; i++) if (cols[i]!.col >= 0) row[cols[i]!.col] = vals[i]!;
              row[ncols] = rowid;
              if (table.rowidAlias >= 0) row[table.rowidAlias] = rowid;
            } else {
              const b = env.tx.get(rowKey(table.prefix, rowid));
              if (!b) continue;
              row = decodeRow(table, rowid, b);
            }
            if (!visit(row)) return false;
          }
          return true;
        };
        if (a.eq.every((l) => l.length === 1)) {
          const w = new ByteWriter(64);
          return (env, visit) => {
            w.reset();
            w.bytes(ix.prefix);
            for (let i = 0; i < k; i++) {
              let v = eq[i]![0]!(env);
              if (v === null) return; // = NULL never matches (IS NULL terms are not used as probes)
              const aff = eqAff[i];
              if (aff) v = applyAffinity(v, aff);
              writeKeyValue(w, v, colls[i], descs[i]);
            }
            search(env, w.result(), visit);
          };
        }
        return (env, visit) => {
          // Every combination of the listed values is one prefix. Encoded, the values sort in
          // index order and equal values (1 and 1.0, or 'a' and 'A' under NOCASE) encode alike,
          // so sorting and dropping repeats gives index-ordered probes that never meet a row twice.
          let prefixes: Uint8Array[] = [ix.prefix];
          for (let i = 0; i < k; i++) {
            const keys: Uint8Array[] = [];
            for (const f of eq[i]!) {
              let v = f(env);
              if (v === null) continue;
              const aff = eqAff[i];
              if (aff) v = applyAffinity(v, aff);
              const w = new ByteWriter(16);
              writeKeyValue(w, v, colls[i], descs[i]);
              keys.push(w.result());
            }
            keys.sort(compareBytes);
            const next: Uint8Array[] = [];
            for (const p of prefixes) {
              for (let j = 0; j < keys.length; j++) {
                if (j > 0 && compareBytes(keys[j]!, keys[j - 1]!) === 0) continue;
                next.push(concatBytes(p, keys[j]!));
              }
            }
            prefixes = next;
          }
          if (rev) prefixes.reverse();
          for (const p of prefixes) if (!search(env, p, visit)) return;
        };
      }
    }
  }

  /** Compiles a FROM list with a WHERE clause into a row loop (used by UPDATE ... FROM and DELETE). */
  compileLoop(from: A.JoinItem[], where: A.Expr | undefined, scope: Scope, parent: Scope | undefined, extra: Level[] = []): { levels: Level[]; run: (env: Env, inner: () => void) => void; explain: (out: PlanRow[]) => void } {
    const { levels: fromLevels, onTerms } = from.length ? this.buildFrom(from, scope, parent) : { levels: [] as Level[], onTerms: [] };
    const levels = [...extra, ...fromLevels];
    const slotLevel = new Map<number, number>();
    levels.forEach((l, i) => slotLevel.set(l.src.slot, i));
    scope.noAgg = 'WHERE';
    const whereTerms: Conjunct[] = conjuncts(where).map((e) => ({ ...this.ex.compileTracked(e, scope), ast: e }));
    const onCompiled = onTerms.map((t) => ({ level: t.level + extra.length, c: { ...this.ex.compileTracked(t.e, scope), ast: t.e } }));
    for (const l of fromLevels) l.resolveArgs?.([...whereTerms, ...onCompiled.map((o) => o.c)].map((t) => t.ast), false);
    scope.noAgg = undefined;
    const levelOf = (slots: Set<number>): number => {
      let m = 0;
      for (const s of slots) { const l = slotLevel.get(s); if (l !== undefined && l > m) m = l; }
      return m;
    };
    const cands: Conjunct[][] = levels.map(() => []);
    const constFilters: CExpr[] = [];
    for (const c of whereTerms) {
      if (!levels.length) { constFilters.push(c.ce); continue; }
      levels[levelOf(c.slots)]!.filters.push(c.ce);
      for (let k = 0; k < levels.length; k++) if (!levels[k]!.left && c.slots.has(levels[k]!.src.slot)) cands[k]!.push(c);
    }
    for (const { level, c } of onCompiled) {
      const l = levels[level]!;
      if (l.left) { l.on.push(c.ce); cands[level]!.push(c); } else {
        levels[Math.max(level, levelOf(c.slots))]!.filters.push(c.ce);
        for (let k = 0; k < levels.length; k++) if (!levels[k]!.left && c.slots.has(levels[k]!.src.slot)) cands[k]!.push(c);
      }
    }
    this.pushIntoCompounds(levels, whereTerms, onCompiled, scope);
    let loop: ((env: Env, ctl: { stop: boolean }, inner: () => void) => void) | undefined;
    // Access paths are chosen on first use, after every expression of the statement has marked
    // the columns it reads (covering decisions depend on that).
    const plan = (): void => {
      if (loop) return;
      levels.forEach((l, i) => { if (l.table) l.access = this.chooseAccess(l, cands[i]!, slotLevel, i, scope); });
      for (const l of levels) if (l.access.k === 'index') l.access.covering = this.isCovering(l, l.access.index);
      this.checkLoops(levels);
      loop = this.buildLoop(levels);
    };
    return {
      levels,
      run: (env, inner) => {
        for (const f of constFilters) if (truth(f.fn(env)) !== true) return;
        plan();
        loop!(env, { stop: false }, inner);
      },
      explain: (out) => { plan(); for (const l of levels) out.push({ id: out.length + 2, parent: 0, detail: describeLevel(l) }); },
    };
  }

  /**
   * SQLite pushes a WHERE term over one compound subquery's columns down into each arm, where a
   * column has that arm's affinity rather than the compound's; the term also stays in the outer
   * query. So an arm keeps only the rows the term accepts with the arm's affinities. Terms SQLite
   * keeps out (correlated subqueries, non-deterministic functions) stay out here too; CTEs, which
   * SQLite may materialise instead, take terms only while named once (see fromItem).
   */
  private pushIntoCompounds(levels: Level[], whereTerms: Conjunct[], onCompiled: { level: number; c: Conjunct }[], scope: Scope): void {
    // Slots a term reads that belong to no level are its subqueries' own sources.
    const own = (c: Conjunct, l: Level): boolean => levels.every((m) => m === l || !c.slots.has(m.src.slot)) && c.slots.has(l.src.slot);
    levels.forEach((l, i) => {
      if (!l.subQuery?.pushdown) return;
      // Over the right side of a LEFT JOIN only its own ON terms, and WHERE terms that make it inner.
      for (const c of whereTerms) if (own(c, l) && (!l.left || nullRejecting(c.ast, l.src))) this.pushIntoCompound(l, c, scope);
      for (const { level, c } of onCompiled) if (own(c, l) && (level === i || !l.left || nullRejecting(c.ast, l.src))) this.pushIntoCompound(l, c, scope);
    });
  }

  private pushIntoCompound(l: Level, c: Conjunct, scope: Scope): void {
    if (!pushable(c.ast, l.src)) return;
    const correlated = this.correlatedSubqueries;
    // The copies' subqueries never show in EXPLAIN, so they take no labels from the ones that do.
    const labels = this.subqueryCount;
    const filters = l.subQuery!.pushdown!.map((arm) => {
      const src: Source = { ...l.src, slot: this.newSlot(), cols: l.src.cols.map((col, i) => ({ ...col, aff: arm.aff[i] ?? null })), used: new Set() };
      const sc = new Scope(scope.parent);
      sc.sources.push(src);
      sc.noAgg = 'WHERE';
      const ce = this.ex.compileCond(c.ast, sc);
      return (env: Env, row: Value[]): boolean => { env.rows[src.slot] = row; return truth(ce.fn(env)) === true; };
    });
    this.subqueryCount = labels;
    // SQLite keeps out a term with a correlated subquery.
    if (this.correlatedSubqueries !== correlated) return;
    const when = l.pushIf;
    l.subQuery!.pushdown!.forEach((arm, i) => {
      const f = filters[i]!;
      arm.filters.push(when ? (env, row) => !when() || f(env, row) : f);
    });
  }

  /** A level over a table (for DML targets), with the table as a source at a fresh slot. */
  tableLevel(table: Table, name: string, scope: Scope): Level {
    const src = tableSource(table, this.newSlot(), name);
    scope.sources.push(src);
    return { src, table, produce: undefined, subLabel: undefined, subQuery: undefined, left: false, on: [], filters: [], access: { k: 'scan', reverse: false }, indexed: undefined };
  }
}

/** Per-run output state of a SELECT core: DISTINCT, sorting, OFFSET and LIMIT. */
class Delivery {
  readonly ctl = { stop: false };
  constructor(
    private readonly emit: (row: Value[]) => boolean | void,
    private readonly seen: Set<string> | undefined,
    readonly sorted: { k: Value[]; r: Value[] }[] | undefined,
    private readonly colls: Collation[],
    public off: number,
    public lim: number,
  ) {}
  deliver(row: Value[], keys: Value[] | undefined): void {
    if (this.seen) {
      const k = groupKey(row, this.colls);
      if (this.seen.has(k)) return;
      this.seen.add(k);
    }
    if (this.sorted) { this.sorted.push({ k: keys!, r: row }); return; }
    if (this.off > 0) { this.off--; return; }
    if (this.emit(row) === false) { this.ctl.stop = true; return; }
    if (this.lim > 0 && --this.lim === 0) this.ctl.stop = true;
  }
}

/**
 * The affinity of an index column's stored values: the table column's, or for an expression the
 * affinity the matched query expression has (an index stores expression results unconverted).
 */
function keyAffinity(table: Table, ic: IndexColumn, t: { colCe: CExpr }): Affinity | null {
  return ic.col >= 0 ? table.cols[ic.col]!.affinity : t.colCe.aff;
}

/**
 * An expression's structure for matching a WHERE term against an indexed expression: table
 * qualifiers dropped and names folded to lower case (function names already are).
 */
function exprKey(e: A.Expr): string {
  return JSON.stringify(e, (k, v: unknown) => {
    if (v !== null && typeof v === 'object' && (v as { k?: unknown }).k === 'col') return { k: 'col', name: (v as { name: string }).name.toLowerCase() };
    return tablelessJson(k, v);
  });
}

function describeLevel(l: Level): string {
  const name = l.src.name;
  if (!l.table) return `SCAN ${l.subLabel ?? name}`;
  const a = l.access;
  switch (a.k) {
    case 'scan': return `SCAN ${name}`;
    case 'rowidEq': return `SEARCH ${name} USING INTEGER PRIMARY KEY (rowid=?)`;
    case 'rowidRange': {
      const p: string[] = [];
      if (a.lo) p.push('rowid>?');
      if (a.hi) p.push('rowid<?');
      return `SEARCH ${name} USING INTEGER PRIMARY KEY (${p.join(' AND ')})`;
    }
    case 'index': {
      const kind = a.covering ? 'COVERING INDEX' : 'INDEX';
      if (!a.desc) return `SCAN ${name} USING ${kind} ${a.index.name}`;
      return `SEARCH ${name} USING ${kind} ${a.index.name} (${a.desc})`;
    }
  }
}

function keyWith(base: Uint8Array, v: Value, coll: Collation): Uint8Array {
  const w = new ByteWriter(base.length + 16);
  w.bytes(base);
  writeKeyValue(w, v, coll, false);
  return w.result();
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
}

/** The rowid a `rowid = v` probe can match, or undefined when no rowid can equal v. */
function rowidProbe(v: Value): bigint | undefined {
  if (v === null) return undefined;
  const n = applyAffinity(v, 'INTEGER');
  if (typeof n === 'bigint') return n;
  return undefined;
}

/** A superset bound for a rowid range (null = the range is empty). */
function rangeBound(v: Value, side: 'lo' | 'hi'): bigint | undefined | null {
  if (v === null) return null;
  const n = applyAffinity(v, 'INTEGER');
  if (typeof n === 'bigint') return n;
  if (typeof n === 'number') {
    if (Number.isNaN(n)) return null;
    const r = side === 'lo' ? Math.floor(n) : Math.ceil(n);
    if (r < -9223372036854775808) return side === 'lo' ? undefined : null;
    if (r >= 9223372036854775808) return side === 'lo' ? null : undefined;
    return realToInt64(r);
  }
  // Text and blobs sort after every number: `rowid < 'x'` is every row, `rowid > 'x'` none.
  return side === 'lo' ? null : undefined;
}

export function limitValue(v: Value): number {
  if (v === null) throw sqlError('datatype mismatch');
  const n = applyAffinity(v, 'INTEGER');
  if (typeof n !== 'bigint') {
    if (typeof n === 'number' && Number.isInteger(n)) return n;
    throw sqlError('datatype mismatch');
  }
  const i = toInteger(n)!;
  if (i < 0n) return -1;
  return i > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(i);
}

export function orderCompare(a: Value, b: Value, coll: Collation, desc: boolean, nulls: 'FIRST' | 'LAST' | undefined): number {
  if (nulls !== undefined && (a === null) !== (b === null)) {
    return a === null ? (nulls === 'FIRST' ? -1 : 1) : nulls === 'FIRST' ? 1 : -1;
  }
  const c = compareValues(a, b, coll);
  return desc ? -c : c;
}

function compareRows(a: Value[], b: Value[], colls: Collation[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareValues(a[i]!, b[i]!, colls[i]);
    if (c !== 0) return c;
  }
  return 0;
}

function distinctRows(rows: Value[][], key: (r: Value[]) => string): Value[][] {
  const seen = new Set<string>();
  const out: Value[][] = [];
  for (const r of rows) {
    const k = key(r);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r);
  }
  return out;
}

function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}

/** JSON.stringify's replacer for comparing expressions by structure whatever their table qualifiers. */
function tablelessJson(k: string, v: unknown): unknown {
  return k === 'table' ? undefined : bigintJson(k, v);
}

/**
 * A core that only picks columns of one compound subquery passes WHERE terms on to the compound's
 * arms (SQLite flattens it into the outer query, or pushes the term through it).
 */
function projectPushdown(l: Level, outs: CExpr[]): Query['pushdown'] {
  if (!l.subQuery?.pushdown || !outs.every((o) => o.col?.src === l.src)) return undefined;
  const idx = outs.map((o) => o.col!.idx);
  const when = l.pushIf;
  return l.subQuery.pushdown.map((arm) => {
    const filters: ((env: Env, row: Value[]) => boolean)[] = [];
    arm.filters.push((env, row) => filters.length === 0 || (when !== undefined && !when()) || filters.every((f) => f(env, idx.map((i) => row[i]!))));
    return { aff: idx.map((i) => arm.aff[i] ?? null), filters };
  });
}

/**
 * Whether SQLite would push `e` into subquery `src`, bar correlated subqueries: no non-deterministic
 * function in it, and every name outside its subqueries one of `src`'s columns (not a result alias,
 * which WHERE may also name).
 */
function pushable(e: A.Expr, src: Source): boolean {
  const ok = (x: A.Expr): boolean => pushable(x, src);
  switch (e.k) {
    case 'lit': case 'param': return true;
    case 'col': return (e.table === undefined || e.table.toLowerCase() === src.name.toLowerCase()) && src.cols.some((c) => c.name.toLowerCase() === e.name.toLowerCase());
    case 'unary': case 'isnull': case 'cast': case 'collate': return ok(e.e);
    case 'bin': return ok(e.l) && ok(e.r);
    case 'like': return ok(e.l) && ok(e.r) && (!e.esc || ok(e.esc));
    case 'between': return ok(e.e) && ok(e.lo) && ok(e.hi);
    case 'in': return !e.table && ok(e.e) && (e.list ?? []).every(ok);
    case 'subq': case 'exists': return true;
    case 'case': return [e.base, e.else, ...e.whens.flat()].every((x) => !x || ok(x));
    case 'fn': return SCALARS[e.name]?.deterministic === true && e.args.every(ok);
    default: return false;
  }
}

/**
 * Whether `e` is false or NULL whenever `src`'s row is all NULL, so that a WHERE term over the right
 * side of a LEFT JOIN drops its NULL-extended rows (SQLite then treats the join as inner); a
 * conservative subset of SQLite's sqlite3ExprImpliesNonNullRow.
 */
function nullRejecting(e: A.Expr, src: Source): boolean {
  const isCol = (x: A.Expr): boolean => {
    while (x.k === 'collate' || (x.k === 'unary' && x.op !== 'NOT')) x = x.e;
    return x.k === 'col' && (x.table === undefined || x.table.toLowerCase() === src.name.toLowerCase());
  };
  switch (e.k) {
    case 'bin': return ['=', '==', '<', '>', '<=', '>=', '!=', '<>'].includes(e.op) && (isCol(e.l) || isCol(e.r));
    case 'like': return isCol(e.l);
    case 'between': case 'in': return isCol(e.e);
    case 'isnull': return e.not && isCol(e.e);
    default: return false;
  }
}

const KIND_NUM = 1, KIND_TEXT = 2, KIND_BLOB = 4;

/**
 * The kinds of value (KIND_* bits) an expression may produce, as SQLite guesses them when typing
 * compound subquery columns; `colAff` gives a column reference's affinity, `subqAff` the compiled
 * affinity of `e` when it is a scalar subquery.
 */
function valueKinds(e: A.Expr, colAff: (e: A.Expr & { k: 'col' }) => Affinity | null, subqAff?: Affinity | null): number {
  switch (e.k) {
    case 'lit':
      if (e.v === null) return 0;
      return typeof e.v === 'string' ? KIND_TEXT : e.v instanceof Uint8Array ? KIND_BLOB : KIND_NUM;
    case 'collate': return valueKinds(e.e, colAff, subqAff);
    case 'unary': return e.op === '+' ? valueKinds(e.e, colAff) : KIND_NUM;
    case 'bin': return e.op === '||' ? KIND_TEXT | KIND_BLOB : KIND_NUM;
    case 'param': case 'fn': return KIND_NUM | KIND_TEXT | KIND_BLOB;
    case 'cast': return kindsOfAffinity(affinityOf(e.type));
    case 'col': return kindsOfAffinity(colAff(e));
    // A nested subquery's affinity is not known here; it counts as any kind.
    case 'subq': return kindsOfAffinity(subqAff ?? null);
    case 'case': {
      let k = e.else ? valueKinds(e.else, colAff) : 0;
      for (const [, then] of e.whens) k |= valueKinds(then, colAff);
      return k;
    }
    default: return KIND_NUM;
  }
}

function kindsOfAffinity(aff: Affinity | null): number {
  if (aff !== null && NUMERIC.has(aff)) return KIND_NUM | KIND_BLOB;
  if (aff === 'TEXT') return KIND_TEXT | KIND_BLOB;
  return KIND_NUM | KIND_TEXT | KIND_BLOB;
}

/**
 * The affinity of result column `i` of a compound (a FROM-clause subquery or view column, or a
 * CREATE TABLE AS column type). It takes the first arm
 * that gives the column an affinity, and drops to BLOB when a later arm may produce values that
 * affinity would convert (SQLite's sqlite3SubqueryColumnTypes), so comparisons do not convert them.
 */
function compoundAffinity(arms: { aff: (Affinity | null)[]; kinds: number[] }[], i: number): Affinity | null {
  if (arms.length < 2) return arms[0]?.aff[i] ?? null;
  let j = 0;
  let kinds = 0;
  let aff = arms[0]!.aff[i] ?? null;
  while (aff === null && j + 1 < arms.length) {
    kinds |= arms[j]!.kinds[i]!;
    j++;
    aff = arms[j]!.aff[i] ?? null;
  }
  if (aff === null || aff === 'BLOB') return aff;
  for (let k = j + 1; k < arms.length; k++) kinds |= arms[k]!.kinds[i]!;
  if (aff === 'TEXT' ? kinds & KIND_NUM : kinds & KIND_TEXT) return 'BLOB';
  return aff;
}

/** The name SQLite gives a column reference: a rowid takes its INTEGER PRIMARY KEY column's name. */
export function columnName(src: Source, idx: number): string {
  const t = src.table;
  if (t && idx === src.rowidIdx) return t.rowidAlias >= 0 ? t.cols[t.rowidAlias]!.name : 'rowid';
  return src.cols[idx]!.name;
}

/**
 * The result expression under COLLATE (and, once names are resolved, under likely(), unlikely()
 * and likelihood(), which SQLite marks only then), whose name a subquery or view column takes.
 */
function skipCollate(e: A.Expr, resolved = false): A.Expr {
  for (;;) {
    if (e.k === 'collate') e = e.e;
    else if (resolved && e.k === 'fn' && ['likely', 'unlikely', 'likelihood'].includes(e.name) && e.args.length > 0) e = e.args[0]!;
    else return e;
  }
}

/**
 * SQLite's column names for a table made from a query (sqlite3ColumnsFromExprList): `true` and
 * `false` become columnN, and a name already taken (case-insensitively) takes ":1", ":2" ... in
 * place of any such suffix it had. (From the fifth try on SQLite numbers at random; this goes on.)
 */
function sourceNames(names: string[]): string[] {
  const seen = new Set<string>();
  return names.map((n, i) => {
    let name = /^(true|false)$/i.test(n) ? `column${i + 1}` : n;
    for (let cnt = 1; seen.has(name.toLowerCase()); cnt++) name = `${name.replace(/:[0-9]*$/, '')}:${cnt}`;
    seen.add(name.toLowerCase());
    return name;
  });
}

/** A query over fixed rows (empty sqlite_temp_schema and similar). */
export function constQuery(columns: string[], rows: Value[][]): Query {
  return {
    columns, aff: columns.map(() => null), colls: columns.map(() => null), declTypes: columns.map(() => ''), correlated: false,
    run: (_env, emit) => { for (const r of rows) if (emit(r) === false) return; },
    explain: () => {},
  };
}

export { INT64_MAX, INT64_MIN };
export type { Level, Schema };
