/**
 * INSERT, UPDATE and DELETE: constraint checks in SQLite's order (NOT NULL, CHECK, then rowid and
 * unique indexes), conflict resolution (ABORT, FAIL, ROLLBACK, IGNORE, REPLACE and upserts),
 * foreign keys when enabled, and RETURNING.
 */
import { randomBytes } from 'node:crypto';
import type * as A from './ast.ts';
import { checkGeneratedLoops, nodes, type Index, type Table } from './catalog.ts';
import { encodeRecord, indexKeyPrefix, prefixEnd, readRowid, rowKey } from './codec.ts';
import { SqlError, sqlError } from './errors.ts';
import { Scope, type CExpr, type Env, type Source } from './expr.ts';
import { changedColumns, computeGenerated, deleteRowRaw, encodeRow, indexEntry, insertRowRaw, maxRowid, readRow, scanRows, strictCheck, tableRt, tableSource, TABLE_SLOT, writeIndexEntries } from './rows.ts';
import { compareBytes } from '../storage/kv.ts';
import { columnName, type PlanRow, type QueryCompiler } from './select.ts';
import type { Tx } from './tx.ts';
import { INT64_MAX, affinityOf, applyAffinity, compareValues, truth, type Affinity, type Collation, type Value } from './value.ts';

/** What DML needs from the session. */
export interface DmlHost {
  foreignKeys(): boolean;
  /** The running session's foreign key counters. */
  fkCounters(): FkCounters;
  setLastInsertRowid(id: bigint): void;
  /** Schema lookups for foreign keys and sqlite_sequence. */
  table(name: string): Table | undefined;
  allTables(): Table[];
  /**
   * DROP TABLE's implicit DELETE: SQLite compiles it with triggers disabled, which makes it skip a
   * foreign key whose parent key it cannot find instead of failing (see checkParentKeys).
   */
  skipMismatched?: boolean;
}

export interface CompiledDml {
  columns: string[];
  /**
   * `changes`: the rows the statement itself changed (changes()); `actionChanges`: the rows its
   * foreign key actions changed, which SQLite runs as triggers and so counts in total_changes() only.
   */
  run(env: Env): { rows: Value[][]; changes: number; actionChanges: number };
  explain(out: PlanRow[]): void;
}

type Action = A.ConflictAction;

function fail(kind: string, message: string, action: Action): SqlError {
  const e = new SqlError(`SQLITE_CONSTRAINT_${kind}`, message);
  e.resolution = action === 'FAIL' ? 'FAIL' : action === 'ROLLBACK' ? 'ROLLBACK' : 'ABORT';
  return e;
}

/** Records on a statement's error how many rows it had changed: OR FAIL keeps them, and they count. */
function withChanges(e: unknown, changes: number): unknown {
  if (e instanceof SqlError) e.changes = changes;
  return e;
}

function tableEnv(env: Env, row: Value[]): Env {
  return { rows: [row], params: env.params, agg: null, fn: env.fn, run: env.run, tx: env.tx };
}

function uniqueMessage(table: Table, ix: Index | 'rowid'): string {
  if (ix === 'rowid') return `UNIQUE constraint failed: ${table.name}.${table.rowidAlias >= 0 ? table.cols[table.rowidAlias]!.name : 'rowid'}`;
  if (ix.cols.some((c) => c.col < 0)) return `UNIQUE constraint failed: index '${ix.name}'`;
  return `UNIQUE constraint failed: ${ix.cols.map((c) => `${table.name}.${c.name}`).join(', ')}`;
}

/**
 * PRIMARYKEY or UNIQUE, for the error code. A UNIQUE written before an identical PRIMARY KEY shares
 * its index, which SQLite then marks as the primary key's.
 */
function uniqueKind(table: Table, ix: Index | 'rowid'): 'PRIMARYKEY' | 'UNIQUE' {
  if (ix === 'rowid' || ix.origin === 'pk') return 'PRIMARYKEY';
  if (ix.sql !== null || table.rowidAlias >= 0 || table.indexes.some((o) => o.origin === 'pk')) return 'UNIQUE';
  const pk = table.cols.map((c, i) => [c.pk, i] as const).filter(([p]) => p > 0).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
  return pk.length > 0 && pk.length === ix.cols.length && ix.cols.every((c, k) => c.col === pk[k]) ? 'PRIMARYKEY' : 'UNIQUE';
}

/**
 * Where SQLite type-checks a STRICT table's stored columns, which is where it applies column
 * affinity: after NOT NULL and before the CHECK constraints, or without those after the rowid's
 * uniqueness and before the first index. (With generated columns it checks the others before
 * computing them, too, and a VIRTUAL one as it computes it.)
 */
function strictPoint(t: Table): 'check' | 'index' | undefined {
  if (!t.strict) return undefined;
  return t.checks.length > 0 ? 'check' : 'index';
}

/** Computes a row's generated columns, with a STRICT table's type checks around it (see strictPoint). */
function generate(t: Table, row: Value[], env: Env): void {
  if (t.strict) strictCheck(t, row, 'plain');
  computeGenerated(t, row, env);
  if (t.strict) strictCheck(t, row, 'virtual');
}

function checkWritable(qc: QueryCompiler, name: string): Table {
  const view = qc.schema.view(name);
  if (view) {
    // SQLite works out the view's columns first (sqlite3ViewGetColumnNames), so a view over a
    // dropped table or column reports that, not that views are read-only.
    qc.viewQuery(view);
    throw sqlError(`cannot modify ${name} because it is a view`);
  }
  if (/^sqlite_(master|schema)$/i.test(name)) throw sqlError('table sqlite_master may not be modified');
  const table = qc.schema.table(name);
  if (!table) throw sqlError(`no such table: ${name}`);
  if (table.name === 'sqlite_schema') throw sqlError('table sqlite_master may not be modified');
  return table;
}

/** The engine that applies row changes with every constraint: shared by INSERT, UPDATE, DELETE. */
export class RowWriter {
  /** `actions`: the count of rows changed by foreign key actions, shared with the writers of the children they reach. */
  constructor(readonly table: Table, readonly host: DmlHost, readonly actions = { changes: 0 }) {}

  /** NOT NULL and CHECK. Returns false when the row is to be skipped (IGNORE). */
  checkRow(row: Value[], action: Action | undefined, env: Env, useDefaults: boolean): boolean {
    const defaults = useDefaults ? tableRt(this.table).defaults : undefined;
    const t = this.table;
    // Two passes, as SQLite: the first checks the columns that are not generated and gives those
    // resolved by REPLACE their default; the second checks, in column order, the generated
    // columns (computed again when a default went in, a STRICT table's other columns type-checked
    // first) and the columns REPLACE resolved.
    let filled = false;
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1 && filled && tableRt(t).generated.length > 0) generate(t, row, env);
      for (let i = 0; i < t.cols.length; i++) {
        const c = t.cols[i]!;
        if (!c.notNull || row[i] !== null || i === t.rowidAlias) continue;
        let act = action ?? c.notNullConflict ?? 'ABORT';
        if (act === 'REPLACE' && !(defaults && c.dflt)) act = 'ABORT';
        if (pass === 0) {
          if (c.generated) continue;
          if (act === 'REPLACE') {
            row[i] = applyAffinity(defaults![i] ? defaults![i]!.fn(env) : null, c.affinity);
            filled = true;
            continue;
          }
        } else if (!c.generated && act !== 'REPLACE') continue;
        if (act === 'IGNORE') return false;
        throw fail('NOTNULL', `NOT NULL constraint failed: ${t.name}.${c.name}`, act === 'REPLACE' ? 'ABORT' : act);
      }
    }
    const rt = tableRt(t);
    if (t.strict && strictPoint(t) === 'check') strictCheck(t, row, 'stored');
    if (rt.checks.length) {
      const e = tableEnv(env, row);
      for (const ch of rt.checks) {
        if (truth(ch.e.fn(e)) === false) {
          const act = action ?? 'ABORT';
          if (act === 'IGNORE') return false;
          throw fail('CHECK', `CHECK constraint failed: ${ch.text}`, act === 'REPLACE' ? 'ABORT' : act);
        }
      }
    }
    return true;
  }

  /**
   * The rowid of another row holding `row`'s values in unique index `ix`. An UPDATE's row is its
   * own index entry (`rowid` is skipped); a row being inserted has none yet, so a row already
   * stored under the same rowid counts (an upsert targeting the index then sees that conflict
   * before the rowid's, as in SQLite).
   */
  findConflict(ix: TableRtIndex, row: Value[], rowid: bigint, env: Env, inserting = false): bigint | undefined {
    const ent = indexEntry(ix, row, rowid, env);
    if (!ent) return undefined;
    if (ent.values.some((v) => v === null)) return undefined;
    const prefix = indexKeyPrefix(ix.index.prefix, ent.values, ix.colls, ix.descs);
    for (const { key } of env.tx.scan({ gte: prefix, lt: prefixEnd(prefix), limit: 2 })) {
      const other = readRowid(key, key.length - 8);
      if (inserting || other !== rowid) return other;
    }
    return undefined;
  }

  deleteRow(row: Value[], env: Env, depth = 0): void {
    const fk = this.host.foreignKeys();
    if (fk) { this.childKeys(row, env, -1); this.parentKeys(row, env, 1); }
    deleteRowRaw(env.tx, this.table, row, env);
    if (fk) this.parentActions(row, undefined, env, depth);
  }

  /**
   * Adds `n` violations to the counter of `fk`: the transaction's when it is deferred, else the
   * statement's; under PRAGMA defer_foreign_keys, the transaction's counter for immediate ones.
   */
  private count(fk: A.ForeignKey, n: number): void {
    const c = this.host.fkCounters();
    if (c.deferAll) c.deferredImm += n;
    else if (fk.deferred) c.deferred += n;
    else c.stmt += n;
  }

  /** Whether violations are outstanding where `fk` counts: only then can a removed child or added parent resolve one. */
  private pending(fk: A.ForeignKey): boolean {
    const c = this.host.fkCounters();
    return (fk.deferred ? c.deferred : c.stmt) !== 0 || c.deferredImm !== 0;
  }

  /**
   * Foreign keys, child side, counted as SQLite counts them: a row entering the table (`dir` 1)
   * whose parent key is missing adds a violation; a row leaving it (-1) whose parent is missing
   * takes one away. An UPDATE passes the columns it assigns: only keys with an assigned column
   * count (rows that were orphans stay writable), except that once the UPDATE needs foreign key
   * work at all SQLite's sqlite3FkCheck counts a key referencing its own table whatever it assigns
   * (so an orphan of it fails). `unchecked`: a key SQLite leaves unchecked (see
   * `setNullUnchecked`). `halt`: an immediate violation fails at once (a statement without a
   * journal, see `FkCounters`).
   */
  childKeys(row: Value[], env: Env, dir: 1 | -1, assigned?: ReadonlySet<number>, unchecked?: A.ForeignKey, halt = false): void {
    const t = this.table;
    let required: boolean | undefined;
    // Newest first, as SQLite lists them: a halting check stops the ones after it.
    for (let k = t.fks.length - 1; k >= 0; k--) {
      const fk = t.fks[k]!;
      if (fk === unchecked && dir > 0) continue;
      const cols = fk.cols.map((c) => colIndex(t, c));
      if (assigned && !touches(t, cols, assigned) && !(fk.table.toLowerCase() === t.name.toLowerCase() && (required ??= fkRequired(this.host, t, assigned)))) continue;
      const vals = cols.map((c) => row[c]!);
      if (vals.some((v) => v === null)) continue;
      if (dir < 0 && !this.pending(fk)) continue;
      const parent = this.host.table(fk.table);
      if (parent && this.host.skipMismatched && !parentKeyFound(parent, fk)) continue;
      if (!parent) {
        if (halt && !fk.deferred) throw fail('FOREIGNKEY', 'FOREIGN KEY constraint failed', 'ABORT');
        this.count(fk, dir);
        continue;
      }
      const pcols = parentCols(parent, fk);
      // A row entering the table may be its own parent (SQLite accepts it before the row exists).
      const own = dir > 0 && parent === t && holdsKey(t, pcols, vals, row);
      if (own || parentLookup(parent, fk)?.(env.tx, vals)) continue;
      if (halt && !fk.deferred && !this.host.fkCounters().deferAll) throw fail('FOREIGNKEY', 'FOREIGN KEY constraint failed', 'ABORT');
      this.count(fk, dir);
    }
  }

  /**
   * Foreign keys, parent side: a key leaving the table (`dir` 1, before the row is deleted) adds a
   * violation per child row it had, a key entering it (-1, before the row is written) takes one
   * away per child row it now has. `stayed`: the old row, which an UPDATE that leaves it in the
   * table while it checks the new keys finds as a child of a self-referencing key. `single`: an
   * INSERT of one row without a journal, which SQLite takes to mend no immediate key (sqlite3FkCheck
   * skips them) though violations restored by ROLLBACK TO may be outstanding.
   */
  parentKeys(row: Value[], env: Env, dir: 1 | -1, assigned?: ReadonlySet<number>, stayed?: Value[], single = false): void {
    const t = this.table;
    for (const child of this.host.allTables()) {
      for (const fk of child.fks) {
        if (fk.table.toLowerCase() !== t.name.toLowerCase() || (this.host.skipMismatched && !parentKeyFound(t, fk))) continue;
        if (single && !fk.deferred && !this.host.fkCounters().deferAll) continue;
        const pcols = parentCols(t, fk);
        if (assigned && !touches(t, pcols, assigned)) continue;
        const key = pcols.map((c) => row[c]!);
        if (key.some((v) => v === null)) continue;
        if (dir < 0 && !this.pending(fk)) continue;
        const ccols = fk.cols.map((c) => colIndex(child, c));
        // A self-referencing row that is leaving is not its own child.
        const self = dir > 0 && child === t ? row[t.cols.length]! : null;
        const n = childRows(t, pcols, child, ccols, key, env, self, child === t ? stayed : undefined).counted.length;
        if (n) this.count(fk, dir * n);
      }
    }
  }

  /**
   * Foreign keys: the ON DELETE (`nr` undefined) or ON UPDATE action for the children of a parent
   * row just deleted or rewritten. SQLite runs them as triggers, which act only when the key
   * changed and see the children the trigger's comparison finds (`matched`).
   */
  parentActions(old: Value[], nr: Value[] | undefined, env: Env, depth: number, assigned?: ReadonlySet<number>): void {
    const t = this.table;
    for (const child of this.host.allTables()) {
      for (const fk of child.fks) {
        if (fk.table.toLowerCase() !== t.name.toLowerCase() || (this.host.skipMismatched && !parentKeyFound(t, fk))) continue;
        const action = nr ? fk.onUpdate : fk.onDelete;
        if (action !== 'CASCADE' && action !== 'SET NULL' && action !== 'SET DEFAULT' && action !== 'RESTRICT') continue;
        // PRAGMA defer_foreign_keys turns RESTRICT into a counted (deferred) violation.
        if (action === 'RESTRICT' && this.host.fkCounters().deferAll) continue;
        const pcols = parentCols(t, fk);
        if (assigned && !touches(t, pcols, assigned)) continue;
        const oldKey = pcols.map((c) => old[c]!);
        if (oldKey.some((v) => v === null)) continue;
        if (nr && oldKey.every((v, i) => compareValues(v, nr[pcols[i]!]!) === 0)) continue;
        const ccols = fk.cols.map((c) => colIndex(child, c));
        const kids = childRows(t, pcols, child, ccols, oldKey, env, null).matched;
        if (!kids.length) continue;
        // RESTRICT fails at once, through its trigger (SQLITE_CONSTRAINT_TRIGGER).
        if (action === 'RESTRICT') throw fail('TRIGGER', 'FOREIGN KEY constraint failed', 'ABORT');
        if (depth > 1000) throw sqlError('too many levels of foreign key cascades');
        const w = new RowWriter(child, this.host, this.actions);
        const rt = tableRt(child);
        const childAssigned = changedColumns(child, new Set(ccols));
        for (const k of kids) {
          const cur = readRow(env.tx, child, k[child.cols.length] as bigint);
          if (!cur) continue;
          if (action === 'CASCADE' && !nr) { w.deleteRow(cur, env, depth + 1); this.actions.changes++; continue; }
          const row = cur.slice();
          ccols.forEach((c, i) => {
            const d = rt.defaults[c];
            row[c] = action === 'CASCADE' ? applyAffinity(nr![pcols[i]!]!, child.cols[c]!.affinity) : action === 'SET DEFAULT' && d ? applyAffinity(d.fn(env), child.cols[c]!.affinity) : null;
          });
          w.actionUpdate(cur, row, childAssigned, env, depth + 1);
        }
      }
    }
  }

  /**
   * The UPDATE of a child row that an action makes: NOT NULL and CHECK hold and the foreign keys
   * count as in any UPDATE, so a SET DEFAULT whose default has no parent fails the statement.
   */
  private actionUpdate(old: Value[], nr: Value[], assigned: ReadonlySet<number>, env: Env, depth: number): void {
    const t = this.table;
    if (tableRt(t).generated.length > 0) generate(t, nr, env);
    if (!this.checkRow(nr, undefined, env, true)) return;
    if (t.strict && strictPoint(t) === 'index') strictCheck(t, nr, 'stored');
    // The action's UPDATE checks the unique indexes its change reaches, newest first, as any UPDATE.
    const rt = tableRt(t);
    const rowid = nr[t.cols.length] as bigint;
    for (let k = rt.indexes.length - 1; k >= 0; k--) {
      const ix = rt.indexes[k]!;
      if (!ix.index.unique || !indexChanges(t, ix, old, nr, assigned, env)) continue;
      const other = this.findConflict(ix, nr, rowid, env);
      if (other !== undefined && !updateConflict(env, t, this, undefined, ix.index, other)) return;
    }
    this.rewrite(old, nr, env, assigned);
    this.actions.changes++;
    this.parentActions(old, nr, env, depth, assigned);
  }

  /**
   * Replaces row `old` by `nr` with foreign keys on, in SQLite's order: old keys out, row out, new
   * keys in, row in. SQLite takes the row out only when the rowid changes or foreign keys make it
   * rewrite every index; else the old row stays in the table (out of the indexes whose columns
   * change) while the new keys are checked, and a scan for the new key's children finds it.
   */
  rewrite(old: Value[], nr: Value[], env: Env, assigned: ReadonlySet<number>, unchecked?: A.ForeignKey): void {
    const t = this.table;
    const stays = !assigned.has(t.cols.length) && !(t.rowidAlias >= 0 && assigned.has(t.rowidAlias)) && !fkRewritesIndexes(this.host, t, assigned);
    this.childKeys(old, env, -1, assigned);
    this.parentKeys(old, env, 1, assigned);
    deleteRowRaw(env.tx, t, old, env);
    this.childKeys(nr, env, 1, assigned, unchecked);
    this.parentKeys(nr, env, -1, assigned, stays ? old : undefined);
    insertRowRaw(env.tx, this.table, nr, env);
  }
}

/**
 * Whether an UPDATE assigning `assigned` changes index `ix`, as SQLite decides it: by the columns
 * assigned (the rowid changes them all); an index on expressions or with a WHERE clause by its
 * entries before and after.
 */
function indexChanges(t: Table, ix: TableRtIndex, old: Value[], nr: Value[], assigned: ReadonlySet<number>, env: Env): boolean {
  if (assigned.has(t.cols.length) || (t.rowidAlias >= 0 && assigned.has(t.rowidAlias))) return true;
  if (ix.index.cols.some((c) => c.col >= 0 && assigned.has(c.col))) return true;
  if (ix.index.cols.every((c) => c.col >= 0) && !ix.index.where) return false;
  const before = indexEntry(ix, old, old[t.cols.length] as bigint, env), after = indexEntry(ix, nr, nr[t.cols.length] as bigint, env);
  return !before || !after || !sameValues(before.values, after.values);
}

/**
 * Whether foreign keys make SQLite treat an UPDATE assigning `assigned` as one that may rewrite
 * every index: it assigns the child columns of a self-referencing key, or a parent key that has an
 * ON UPDATE action.
 */
function fkRewritesIndexes(host: DmlHost, t: Table, assigned: ReadonlySet<number>): boolean {
  try {
    if (t.fks.some((fk) => fk.table.toLowerCase() === t.name.toLowerCase() && touches(t, fk.cols.map((c) => colIndex(t, c)), assigned))) return true;
    return referencing(host, t).some(({ fk }) => fk.onUpdate !== 'NO ACTION' && touches(t, parentCols(t, fk), assigned));
  } catch {
    return false;
  }
}

/**
 * SQLite's constraint counters: immediate violations of the running statement, deferred ones of the
 * transaction, and immediate ones counted for the transaction under PRAGMA defer_foreign_keys
 * (`deferAll`).
 */
export interface FkCounters {
  stmt: number; deferred: number; deferredImm: number; deferAll: boolean;
  /**
   * Whether the running statement has SQLite's statement journal (it may write more than one row
   * with foreign keys in play), which undoes its counts when it fails; without one a single-row
   * INSERT fails at its first immediate violation, keeping the deferred ones counted before it.
   */
  journal: boolean;
}

const ACTIONS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT']);

/** The foreign keys that reference `t`, newest first, as SQLite lists them. */
function referencing(host: DmlHost, t: Table): { child: Table; fk: A.ForeignKey }[] {
  const out: { child: Table; fk: A.ForeignKey }[] = [];
  for (const child of host.allTables()) for (const fk of child.fks) if (fk.table.toLowerCase() === t.name.toLowerCase()) out.push({ child, fk });
  return out.reverse();
}

const touches = (t: Table, cols: number[], assigned: ReadonlySet<number>): boolean =>
  cols.some((c) => assigned.has(c) || (c === t.rowidAlias && assigned.has(t.cols.length)));

/**
 * SQLite's quirk, reproduced: it compiles each foreign key action into a trigger program, and skips
 * the child check of a row written while the newest compiled program is the SET NULL action of
 * that row's foreign key (meant for the program's own UPDATE, which writes NULLs). A statement whose
 * REPLACE deletions (`del`) or upsert updates (`upd`, the assigned columns) compile actions before
 * its own row check can end with such a program newest, so that row's key goes unchecked (two
 * tables that reference each other with ON DELETE and ON UPDATE SET NULL: INSERT OR REPLACE writes
 * an orphan). Returns that foreign key, if any.
 */
function setNullUnchecked(host: DmlHost, t: Table, del: boolean, upd: ReadonlySet<number>[]): A.ForeignKey | undefined {
  const coded = new Set<string>();
  const ids = new Map<A.ForeignKey, number>();
  let newest: { fk: A.ForeignKey; del: boolean } | undefined;
  const push = (fk: A.ForeignKey, isDel: boolean): boolean => {
    if (!ids.has(fk)) ids.set(fk, ids.size);
    const key = `${ids.get(fk)}${isDel ? 'd' : 'u'}`;
    if (coded.has(key)) return false;
    coded.add(key);
    newest = { fk, del: isDel };
    return true;
  };
  const childCols = (child: Table, fk: A.ForeignKey): Set<number> => new Set(fk.cols.map((c) => colIndex(child, c)));
  const codeDelete = (p: Table): void => {
    for (const { child, fk } of referencing(host, p)) {
      if (!ACTIONS.has(fk.onDelete) || !push(fk, true)) continue;
      if (fk.onDelete === 'CASCADE') codeDelete(child);
      else if (fk.onDelete !== 'RESTRICT') codeUpdate(child, childCols(child, fk));
    }
  };
  const codeUpdate = (p: Table, assigned: ReadonlySet<number>): void => {
    for (const { child, fk } of referencing(host, p)) {
      if (!ACTIONS.has(fk.onUpdate) || !touches(p, parentCols(p, fk), assigned) || !push(fk, false)) continue;
      if (fk.onUpdate !== 'RESTRICT') codeUpdate(child, childCols(child, fk));
    }
  };
  try {
    if (del) codeDelete(t);
    for (const a of upd) codeUpdate(t, a);
  } catch {
    // A foreign key naming a missing column fails where the rows are checked.
    return undefined;
  }
  const n = newest as { fk: A.ForeignKey; del: boolean } | undefined;
  if (!n || !t.fks.includes(n.fk) || (n.del ? n.fk.onDelete : n.fk.onUpdate) !== 'SET NULL') return undefined;
  return n.fk;
}

function fkStart(host: DmlHost, journal: () => boolean): FkCounters | undefined {
  if (!host.foreignKeys()) return undefined;
  const c = host.fkCounters();
  c.stmt = 0;
  c.journal = journal();
  return c;
}

/** Whether the table has foreign keys or is referenced by one. */
const fkRelated = (host: DmlHost, t: Table): boolean => t.fks.length > 0 || referencing(host, t).length > 0;

/** Whether an UPDATE assigning `assigned` needs foreign key work (SQLite's sqlite3FkRequired). */
function fkRequired(host: DmlHost, t: Table, assigned: ReadonlySet<number>): boolean {
  try {
    return t.fks.some((fk) => touches(t, fk.cols.map((c) => colIndex(t, c)), assigned)) || referencing(host, t).some(({ fk }) => touches(t, parentCols(t, fk), assigned));
  } catch {
    return true;
  }
}

/**
 * The end of a statement with foreign keys on: outstanding immediate violations fail it (ABORT, so
 * it leaves no trace). Checked when it succeeded or failed under OR FAIL, as SQLite does, so a
 * statement that broke another constraint too reports that one. A count below zero fails too, as
 * in SQLite: a statement that mends more violations than it made (outstanding deferred ones
 * restored by ROLLBACK TO, or orphans from before) fails.
 */
function fkStatementEnd(fc: FkCounters | undefined, e?: unknown): void {
  if (!fc || fc.stmt === 0) return;
  if (e === undefined || (e instanceof SqlError && e.resolution === 'FAIL')) throw fail('FOREIGNKEY', 'FOREIGN KEY constraint failed', 'ABORT');
}

type TableRtIndex = ReturnType<typeof tableRt>['indexes'][number];

const numericAffinity = (a: Affinity): boolean => a === 'INTEGER' || a === 'REAL' || a === 'NUMERIC';

/** `child = parent` compared under affinity `aff` (applied to both sides, as SQLite's comparisons do). */
function fkEqual(c: Value, p: Value, aff: Affinity, coll: Collation): boolean {
  if (c === null || p === null) return false;
  if (aff !== 'BLOB') { c = applyAffinity(c, aff); p = applyAffinity(p, aff); }
  return compareValues(c, p, coll) === 0;
}

/**
 * The children of a parent key, found the two ways SQLite finds them. Its constraint counter
 * (`counted`) compares them with the parent column's affinity; its action triggers (`matched`:
 * CASCADE, SET NULL, RESTRICT) see the old parent value with no affinity unless the parent key is
 * the INTEGER PRIMARY KEY, so '3.0' in a TEXT child column counts for an INT parent 3 without
 * matching it. `self`: the rowid of a self-referencing row being deleted, which is not its own child.
 * `stayed`: a row SQLite still finds in the table (see `RowWriter.rewrite`).
 */
function childRows(parent: Table, pcols: number[], child: Table, ccols: number[], key: Value[], env: Env, self: Value, stayed?: Value[]): { counted: Value[][]; matched: Value[][] } {
  const ipk = pcols.length === 1 && (pcols[0] === parent.cols.length || pcols[0] === parent.rowidAlias);
  const caffs = ccols.map((c) => child.cols[c]?.affinity ?? 'INTEGER');
  // Both compare under the parent column's collation (SQLite puts the parent value on the left).
  const colls = pcols.map((c) => parent.cols[c]?.collate ?? 'BINARY');
  // Two columns compare numerically when either is numeric, else as they are; a column against a
  // value with no affinity compares under the column's affinity.
  const countAff = pcols.map((c, i): Affinity => (numericAffinity(parent.cols[c]?.affinity ?? 'INTEGER') || numericAffinity(caffs[i]!) ? 'NUMERIC' : 'BLOB'));
  const matchAff = ipk ? countAff : caffs.map((a): Affinity => (numericAffinity(a) ? 'NUMERIC' : a));
  const counted: Value[][] = [];
  const matched: Value[][] = [];
  const rows = scanRows(env.tx, child, undefined, undefined, false);
  for (const r of stayed ? [...rows, stayed] : rows) {
    if (self !== null && r[child.cols.length] === self) continue;
    if (!ccols.every((c, i) => fkEqual(r[c]!, key[i]!, countAff[i]!, colls[i]!))) continue;
    counted.push(r);
    if (ccols.every((c, i) => fkEqual(r[c]!, key[i]!, matchAff[i]!, colls[i]!))) matched.push(r);
  }
  return { counted, matched };
}

/**
 * The parent key SQLite finds for `fk` in `parent` (sqlite3FkLocateIndex): the rowid through an
 * INTEGER PRIMARY KEY, else a UNIQUE index without WHERE over exactly the key's columns, each with
 * its column's own collation (the PRIMARY KEY's, whatever its collations, when the key names no
 * columns); undefined when there is none.
 */
function parentKey(parent: Table, fk: A.ForeignKey): Index | 'rowid' | undefined {
  const n = fk.cols.length;
  const alias = parent.rowidAlias;
  if (n === 1 && alias >= 0 && (!fk.refCols || fk.refCols[0]!.toLowerCase() === parent.cols[alias]!.name.toLowerCase())) return 'rowid';
  return parent.indexes.find((ix) => ix.unique && !ix.where && ix.cols.length === n && (fk.refCols
    ? ix.cols.every((c) => c.col >= 0 && c.coll === parent.cols[c.col]!.collate && fk.refCols!.some((r) => r.toLowerCase() === parent.cols[c.col]!.name.toLowerCase()))
    : uniqueKind(parent, ix) === 'PRIMARYKEY'));
}

function parentKeyFound(parent: Table, fk: A.ForeignKey): boolean {
  return parentKey(parent, fk) !== undefined;
}

/** A probe for parent rows of a foreign key, made once per key and parent table (see parentLookup). */
type ParentProbe = (tx: Tx, vals: Value[]) => boolean;

/** Probes built so far: a child's key and its parent table are fixed for a loaded schema. */
const parentProbes = new WeakMap<A.ForeignKey, { parent: Table; probe: ParentProbe | undefined }>();

/**
 * Whether a row of `parent` holds a child key of `fk` (values in the child's column order), looked
 * up in the parent key as SQLite does: under the key's collations, each value with its parent
 * column's affinity first (probeAffinity); a key that is no integer has no rowid parent (SQLite's
 * OP_MustBeInt). Undefined when SQLite finds no parent key (see parentKey). Cached, as a child
 * row's check asks for it on every row written.
 */
export function parentLookup(parent: Table, fk: A.ForeignKey): ParentProbe | undefined {
  const hit = parentProbes.get(fk);
  if (hit?.parent === parent) return hit.probe;
  const probe = parentProbe(parent, fk);
  parentProbes.set(fk, { parent, probe });
  return probe;
}

function parentProbe(parent: Table, fk: A.ForeignKey): ParentProbe | undefined {
  const ix = parentKey(parent, fk);
  if (ix === undefined) return undefined;
  if (ix === 'rowid') {
    return (tx, [v]) => {
      const id = applyAffinity(v!, 'INTEGER');
      return typeof id === 'bigint' && readRow(tx, parent, id) !== null;
    };
  }
  const pcols = parentCols(parent, fk);
  const order = ix.cols.map((c) => pcols.indexOf(c.col));
  const affs = ix.cols.map((c) => probeAffinity(parent.cols[c.col]!.affinity));
  const colls = ix.cols.map((c) => c.coll);
  const descs = ix.cols.map((c) => c.desc);
  return (tx, vals) => {
    const key = indexKeyPrefix(ix.prefix, order.map((j, i) => applyAffinity(vals[j]!, affs[i]!)), colls, descs);
    for (const _ of tx.scan({ gte: key, lt: prefixEnd(key), limit: 1 })) return true;
    return false;
  };
}

/**
 * SQLite's schema error for a foreign key whose parent key it cannot find, raised when it compiles
 * a statement that needs the key: `parentSide` tells the keys of the table's children it needs,
 * `childSide` its own. The foreign key actions those children have are compiled with it (as
 * SQLite's triggers), so the tables they write are checked too (`seen`: each once).
 * (A missing parent table is a difference docs/SQL.md lists.)
 */
function checkParentKeys(host: DmlHost, t: Table, childSide: (fk: A.ForeignKey) => boolean, parentSide: (fk: A.ForeignKey) => boolean, update = false, seen = new Set<string>()): void {
  if (!host.foreignKeys() || host.skipMismatched) return;
  for (const fk of t.fks) {
    const parent = host.table(fk.table);
    if (parent && childSide(fk) && !parentKeyFound(parent, fk)) throw sqlError(`foreign key mismatch - "${t.name}" referencing "${fk.table}"`);
  }
  for (const { child, fk } of referencing(host, t)) {
    if (!parentSide(fk)) continue;
    if (!parentKeyFound(t, fk)) throw sqlError(`foreign key mismatch - "${child.name}" referencing "${fk.table}"`);
    const action = update ? fk.onUpdate : fk.onDelete;
    if (action !== 'CASCADE' && action !== 'SET NULL' && action !== 'SET DEFAULT') continue;
    const key = `${child.name}\0${fk.cols.join('\0')}\0${update || action !== 'CASCADE'}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!update && action === 'CASCADE') checkDeleteKeys(host, child, seen);
    else checkUpdateKeys(host, child, new Set(fk.cols.map((c) => child.cols.findIndex((x) => x.name.toLowerCase() === c.toLowerCase()))), seen);
  }
}

function checkDeleteKeys(host: DmlHost, t: Table, seen?: Set<string>): void {
  checkParentKeys(host, t, () => true, () => true, false, seen);
}

/** An UPDATE assigning `assigned`: SQLite's fkChildIsModified (a self-reference always) and fkParentIsModified. */
function checkUpdateKeys(host: DmlHost, t: Table, assigned: ReadonlySet<number>, seen?: Set<string>): void {
  const cols = (names: string[]): number[] => names.map((c) => t.cols.findIndex((x) => x.name.toLowerCase() === c.toLowerCase()));
  checkParentKeys(host, t,
    (fk) => fk.table.toLowerCase() === t.name.toLowerCase() || touches(t, cols(fk.cols), assigned),
    (fk) => touches(t, fk.refCols ? cols(fk.refCols) : t.cols.flatMap((c, i) => (c.pk > 0 ? [i] : [])), assigned), true, seen);
}

function colIndex(t: Table, name: string): number {
  const i = t.cols.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
  if (i < 0) throw sqlError(`foreign key mismatch - "${t.name}" has no column "${name}"`);
  return i;
}

function parentCols(parent: Table, fk: A.ForeignKey): number[] {
  if (fk.refCols) return fk.refCols.map((c) => colIndex(parent, c));
  const pk = parent.cols.map((c, i) => [c.pk, i] as const).filter(([p]) => p > 0).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
  if (pk.length === 0) return [parent.cols.length];
  return pk;
}

/**
 * The affinity SQLite gives a child value before it looks for the parent: the parent column's,
 * except that REAL affinity leaves an integer an integer, which then equals a REAL parent only
 * exactly (9007199254740993 finds no 9007199254740992.0).
 */
function probeAffinity(a: Affinity): Affinity {
  return a === 'REAL' ? 'NUMERIC' : a;
}

/**
 * Whether row `r`, entering parent table `t`, holds its own key `vals` in columns `cols`, compared
 * as SQLite does before the row exists: a rowid with the key made an integer (OP_MustBeInt), other
 * columns with the values as stored, under BINARY (OP_Ne), whatever the key's collation.
 */
function holdsKey(t: Table, cols: number[], vals: Value[], r: Value[]): boolean {
  if (cols.length === 1 && (cols[0] === t.cols.length || cols[0] === t.rowidAlias)) return compareValues(applyAffinity(vals[0]!, 'INTEGER'), r[cols[0]]!, 'BINARY') === 0;
  return cols.every((c, i) => r[c] !== null && compareValues(vals[i]!, r[c]!, 'BINARY') === 0);
}

/**
 * RETURNING: result columns over the target table's row. As in SQLite they see that table alone,
 * under its own name: not its alias, not UPDATE's FROM tables, not `excluded`.
 * `newRow`: RETURNING of INSERT or UPDATE, where SQLite holds a REAL column's integral value as an
 * integer tagged REAL (ExprCompiler.intReal). Functions that read it see a REAL, but one that
 * passes it through returns an integer, unless the whole expression has REAL affinity (SQLite
 * then applies OP_RealAffinity to the result, as to a plain column).
 */
function compileReturning(qc: QueryCompiler, cols: A.ResultCol[] | undefined, target: Source, newRow: boolean): { names: string[]; fns: CExpr[] } | undefined {
  if (!cols) return undefined;
  const src: Source = { ...target, name: target.table!.name };
  const scope = new Scope(undefined);
  scope.sources.push(src);
  const names: string[] = [];
  const fns: CExpr[] = [];
  for (const rc of cols) {
    if (rc.star) {
      src.cols.forEach((c) => { names.push(c.name); fns.push(qc.ex.compile({ k: 'col', table: src.name, name: c.name }, scope)); });
      continue;
    }
    let ce: CExpr;
    if (newRow) {
      const passed = new Set<A.Expr>();
      passedThrough(rc.expr!, passed);
      qc.ex.intReal = { nodes: passed, slot: src.slot };
      try { ce = qc.ex.compile(rc.expr!, scope); } finally { qc.ex.intReal = undefined; }
      if (ce.aff === 'REAL') { const f = ce.fn; ce = { ...ce, fn: (env) => { const v = f(env); return typeof v === 'bigint' ? Number(v) : v; } }; }
    } else ce = qc.ex.compile(rc.expr!, scope);
    fns.push(ce);
    names.push(rc.alias ?? (ce.col && rc.expr!.k === 'col' ? columnName(src, ce.col.idx) : rc.text));
  }
  return { names, fns };
}

/** Arguments a function returns unchanged, by position (undefined: all of them). */
const PASSING_ARGS: Record<string, number[] | undefined> = {
  coalesce: undefined, ifnull: undefined, max: undefined, min: undefined, nullif: [0], iif: [1, 2], likely: [0], unlikely: [0], likelihood: [0],
};

/**
 * Adds the column references that result column `i` of `sel` (of each arm of a compound) may
 * return unchanged; a column of a FROM subquery or CTE passes on what that query's column passes
 * (SQLite flattens the subquery, or copies the tagged value through unchanged).
 */
function passedThroughColumn(sel: A.Select, i: number, out: Set<A.Expr>): void {
  for (const core of sel.cores) {
    const e = core.k === 'core' ? core.cols[i]?.expr : undefined;
    if (core.k !== 'core' || !e) continue;
    const cols = new Set<A.Expr>();
    passedThrough(e, cols);
    for (const c of cols) {
      out.add(c);
      if (c.k !== 'col') continue;
      const name = c.name.toLowerCase();
      for (const j of core.from) {
        const it = j.item;
        const alias = (it.alias ?? (it.k === 'table' ? it.name : undefined))?.toLowerCase();
        if (c.table !== undefined && c.table.toLowerCase() !== alias) continue;
        const cte = it.k === 'table' ? sel.with.find((w) => w.name.toLowerCase() === it.name.toLowerCase()) : undefined;
        const q = it.k === 'sub' ? it.select : cte?.select;
        const first = q?.cores[0];
        if (!q || first?.k !== 'core') continue;
        const k = cte?.cols
          ? cte.cols.findIndex((n) => n.toLowerCase() === name)
          : first.cols.findIndex((r) => (r.alias ?? (r.expr?.k === 'col' ? r.expr.name : undefined))?.toLowerCase() === name);
        if (k >= 0) passedThroughColumn(q, k, out);
      }
    }
  }
}

/** Adds the column references whose value `e` may return unchanged to `out`. */
function passedThrough(e: A.Expr, out: Set<A.Expr>): void {
  switch (e.k) {
    case 'col': out.add(e); return;
    case 'collate': passedThrough(e.e, out); return;
    case 'unary': if (e.op === '+') passedThrough(e.e, out); return;
    case 'case':
      for (const [, then] of e.whens) passedThrough(then, out);
      if (e.else) passedThrough(e.else, out);
      return;
    // CAST AS NUMERIC turns a tagged integer into a plain one (CAST AS INTEGER does anyway).
    case 'cast': if (['NUMERIC', 'INTEGER'].includes(affinityOf(e.type))) passedThrough(e.e, out); return;
    case 'subq': passedThroughColumn(e.select, 0, out); return;
    case 'fn': {
      const name = e.name.toLowerCase();
      // One-argument max() and min() are aggregates.
      if (!(name in PASSING_ARGS) || e.star || ((name === 'max' || name === 'min') && e.args.length < 2)) return;
      const pos = PASSING_ARGS[name];
      e.args.forEach((a, i) => { if (!pos || pos.includes(i)) passedThrough(a, out); });
      return;
    }
    default:
  }
}

// ---- INSERT ----

export function compileInsert(stmt: A.Insert, qc: QueryCompiler, host: DmlHost): CompiledDml {
  const table = checkWritable(qc, stmt.table);
  const ncols = table.cols.length;
  const ridIdx = ncols;
  // Target positions for each supplied value.
  let targets: number[];
  if (stmt.cols) {
    targets = stmt.cols.map((n) => {
      const i = table.cols.findIndex((c) => c.name.toLowerCase() === n.toLowerCase());
      if (i >= 0) {
        if (table.cols[i]!.generated) throw sqlError(`cannot INSERT into generated column "${table.cols[i]!.name}"`);
        return i;
      }
      if (['rowid', 'oid', '_rowid_'].includes(n.toLowerCase())) return ridIdx;
      throw sqlError(`table ${table.name} has no column named ${n}`);
    });
  } else targets = stmt.source ? table.cols.map((_, i) => i).filter((i) => !table.cols[i]!.generated) : [];

  qc.pushCtes(stmt.with);
  let source: { run: (env: Env, emit: (row: Value[]) => void) => void; n: number } | undefined;
  try {
    if (stmt.source) {
      const sel = stmt.source;
      const core = sel.cores[0]!;
      if (sel.cores.length === 1 && core.k === 'values' && !sel.orderBy.length && !sel.limit && sel.with.length === 0) {
        const scope = new Scope(undefined);
        const rows = core.rows.map((r) => r.map((e) => qc.ex.compile(e, scope)));
        source = { n: rows[0]!.length, run: (env, emit) => { for (const r of rows) emit(r.map((c) => c.fn(env))); } };
      } else {
        const q = qc.compileSelect(sel, undefined);
        // Reading the target table while inserting into it: materialise first, as SQLite does.
        source = {
          n: q.columns.length,
          run: (env, emit) => {
            const rows: Value[][] = [];
            q.run(env, (r) => { rows.push(r); });
            for (const r of rows) emit(r);
          },
        };
      }
      if (source.n !== targets.length) {
        if (stmt.cols) throw sqlError(`${source.n} values for ${targets.length} columns`);
        throw sqlError(`table ${table.name} has ${targets.length} columns but ${source.n} values were supplied`);
      }
    }
  } finally {
    qc.popCtes(stmt.with);
  }

  // Upserts: compiled over the target row (alias or table name) and `excluded`.
  const scope = new Scope(undefined);
  const target = qc.tableLevel(table, stmt.alias ?? table.name, scope);
  const excluded = tableSource(table, qc.newSlot(), 'excluded');
  // Unqualified names in DO UPDATE mean the target row; `excluded.` must be written out.
  excluded.usingHidden = new Set([...table.cols.map((c) => c.name.toLowerCase()), 'rowid', 'oid', '_rowid_']);
  scope.sources.push(excluded);
  const upserts = stmt.upserts.map((u, ui) => {
    let index: Index | 'rowid' | undefined;
    if (u.target) {
      const cols = u.target.map((t) => {
        if (t.e.k !== 'col') return -2;
        const name = (t.e as { name: string }).name.toLowerCase();
        const i = table.cols.findIndex((c) => c.name.toLowerCase() === name);
        // SQLite resolves the INTEGER PRIMARY KEY to the rowid, which no index holds as a column.
        return i === table.rowidAlias || (i < 0 && ['rowid', 'oid', '_rowid_'].includes(name)) ? ridIdx : i;
      });
      if (cols.length === 1 && cols[0] === ridIdx) index = 'rowid';
      else {
        // The newest matching index, as SQLite searches its newest-first index list.
        index = [...table.indexes].reverse().find((ix) => ix.unique && !ix.where === !u.targetWhere && ix.cols.length === cols.length && ix.cols.every((c) => c.col >= 0 && cols.includes(c.col)));
        if (!index) throw sqlError('ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint');
      }
    } else if (ui !== stmt.upserts.length - 1) {
      throw sqlError('ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint');
    }
    const set = u.set?.map((a) => {
      const idxs = a.cols.map((n) => {
        const i = table.cols.findIndex((c) => c.name.toLowerCase() === n.toLowerCase());
        if (i < 0) {
          if (['rowid', 'oid', '_rowid_'].includes(n.toLowerCase())) return ridIdx;
          throw sqlError(`no such column: ${n}`);
        }
        if (table.cols[i]!.generated) throw sqlError(`cannot UPDATE generated column "${table.cols[i]!.name}"`);
        return i;
      });
      if (idxs.length !== 1) throw sqlError('row value assignments are not supported yet');
      return { col: idxs[0]!, e: qc.ex.compile(a.e, scope) };
    });
    const where = u.where ? qc.ex.compile(u.where, scope) : undefined;
    return { index, set, where, assigned: changedColumns(table, new Set(set?.map((a) => a.col))) };
  });
  const ret = compileReturning(qc, stmt.returning, target.src, true);
  const rt = tableRt(table);
  // SQLite compiles the computation of every generated column of the new row.
  if (rt.loop !== undefined) throw sqlError(rt.loop);
  const checks = uniquenessOrder(rt.indexes, upserts.map((u) => u.index));
  const w = new RowWriter(table, host);
  const action = stmt.or;
  const tslot = target.src.slot, xslot = excluded.slot;
  // Whether REPLACE may delete rows: through the rowid when it is given, or any unique index.
  const replaces = (action ?? table.rowidConflict) === 'REPLACE' || table.indexes.some((ix) => ix.unique && (action ?? ix.conflict) === 'REPLACE');
  // SQLite journals an INSERT of several rows, one whose REPLACE or upsert may touch rows with
  // foreign keys, or one with RETURNING (which it compiles as a trigger).
  const insertJournal = (): boolean => stmt.returning !== undefined ||
    (source !== undefined && (stmt.source!.cores.length > 1 || stmt.source!.cores[0]!.k !== 'values' || stmt.source!.cores[0]!.rows.length > 1)) ||
    ((replaces || upserts.some((u) => u.set)) && fkRelated(host, table));
  // A row entering a parent table can break or mend only deferred keys, unless the INSERT journals.
  checkParentKeys(host, table, () => true, (fk) => fk.deferred || host.fkCounters().deferAll || insertJournal());
  // A REPLACE deletes rows as a DELETE does, and DO UPDATE is an UPDATE.
  if (replaces && fkRelated(host, table)) checkDeleteKeys(host, table);
  for (const u of upserts) if (u.set) checkUpdateKeys(host, table, u.assigned);
  // SQLite codes REPLACE's deletions for the rowid only when the statement supplies the rowid.
  const insertUnchecked = (): A.ForeignKey | undefined =>
    setNullUnchecked(host, table, replaces && (targets.includes(table.rowidAlias) || targets.includes(ridIdx) || table.indexes.some((ix) => ix.unique)), upserts.filter((u) => u.set).map((u) => u.assigned));
  const alias = table.rowidAlias;
  const autoinc = table.autoincrement;
  const generated = rt.generated.length > 0;
  const strictAt = strictPoint(table);
  // SQLite applies column affinity before the first index check, and before any conflict check
  // when the table has CHECK constraints or generated columns, so `excluded.*` sees the values as
  // supplied only on a rowid conflict checked before everything else.
  const rawExcluded = upserts.length > 0 && checks[0] === 'rowid' && table.checks.length === 0 && !table.cols.some((c) => c.generated);

  // The per-row functions are made once per compiled statement, not per execution: a closure per
  // run was a measurable share of a one-row INSERT. Per-execution state lives in `st`.
  /** `typedDefaults`: a row got past the rowid check, so SQLite's defaults have their affinity (see insertOne). */
  interface RunState { env: Env; out: Value[][]; changes: number; seqMax: bigint | undefined; unchecked: A.ForeignKey | undefined; journal: boolean; typedDefaults: boolean }
  const findUpsert = (ix: Index | 'rowid'): (typeof upserts)[number] | undefined => {
    for (const u of upserts) if (u.index === undefined || u.index === ix) return u;
    return undefined;
  };
  // A DO UPDATE's own row check is coded after the conflict handlers coded before it (SQLite codes
  // the rowid's first, wherever it runs, then the indexes in check order), whose actions may leave
  // a SET NULL program newest (see setNullUnchecked).
  const coded: (Index | 'rowid')[] = ['rowid', ...checks.flatMap((c) => (c === 'rowid' ? [] : [c.index]))];
  const doUpdateUnchecked = new Map<Index | 'rowid', A.ForeignKey | undefined>();
  const uncheckedAt = (ix: Index | 'rowid'): A.ForeignKey | undefined => {
    if (doUpdateUnchecked.has(ix)) return doUpdateUnchecked.get(ix);
    const before = coded.slice(0, coded.indexOf(ix));
    const del = before.some((c) => !findUpsert(c) && (c === 'rowid'
      ? (action ?? table.rowidConflict) === 'REPLACE' && (targets.includes(table.rowidAlias) || targets.includes(ridIdx))
      : (action ?? c.conflict) === 'REPLACE'));
    const upd = before.flatMap((c) => { const u = findUpsert(c); return u?.set ? [u.assigned] : []; });
    const fk = del || upd.length ? setNullUnchecked(host, table, del, upd) : undefined;
    doUpdateUnchecked.set(ix, fk);
    return fk;
  };
  const handle = (st: RunState, ix: Index | 'rowid', otherRowid: bigint, row: Value[], raw: Value[]): 'skip' | 'continue' | 'done' => {
    const env = st.env;
    const up = upserts.length ? findUpsert(ix) : undefined;
    if (up) {
      if (!up.set) return 'skip';
      const existing = readRow(env.tx, table, otherRowid)!;
      env.rows[tslot] = existing;
      if (raw !== row) { raw[ridIdx] = row[ridIdx]!; if (alias >= 0) raw[alias] = row[alias]!; }
      // SQLite checks the rowid before applying column affinity and the unique indexes after,
      // so `excluded` holds the raw values only for a rowid conflict.
      env.rows[xslot] = ix === 'rowid' ? raw : row;
      if (up.where && truth(up.where.fn(env)) !== true) return 'skip';
      const nr = existing.slice();
      for (const s of up.set) nr[s.col] = s.e.fn(env);
      applyUpdate(env, table, w, existing, nr, undefined, up.assigned, host.foreignKeys() ? uncheckedAt(ix) : undefined);
      st.changes++;
      if (ret) { env.rows[tslot] = readRow(env.tx, table, nr[ridIdx] as bigint) ?? nr; st.out.push(ret.fns.map((f) => f.fn(env))); }
      return 'done';
    }
    const act = action ?? (ix === 'rowid' ? table.rowidConflict : ix.conflict) ?? 'ABORT';
    if (act === 'IGNORE') return 'skip';
    if (act === 'REPLACE') {
      const other = readRow(env.tx, table, otherRowid);
      if (other) w.deleteRow(other, env);
      return 'continue';
    }
    throw fail(uniqueKind(table, ix), uniqueMessage(table, ix), act);
  };
  const insertOne = (st: RunState, vals: Value[]): void => {
    const env = st.env;
    const row = new Array<Value>(ncols + 1).fill(null);
    const given = new Array<boolean>(ncols + 1).fill(false);
    for (let i = 0; i < targets.length; i++) { row[targets[i]!] = vals[i]!; given[targets[i]!] = true; }
    for (let i = 0; i < ncols; i++) if (!given[i]) { const d = rt.defaults[i]; row[i] = d ? d.fn(env) : null; }
    // `excluded.*` may see the values as supplied, before column affinity (see below).
    const raw = rawExcluded ? row.slice() : row;
    // ...except that a REAL column always reads back as REAL (SQLite's OP_RealAffinity).
    if (raw !== row) for (let i = 0; i < ncols; i++) if (table.cols[i]!.affinity === 'REAL' && typeof raw[i] === 'bigint') raw[i] = Number(raw[i]);
    for (let i = 0; i < ncols; i++) if (i !== alias) row[i] = applyAffinity(row[i]!, table.cols[i]!.affinity);
    // SQLite computes a default once per statement into the row's register, and applies affinity
    // in place there: after one row of the statement got that far, later rows see it typed.
    if (raw !== row && st.typedDefaults) for (let i = 0; i < ncols; i++) if (!given[i]) raw[i] = row[i]!;
    // The rowid: an INTEGER PRIMARY KEY value, an explicit rowid, or the next free one.
    let rid: Value = alias >= 0 && given[alias] ? row[alias]! : given[ridIdx] ? row[ridIdx]! : null;
    if (alias >= 0 && given[alias] && given[ridIdx] && row[alias] === null) rid = row[ridIdx]!;
    if (rid !== null) {
      rid = applyAffinity(rid, 'INTEGER');
      if (typeof rid !== 'bigint') throw new SqlError('SQLITE_MISMATCH', 'datatype mismatch');
    } else {
      let next = maxRowid(env.tx, table);
      if (autoinc) {
        if (st.seqMax === undefined) st.seqMax = readSequence(env, host, table.name);
        if (st.seqMax > next) next = st.seqMax;
      }
      if (next === INT64_MAX) {
        if (autoinc) throw new SqlError('SQLITE_FULL', 'database or disk is full');
        // The largest rowid is taken: SQLite then probes random rowids for a free one.
        let found: bigint | undefined;
        for (let tries = 0; tries < 100 && found === undefined; tries++) {
          const cand = (randomBytes(8).readBigUInt64BE(0) & INT64_MAX) || 1n;
          if (!env.tx.get(rowKey(table.prefix, cand))) found = cand;
        }
        if (found === undefined) throw new SqlError('SQLITE_FULL', 'database or disk is full');
        rid = found;
      } else rid = next + 1n;
    }
    const rowid = rid;
    row[ridIdx] = rowid;
    if (alias >= 0) row[alias] = rowid;
    if (generated) generate(table, row, env);
    // SQLite advances the AUTOINCREMENT counter before any constraint check, so even an
    // ignored row moves it.
    if (autoinc) {
      if (st.seqMax === undefined) st.seqMax = readSequence(env, host, table.name);
      if (rowid > st.seqMax) st.seqMax = rowid;
    }
    if (!w.checkRow(row, action, env, true)) return;
    const key = rowKey(table.prefix, rowid);
    let typed = strictAt !== 'index';
    for (const ix of checks) {
      if (ix === 'rowid') {
        if (env.tx.get(key) && handle(st, 'rowid', rowid, row, raw) !== 'continue') return;
        st.typedDefaults = true;
        continue;
      }
      if (!typed) { strictCheck(table, row, 'stored'); typed = true; }
      const other = w.findConflict(ix, row, rowid, env, true);
      if (other !== undefined && handle(st, ix.index, other, row, raw) !== 'continue') return;
    }
    if (!typed) strictCheck(table, row, 'stored');
    if (host.foreignKeys()) { w.childKeys(row, env, 1, undefined, st.unchecked, !st.journal); w.parentKeys(row, env, -1, undefined, undefined, !st.journal); }
    insertRowRaw(env.tx, table, row, env, key);
    st.changes++;
    host.setLastInsertRowid(rowid);
    if (ret) { env.rows[tslot] = row; st.out.push(ret.fns.map((f) => f.fn(env))); }
  };
  const run = (env: Env): { rows: Value[][]; changes: number; actionChanges: number } => {
    w.actions.changes = 0;
    const fc = fkStart(host, insertJournal);
    const st: RunState = { env, out: [], changes: 0, seqMax: undefined, unchecked: fc && insertUnchecked(), journal: fc?.journal ?? true, typedDefaults: false };
    try {
      if (source) source.run(env, (vals) => insertOne(st, vals));
      else insertOne(st, []);
    } catch (e) {
      fkStatementEnd(fc, e);
      throw withChanges(e, st.changes);
    }
    fkStatementEnd(fc);
    // Like SQLite, a successful INSERT into an AUTOINCREMENT table always leaves its counter row.
    if (autoinc) writeSequence(env, host, table.name, st.seqMax ?? readSequence(env, host, table.name));
    return { rows: st.out, changes: st.changes, actionChanges: w.actions.changes };
  };
  return { columns: ret?.names ?? [], run, explain: () => {} };
}

/**
 * The order in which INSERT checks uniqueness, SQLite's: the rowid, then the unique indexes newest
 * first (its index list is newest-first). Upsert targets go first, in the order of their ON CONFLICT
 * clauses; when the first clause does not target the rowid, the rowid is checked right after the
 * last index target that a rowid (or untargeted) clause follows.
 */
function uniquenessOrder(indexes: TableRtIndex[], targets: (Index | 'rowid' | undefined)[]): (TableRtIndex | 'rowid')[] {
  const out: (TableRtIndex | 'rowid')[] = [];
  const used = new Set<Index>();
  if (targets.length && targets[0] !== undefined && targets[0] !== 'rowid') {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[k];
      if (t === undefined) break;
      if (t === 'rowid' || used.has(t)) continue;
      used.add(t);
      out.push(indexes.find((ix) => ix.index === t)!);
      // The clauses that follow: the rowid goes next unless another index target comes first.
      let next = k + 1;
      while (next < targets.length && targets[next] !== undefined && targets[next] !== 'rowid' && used.has(targets[next] as Index)) next++;
      const n = targets[next];
      if (!out.includes('rowid') && (n === undefined || n === 'rowid')) out.push('rowid');
    }
  } else out.push('rowid');
  for (let k = indexes.length - 1; k >= 0; k--) {
    const ix = indexes[k]!;
    if (ix.index.unique && !used.has(ix.index)) out.push(ix);
  }
  return out;
}

function sequenceTable(host: DmlHost): Table | undefined {
  return host.table('sqlite_sequence');
}

function readSequence(env: Env, host: DmlHost, name: string): bigint {
  const t = sequenceTable(host);
  if (!t) return 0n;
  for (const r of scanRows(env.tx, t, undefined, undefined, false)) {
    if (r[0] === name) return typeof r[1] === 'bigint' ? r[1] : 0n;
  }
  return 0n;
}

function writeSequence(env: Env, host: DmlHost, name: string, seq: bigint): void {
  const t = sequenceTable(host);
  if (!t) return;
  for (const r of scanRows(env.tx, t, undefined, undefined, false)) {
    if (r[0] === name) {
      env.tx.put(rowKey(t.prefix, r[2] as bigint), encodeRecord([name, seq]));
      return;
    }
  }
  const rid = maxRowid(env.tx, t) + 1n;
  env.tx.put(rowKey(t.prefix, rid), encodeRecord([name, seq]));
}

/** An UPDATE's uniqueness conflict with row `other`: false to skip the row, true to go on. */
function updateConflict(env: Env, table: Table, w: RowWriter, action: Action | undefined, ix: Index | 'rowid', other: bigint): boolean {
  const act = action ?? (ix === 'rowid' ? table.rowidConflict : ix.conflict) ?? 'ABORT';
  if (act === 'IGNORE') return false;
  if (act === 'REPLACE') {
    const o = readRow(env.tx, table, other);
    if (o) w.deleteRow(o, env);
    return true;
  }
  throw fail(uniqueKind(table, ix), uniqueMessage(table, ix), act);
}

/** Writes `nr` over `old` with every constraint (used by UPDATE and DO UPDATE). Returns false when skipped. */
function applyUpdate(env: Env, table: Table, w: RowWriter, old: Value[], nr: Value[], action: Action | undefined, assigned: ReadonlySet<number>, unchecked?: A.ForeignKey): boolean {
  const ncols = table.cols.length;
  const alias = table.rowidAlias;
  for (let i = 0; i < ncols; i++) if (i !== alias) nr[i] = applyAffinity(nr[i]!, table.cols[i]!.affinity);
  let rid: Value = alias >= 0 ? nr[alias]! : nr[ncols]!;
  if (alias >= 0 && nr[alias] === old[alias] && nr[ncols] !== old[ncols]) rid = nr[ncols]!;
  if (rid === null) {
    if (alias >= 0) throw new SqlError('SQLITE_MISMATCH', 'datatype mismatch');
    rid = old[ncols]!;
  }
  rid = applyAffinity(rid, 'INTEGER');
  if (typeof rid !== 'bigint') throw new SqlError('SQLITE_MISMATCH', 'datatype mismatch');
  nr[ncols] = rid;
  if (alias >= 0) nr[alias] = rid;
  const rt = tableRt(table);
  if (rt.generated.length > 0) generate(table, nr, env);
  const oldRowid = old[ncols] as bigint;
  if (!w.checkRow(nr, action, env, true)) return false;
  let replaced = false;
  if (rid !== oldRowid && env.tx.get(rowKey(table.prefix, rid))) {
    if (!updateConflict(env, table, w, action, 'rowid', rid)) return false;
    replaced = true;
  }
  if (table.strict && strictPoint(table) === 'index') strictCheck(table, nr, 'stored');
  // SQLite's quirk, reproduced: with foreign keys on a table they relate, a REPLACE that deleted
  // rows makes it check the REPLACE indexes again once all are checked, and an entry still holding
  // the row's new key passes only if the rowid the last index lookup read (a register the recheck
  // reuses) is the row's own. So the row's own entry fails it unless the last lookup found the row
  // itself. SQLite looks only in the indexes the UPDATE may change (all of them when it changes
  // the rowid or foreign keys make it rewrite every index).
  // Foreign keys on a table they relate: the recheck below, and the write through RowWriter.rewrite.
  const fkWork = w.host.foreignKeys() && fkRelated(w.host, table);
  const probesAll = fkWork && (assigned.has(ncols) || (alias >= 0 && assigned.has(alias)) || fkRewritesIndexes(w.host, table, assigned));
  const changing = fkWork && !probesAll ? indexesChanged(table, assigned) : undefined;
  const rechecked: TableRtIndex[] = [];
  let lastRead: bigint | undefined;
  let replacedByIndex = false;
  for (let k = rt.indexes.length - 1; k >= 0; k--) {
    const ix = rt.indexes[k]!;
    if (!ix.index.unique) continue;
    if (fkWork) {
      if (changing && !changing.has(ix.index)) continue;
      const first = w.findConflict(ix, nr, rid, env, true);
      if (first !== undefined) lastRead = first;
      if ((action ?? ix.index.conflict) === 'REPLACE') rechecked.push(ix);
    }
    let other = w.findConflict(ix, nr, rid, env);
    if (other === oldRowid) other = undefined;
    if (other !== undefined) {
      if (!updateConflict(env, table, w, action, ix.index, other)) return false;
      replaced = replacedByIndex = true;
    }
  }
  if (replacedByIndex && lastRead !== oldRowid) {
    const own = rechecked.find((c) => w.findConflict(c, nr, rid, env, true) !== undefined);
    if (own) throw fail(uniqueKind(table, own.index), uniqueMessage(table, own.index), 'ABORT');
  }
  // A replacement's foreign key actions may have deleted the row itself (ON DELETE CASCADE from
  // a row it replaced): SQLite then finds it gone and skips it.
  if (replaced && !env.tx.get(rowKey(table.prefix, oldRowid))) return false;
  if (fkWork) {
    w.rewrite(old, nr, env, assigned, unchecked);
    // After the write, as SQLite runs its actions: a self-referencing row's own key cascades too.
    w.parentActions(old, nr, env, 0, assigned);
    return true;
  }
  // Index entries change only where the indexed values (or the rowid) did.
  for (const ix of rt.indexes) {
    const before = indexEntry(ix, old, oldRowid, env);
    const after = indexEntry(ix, nr, rid, env);
    if (before && after && compareBytes(before.key, after.key) === 0 && sameValues(before.values, after.values)) continue;
    if (before) env.tx.del(before.key);
    if (after) env.tx.put(after.key, encodeRecord(after.values));
  }
  if (rid !== oldRowid) env.tx.del(rowKey(table.prefix, oldRowid));
  env.tx.put(rowKey(table.prefix, rid), encodeRow(table, nr));
  return true;
}

/** indexesChanged's answers, per statement: its assigned set is made once when it compiles. */
const changedByAssigned = new WeakMap<ReadonlySet<number>, Set<Index>>();

/**
 * The indexes of `table` an UPDATE assigning `assigned` may change: those over an assigned column,
 * directly, in an expression or in their WHERE.
 */
function indexesChanged(table: Table, assigned: ReadonlySet<number>): Set<Index> {
  let out = changedByAssigned.get(assigned);
  if (!out) {
    const names = new Set(table.cols.filter((_, i) => assigned.has(i)).map((c) => c.name.toLowerCase()));
    out = new Set(table.indexes.filter((ix) => ix.cols.some((c) => (c.col >= 0 ? assigned.has(c.col) : mentions(c.e, names))) || mentions(ix.where, names)));
    changedByAssigned.set(assigned, out);
  }
  return out;
}

/** Whether expression `e` names one of the columns in `names` (lower case). */
function mentions(e: unknown, names: ReadonlySet<string>): boolean {
  for (const o of nodes(e)) if (o.k === 'col' && typeof o.name === 'string' && names.has(o.name.toLowerCase())) return true;
  return false;
}

/** Whether `e` holds a subquery anywhere (SQLite's EP_Subquery). */
function hasSubquery(e: unknown): boolean {
  for (const o of nodes(e)) if (o.k === 'subq' || o.k === 'exists' || (o.k === 'in' && (o.select || o.table))) return true;
  return false;
}

/** Identical storage classes and values (1 and 1.0 differ: covering reads return what is stored). */
function sameValues(a: Value[], b: Value[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (typeof x !== typeof y) return false;
    if (x instanceof Uint8Array) { if (compareBytes(x, y as Uint8Array) !== 0) return false; } else if (x !== y) return false;
  }
  return true;
}

// ---- UPDATE ----

export function compileUpdate(stmt: A.Update, qc: QueryCompiler, host: DmlHost): CompiledDml {
  const table = checkWritable(qc, stmt.table);
  const ncols = table.cols.length;
  qc.pushCtes(stmt.with);
  try {
    const scope = new Scope(undefined);
    const target = qc.tableLevel(table, stmt.alias ?? table.name, scope);
    // The new row starts as a copy of the old one, so every column must be read (no covering scan).
    // With a loop among its generated columns, the UPDATE fails once compiled, as SQLite's does.
    const genLoop = tableRt(table).loop;
    if (genLoop === undefined) for (let i = 0; i < ncols; i++) target.src.used.add(i);
    const sets: { col: number; e: CExpr }[] = [];
    const loop = qc.compileLoop(stmt.from, stmt.where, scope, undefined, [target]);
    for (const a of stmt.set) {
      if (a.cols.length !== 1) throw sqlError('row value assignments are not supported yet');
      const n = a.cols[0]!;
      let i = table.cols.findIndex((c) => c.name.toLowerCase() === n.toLowerCase());
      if (i < 0) {
        if (['rowid', 'oid', '_rowid_'].includes(n.toLowerCase())) i = ncols;
        else throw sqlError(`no such column: ${n}`);
      } else if (table.cols[i]!.generated) throw sqlError(`cannot UPDATE generated column "${table.cols[i]!.name}"`);
      sets.push({ col: i, e: qc.ex.compile(a.e, scope) });
    }
    const ret = compileReturning(qc, stmt.returning, target.src, true);
    if (genLoop !== undefined) throw sqlError(genLoop);
    const w = new RowWriter(table, host);
    const slot = target.src.slot;
    const action = stmt.or;
    const assigned = changedColumns(table, new Set(sets.map((s) => s.col)));
    // SQLite updates each row as its scan finds it (one pass) unless it collects the rowids first
    // and then updates in rowid order: when the UPDATE changes the rowid, may REPLACE, has a FROM
    // clause, RETURNING (a trigger there) or a subquery in WHERE, changes the index the scan walks,
    // or has foreign key work.
    const changedIndexes = indexesChanged(table, assigned);
    const rowidChanged = assigned.has(ncols) || (table.rowidAlias >= 0 && assigned.has(table.rowidAlias));
    const twoPass = rowidChanged || action === 'REPLACE'
      || (action === undefined && table.indexes.some((ix) => ix.unique && ix.conflict === 'REPLACE' && changedIndexes.has(ix)))
      || stmt.from.length > 0 || stmt.returning !== undefined || hasSubquery(stmt.where);
    // Depends on the schema only, which a compiled statement is tied to.
    const fkNeeded = fkRequired(host, table, assigned);
    checkUpdateKeys(host, table, assigned);
    // The scan's access path is chosen when the loop first runs.
    const scanChanged = (): boolean => { const a = loop.levels[0]!.access; return a.k === 'index' && changedIndexes.has(a.index); };
    return {
      columns: ret?.names ?? [],
      explain: (out) => loop.explain(out),
      run: (env) => {
        w.actions.changes = 0;
        const matches = new Map<bigint, Value[]>();
        const found = new Map<bigint, Value[]>();
        loop.run(env, () => {
          const old = env.rows[slot]!;
          const rid = old[ncols] as bigint;
          if (matches.has(rid)) return;
          const nr = old.slice();
          for (const s of sets) nr[s.col] = s.e.fn(env);
          if (table.rowidAlias >= 0 && sets.some((s) => s.col === ncols) && !sets.some((s) => s.col === table.rowidAlias)) nr[table.rowidAlias] = nr[ncols]!;
          matches.set(rid, nr);
          found.set(rid, old);
        });
        const out: Value[][] = [];
        let changes = 0;
        const order = [...matches.keys()];
        if (twoPass || scanChanged() || (host.foreignKeys() && fkNeeded)) order.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        // Until this statement writes, the rows the loop found are the stored rows: the first
        // update needs no second read (for an update by key, that read was a fifth of the cost).
        let wrote = false;
        const fc = fkStart(host, () => fkNeeded);
        // An UPDATE OR REPLACE compiles the deletions of the rows it may replace before its checks,
        // when it checks any: it changes the rowid or a unique index, or foreign keys make it check
        // them all.
        // Inline, not a named closure: this runs per execution (tsx's keepNames makes each named closure a defineProperty).
        const unchecked = fc && action === 'REPLACE' && (rowidChanged || table.indexes.some((ix) => ix.unique && (changedIndexes.has(ix) || fkRewritesIndexes(host, table, assigned))))
          ? setNullUnchecked(host, table, true, []) : undefined;
        try {
          for (const rid of order) {
            const nr = matches.get(rid)!;
            const old = wrote ? readRow(env.tx, table, rid) : found.get(rid)!;
            if (!old) continue; // removed by an earlier REPLACE in this statement
            wrote = true;
            if (!applyUpdate(env, table, w, old, nr, action, assigned, unchecked)) continue;
            changes++;
            if (ret) { env.rows[slot] = nr; out.push(ret.fns.map((f) => f.fn(env))); }
          }
        } catch (e) {
          fkStatementEnd(fc, e);
          throw withChanges(e, changes);
        }
        fkStatementEnd(fc);
        return { rows: out, changes, actionChanges: w.actions.changes };
      },
    };
  } finally {
    qc.popCtes(stmt.with);
  }
}

// ---- DELETE ----

export function compileDelete(stmt: A.Delete, qc: QueryCompiler, host: DmlHost): CompiledDml {
  const table = checkWritable(qc, stmt.table);
  qc.pushCtes(stmt.with);
  try {
    const scope = new Scope(undefined);
    const target = qc.tableLevel(table, stmt.alias ?? table.name, scope);
    const loop = qc.compileLoop([], stmt.where, scope, undefined, [target]);
    const ret = compileReturning(qc, stmt.returning, target.src, false);
    checkDeleteKeys(host, table);
    // SQLite's RETURNING reads the whole old row, so a generated column caught in a loop fails it.
    if (ret && tableRt(table).loop !== undefined) checkGeneratedLoops(table, table.cols.keys());
    const w = new RowWriter(table, host);
    const slot = target.src.slot;
    const ncols = table.cols.length;
    return {
      columns: ret?.names ?? [],
      explain: (out) => loop.explain(out),
      run: (env) => {
        w.actions.changes = 0;
        const rows: Value[][] = [];
        loop.run(env, () => { rows.push(env.rows[slot]!); });
        const out: Value[][] = [];
        let changes = 0;
        const fc = fkStart(host, () => fkRelated(host, table));
        try {
          for (const r of rows) {
            const cur = readRow(env.tx, table, r[ncols] as bigint);
            if (!cur) continue;
            if (ret) { env.rows[slot] = cur; out.push(ret.fns.map((f) => f.fn(env))); }
            w.deleteRow(cur, env);
            changes++;
          }
        } catch (e) {
          fkStatementEnd(fc, e);
          throw withChanges(e, changes);
        }
        fkStatementEnd(fc);
        return { rows: out, changes, actionChanges: w.actions.changes };
      },
    };
  } finally {
    qc.popCtes(stmt.with);
  }
}

export { TABLE_SLOT, writeIndexEntries };
