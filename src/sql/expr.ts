/**
 * Expression compiler: turns AST expressions into closures over an environment of current rows,
 * resolving names once at compile time. Carries SQLite's affinity and collation rules for
 * comparisons so that evaluation does no lookups.
 */
import type * as A from './ast.ts';
import type { Table } from './catalog.ts';
import type { Tx } from './tx.ts';
import { groupKey } from './codec.ts';
import { SqlError, sqlError } from './errors.ts';
import { AGGREGATES, SCALARS, globMatch, likeMatch, type Accumulator, type FnContext } from './functions.ts';
import {
  add, affinityOf, applyAffinity, bitnot, bitop, boolValue, checkCollation, compareValues, concat, div, mul, negate, rem, sub,
  toInteger, toNumericCast, toReal, toText, truth, toBlob,
  type Affinity, type Collation, type Value,
} from './value.ts';

/** The state expressions read while a statement runs. */
export interface Env {
  /** Current row of each source, by slot: column values, then the rowid at index `cols.length`. */
  rows: (Value[] | null)[];
  params: Value[];
  /** Finished aggregate values of the current group (aggregate queries only). */
  agg: Value[] | null;
  fn: FnContext;
  /** Distinguishes executions, so uncorrelated subqueries are computed once per execution. */
  run: number;
  /** The transaction the statement reads and writes through. */
  tx: Tx;
}

export type Fn = (env: Env) => Value;

export interface CExpr {
  fn: Fn;
  /** Affinity of the expression (columns and CASTs have one; others null, SQLite's "none"). */
  aff: Affinity | null;
  coll: Collation | null;
  explicitColl: boolean;
  /** Set when the expression is a plain column reference. */
  col?: { slot: number; idx: number; src: Source };
  /** A constant (no column, parameter or non-deterministic function). */
  isConst: boolean;
  /** True when it reads a parameter, directly or inside. */
  usesParam?: boolean;
}

export interface SourceCol {
  name: string;
  aff: Affinity | null;
  coll: Collation;
  hidden: boolean;
}

/** One FROM item as expressions see it. */
export interface Source {
  slot: number;
  name: string;
  table: Table | undefined;
  cols: SourceCol[];
  /** Index of the rowid in the row array, or -1 when the source has none (subqueries). */
  rowidIdx: number;
  /** Column indexes read anywhere in the statement (for covering-index decisions). */
  used: Set<number>;
  /** The source's nulls-extended side of a LEFT JOIN. */
  leftJoined: boolean;
  /** The columns matched by USING/NATURAL: qualified-less lookups resolve to the left source. */
  usingHidden?: Set<string>;
}

export interface AggCall {
  name: string;
  args: CExpr[];
  distinct: boolean;
  star: boolean;
  filter: CExpr | undefined;
  coll: Collation;
}

export class Scope {
  sources: Source[] = [];
  /** When set, aggregate calls compile to reads of `env.agg`. */
  aggs: AggCall[] | undefined;
  /** Result-column aliases usable as names (ORDER BY, WHERE fallback, GROUP BY). */
  aliases: Map<string, A.Expr> | undefined;
  /** Set when an inner scope resolved a name here (the inner query is correlated). */
  correlated = false;
  /** Where aggregate calls are refused, with the clause name for the message. */
  noAgg: string | undefined;
  constructor(readonly parent: Scope | undefined) {}
}

/** What the expression compiler needs from the statement compiler (subqueries). */
export interface SubqueryHost {
  compileSubquery(select: A.Select, scope: Scope): { run(env: Env, emit: (row: Value[]) => boolean | void): void; aff: (Affinity | null)[]; colls: (Collation | null)[]; ncols: number; correlated: boolean };
}

const NUMERIC_AFF = new Set<Affinity>(['INTEGER', 'REAL', 'NUMERIC']);

/** The affinity SQLite applies to both operands of a comparison (null = none). */
export function comparisonAffinity(a: Affinity | null, b: Affinity | null): Affinity | null {
  if (a !== null && b !== null) {
    if (NUMERIC_AFF.has(a) || NUMERIC_AFF.has(b)) return 'NUMERIC';
    return null;
  }
  const one = a ?? b;
  if (one === null || one === 'BLOB') return null;
  return NUMERIC_AFF.has(one) ? 'NUMERIC' : one;
}

/** A comparison under TEXT affinity turns numbers into text only when the other operand is text. */
function convertsForComparison(a: Value, b: Value, aff: Affinity): boolean {
  return aff !== 'TEXT' || typeof a === 'string' || typeof b === 'string';
}

export function comparisonCollation(l: CExpr, r: CExpr): Collation {
  if (l.explicitColl && l.coll) return l.coll;
  if (r.explicitColl && r.coll) return r.coll;
  return l.coll ?? r.coll ?? 'BINARY';
}

function lit(v: Value): CExpr {
  return { fn: () => v, aff: null, coll: null, explicitColl: false, isConst: true };
}

const ROWID_NAMES = ['rowid', 'oid', '_rowid_'];

/** SQLite keeps a REAL-affinity integer in [-2^47, 2^47) as an integer tagged REAL (see intReal). */
const INT_REAL = 2 ** 47;

export class ExprCompiler {
  /** When set, every resolved column adds its source slot here (the planner's dependency sets). */
  trackSlots: Set<number> | undefined;
  /**
   * Column references (`nodes`, of the source in `slot`) that read a REAL column's integral value
   * within ±2^47 as an integer: SQLite's new row in INSERT and UPDATE RETURNING holds such values
   * as integers tagged REAL (OP_Affinity), which an expression passing them through returns as
   * integers.
   */
  intReal: { nodes: Set<A.Expr>; slot: number } | undefined;
  constructor(private readonly host: SubqueryHost) {}

  /** Compiles `e` and reports which source slots it reads. */
  compileTracked(e: A.Expr, scope: Scope): { ce: CExpr; slots: Set<number> } {
    const saved = this.trackSlots;
    const slots = new Set<number>();
    this.trackSlots = slots;
    try {
      return { ce: this.compileCond(e, scope), slots };
    } finally {
      this.trackSlots = saved;
      if (saved) for (const x of slots) saved.add(x);
    }
  }

  /** Finds a column by name; returns null when no source in any scope has it. */
  resolve(e: { table: string | undefined; name: string }, scope: Scope): { src: Source; idx: number; scope: Scope } | null {
    const lname = e.name.toLowerCase();
    const ltable = e.table?.toLowerCase();
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      let found: { src: Source; idx: number } | null = null;
      for (const src of s.sources) {
        if (ltable !== undefined && src.name.toLowerCase() !== ltable) continue;
        let idx = src.cols.findIndex((c) => c.name.toLowerCase() === lname);
        if (idx < 0 && src.rowidIdx >= 0 && ROWID_NAMES.includes(lname)) idx = src.rowidIdx;
        if (idx < 0) continue;
        if (ltable === undefined && src.usingHidden?.has(lname)) continue;
        if (found) {
          if (ltable === undefined) throw sqlError(`ambiguous column name: ${e.name}`);
          continue;
        }
        found = { src, idx };
      }
      if (found) {
        if (s !== scope) for (let t: Scope | undefined = scope; t && t !== s; t = t.parent) t.correlated = true;
        return { ...found, scope: s };
      }
    }
    return null;
  }

  /**
   * Compiles a condition (WHERE, ON, HAVING, CASE WHEN): AND and OR short-circuit there, as in
   * SQLite's jump code, while in value context both operands are evaluated.
   */
  compileCond(e: A.Expr, scope: Scope): CExpr {
    if (e.k === 'bin' && (e.op === 'AND' || e.op === 'OR')) {
      const l = this.compileCond(e.l, scope), r = this.compileCond(e.r, scope);
      const lf = l.fn, rf = r.fn;
      const fn: Fn = e.op === 'AND'
        ? (env) => {
          const a = truth(lf(env));
          if (a === false) return 0n;
          const b = truth(rf(env));
          if (b === false) return 0n;
          return a === null || b === null ? null : 1n;
        }
        : (env) => {
          const a = truth(lf(env));
          if (a === true) return 1n;
          const b = truth(rf(env));
          if (b === true) return 1n;
          return a === null || b === null ? null : 0n;
        };
      return { fn, aff: null, coll: null, explicitColl: false, isConst: l.isConst && r.isConst, usesParam: l.usesParam || r.usesParam };
    }
    if (e.k === 'between') {
      const and: A.Expr = { k: 'bin', op: 'AND', l: { k: 'bin', op: '>=', l: e.e, r: e.lo }, r: { k: 'bin', op: '<=', l: e.e, r: e.hi } };
      return this.compileCond(e.not ? { k: 'unary', op: 'NOT', e: and } : and, scope);
    }
    if (e.k === 'unary' && e.op === 'NOT' && (e.e.k === 'between' || (e.e.k === 'bin' && (e.e.op === 'AND' || e.e.op === 'OR')))) {
      const x = this.compileCond(e.e, scope);
      const f = x.fn;
      return { ...x, fn: (env) => { const t = truth(f(env)); return t === null ? null : t ? 0n : 1n; } };
    }
    return this.compile(e, scope);
  }

  compile(e: A.Expr, scope: Scope): CExpr {
    switch (e.k) {
      case 'lit': return lit(e.v);
      case 'param': {
        const i = e.idx - 1;
        return { fn: (env) => env.params[i] ?? null, aff: null, coll: null, explicitColl: false, isConst: false, usesParam: true };
      }
      case 'col': {
        const ce = this.column(e, scope);
        if (!this.intReal?.nodes.has(e) || ce.col?.slot !== this.intReal.slot || ce.aff !== 'REAL') return ce;
        const f = ce.fn;
        return { ...ce, fn: (env) => { const v = f(env); return typeof v === 'number' && Number.isInteger(v) && v >= -INT_REAL && v < INT_REAL ? BigInt(v) : v; } };
      }
      case 'collate': {
        const inner = this.compile(e.e, scope);
        return { ...inner, col: undefined, coll: checkCollation(e.coll), explicitColl: true };
      }
      case 'unary': {
        const x = this.compile(e.e, scope);
        const f = x.fn;
        let fn: Fn;
        switch (e.op) {
          case '-': fn = (env) => negate(f(env)); break;
          // Unary plus keeps the collation but, like any operator, leaves the result without affinity.
          case '+': return { ...x, aff: null, col: undefined };
          case '~': fn = (env) => bitnot(f(env)); break;
          default: fn = (env) => { const t = truth(f(env)); return t === null ? null : t ? 0n : 1n; };
        }
        return { fn, aff: null, coll: x.explicitColl ? x.coll : null, explicitColl: x.explicitColl, isConst: x.isConst, usesParam: x.usesParam };
      }
      case 'bin': return this.binary(e, scope);
      case 'isnull': {
        const x = this.compile(e.e, scope);
        const f = x.fn;
        const fn: Fn = e.not ? (env) => (f(env) !== null ? 1n : 0n) : (env) => (f(env) === null ? 1n : 0n);
        return { fn, aff: null, coll: null, explicitColl: false, isConst: x.isConst, usesParam: x.usesParam };
      }
      case 'between': {
        const x = this.compile(e.e, scope), lo = this.compile(e.lo, scope), hi = this.compile(e.hi, scope);
        const ge = this.comparator('>=', x, lo), le = this.comparator('<=', x, hi);
        const not = e.not;
        const fn: Fn = (env) => {
          const v = x.fn(env);
          const a = ge(v, lo.fn(env)), b = le(v, hi.fn(env));
          const r = a === false || b === false ? false : a === null || b === null ? null : true;
          return boolValue(r === null ? null : not ? !r : r);
        };
        return { fn, aff: null, coll: null, explicitColl: false, isConst: x.isConst && lo.isConst && hi.isConst };
      }
      case 'like': return this.like(e, scope);
      case 'in': return this.inExpr(e, scope);
      case 'case': return this.caseExpr(e, scope);
      case 'cast': {
        const x = this.compile(e.e, scope);
        const aff = affinityOf(e.type);
        const f = x.fn;
        let fn: Fn;
        switch (aff) {
          case 'INTEGER': fn = (env) => toInteger(f(env)); break;
          case 'REAL': fn = (env) => toReal(f(env)); break;
          case 'NUMERIC': fn = (env) => toNumericCast(f(env)); break;
          case 'TEXT': fn = (env) => toText(f(env)); break;
          default: fn = (env) => toBlob(f(env)); break;
        }
        return { fn, aff, coll: x.coll, explicitColl: x.explicitColl, isConst: x.isConst, usesParam: x.usesParam };
      }
      case 'fn': return this.call(e, scope);
      case 'exists': {
        const q = this.host.compileSubquery(e.select, new Scope(scope));
        let cacheRun = -1, cached: Value = null;
        const fn: Fn = (env) => {
          if (!q.correlated && cacheRun === env.run) return cached;
          let found = false;
          q.run(env, () => { found = true; return false; });
          cacheRun = env.run;
          cached = found ? 1n : 0n;
          return cached;
        };
        return { fn, aff: null, coll: null, explicitColl: false, isConst: false };
      }
      case 'subq': {
        const q = this.host.compileSubquery(e.select, new Scope(scope));
        if (q.ncols !== 1) throw sqlError(`sub-select returns ${q.ncols} columns - expected 1`);
        let cacheRun = -1, cached: Value = null;
        const fn: Fn = (env) => {
          if (!q.correlated && cacheRun === env.run) return cached;
          let v: Value = null;
          q.run(env, (row) => { v = row[0]!; return false; });
          cacheRun = env.run;
          cached = v;
          return v;
        };
        return { fn, aff: q.aff[0] ?? null, coll: q.colls[0] ?? null, explicitColl: false, isConst: false };
      }
      case 'raise': throw sqlError('RAISE() may only be used within a trigger-program');
    }
  }

  private column(e: { table: string | undefined; name: string }, scope: Scope): CExpr {
    const r = this.resolve(e, scope);
    if (!r) {
      if (e.table === undefined && scope.aliases?.has(e.name.toLowerCase())) {
        const target = scope.aliases.get(e.name.toLowerCase())!;
        const saved = scope.aliases;
        scope.aliases = undefined; // an alias may not refer to itself
        try { return this.compile(target, scope); } finally { scope.aliases = saved; }
      }
      if (e.table === undefined && /^(true|false)$/i.test(e.name)) return lit(e.name.toLowerCase() === 'true' ? 1n : 0n);
      throw sqlError(`no such column: ${e.table ? `${e.table}.` : ''}${e.name}`);
    }
    const { src, idx } = r;
    src.used.add(idx);
    this.trackSlots?.add(src.slot);
    const slot = src.slot;
    const col = src.cols[idx];
    const fn: Fn = (env) => { const row = env.rows[slot]; return row ? row[idx]! : null; };
    return {
      fn, aff: col ? col.aff : 'INTEGER', coll: col ? col.coll : 'BINARY', explicitColl: false,
      col: { slot, idx, src }, isConst: false,
    };
  }

  /** A comparison of two already-evaluated values with the operands' affinity and collation. */
  comparator(op: string, l: CExpr, r: CExpr): (a: Value, b: Value) => boolean | null {
    const aff = comparisonAffinity(l.aff, r.aff);
    const coll = comparisonCollation(l, r);
    const test = (c: number): boolean => {
      switch (op) {
        case '=': return c === 0;
        case '!=': return c !== 0;
        case '<': return c < 0;
        case '<=': return c <= 0;
        case '>': return c > 0;
        default: return c >= 0;
      }
    };
    if (aff === null) {
      return (a, b) => (a === null || b === null ? null : test(compareValues(a, b, coll)));
    }
    return (a, b) => {
      if (a === null || b === null) return null;
      if (!convertsForComparison(a, b, aff)) return test(compareValues(a, b, coll));
      return test(compareValues(applyAffinity(a, aff), applyAffinity(b, aff), coll));
    };
  }

  private binary(e: Extract<A.Expr, { k: 'bin' }>, scope: Scope): CExpr {
    const l = this.compile(e.l, scope), r = this.compile(e.r, scope);
    const lf = l.fn, rf = r.fn;
    const isConst = l.isConst && r.isConst;
    const usesParam = l.usesParam || r.usesParam;
    const coll = l.explicitColl ? l.coll : r.explicitColl ? r.coll : null;
    const mk = (fn: Fn): CExpr => ({ fn, aff: null, coll, explicitColl: coll !== null, isConst, usesParam });
    switch (e.op) {
      // Both operands are evaluated, as SQLite's OP_And/OP_Or do in value context (an error on
      // the right side is raised even when the left side decides the result).
      case 'AND': return mk((env) => {
        const a = truth(lf(env));
        const b = truth(rf(env));
        if (a === false || b === false) return 0n;
        return a === null || b === null ? null : 1n;
      });
      case 'OR': return mk((env) => {
        const a = truth(lf(env));
        const b = truth(rf(env));
        if (a === true || b === true) return 1n;
        return a === null || b === null ? null : 0n;
      });
      case '=': case '!=': case '<': case '<=': case '>': case '>=': {
        const cmp = this.comparator(e.op, l, r);
        return mk((env) => boolValue(cmp(lf(env), rf(env))));
      }
      case 'IS': case 'IS NOT': {
        const aff = comparisonAffinity(l.aff, r.aff);
        const c = comparisonCollation(l, r);
        const want = e.op === 'IS';
        return mk((env) => {
          let a = lf(env), b = rf(env);
          if (a === null || b === null) return (a === b) === want ? 1n : 0n;
          if (aff && convertsForComparison(a, b, aff)) { a = applyAffinity(a, aff); b = applyAffinity(b, aff); }
          return (compareValues(a, b, c) === 0) === want ? 1n : 0n;
        });
      }
      case '+': return mk((env) => add(lf(env), rf(env)));
      case '-': return mk((env) => sub(lf(env), rf(env)));
      case '*': return mk((env) => mul(lf(env), rf(env)));
      case '/': return mk((env) => div(lf(env), rf(env)));
      case '%': return mk((env) => rem(lf(env), rf(env)));
      case '||': return mk((env) => concat(lf(env), rf(env)));
      case '&': case '|': case '<<': case '>>': {
        const op = e.op;
        return mk((env) => bitop(op, lf(env), rf(env)));
      }
      case '->': case '->>': throw sqlError('JSON operators -> and ->> are not supported yet');
      default: throw sqlError(`unknown operator ${e.op}`);
    }
  }

  private like(e: Extract<A.Expr, { k: 'like' }>, scope: Scope): CExpr {
    const l = this.compile(e.l, scope), r = this.compile(e.r, scope);
    const esc = e.esc ? this.compile(e.esc, scope) : undefined;
    if (e.op === 'REGEXP' || e.op === 'MATCH') throw sqlError(`no such function: ${e.op.toLowerCase()}`);
    const glob = e.op === 'GLOB';
    const not = e.not;
    const fn: Fn = (env) => {
      const text = l.fn(env), pat = r.fn(env);
      let escChar: string | undefined;
      if (esc) {
        const ev = esc.fn(env);
        if (ev === null) return null;
        const s = toText(ev)!;
        if (Array.from(s).length !== 1) throw sqlError('ESCAPE expression must be a single character');
        escChar = s;
      }
      // SQLite 3.53 answers false whenever either side is a BLOB, before looking at NULLs.
      if (text instanceof Uint8Array || pat instanceof Uint8Array) return not ? 1n : 0n;
      if (text === null || pat === null) return null;
      // Both sides are read as C strings (up to a NUL), as SQLite's pattern matcher does.
      const p = toText(pat)!, t = toText(text)!;
      const pz = p.indexOf('\0'), tz = t.indexOf('\0');
      const ps = pz < 0 ? p : p.slice(0, pz), ts = tz < 0 ? t : t.slice(0, tz);
      const m = glob ? globMatch(ps, ts) : likeMatch(ps, ts, escChar);
      return m !== not ? 1n : 0n;
    };
    return { fn, aff: null, coll: null, explicitColl: false, isConst: l.isConst && r.isConst && (!esc || esc.isConst) };
  }

  private inExpr(e: Extract<A.Expr, { k: 'in' }>, scope: Scope): CExpr {
    const x = this.compile(e.e, scope);
    const not = e.not;
    if (e.list) {
      const items = e.list.map((i) => this.compile(i, scope));
      const aff = x.aff === null ? null : x.aff === 'BLOB' ? null : NUMERIC_AFF.has(x.aff) ? 'NUMERIC' : x.aff;
      const coll = items.length ? comparisonCollation(x, items[0]!) : x.coll ?? 'BINARY';
      const allConst = items.every((i) => i.isConst);
      let constSet: Set<string> | undefined;
      let constHasNull = false;
      const norm = (v: Value): Value => (aff ? applyAffinity(v, aff) : v);
      // SQLite's sqlite3ExprCanBeNull: a NULL from a NOT NULL column (a generated column computed
      // before the NOT NULL check reads one) does not make the result NULL.
      const nullable = items.map((it) => !(it.col?.src.table && !it.col.src.leftJoined && it.col.src.table.cols[it.col.idx]?.notNull));
      const fn: Fn = (env) => {
        if (items.length === 0) return not ? 1n : 0n;
        const v = x.fn(env);
        if (allConst) {
          if (!constSet) {
            constSet = new Set();
            for (const it of items) {
              const iv = it.fn(env);
              if (iv === null) constHasNull = true;
              else constSet.add(groupKey([norm(iv)], [coll]));
            }
          }
          if (v === null) return null;
          if (constSet.has(groupKey([norm(v)], [coll]))) return not ? 0n : 1n;
          return constHasNull ? null : not ? 1n : 0n;
        }
        if (v === null) return null;
        const nv = norm(v);
        let sawNull = false;
        for (let i = 0; i < items.length; i++) {
          const iv = items[i]!.fn(env);
          if (iv === null) { sawNull ||= nullable[i]!; continue; }
          if (compareValues(nv, norm(iv), coll) === 0) return not ? 0n : 1n;
        }
        return sawNull ? null : not ? 1n : 0n;
      };
      return { fn, aff: null, coll: null, explicitColl: false, isConst: x.isConst && allConst };
    }
    let q: ReturnType<SubqueryHost['compileSubquery']>;
    if (e.table !== undefined) {
      const sel: A.Select = {
        type: 'select', with: [], recursive: false, ops: [], orderBy: [], limit: undefined, offset: undefined,
        cores: [{ k: 'core', distinct: false, cols: [{ star: true, table: undefined, expr: undefined, alias: undefined, text: '*' }], from: [{ item: { k: 'table', name: e.table, schema: undefined, alias: undefined, indexed: undefined }, join: 'INNER', natural: false, on: undefined, using: undefined }], where: undefined, groupBy: [], having: undefined }],
      };
      q = this.host.compileSubquery(sel, new Scope(scope));
    } else q = this.host.compileSubquery(e.select!, new Scope(scope));
    if (q.ncols !== 1) throw sqlError(`sub-select returns ${q.ncols} columns - expected 1`);
    const rAff = q.aff[0] ?? null;
    // A REAL side facing one without affinity keeps REAL here (SQLite's OP_Affinity before the
    // lookup), unlike in a plain comparison: an integer beyond 2^53 becomes the nearest double, so
    // 9007199254740993 IN (SELECT r) matches a REAL 9007199254740992.0.
    const aff = (x.aff === null) !== (rAff === null) && (x.aff ?? rAff) === 'REAL' ? 'REAL' : comparisonAffinity(x.aff, rAff);
    const coll = x.explicitColl && x.coll ? x.coll : x.coll ?? q.colls[0] ?? 'BINARY';
    let cacheRun = -1;
    let set = new Set<string>();
    let hasNull = false;
    let empty = true;
    const fn: Fn = (env) => {
      if (q.correlated || cacheRun !== env.run) {
        set = new Set();
        hasNull = false;
        empty = true;
        q.run(env, (row) => {
          empty = false;
          const v = row[0]!;
          if (v === null) hasNull = true;
          else set.add(groupKey([aff ? applyAffinity(v, aff) : v], [coll]));
        });
        cacheRun = env.run;
      }
      if (empty) return not ? 1n : 0n;
      const v = x.fn(env);
      if (v === null) return null;
      if (set.has(groupKey([aff ? applyAffinity(v, aff) : v], [coll]))) return not ? 0n : 1n;
      return hasNull ? null : not ? 1n : 0n;
    };
    return { fn, aff: null, coll: null, explicitColl: false, isConst: false };
  }

  private caseExpr(e: Extract<A.Expr, { k: 'case' }>, scope: Scope): CExpr {
    const base = e.base ? this.compile(e.base, scope) : undefined;
    const whens = e.whens.map(([w, t]) => [base ? this.compile(w, scope) : this.compileCond(w, scope), this.compile(t, scope)] as const);
    const els = e.else ? this.compile(e.else, scope) : undefined;
    let fn: Fn;
    if (base) {
      const cmps = whens.map(([w]) => this.comparator('=', base, w));
      fn = (env) => {
        const b = base.fn(env);
        for (let i = 0; i < whens.length; i++) {
          if (cmps[i]!(b, whens[i]![0].fn(env)) === true) return whens[i]![1].fn(env);
        }
        return els ? els.fn(env) : null;
      };
    } else {
      fn = (env) => {
        for (const [w, t] of whens) if (truth(w.fn(env)) === true) return t.fn(env);
        return els ? els.fn(env) : null;
      };
    }
    const isConst = (!base || base.isConst) && whens.every(([w, t]) => w.isConst && t.isConst) && (!els || els.isConst);
    return { fn, aff: null, coll: null, explicitColl: false, isConst };
  }

  private call(e: Extract<A.Expr, { k: 'fn' }>, scope: Scope): CExpr {
    const name = e.name;
    const agg = AGGREGATES[name];
    const nargs = e.args.length;
    const isAgg = agg && (agg.nargs.includes(nargs) || (e.star && name === 'count')) && !((name === 'min' || name === 'max') && nargs !== 1);
    if (isAgg) {
      if (e.star && name !== 'count') throw sqlError(`wrong number of arguments to function ${name}()`);
      if (scope.noAgg === 'GROUP BY') throw sqlError('aggregate functions are not allowed in the GROUP BY clause');
      if (scope.noAgg) throw sqlError(`misuse of aggregate function ${name}()`);
      // Find the query scope that aggregates; an aggregate in a subquery over outer columns only
      // belongs to the outer query in SQLite, but we keep it simple: the nearest aggregating scope.
      let s: Scope | undefined = scope;
      while (s && !s.aggs) s = s.parent;
      if (!s || !s.aggs) throw sqlError(`misuse of aggregate function ${name}()`);
      const saved = s.aggs;
      s.aggs = undefined; // nested aggregate calls are an error
      const noAggSaved = scope.noAgg;
      scope.noAgg = `${name}()`;
      let args: CExpr[];
      let filter: CExpr | undefined;
      try {
        args = e.args.map((a) => this.compile(a, scope));
        filter = e.filter ? this.compile(e.filter, scope) : undefined;
      } finally {
        s.aggs = saved;
        scope.noAgg = noAggSaved;
      }
      if (e.distinct && args.length !== 1) throw sqlError('DISTINCT aggregates must have exactly one argument');
      const coll = args[0] ? args[0].coll ?? 'BINARY' : 'BINARY';
      const i = saved.length;
      saved.push({ name, args, distinct: e.distinct, star: e.star || (name === 'count' && nargs === 0), filter, coll });
      const fn: Fn = (env) => (env.agg ? env.agg[i]! : null);
      return { fn, aff: null, coll: null, explicitColl: false, isConst: false };
    }
    if (e.filter) throw sqlError(`FILTER clause may only be used with aggregate window functions`);
    const sf = SCALARS[name];
    if (!sf) {
      if (agg) throw sqlError(`wrong number of arguments to function ${name}()`);
      throw sqlError(`no such function: ${name}`);
    }
    if (e.star || e.distinct) throw sqlError(`wrong number of arguments to function ${name}()`);
    const n = sf.nargs;
    const okCount = n[0] === -1 || n.includes(nargs) || (n[0] === -2 && nargs >= 2) || (name === 'strftime' && nargs >= 1);
    if (!okCount || ((name === 'min' || name === 'max') && nargs === 0)) throw sqlError(`wrong number of arguments to function ${name}()`);
    if ((name === 'min' || name === 'max') && nargs < 2) throw sqlError(`wrong number of arguments to function ${name}()`);
    const args = e.args.map((a) => this.compile(a, scope));
    const isConst = sf.deterministic && args.every((a) => a.isConst);
    const usesParam = args.some((a) => a.usesParam);
    if (name === 'iif' || name === 'coalesce' || name === 'ifnull') {
      // Lazy evaluation: later arguments run only when needed.
      let fn: Fn;
      if (name === 'iif') {
        const [c, t, f] = args as [CExpr, CExpr, CExpr];
        fn = (env) => (truth(c.fn(env)) === true ? t.fn(env) : f.fn(env));
      } else {
        if (name === 'coalesce' && nargs < 2) throw sqlError(`wrong number of arguments to function coalesce()`);
        fn = (env) => {
          for (const a of args) { const v = a.fn(env); if (v !== null) return v; }
          return null;
        };
      }
      return { fn, aff: null, coll: null, explicitColl: false, isConst, usesParam };
    }
    let coll: Collation = 'BINARY';
    for (const a of args) if (a.explicitColl && a.coll) { coll = a.coll; break; }
    if (coll === 'BINARY') for (const a of args) if (a.coll) { coll = a.coll; break; }
    const f = sf.fn;
    let fn: Fn;
    switch (args.length) {
      case 0: fn = (env) => f([], env.fn, coll); break;
      case 1: { const a0 = args[0]!.fn; fn = (env) => f([a0(env)], env.fn, coll); break; }
      case 2: { const a0 = args[0]!.fn, a1 = args[1]!.fn; fn = (env) => f([a0(env), a1(env)], env.fn, coll); break; }
      default: fn = (env) => f(args.map((a) => a.fn(env)), env.fn, coll);
    }
    return { fn, aff: null, coll: null, explicitColl: false, isConst, usesParam };
  }
}

/** Builds fresh accumulators for a group. */
export function makeAccumulators(aggs: AggCall[]): { acc: Accumulator; seen: Set<string> | undefined }[] {
  return aggs.map((a) => {
    const def = AGGREGATES[a.name]!;
    return { acc: def.make(a.coll, a.star), seen: a.distinct ? new Set<string>() : undefined };
  });
}

export function stepAccumulators(aggs: AggCall[], accs: ReturnType<typeof makeAccumulators>, env: Env): void {
  for (let i = 0; i < aggs.length; i++) {
    const a = aggs[i]!;
    if (a.filter && truth(a.filter.fn(env)) !== true) continue;
    const args = a.args.map((x) => x.fn(env));
    const st = accs[i]!;
    if (st.seen) {
      if (args[0] === null) continue;
      const k = groupKey([args[0]!], [a.coll]);
      if (st.seen.has(k)) continue;
      st.seen.add(k);
    }
    st.acc.step(args);
  }
}

export { SqlError };
