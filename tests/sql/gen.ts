/** Seeded generator of schemas, rows and statements for the differential test (not a test file). */

import { prng as mulberry32 } from '../../src/storage/sim-fs.ts';

/** The seeded generator (mulberry32) every replayable test uses. */
export { mulberry32 };

/**
 * One generated statement. `ordered`: the result order is determined; `fold`: which of several
 * equal-under-NOCASE values represents a group is unspecified, so compare case-insensitively.
 */
export interface Stmt { sql: string; ordered: boolean; fold?: boolean }

interface Col { name: string; type: string; nocase: boolean }
interface Tbl { name: string; cols: Col[]; ipk: boolean }

const TYPES = ['INTEGER', 'TEXT', 'REAL', 'NUMERIC', 'BLOB', '', 'VARCHAR(10)', 'INT'];
const LITS = [
  '0', '1', '2', '3', '7', '-1', '10', '100', '9223372036854775807', '-9223372036854775808', '9007199254740993',
  '0.5', '-1.25', '3.0', '2.5', '1e15', "'a'", "'B'", "'abc'", "'Abc'", "''", "' x '", "'10'", "'3.0'", "'x1'", "'1e3'",
  "X'00'", "X'61'", 'NULL', 'NULL',
];
const FUNCS1 = ['abs', 'length', 'lower', 'upper', 'typeof', 'hex', 'quote', 'trim', 'ltrim', 'rtrim', 'round', 'unicode', 'sign'];
const FUNCS2 = ['coalesce', 'ifnull', 'nullif', 'instr', 'max', 'min', 'substr', 'round', 'trim'];
const BINOPS = ['+', '-', '*', '/', '%', '||', '=', '!=', '<', '<=', '>', '>=', 'AND', 'OR', 'IS', 'IS NOT', '&', '|', '<<', '>>'];

export class Gen {
  readonly r: () => number;
  tables: Tbl[] = [];
  private nextTable = 0;
  private inTx = false;
  private savepoints = 0;

  constructor(seed: number) {
    this.r = mulberry32(seed);
  }

  int(n: number): number { return Math.floor(this.r() * n); }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  chance(p: number): boolean { return this.r() < p; }

  tableNames(): string[] { return this.tables.map((t) => t.name); }

  lit(): string { return this.pick(LITS); }

  createTable(): string {
    const name = `t${this.nextTable++}`;
    const n = 2 + this.int(3);
    const cols: Col[] = [];
    const defs: string[] = [];
    const ipk = this.chance(0.5);
    for (let i = 0; i < n; i++) {
      const cname = `c${i}`;
      if (i === 0 && ipk) {
        cols.push({ name: cname, type: 'INTEGER', nocase: false });
        defs.push(`${cname} INTEGER PRIMARY KEY${this.chance(0.2) ? ' AUTOINCREMENT' : ''}`);
        continue;
      }
      const type = this.pick(TYPES);
      const nocase = this.chance(0.15);
      let d = `${cname} ${type}`;
      if (nocase) d += ' COLLATE NOCASE';
      if (this.chance(0.15)) d += ' NOT NULL';
      if (this.chance(0.15)) d += ' UNIQUE';
      if (this.chance(0.25)) d += ` DEFAULT ${this.pick(["0", "'d'", '1.5', 'NULL', '-3'])}`;
      if (this.chance(0.1)) d += ` CHECK (${cname} IS NULL OR ${cname} <> 13)`;
      cols.push({ name: cname, type, nocase });
      defs.push(d);
    }
    let alias = ipk;
    if (!ipk && this.chance(0.2)) {
      const two = this.chance(0.5);
      defs.push(`PRIMARY KEY (${cols[0]!.name}${two ? `, ${cols[1]!.name}` : ''})`);
      // A one-column INTEGER primary key declared this way is the rowid too.
      if (!two && cols[0]!.type === 'INTEGER') alias = true;
    }
    if (this.chance(0.15)) defs.push(`UNIQUE (${cols[n - 1]!.name}, ${cols[n - 2]!.name})`);
    this.tables.push({ name, cols, ipk: alias });
    return `CREATE TABLE ${name} (${defs.join(', ')})`;
  }

  createIndex(): string {
    const t = this.pick(this.tables);
    const c = this.pick(t.cols).name;
    const kind = this.int(5);
    const uniq = this.chance(0.3) ? 'UNIQUE ' : '';
    const name = `i${this.int(1e9)}`;
    if (kind === 0) return `CREATE ${uniq}INDEX ${name} ON ${t.name} (${c} DESC)`;
    if (kind === 1) return `CREATE INDEX ${name} ON ${t.name} (${c}, ${this.pick(t.cols).name})`;
    if (kind === 2) return `CREATE ${uniq}INDEX ${name} ON ${t.name} (${c}) WHERE ${c} > 2`;
    if (kind === 3) return `CREATE INDEX ${name} ON ${t.name} (lower(${c}))`;
    return `CREATE ${uniq}INDEX ${name} ON ${t.name} (${c}${this.chance(0.3) ? ' COLLATE NOCASE' : ''})`;
  }

  expr(t: Tbl | undefined, depth = 0, prefix = ''): string {
    const k = this.int(depth > 2 ? 3 : 14);
    const col = (): string => (t ? `${prefix}${this.pick(t.cols).name}` : this.lit());
    switch (k) {
      case 0: return this.lit();
      case 1: case 2: return col();
      case 3: case 4: return `(${this.expr(t, depth + 1, prefix)} ${this.pick(BINOPS)} ${this.expr(t, depth + 1, prefix)})`;
      case 5: return `${this.pick(FUNCS1)}(${this.expr(t, depth + 1, prefix)})`;
      case 6: return `${this.pick(FUNCS2)}(${this.expr(t, depth + 1, prefix)}, ${this.expr(t, depth + 1, prefix)})`;
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

  insert(): string {
    const t = this.pick(this.tables);
    const or = this.pick(['', '', '', 'OR IGNORE ', 'OR REPLACE ', 'OR ABORT ', 'OR FAIL ']);
    const rows = 1 + this.int(3);
    const ncols = t.cols.length;
    const useCols = this.chance(0.5);
    const k = useCols ? 1 + this.int(ncols) : ncols;
    const cols = useCols ? `(${t.cols.slice(0, k).map((c) => c.name).join(', ')})` : '';
    // A non-integer INTEGER PRIMARY KEY is "datatype mismatch"; SQLite then keeps earlier rows of an
    // OR IGNORE/REPLACE statement inside a transaction (no statement journal), which we deliberately
    // do not copy (statement atomicity), so the generator keeps rowid values integral.
    const val = (i: number): string => (i === 0 && t.ipk ? this.pick(['1', '2', '3', '10', '-1', 'NULL', 'NULL', '1000']) : this.chance(0.2) ? this.expr(undefined, 1) : this.lit());
    const vals = Array.from({ length: rows }, () => `(${t.cols.slice(0, k).map((_, i) => val(i)).join(', ')})`).join(', ');
    let upsert = '';
    if (!or && this.chance(0.2)) {
      upsert = this.chance(0.5) ? ' ON CONFLICT DO NOTHING' : ` ON CONFLICT DO UPDATE SET ${this.pick(t.cols.slice(1)).name} = excluded.${this.pick(t.cols.slice(1)).name}`;
      if (upsert.includes('DO UPDATE') && !t.ipk && !this.chance(0.3)) upsert = ' ON CONFLICT DO NOTHING';
    }
    if (this.chance(0.05)) return `INSERT ${or}INTO ${t.name} DEFAULT VALUES`;
    if (this.chance(0.08) && this.tables.length > 0) {
      const s = this.pick(this.tables);
      return `INSERT ${or}INTO ${t.name}${cols} SELECT ${t.cols.slice(0, k).map((_, i) => (i === 0 && t.ipk ? 'NULL' : this.pick(s.cols).name)).join(', ')} FROM ${s.name} WHERE ${this.expr(s, 1)} ORDER BY rowid`;
    }
    return `INSERT ${or}INTO ${t.name}${cols} VALUES ${vals}${upsert}`;
  }

  update(): string {
    const t = this.pick(this.tables);
    const or = this.pick(['', '', 'OR IGNORE ', 'OR REPLACE ']);
    const cols = t.ipk ? t.cols.slice(1) : t.cols;
    const c = this.pick(cols).name;
    const others = cols.filter((x) => x.name !== c);
    const set = `${c} = ${this.expr(t, 1)}${others.length && this.chance(0.3) ? `, ${this.pick(others).name} = ${this.lit()}` : ''}`;
    // With OR IGNORE/REPLACE the outcome depends on the order rows are visited, which is the
    // engine's choice (SQLite follows whichever index it picked), so those touch one row only.
    if (or) return `UPDATE ${or}${t.name} SET ${set} WHERE rowid = ${this.pick(['1', '2', '3', '10', '1000', '-1'])}`;
    return `UPDATE ${t.name} SET ${set}${this.chance(0.8) ? ` WHERE ${this.expr(t)}` : ''}`;
  }

  delete(): string {
    const t = this.pick(this.tables);
    return `DELETE FROM ${t.name}${this.chance(0.9) ? ` WHERE ${this.expr(t)}` : ''}`;
  }

  select(): Stmt {
    const kind = this.int(10);
    if (kind === 0) {
      return { sql: `SELECT ${this.expr(undefined)}, ${this.expr(undefined)}`, ordered: true };
    }
    const t = this.pick(this.tables);
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

  txStatement(): string {
    if (!this.inTx) { this.inTx = true; return this.pick(['BEGIN', 'BEGIN IMMEDIATE', 'SAVEPOINT sp']); }
    const k = this.int(4);
    if (k === 0) { this.savepoints++; return 'SAVEPOINT sp'; }
    if (k === 1 && this.savepoints > 0) return 'ROLLBACK TO sp';
    this.inTx = false;
    this.savepoints = 0;
    return this.pick(['COMMIT', 'ROLLBACK', 'END']);
  }

  script(n: number): Stmt[] {
    const out: Stmt[] = [];
    const nt = 1 + this.int(3);
    for (let i = 0; i < nt && out.length < n; i++) out.push({ sql: this.createTable(), ordered: true });
    for (let i = 0; i < 1 + this.int(3) && out.length < n; i++) out.push({ sql: this.createIndex(), ordered: true });
    while (out.length < n) {
      const k = this.int(20);
      if (k < 7) out.push({ sql: this.insert(), ordered: true });
      else if (k < 9) out.push({ sql: this.update(), ordered: true });
      else if (k < 10) out.push({ sql: this.delete(), ordered: true });
      else if (k < 11) out.push({ sql: this.txStatement(), ordered: true });
      else out.push(this.select());
    }
    if (this.inTx) out.push({ sql: 'COMMIT', ordered: true });
    return out;
  }
}
