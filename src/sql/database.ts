/**
 * The SQL engine's public face: `new Database(kv)` -> `db.session()` -> `session.execute(sql)`.
 * A session owns at most one transaction; outside BEGIN each statement runs in its own. A commit
 * hands one atomic write batch plus the read set to the committer (by default: write to the store).
 */
import type { KvStore } from '../storage/kv.ts';
import type * as A from './ast.ts';
import { Schema } from './catalog.ts';
import { alter, createIndex, createTable, createView, drop, loadSchema, readCookie, readUserVersion, writeUserVersion } from './ddl.ts';
import { compileDelete, compileInsert, compileUpdate, type CompiledDml, type DmlHost, type FkCounters } from './dml.ts';
import { constraintError, SqlError, sqlError } from './errors.ts';
import { Scope, type Env } from './expr.ts';
import type { FnContext } from './functions.ts';
import { STATEMENT_CACHE_SIZE } from './limits.ts';
import { Parser } from './parser.ts';
import { PRAGMA_COLUMNS, VALUE_PRAGMAS, pragmaRows, pragmaTable, schemaName, type PragmaHost } from './pragma.ts';
import { QueryCompiler, type PlanRow, type Query, type TableFunctions } from './select.ts';
import { Tx, type Committer, type ReadSet } from './tx.ts';
import { fromJs, toText, truth, type Value } from './value.ts';

export type { Committer, ReadSet };

/** A JS value as returned to callers: INTEGER as number when safe (else bigint), REAL as number. */
export type JsValue = null | number | bigint | string | Uint8Array;

export interface ExecResult {
  columns: string[];
  rows: JsValue[][];
  /** Rows inserted, updated or deleted by the statement (0 for others). */
  changes: number;
  /** The session's last inserted rowid after the statement. */
  lastInsertRowid: number | bigint;
}

export interface ExecOptions {
  /** Return every INTEGER as bigint (as better-sqlite3's safeIntegers does). */
  safeIntegers?: boolean;
}

export type Params = readonly unknown[] | Record<string, unknown>;

export interface DatabaseOptions {
  committer?: Committer;
  /** Clock for date/time functions (Unix ms); defaults to Date.now. */
  now?: () => number;
}

interface Prepared {
  stmt: A.Stmt;
  paramCount: number;
  paramNames: (string | undefined)[];
  /** Compiled form per schema (rebuilt when the schema changes). */
  compiled?: { schema: Schema; fkOn: boolean; exec: CompiledStatement };
}

interface CompiledStatement {
  columns: string[];
  slots: number;
  run(env: Env): { rows: Value[][]; changes: number };
  explain(): PlanRow[];
}

export class Database {
  private readonly cache = new Map<string, Prepared[]>();
  /** The newest schema loaded from committed state, shared by sessions. */
  sharedSchema: Schema | undefined;
  readonly committer: Committer;
  /** The session whose statement is executing (statements run synchronously, one at a time). */
  running: Session | undefined;
  readonly now: () => number;
  private runCounter = 0;

  constructor(readonly kv: KvStore, options: DatabaseOptions = {}) {
    // Tx.batch() builds fresh arrays for every commit, so the store may keep them uncopied.
    this.committer = options.committer ?? ((batch) => kv.write(batch, { owned: true }));
    this.now = options.now ?? (() => Date.now());
  }

  session(): Session {
    return new Session(this);
  }

  nextRun(): number { return ++this.runCounter; }

  /** Parses `sql` into statements, caching by text. */
  prepare(sql: string): Prepared[] {
    const hit = this.cache.get(sql);
    if (hit) return hit;
    const p = new Parser(sql);
    const out: Prepared[] = [];
    while (!p.atEnd()) out.push(p.statement());
    if (this.cache.size >= STATEMENT_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(sql, out);
    return out;
  }
}

/** `deferred`, `deferredImm`: the foreign key counters when the savepoint was opened, for ROLLBACK TO. */
interface SavepointEntry { name: string; mark: number; deferred: number; deferredImm: number }

export class Session {
  private tx: Tx | undefined;
  /** True when the transaction was opened by BEGIN or SAVEPOINT (not a single statement). */
  private explicit = false;
  private startedBySavepoint = false;
  private savepoints: SavepointEntry[] = [];
  private schema: Schema | undefined;
  private schemaTx: Tx | undefined;
  /** @internal */ lastRowid = 0n;
  private lastChanges = 0n;
  private total = 0n;
  /** @internal */ fkOn = false;
  /** @internal */ readonly fkc: FkCounters = { stmt: 0, deferred: 0, deferredImm: 0, deferAll: false, journal: true };
  private stmtTime = 0;
  private readonly fnCtx: FnContext;

  constructor(private readonly db: Database) {
    this.fnCtx = {
      changes: () => this.lastChanges,
      totalChanges: () => this.total,
      lastInsertRowid: () => this.lastRowid,
      now: () => (this.stmtTime ||= this.db.now()),
    };
  }

  /** Whether a transaction opened by BEGIN or SAVEPOINT is in progress. */
  get inTransaction(): boolean { return this.explicit; }

  /** Runs every statement of `sql`; returns the result of the last one. */
  execute(sql: string, params: Params = [], options: ExecOptions = {}): ExecResult {
    const stmts = this.db.prepare(sql);
    let last: ExecResult = { columns: [], rows: [], changes: 0, lastInsertRowid: toJs(this.lastRowid, false) as number | bigint };
    for (const p of stmts) {
      const r = this.runOne(p, bindParams(p, params));
      last = {
        columns: r.columns,
        rows: r.rows.map((row) => row.map((v) => toJs(v, options.safeIntegers === true))),
        changes: r.changes,
        lastInsertRowid: toJs(this.lastRowid, options.safeIntegers === true) as number | bigint,
      };
    }
    return last;
  }

  private currentSchema(tx: Tx): Schema {
    // Within one explicit transaction the snapshot cannot change under us; only our own DDL can,
    // and that clears `schema`. So the cookie is read once per transaction.
    if (this.schema && this.schemaTx === tx) return this.schema;
    this.schemaTx = tx;
    const cookie = readCookie(tx);
    if (this.schema && this.schema.cookie === cookie && !txSchemaDirty.has(tx)) return this.schema;
    const shared = this.db.sharedSchema;
    if (shared && shared.cookie === cookie && !txSchemaDirty.has(tx)) { this.schema = shared; return shared; }
    const s = loadSchema(tx, cookie);
    if (!txSchemaDirty.has(tx)) this.db.sharedSchema = s;
    this.schema = s;
    return s;
  }

  private begin(live = false): Tx {
    const tx = new Tx(this.db.kv, live);
    this.tx = tx;
    return tx;
  }

  private finish(commit: boolean): void {
    const tx = this.tx!;
    // Like SQLite, the end of a transaction that read or wrote a table, or of an explicit one, ends
    // defer_foreign_keys.
    if (this.explicit || tx.dirty || tx.readTables) this.fkc.deferAll = false;
    this.tx = undefined;
    this.explicit = false;
    this.startedBySavepoint = false;
    this.savepoints = [];
    this.fkc.deferred = 0;
    this.fkc.deferredImm = 0;
    try {
      if (commit && tx.dirty) this.db.committer(tx.batch(), tx.reads);
    } finally {
      tx.release();
      if (txSchemaDirty.has(tx)) this.schema = undefined;
    }
  }

  private runOne(p: Prepared, params: Value[]): { columns: string[]; rows: Value[][]; changes: number } {
    const s = p.stmt;
    switch (s.type) {
      case 'begin':
        if (this.explicit) throw sqlError('cannot start a transaction within a transaction');
        this.begin();
        if (s.mode !== 'DEFERRED') this.tx!.start();
        this.explicit = true;
        return empty();
      case 'commit':
        if (!this.explicit) throw sqlError('cannot commit - no transaction is active');
        this.checkDeferred();
        this.finish(true);
        return empty();
      case 'rollback':
        if (s.to !== undefined) {
          // Outside a transaction there are no savepoints, and SQLite reports the name.
          const i = this.findSavepoint(s.to);
          this.tx!.rollbackTo(this.savepoints[i]!.mark);
          this.fkc.deferred = this.savepoints[i]!.deferred;
          this.fkc.deferredImm = this.savepoints[i]!.deferredImm;
          this.savepoints.length = i + 1;
          this.schema = undefined;
          return empty();
        }
        if (!this.explicit) throw sqlError('cannot rollback - no transaction is active');
        this.finish(false);
        return empty();
      case 'savepoint':
        if (!this.explicit) { this.begin(); this.explicit = true; this.startedBySavepoint = true; }
        this.savepoints.push({ name: s.name, mark: this.tx!.mark(), deferred: this.fkc.deferred, deferredImm: this.fkc.deferredImm });
        return empty();
      case 'release': {
        const i = this.findSavepoint(s.name);
        if (i === 0 && this.startedBySavepoint) this.checkDeferred();
        this.savepoints.length = i;
        if (i === 0 && this.startedBySavepoint) this.finish(true);
        return empty();
      }
      default:
        break;
    }
    const auto = !this.explicit;
    const tx = auto ? this.begin(true) : this.tx!;
    const mark = tx.mark();
    const { deferred, deferredImm } = this.fkc;
    this.stmtTime = 0; // read lazily: most statements never ask for the time
    try {
      const r = this.runInTx(p, params, tx);
      if (auto) { this.checkDeferred(); this.finish(true); }
      // The statement succeeded: its undo entries matter only to an enclosing savepoint.
      else if (this.savepoints.length === 0) tx.forgetUndo();
      return r;
    } catch (e) {
      if (auto) {
        // OR FAIL keeps the rows changed before the failure, so they commit, unless deferred foreign
        // key violations are outstanding: then the commit fails and undoes them, as in SQLite.
        const keep = e instanceof SqlError && e.resolution === 'FAIL';
        const broken = keep && this.fkc.deferred + this.fkc.deferredImm > 0;
        if (this.tx === tx) this.finish(keep && !broken);
        if (broken) throw constraintError('FOREIGNKEY', 'FOREIGN KEY constraint failed');
      } else if (e instanceof SqlError && e.resolution === 'ROLLBACK') {
        this.finish(false);
      } else if (!(e instanceof SqlError && e.resolution === 'FAIL')) {
        tx.rollbackTo(mark);
        // SQLite restores the counters only with a statement journal; without one a failed
        // statement's deferred violations stay counted.
        if (this.fkc.journal) { this.fkc.deferred = deferred; this.fkc.deferredImm = deferredImm; }
        if (txSchemaDirty.has(tx)) this.schema = undefined;
      }
      throw e;
    }
  }

  /** A commit with deferred foreign key violations outstanding fails, and the transaction stays open. */
  private checkDeferred(): void {
    if (this.fkc.deferred + this.fkc.deferredImm > 0) throw constraintError('FOREIGNKEY', 'FOREIGN KEY constraint failed');
  }

  private findSavepoint(name: string): number {
    for (let i = this.savepoints.length - 1; i >= 0; i--) {
      if (this.savepoints[i]!.name.toLowerCase() === name.toLowerCase()) return i;
    }
    throw sqlError(`no such savepoint: ${name}`);
  }

  private runInTx(p: Prepared, params: Value[], tx: Tx): { columns: string[]; rows: Value[][]; changes: number } {
    const s = p.stmt;
    const schema = this.currentSchema(tx);
    const env: Env = { rows: [], params, agg: null, fn: this.fnCtx, run: this.db.nextRun(), tx };
    switch (s.type) {
      case 'createTable': case 'createIndex': case 'createView': case 'drop': case 'alter': {
        const qc = this.compiler(schema);
        env.rows = new Array(64).fill(null);
        const cx = { tx, schema, env, qc, foreignKeys: this.fkOn, fkCounters: this.fkc };
        let dropped: { changes: number; actionChanges: number } | undefined;
        if (s.type === 'createTable') createTable(s, cx);
        else if (s.type === 'createIndex') createIndex(s, cx);
        else if (s.type === 'createView') createView(s, cx);
        else if (s.type === 'drop') dropped = drop(s, cx);
        else alter(s, cx);
        txSchemaDirty.add(tx);
        this.schema = undefined;
        // A DROP TABLE that emptied its table first counts that DELETE, as SQLite's does.
        if (dropped) this.countChanges(dropped.changes, dropped.actionChanges);
        return { ...empty(), changes: dropped?.changes ?? 0 };
      }
      case 'pragma': return this.pragma(s, schema, tx, env);
      case 'explain': {
        this.db.running = this;
        const c = this.compile({ stmt: s.stmt, paramCount: p.paramCount, paramNames: p.paramNames }, schema);
        if (!s.queryPlan) throw sqlError('EXPLAIN without QUERY PLAN is not supported; use EXPLAIN QUERY PLAN');
        const plan = c.explain();
        return { columns: ['id', 'parent', 'notused', 'detail'], rows: plan.map((r) => [BigInt(r.id), BigInt(r.parent), 0n, r.detail]), changes: 0 };
      }
      default: break;
    }
    // Compiling may read the running session's state (its foreign_keys setting) too.
    this.db.running = this;
    let compiled = p.compiled;
    if (!compiled || compiled.schema !== schema || compiled.fkOn !== this.fkOn) {
      compiled = { schema, fkOn: this.fkOn, exec: this.compile(p, schema) };
      p.compiled = compiled;
    }
    const c = compiled.exec;
    env.rows = new Array(c.slots).fill(null);
    const dml = s.type === 'insert' || s.type === 'update' || s.type === 'delete';
    let r: { rows: Value[][]; changes: number; actionChanges?: number };
    try {
      r = c.run(env);
    } catch (e) {
      // As in SQLite, a failed statement's changes() is what it keeps: the rows before an OR FAIL
      // failure, otherwise none (they are rolled back).
      if (dml) this.countChanges(e instanceof SqlError && e.resolution === 'FAIL' ? e.changes : 0);
      throw e;
    }
    if (dml) this.countChanges(r.changes, r.actionChanges ?? 0);
    return { columns: c.columns, rows: r.rows, changes: r.changes };
  }

  /** `actions`: rows changed by foreign key actions, which SQLite counts in total_changes() only. */
  private countChanges(n: number, actions = 0): void {
    this.lastChanges = BigInt(n);
    this.total += BigInt(n + actions);
  }

  private compiler(schema: Schema): QueryCompiler {
    const tvf: TableFunctions = {
      columns: (name) => (name.startsWith('pragma_') ? pragmaTable(name.slice(7)) : undefined),
      rows: (name, args, env) => {
        const p = name.slice(7);
        // Compiled statements are shared by the Database's sessions: the state is the running one's.
        if (VALUE_PRAGMAS.includes(p)) return [[this.db.running!.pragmaValue(p, env.tx)]];
        return pragmaRows(p, args, this.pragmaHost(schema, env), false);
      },
    };
    return new QueryCompiler(schema, tvf);
  }

  private pragmaHost(schema: Schema, env: Env): PragmaHost {
    return { schema, env, viewQuery: (v) => this.viewQuery(schema, v) };
  }

  private viewQuery(schema: Schema, name: string): Query | undefined {
    const v = schema.view(name);
    if (!v) return undefined;
    return this.compiler(schema).compileSelect(v.select, undefined);
  }

  private dmlHost(schema: Schema): DmlHost {
    // Compiled statements are cached per Database and shared by its sessions, so the hooks must
    // reach the session running the statement, not the one that compiled it.
    const db = this.db;
    return {
      foreignKeys: () => db.running!.fkOn,
      fkCounters: () => db.running!.fkc,
      setLastInsertRowid: (id) => { db.running!.lastRowid = id; },
      table: (n) => schema.table(n),
      allTables: () => [...schema.tables.values()],
    };
  }

  private compile(p: { stmt: A.Stmt; paramCount: number; paramNames: (string | undefined)[] }, schema: Schema): CompiledStatement {
    const qc = this.compiler(schema);
    const s = p.stmt;
    if (s.type === 'select') {
      const q = qc.compileSelect(s, undefined);
      return {
        columns: q.columns, slots: qc.slotCount,
        run: (env) => { const rows: Value[][] = []; q.run(env, (r) => { rows.push(r); }); return { rows, changes: 0 }; },
        explain: () => { const out: PlanRow[] = []; q.explain(out, 0); return out; },
      };
    }
    let d: CompiledDml;
    if (s.type === 'insert') d = compileInsert(s, qc, this.dmlHost(schema));
    else if (s.type === 'update') d = compileUpdate(s, qc, this.dmlHost(schema));
    else if (s.type === 'delete') d = compileDelete(s, qc, this.dmlHost(schema));
    else throw sqlError(`cannot EXPLAIN this statement`);
    return {
      columns: d.columns, slots: qc.slotCount,
      run: (env) => {
        // runInTx already made a fresh, null-filled row array of `slots`; replace it only if short.
        if (env.rows.length < qc.slotCount) env.rows = new Array(qc.slotCount).fill(null);
        return d.run(env);
      },
      explain: () => { const out: PlanRow[] = []; d.explain(out); return out; },
    };
  }

  /** The value of a pragma of VALUE_PRAGMAS. */
  private pragmaValue(name: string, tx: Tx): Value {
    switch (name) {
      case 'foreign_keys': return this.fkOn ? 1n : 0n;
      case 'defer_foreign_keys': return this.fkc.deferAll ? 1n : 0n;
      case 'user_version': return readUserVersion(tx);
      default: return BigInt(readCookie(tx));
    }
  }

  private pragma(s: Extract<A.Stmt, { type: 'pragma' }>, schema: Schema, tx: Tx, env: Env): { columns: string[]; rows: Value[][]; changes: number } {
    const name = s.name;
    // SQLite checks the schema prefix of every pragma, even one it ignores.
    if (s.schema !== undefined) schemaName(s.schema, false);
    let arg: Value = null;
    if (s.value) {
      const qc = this.compiler(schema);
      arg = s.value.k === 'col' ? s.value.name : qc.ex.compile(s.value, new Scope(undefined)).fn(env);
    }
    if (PRAGMA_COLUMNS[name]) {
      return { columns: PRAGMA_COLUMNS[name]!, rows: pragmaRows(name, [arg, s.schema ?? null], this.pragmaHost(schema, env), true), changes: 0 };
    }
    switch (name) {
      case 'foreign_keys':
        if (s.value) {
          // Like SQLite, changing it inside a transaction is a no-op.
          if (!this.explicit) this.fkOn = pragmaBool(arg);
          return empty();
        }
        break;
      case 'defer_foreign_keys':
        if (s.value) {
          this.fkc.deferAll = pragmaBool(arg);
          // Turning it off forgets every outstanding violation, deferred keys' too, as SQLite does.
          if (!this.fkc.deferAll) { this.fkc.deferredImm = 0; this.fkc.deferred = 0; }
          return empty();
        }
        break;
      case 'user_version':
        if (s.value) { writeUserVersion(tx, BigInt(toText(arg) ?? '0')); return empty(); }
        break;
      case 'schema_version':
        break;
      default:
        // Unknown pragmas are ignored, as SQLite ignores them.
        return empty();
    }
    return { columns: [name], rows: [[this.pragmaValue(name, tx)]], changes: 0 };
  }
}

/** Transactions that changed the schema (their schema must not be shared with other sessions). */
const txSchemaDirty = new WeakSet<Tx>();

function pragmaBool(v: Value): boolean {
  if (typeof v === 'string') {
    const l = v.toLowerCase();
    if (['on', 'yes', 'true'].includes(l)) return true;
    if (['off', 'no', 'false'].includes(l)) return false;
  }
  return truth(v) === true;
}

function empty(): { columns: string[]; rows: Value[][]; changes: number } {
  return { columns: [], rows: [], changes: 0 };
}

function toJs(v: Value, safe: boolean): JsValue {
  if (typeof v === 'bigint' && !safe) {
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  }
  return v;
}

function bindParams(p: { paramCount: number; paramNames: (string | undefined)[] }, params: Params): Value[] {
  const out: Value[] = new Array(p.paramCount).fill(null);
  if (Array.isArray(params)) {
    const arr = params as readonly unknown[];
    for (let i = 0; i < p.paramCount && i < arr.length; i++) out[i] = fromJs(arr[i]);
    // A named parameter may also be bound positionally.
    return out;
  }
  const obj = params as Record<string, unknown>;
  for (let i = 1; i <= p.paramCount; i++) {
    const n = p.paramNames[i];
    if (n === undefined) continue;
    const bare = n.slice(1);
    if (bare in obj) out[i - 1] = fromJs(obj[bare]);
    else if (n in obj) out[i - 1] = fromJs(obj[n]);
  }
  return out;
}
