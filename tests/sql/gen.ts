/** Seeded generator of schemas, rows and statements for the differential test (not a test file). */

import { prng as mulberry32 } from '../../src/storage/sim-fs.ts';

/** The seeded generator (mulberry32) every replayable test uses. */
export { mulberry32 };

/**
 * One generated statement. `ordered`: the result order is determined; `fold`: which of several
 * equal-under-NOCASE values represents a group is unspecified, so compare case-insensitively.
 * `apply` updates the generator's model of the schema; the caller runs it once the reference
 * engine has accepted the statement, so a refused ALTER or CREATE leaves the model as it was.
 */
export interface Stmt { sql: string; ordered: boolean; fold?: boolean; apply?: () => void }

/**
 * `gen`: a generated column, which INSERT and UPDATE may not name (`virtual`: not STORED).
 * `notNull`: declared NOT NULL.
 */
interface Col { name: string; type: string; nocase: boolean; gen?: boolean; virtual?: boolean; notNull?: boolean }
/**
 * `keys`: column sets that carry a PRIMARY KEY or UNIQUE constraint (or a full unique index), the
 * valid ON CONFLICT targets and foreign key parents. `deps`: the tables a view reads or a table's
 * foreign keys name. Views are tables without rowid or keys.
 */
interface Tbl {
  name: string; cols: Col[]; ipk: boolean; keys?: string[][]; deps?: string[];
  view?: boolean; strict?: boolean;
}

/** The columns INSERT and UPDATE may name. */
const writable = (t: Tbl): Col[] => t.cols.filter((c) => !c.gen);

/**
 * The columns an upsert reads as `excluded.x`: those before the first VIRTUAL column, as SQLite
 * reads a later one with the affinity of the column at its stored position (docs/SQL.md).
 */
const excludable = (t: Tbl): Col[] => {
  const v = t.cols.findIndex((c) => c.virtual);
  return v < 0 ? t.cols : t.cols.slice(0, v);
};

interface Model { tables: Tbl[]; views: Tbl[]; fk: boolean }

const TYPES = ['INTEGER', 'TEXT', 'REAL', 'NUMERIC', 'BLOB', '', 'VARCHAR(10)', 'INT'];
/**
 * Generated columns are not REAL. SQLite keeps an integral value of one as an integer until it
 * reads it back from a row, so what a later generated column, an index or a sort sees depends on
 * the access path (`CREATE TABLE t(a, r REAL AS (a)); INSERT INTO t(a) VALUES (1); SELECT r FROM
 * t ORDER BY r`: SQLite 1, yet 1.0 without ORDER BY); Trine's value is always the REAL.
 */
const notReal = (type: string): boolean => type !== 'REAL';

/** The only types a STRICT table accepts. */
const STRICT_TYPES = ['INTEGER', 'INT', 'REAL', 'TEXT', 'BLOB', 'ANY'];

/**
 * The conflict clauses for a statement on `t`. SQLite's STRICT type check does not make a
 * statement journal, so inside a transaction a type error on a later row keeps the earlier rows
 * (which Trine deliberately does not copy, see insertStmt): statements on a STRICT table there
 * write one row. And after an OR REPLACE replacement the error leaves the replaced row's index
 * entries deleted, a SQLite bug (`BEGIN; INSERT OR REPLACE INTO t VALUES (2, '', 'b')` over row 2
 * of `t(c0 INTEGER PRIMARY KEY, c1 INT, c2 TEXT) STRICT` indexed on (c2, c1): PRAGMA
 * integrity_check "row 1 missing from index"), so no OR REPLACE there either.
 */
const conflictClauses = (ors: string[], t: Tbl, inTx: boolean): string[] => (t.strict && inTx ? ors.filter((o) => o !== 'OR REPLACE ') : ors);
const LITS = [
  '0', '1', '2', '3', '7', '-1', '10', '100', '9223372036854775807', '-9223372036854775808', '9007199254740993',
  '0.5', '-1.25', '3.0', '2.5', '1e15', "'a'", "'B'", "'abc'", "'Abc'", "''", "' x '", "'10'", "'3.0'", "'x1'", "'1e3'",
  "X'00'", "X'61'", 'NULL', 'NULL',
];
const FUNCS1 = ['abs', 'length', 'lower', 'upper', 'typeof', 'hex', 'quote', 'trim', 'ltrim', 'rtrim', 'round', 'unicode', 'sign'];
const FUNCS2 = ['coalesce', 'ifnull', 'nullif', 'instr', 'max', 'min', 'substr', 'round', 'trim'];
const BINOPS = ['+', '-', '*', '/', '%', '||', '=', '!=', '<', '<=', '>', '>=', 'AND', 'OR', 'IS', 'IS NOT', '&', '|', '<<', '>>', 'IS DISTINCT FROM', 'IS NOT DISTINCT FROM'];
/** Foreign key actions; '' leaves the action out (NO ACTION). */
const FK_ACTIONS = ['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT', 'NO ACTION', ''];

export class Gen {
  readonly r: () => number;
  tables: Tbl[] = [];
  views: Tbl[] = [];
  private fk = false;
  private nextTable = 0;
  private nextName = 0;
  private inTx = false;
  private savepoints = 0;
  /** The model as it was at BEGIN and at each SAVEPOINT, so ROLLBACK [TO] can restore it. */
  private marks: Model[] = [];
  private setup: Stmt[] | undefined;

  constructor(seed: number) {
    this.r = mulberry32(seed);
  }

  int(n: number): number { return Math.floor(this.r() * n); }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  chance(p: number): boolean { return this.r() < p; }

  tableNames(): string[] { return this.tables.map((t) => t.name); }

  lit(): string { return this.pick(LITS); }

  private snapshot(): Model { return structuredClone({ tables: this.tables, views: this.views, fk: this.fk }); }
  private restore(m: Model): void { const c = structuredClone(m); this.tables = c.tables; this.views = c.views; this.fk = c.fk; }

  createTable(): string {
    const name = `t${this.nextTable++}`;
    const n = 2 + this.int(3);
    const cols: Col[] = [];
    const defs: string[] = [];
    const keys: string[][] = [];
    const ipk = this.chance(0.5);
    const strict = this.chance(0.15);
    const types = strict ? STRICT_TYPES : TYPES;
    const deps: string[] = [];
    for (let i = 0; i < n; i++) {
      const cname = `c${i}`;
      if (i === 0 && ipk) {
        cols.push({ name: cname, type: 'INTEGER', nocase: false });
        keys.push([cname]);
        defs.push(`${cname} INTEGER PRIMARY KEY${this.chance(0.2) ? ' AUTOINCREMENT' : ''}`);
        continue;
      }
      // A generated column reads the columns before it (the first column is never one: a table
      // needs a column that is not generated).
      const gen = i > 0 && this.chance(0.2);
      const ref = i > 0 && !gen && this.chance(0.3) ? this.parentKey(undefined) : undefined;
      const type = ref ? this.childType(ref[1], strict) : this.pick(gen ? types.filter(notReal) : types);
      const nocase = ref ? ref[1].nocase : this.chance(0.15);
      let d = `${cname} ${type}`;
      if (nocase) d += ' COLLATE NOCASE';
      const g = gen ? this.generated({ name, cols, ipk: false }) : '';
      d += g;
      const notNull = this.chance(0.15);
      if (notNull) d += ' NOT NULL';
      if (this.chance(0.15)) { d += ' UNIQUE'; keys.push([cname]); }
      if (!gen && this.chance(0.25)) d += ` DEFAULT ${this.pick(["0", "'d'", '1.5', 'NULL', '-3'])}`;
      if (this.chance(0.1)) d += ` CHECK (${cname} IS NULL OR ${cname} <> 13)`;
      if (ref) d += this.references(ref, deps);
      cols.push({ name: cname, type, nocase, gen, virtual: gen && !g.endsWith(' STORED'), notNull });
      defs.push(d);
    }
    let alias = ipk;
    if (!ipk && this.chance(0.2)) {
      // SQLite refuses a generated column in the PRIMARY KEY (and the table would then be missing).
      const two = this.chance(0.5) && !cols[1]!.gen;
      defs.push(`PRIMARY KEY (${cols[0]!.name}${two ? `, ${cols[1]!.name}` : ''})`);
      keys.push(two ? [cols[0]!.name, cols[1]!.name] : [cols[0]!.name]);
      // A one-column INTEGER primary key declared this way is the rowid too.
      if (!two && cols[0]!.type === 'INTEGER') alias = true;
    }
    if (this.chance(0.15)) { defs.push(`UNIQUE (${cols[n - 1]!.name}, ${cols[n - 2]!.name})`); keys.push([cols[n - 1]!.name, cols[n - 2]!.name]); }
    this.tables.push({ name, cols, ipk: alias, keys, deps, strict });
    return `CREATE TABLE ${name} (${defs.join(', ')})${strict ? ' STRICT' : ''}`;
  }

  /**
   * A one-column key for a foreign key to reference, or nothing when the few tables tried have
   * none. A column added to an existing table may reference any table, itself or a later one, so
   * tables reference each other.
   */
  private parentKey(child: Tbl | undefined): [string, Col] | undefined {
    const n = this.tables.length;
    for (let i = 0; i < 3 && n > 0; i++) {
      const p = this.tables[this.int(n)]!;
      const keys = (p.keys ?? []).filter((k) => k.length === 1);
      const col = keys.length ? p.cols.find((c) => c.name === this.pick(keys)[0]) : undefined;
      if (col) return [p.name, col];
    }
    return undefined;
  }

  /**
   * The REFERENCES clause for `ref`; the child column takes the parent's collation.
   */
  private references([table, col]: [string, Col], deps: string[]): string {
    deps.push(table);
    const del = this.pick(FK_ACTIONS), upd = this.pick(FK_ACTIONS);
    const deferred = this.chance(0.15) ? this.pick([' DEFERRABLE INITIALLY DEFERRED', ' DEFERRABLE', ' NOT DEFERRABLE INITIALLY DEFERRED']) : '';
    return ` REFERENCES ${table}(${col.name})${del && ` ON DELETE ${del}`}${upd && ` ON UPDATE ${upd}`}${deferred}`;
  }

  /**
   * A foreign key column's type: the parent's half the time, so child values often match the parent
   * only after one side's affinity.
   */
  private childType(parent: Col, strict = false): string {
    const types = strict ? STRICT_TYPES : TYPES;
    return this.chance(0.5) && types.includes(parent.type) ? parent.type : this.pick(types);
  }

  /** A generated column's clause over the columns of `t` (those defined before it). */
  private generated(t: Tbl): string {
    const kind = this.pick(['', ' VIRTUAL', ' STORED']);
    return `${this.chance(0.3) ? ' GENERATED ALWAYS' : ''} AS (${this.expr(t.cols.length ? t : undefined, 1)})${kind}`;
  }

  private createIndexStmt(): Stmt {
    const t = this.pick(this.tables);
    const c = this.pick(t.cols).name;
    const kind = this.int(5);
    const uniq = this.chance(0.3) ? 'UNIQUE ' : '';
    const name = `i${this.int(1e9)}`;
    const sql = (s: string): Stmt => ({ sql: s, ordered: true });
    if (kind === 0) return { sql: `CREATE ${uniq}INDEX ${name} ON ${t.name} (${c} DESC)`, ordered: true, apply: () => { if (uniq) t.keys?.push([c]); } };
    if (kind === 1) return sql(`CREATE INDEX ${name} ON ${t.name} (${c}, ${this.pick(t.cols).name})`);
    if (kind === 2) return sql(`CREATE ${uniq}INDEX ${name} ON ${t.name} (${c}) WHERE ${c} > 2`);
    if (kind === 3) return { sql: `CREATE INDEX ${name} ON ${t.name} (lower(${c}))`, ordered: true };
    const collate = this.chance(0.3) ? ' COLLATE NOCASE' : '';
    // An ON CONFLICT target must name the index's collation too, so only plain ones become keys.
    return { sql: `CREATE ${uniq}INDEX ${name} ON ${t.name} (${c}${collate})`, ordered: true, apply: () => { if (uniq && !collate) t.keys?.push([c]); } };
  }

  expr(t: Tbl | undefined, depth = 0, prefix = ''): string {
    const k = this.int(depth > 2 ? 3 : 14);
    const col = (): string => (t ? `${prefix}${this.pick(t.cols).name}` : this.lit());
    switch (k) {
      case 0: return this.lit();
      case 1: case 2: return col();
      case 3: case 4: return `(${this.expr(t, depth + 1, prefix)} ${this.pick(BINOPS)} ${this.expr(t, depth + 1, prefix)})`;
      case 5: return `${this.pick(FUNCS1)}(${this.expr(t, depth + 1, prefix)})`;
      case 6: {
        const f = this.pick(FUNCS2);
        // trim()'s second argument is a set of characters: a REAL there is its text, whose 17th
        // digit SQLite sometimes gets wrong (docs/SQL.md, "REAL to text"), and the set follows it.
        const second = f === 'trim' ? this.pick(["'a'", "' '", "'1'", "'x1'", 'NULL']) : this.expr(t, depth + 1, prefix);
        return `${f}(${this.expr(t, depth + 1, prefix)}, ${second})`;
      }
      case 7: return `CASE WHEN ${this.expr(t, depth + 1, prefix)} THEN ${this.expr(t, depth + 1, prefix)} ELSE ${this.expr(t, depth + 1, prefix)} END`;
      case 8: return `CAST(${this.expr(t, depth + 1, prefix)} AS ${this.pick(['INTEGER', 'TEXT', 'REAL', 'NUMERIC', 'BLOB'])})`;
      case 9: return `${this.expr(t, depth + 1, prefix)} ${this.chance(0.3) ? 'NOT ' : ''}IN (${this.lit()}, ${this.lit()}, ${col()})`;
      case 10: return `${this.expr(t, depth + 1, prefix)} ${this.chance(0.3) ? 'NOT ' : ''}BETWEEN ${this.lit()} AND ${this.expr(t, depth + 1, prefix)}`;
      case 11: return `${col()} ${this.chance(0.3) ? 'NOT ' : ''}${this.pick(['LIKE', 'GLOB'])} ${this.pick(["'a%'", "'%b%'", "'_'", "'A*'", "'[a-c]*'", "'1%'", "'%'"])}`;
      case 12: return `${col()} IS ${this.chance(0.5) ? 'NOT ' : ''}NULL`;
      default: return `(${col()} ${this.pick(['=', '<', '>', '<=', '>=', '!='])} ${this.lit()})`;
    }
  }

  values(t: Tbl, n: number): string {
    return t.cols.slice(0, n).map(() => this.lit()).join(', ');
  }

  /** A RETURNING clause, or nothing most of the time. */
  private returning(t: Tbl): string {
    if (!this.chance(0.12)) return '';
    return ` RETURNING ${this.pick(['*', `rowid, *`, this.pick(t.cols).name, `${this.pick(t.cols).name}, rowid`, this.expr(t, 1), `${this.expr(t, 1)}, ${this.expr(t, 2)}`])}`;
  }

  insert(): string { return this.insertStmt().sql; }

  private insertStmt(): Stmt {
    const t = this.pick(this.tables);
    const or = this.pick(conflictClauses(['', '', '', 'OR IGNORE ', 'OR REPLACE ', 'OR ABORT ', 'OR FAIL '], t, this.inTx));
    const oneRow = t.strict && this.inTx;
    const rows = oneRow ? 1 : 1 + this.int(3);
    // Now and then a column list that names a generated column too, which SQLite refuses.
    const targets = this.chance(0.03) ? t.cols : writable(t);
    const ncols = targets.length;
    const useCols = this.chance(0.5);
    const k = useCols ? 1 + this.int(ncols) : ncols;
    const cols = useCols ? `(${targets.slice(0, k).map((c) => c.name).join(', ')})` : '';
    // A non-integer INTEGER PRIMARY KEY is "datatype mismatch"; SQLite then keeps earlier rows of an
    // OR IGNORE/REPLACE statement inside a transaction (no statement journal), which we deliberately
    // do not copy (statement atomicity), so the generator keeps rowid values integral.
    const val = (i: number): string => (i === 0 && t.ipk ? this.pick(['1', '2', '3', '10', '-1', 'NULL', 'NULL', '1000']) : this.chance(0.2) ? this.expr(undefined, 1) : this.lit());
    let upsert = '';
    if (!or && this.chance(0.2) && writable(t).length > 1) {
      const ex = excludable(t).slice(1);
      upsert = this.chance(0.5) ? ' ON CONFLICT DO NOTHING' : ` ON CONFLICT DO UPDATE SET ${this.pick(writable(t).slice(1)).name} = ${ex.length ? `excluded.${this.pick(ex).name}` : this.lit()}`;
      if (upsert.includes('DO UPDATE') && !t.ipk && !this.chance(0.3)) upsert = ' ON CONFLICT DO NOTHING';
    } else if (!or && this.chance(0.12)) {
      upsert = this.upsertTarget(t);
    }
    const vals = Array.from({ length: rows }, () => `(${targets.slice(0, k).map((_, i) => val(i)).join(', ')})`).join(', ');
    if (this.chance(0.05)) return { sql: `INSERT ${or}INTO ${t.name} DEFAULT VALUES${this.returning(t)}`, ordered: true };
    if (!oneRow && this.chance(0.08)) {
      const s = this.pick(this.tables);
      return { sql: `INSERT ${or}INTO ${t.name}${cols} SELECT ${targets.slice(0, k).map((_, i) => (i === 0 && t.ipk ? 'NULL' : this.pick(s.cols).name)).join(', ')} FROM ${s.name} WHERE ${this.expr(s, 1)} ORDER BY rowid`, ordered: true };
    }
    // Rows come back in VALUES order: each is returned as it is inserted.
    return { sql: `INSERT ${or}INTO ${t.name}${cols} VALUES ${vals}${upsert}${this.returning(t)}`, ordered: true };
  }

  /**
   * ON CONFLICT naming its target; now and then a target that matches no constraint, an error.
   */
  private upsertTarget(t: Tbl): string {
    const keys = t.keys ?? [];
    const target = keys.length && !this.chance(0.1) ? [...this.pick(keys)] : [this.pick(t.cols).name];
    if (target.length > 1 && this.chance(0.5)) target.reverse();
    const named = target.join(', ');
    // A rowid set here could reach the largest one, after which SQLite picks new rowids at random.
    const w = t.ipk ? writable(t).slice(1) : writable(t);
    if (w.length === 0 || this.chance(0.4)) return ` ON CONFLICT (${named}) DO NOTHING`;
    const c = this.pick(w).name;
    const ex = excludable(t);
    const own = ex.some((x) => x.name === c) ? `excluded.${c}` : 'NULL';
    const set = `${c} = ${this.pick([ex.length ? `excluded.${this.pick(ex).name}` : this.lit(), this.lit(), `${c} || ${own}`, this.expr(t, 2)])}`;
    const where = this.chance(0.3) ? ` WHERE ${this.expr(t, 1)}` : '';
    return ` ON CONFLICT (${named}) DO UPDATE SET ${set}${where}`;
  }

  update(): string { return this.updateStmt().sql; }

  private updateStmt(): Stmt {
    const t = this.pick(this.tables);
    const or = this.pick(conflictClauses(['', '', 'OR IGNORE ', 'OR REPLACE '], t, this.inTx));
    // Now and then a generated column, which SQLite refuses to UPDATE.
    const all = this.chance(0.03) ? t.cols : writable(t);
    const cols = t.ipk ? all.slice(1) : all;
    if (cols.length === 0) return this.deleteStmt();
    const c = this.pick(cols).name;
    const others = cols.filter((x) => x.name !== c);
    const set = `${c} = ${this.expr(t, 1)}${others.length && this.chance(0.3) ? `, ${this.pick(others).name} = ${this.lit()}` : ''}`;
    // With OR IGNORE/REPLACE the outcome depends on the order rows are visited, which is the
    // engine's choice (SQLite follows whichever index it picked), so those touch one row only.
    if (or || (t.strict && this.inTx)) return { sql: `UPDATE ${or}${t.name} SET ${set} WHERE rowid = ${this.pick(['1', '2', '3', '10', '1000', '-1'])}`, ordered: true };
    const withRowid = this.tables.filter((x) => x.ipk);
    if (withRowid.length && this.chance(0.12)) {
      // UPDATE ... FROM joins each target row to the source row whose INTEGER PRIMARY KEY equals
      // one of its columns: at most one, so the outcome does not depend on the join order.
      const s = this.pick(withRowid);
      const tc = `${t.name}.${this.pick(t.cols).name}`;
      const v = this.pick([`o.${this.pick(s.cols).name}`, `${tc} || o.${this.pick(s.cols).name}`, this.expr(s, 1, 'o.'), this.expr(t, 1, `${t.name}.`)]);
      const where = this.chance(0.5) ? ` AND ${this.expr(t, 1, `${t.name}.`)}` : '';
      return { sql: `UPDATE ${t.name} SET ${c} = ${v} FROM ${s.name} AS o WHERE o.${s.cols[0]!.name} = ${tc}${where}${this.returning(t)}`, ordered: false };
    }
    return { sql: `UPDATE ${t.name} SET ${set}${this.chance(0.8) ? ` WHERE ${this.expr(t)}` : ''}${this.returning(t)}`, ordered: false };
  }

  delete(): string { return this.deleteStmt().sql; }

  private deleteStmt(): Stmt {
    // A view now and then: SQLite refuses to modify one, with a message we copy.
    const t = this.views.length && this.chance(0.03) ? this.pick(this.views) : this.pick(this.tables);
    // Inside a transaction SQLite keeps the rows a DELETE deleted when its foreign keys fail at its
    // end (no statement journal), which Trine deliberately does not copy: no DELETE there from a
    // table that foreign keys reference.
    const parent = this.fk && this.inTx && this.tables.some((x) => x.deps?.includes(t.name));
    return { sql: `DELETE FROM ${t.name}${this.chance(0.9) || parent ? ` WHERE ${parent ? '0' : this.expr(t)}` : ''}${this.returning(t)}`, ordered: false };
  }

  select(): Stmt {
    const kind = this.int(10);
    if (kind === 0) {
      return { sql: `SELECT ${this.expr(undefined)}, ${this.expr(undefined)}`, ordered: true };
    }
    // Views have no rowid, so the forms ordered by rowid read tables only.
    const t = this.views.length && kind !== 5 && kind !== 7 && this.chance(0.25) ? this.pick(this.views) : this.pick(this.tables);
    if (kind === 1) {
      const g = this.pick(t.cols).name;
      const agg = this.pick(['count(*)', `count(${this.pick(t.cols).name})`, `sum(${this.pick(t.cols).name})`, `max(${this.pick(t.cols).name})`, `min(${this.pick(t.cols).name})`, `total(${this.pick(t.cols).name})`, `count(DISTINCT ${this.pick(t.cols).name})`]);
      const having = this.chance(0.3) ? ` HAVING count(*) > 1` : '';
      return { sql: `SELECT ${g}, ${agg} FROM ${t.name}${this.chance(0.5) ? ` WHERE ${this.expr(t)}` : ''} GROUP BY ${g}${having}`, ordered: false, fold: true };
    }
    if (kind === 2) {
      const agg = this.pick(['count(*)', `sum(${this.pick(t.cols).name})`, `avg(${this.pick(t.cols).name})`, `max(${this.pick(t.cols).name})`]);
      return { sql: `SELECT ${agg} FROM ${t.name} WHERE ${this.expr(t)}`, ordered: true, fold: true };
    }
    if (kind === 3 && this.tables.length > 1) {
      const u = this.pick(this.tables);
      const join = this.pick(['JOIN', 'LEFT JOIN', ',']);
      const on = join === ',' ? '' : ` ON a.${this.pick(t.cols).name} = b.${this.pick(u.cols).name}`;
      return { sql: `SELECT a.${this.pick(t.cols).name}, b.${this.pick(u.cols).name} FROM ${t.name} a ${join} ${u.name} b${on}${this.chance(0.5) ? ` WHERE ${this.expr(t, 1, 'a.')}` : ''}`, ordered: false };
    }
    if (kind === 4) {
      return { sql: `SELECT DISTINCT ${this.pick(t.cols).name} FROM ${t.name}`, ordered: false, fold: true };
    }
    if (kind === 5) {
      const c = this.pick(t.cols).name;
      const dir = this.pick(['', ' ASC', ' DESC', ' NULLS FIRST', ' DESC NULLS LAST']);
      const lim = this.chance(0.5) ? ` LIMIT ${this.int(5)}${this.chance(0.3) ? ` OFFSET ${this.int(3)}` : ''}` : '';
      return { sql: `SELECT rowid, ${c} FROM ${t.name} WHERE ${this.expr(t)} ORDER BY ${c}${dir}, rowid${lim}`, ordered: true };
    }
    if (kind === 6) {
      const c = this.pick(t.cols).name;
      return { sql: `SELECT * FROM ${t.name} WHERE ${c} = ${this.lit()}`, ordered: false };
    }
    if (kind === 7) {
      const c = this.pick(t.cols).name;
      return { sql: `SELECT ${c} FROM ${t.name} WHERE ${c} ${this.pick(['>', '<', '>=', '<='])} ${this.lit()} ORDER BY ${c}, rowid`, ordered: true };
    }
    if (kind === 8) {
      const u = this.pick(this.tables);
      return { sql: `SELECT ${this.pick(t.cols).name} FROM ${t.name} WHERE ${this.pick(t.cols).name} IN (SELECT ${this.pick(u.cols).name} FROM ${u.name})`, ordered: false };
    }
    return { sql: `SELECT ${this.expr(t)}, ${this.expr(t)} FROM ${t.name}${this.chance(0.7) ? ` WHERE ${this.expr(t)}` : ''}`, ordered: false };
  }

  /** CREATE VIEW or DROP VIEW. View columns are aliased so renaming a base column leaves them be. */
  private viewStmt(): Stmt {
    if (this.views.length && this.chance(0.3)) {
      const v = this.pick(this.views);
      return { sql: `DROP VIEW ${this.chance(0.3) ? 'IF EXISTS ' : ''}${v.name}`, ordered: true, apply: () => { this.views = this.views.filter((x) => x.name !== v.name); } };
    }
    const name = `v${this.nextName++}`;
    const t = this.pick(this.tables);
    const n = 1 + this.int(3);
    const cols: Col[] = Array.from({ length: n }, (_, i) => ({ name: `c${i}`, type: '', nocase: false }));
    const kind = this.int(3);
    const u = this.pick(this.tables);
    const apply = (): void => { this.views.push({ name, cols, ipk: false, view: true, deps: kind === 2 ? [t.name, u.name] : [t.name] }); };
    if (kind === 0) {
      const items = cols.map((c) => `${this.pick(t.cols).name} AS ${c.name}`).join(', ');
      return { sql: `CREATE VIEW ${name} AS SELECT ${items} FROM ${t.name}${this.chance(0.6) ? ` WHERE ${this.expr(t)}` : ''}`, ordered: true, apply };
    }
    if (kind === 1) {
      const items = cols.map(() => this.expr(t, 1)).join(', ');
      return { sql: `CREATE VIEW ${name} (${cols.map((c) => c.name).join(', ')}) AS SELECT ${items} FROM ${t.name}`, ordered: true, apply };
    }
    const items = cols.map((c, i) => `${i % 2 ? 'b' : 'a'}.${this.pick(i % 2 ? u.cols : t.cols).name} AS ${c.name}`).join(', ');
    return { sql: `CREATE VIEW ${name} AS SELECT ${items} FROM ${t.name} a ${this.pick(['JOIN', 'LEFT JOIN'])} ${u.name} b ON a.${this.pick(t.cols).name} = b.${this.pick(u.cols).name}`, ordered: true, apply };
  }

  /** ALTER TABLE in its four forms; the model follows only when SQLite accepts the statement. */
  private alterStmt(): Stmt {
    const t = this.pick(this.tables);
    // Trine bugs: RENAME COLUMN renames a view's own column list (`CREATE VIEW v (a) AS SELECT b
    // FROM t` loses column a after `ALTER TABLE t RENAME COLUMN a TO z`) and leaves the right operand
    // of IS [NOT] DISTINCT FROM (`CREATE VIEW v AS SELECT b FROM t WHERE 1 IS DISTINCT FROM a`: the
    // rename fails with "error in view v after rename: no such column: a"). So no column of a
    // table a view reads is renamed.
    const viewed = this.views.some((v) => v.deps?.includes(t.name));
    // SQLite quirk: a DROP COLUMN that a view breaks, inside a transaction, fails but leaves the
    // column gone from SQLite's cached schema (`table t has 2 columns but 3 values were supplied`).
    const forms = [0, 1, 2, 3].filter((f) => {
      if (f === 1) return !viewed;
      return f !== 2 || !(viewed && this.inTx);
    });
    const k = this.pick(forms);
    if (k === 0) {
      const name = `t${this.nextTable++}`;
      const rename = (x: Tbl): void => { x.deps = x.deps?.map((d) => (d === t.name ? name : d)); };
      return { sql: `ALTER TABLE ${t.name} RENAME TO ${name}`, ordered: true, apply: () => { [...this.tables, ...this.views].forEach(rename); t.name = name; } };
    }
    if (k === 1) {
      const c = this.pick(t.cols);
      const to = `c${10 + this.nextName++}`;
      return {
        sql: `ALTER TABLE ${t.name} RENAME COLUMN ${c.name} TO ${to}`, ordered: true,
        apply: () => { t.keys = t.keys?.map((key) => key.map((x) => (x === c.name ? to : x))); c.name = to; },
      };
    }
    if (k === 2) {
      if (t.cols.length <= 2) return this.viewStmt();
      const c = this.pick(t.cols.slice(1));
      return {
        sql: `ALTER TABLE ${t.name} DROP COLUMN ${c.name}`, ordered: true,
        apply: () => { t.cols = t.cols.filter((x) => x !== c); t.keys = t.keys?.filter((key) => !key.includes(c.name)); },
      };
    }
    const gen = this.chance(0.15);
    const ref = !gen && this.chance(0.2) ? this.parentKey(t) : undefined;
    // SQLite quirk: an ADD COLUMN that fails its check of the existing rows (a STRICT column whose
    // default or generated value has the wrong type) inside a transaction leaves the column in
    // SQLite's cached schema, so a STRICT table there gets an ANY column, which takes any value.
    const types = t.strict ? STRICT_TYPES : TYPES;
    const type = t.strict && this.inTx ? 'ANY' : ref ? this.childType(ref[1], t.strict) : this.pick(gen ? types.filter(notReal) : types);
    const col: Col = { name: `c${10 + this.nextName++}`, type, nocase: ref ? ref[1].nocase : this.chance(0.15), gen };
    let d = `${col.name} ${col.type}`;
    if (col.nocase) d += ' COLLATE NOCASE';
    // SQLite adds a STORED column only to an empty table; the generator does not know which.
    if (gen) {
      const g = this.generated(t);
      col.virtual = !g.endsWith(' STORED');
      return { sql: `ALTER TABLE ${t.name} ADD COLUMN ${d}${g}`, ordered: true, apply: () => { t.cols.push(col); } };
    }
    // SQLite refuses NOT NULL without a default, a non-constant default and a REFERENCES column
    // with a non-NULL default only when the table has rows. Trine bug: a CHECK the rows fail (`ALTER
    // TABLE t ADD c DEFAULT 0 CHECK (c <> 0)` on a non-empty t) fails with SQLITE_CONSTRAINT_CHECK
    // where SQLite's code is SQLITE_ERROR, so the CHECK asked always holds.
    const dflt = this.chance(0.5) ? this.pick(['0', "'d'", '1.5', 'NULL', '-3', '(1 + 2)']) : undefined;
    if (dflt) d += ` DEFAULT ${dflt}`;
    if (dflt !== 'NULL' && this.chance(0.15)) { d += ' NOT NULL'; col.notNull = true; }
    if (this.chance(0.15)) d += ` CHECK (${col.name} IS NULL OR ${col.name} <> 13)`;
    const deps: string[] = [];
    if (ref) d += this.references(ref, deps);
    if (this.chance(0.03)) d += this.pick([' UNIQUE', ' PRIMARY KEY']);
    return { sql: `ALTER TABLE ${t.name} ADD ${this.chance(0.5) ? 'COLUMN ' : ''}${d}`, ordered: true, apply: () => { t.cols.push(col); t.deps = [...t.deps ?? [], ...deps]; } };
  }

  private txStmt(): Stmt {
    if (!this.inTx) {
      return { sql: this.pick(['BEGIN', 'BEGIN IMMEDIATE', 'SAVEPOINT sp']), ordered: true, apply: () => { this.inTx = true; this.savepoints = 0; this.marks = [this.snapshot()]; } };
    }
    const k = this.int(4);
    if (k === 0) return { sql: 'SAVEPOINT sp', ordered: true, apply: () => { this.savepoints++; this.marks.push(this.snapshot()); } };
    if (k === 1 && this.savepoints > 0) return { sql: 'ROLLBACK TO sp', ordered: true, apply: () => { this.restore(this.marks.at(-1)!); } };
    const sql = this.pick(['COMMIT', 'ROLLBACK', 'END']);
    return {
      sql, ordered: true,
      apply: () => {
        if (sql === 'ROLLBACK') this.restore(this.marks[0]!);
        this.inTx = false;
        this.savepoints = 0;
        this.marks = [];
      },
    };
  }

  /** The next statement of the script: first the schema, then a mix weighted towards DML and queries. */
  next(): Stmt {
    if (!this.setup) {
      this.setup = [];
      // Stated either way: better-sqlite3 turns foreign keys on by default, Trine (like SQLite) off.
      const on = this.chance(0.5);
      this.setup.push({ sql: `PRAGMA foreign_keys = ${on ? 'ON' : 'OFF'}`, ordered: true, apply: () => { this.fk = on; } });
      const nt = 1 + this.int(3);
      // Tables are created into the model as they are generated: a later table may reference them.
      for (let i = 0; i < nt; i++) this.setup.push({ sql: this.createTable(), ordered: true });
      for (let i = 0; i < 1 + this.int(3); i++) this.setup.push(this.createIndexStmt());
    }
    const first = this.setup.shift();
    if (first) return first;
    const k = this.int(20);
    if (k < 7) return this.insertStmt();
    if (k < 9) return this.updateStmt();
    if (k < 10) return this.deleteStmt();
    if (k < 11) return this.txStmt();
    if (k < 19) return this.select();
    // One statement in twenty changes the schema or the foreign key setting.
    const d = this.int(10);
    if (d < 4) return this.alterStmt();
    if (d < 8) return this.viewStmt();
    if (d < 9) return this.createIndexStmt();
    // PRAGMA foreign_keys is a no-op inside a transaction; defer_foreign_keys is not.
    if (this.inTx || this.chance(0.3)) return { sql: `PRAGMA defer_foreign_keys = ${this.pick(['ON', 'OFF'])}`, ordered: true };
    const on = !this.fk;
    return { sql: `PRAGMA foreign_keys = ${on ? 'ON' : 'OFF'}`, ordered: true, apply: () => { this.fk = on; } };
  }

  /** Statements that end the script: an open transaction is committed. */
  finish(): Stmt[] {
    return this.inTx ? [{ sql: 'COMMIT', ordered: true, apply: () => { this.inTx = false; this.marks = []; } }] : [];
  }

  /** A whole script, every statement assumed to succeed (for tests that do not run it on SQLite). */
  script(n: number): Stmt[] {
    const out: Stmt[] = [];
    while (out.length < n) {
      const st = this.next();
      st.apply?.();
      out.push(st);
    }
    for (const st of this.finish()) { st.apply?.(); out.push(st); }
    return out;
  }
}
