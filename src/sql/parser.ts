/**
 * Recursive-descent parser for SQLite's dialect. Expressions use precedence climbing with SQLite's
 * operator table. Errors report the token found, as SQLite does (`near "FROM": syntax error`),
 * plus the line and column.
 */
import type * as A from './ast.ts';
import { SqlError, sqlError } from './errors.ts';
import { tokenize, position, type Token } from './lexer.ts';
import { MAX_EXPR_DEPTH, MAX_VARIABLE_NUMBER } from './limits.ts';
import { textToNumeric } from './value.ts';

/** Words that can never be a bare column/table name or an implicit alias. */
const RESERVED = new Set([
  'ADD', 'ALL', 'ALTER', 'AND', 'AS', 'AUTOINCREMENT', 'BETWEEN', 'BY', 'CASE', 'CHECK', 'COLLATE', 'COMMIT',
  'CONSTRAINT', 'CREATE', 'DEFAULT', 'DEFERRABLE', 'DELETE', 'DISTINCT', 'DROP', 'ELSE', 'ESCAPE', 'EXCEPT',
  'EXISTS', 'FOREIGN', 'FROM', 'GROUP', 'HAVING', 'IN', 'INDEX', 'INSERT', 'INTERSECT', 'INTO', 'IS', 'ISNULL',
  'JOIN', 'LIMIT', 'NOT', 'NOTNULL', 'NULL', 'ON', 'OR', 'ORDER', 'PRIMARY', 'REFERENCES', 'SELECT', 'SET',
  'TABLE', 'THEN', 'TO', 'TRANSACTION', 'UNION', 'UNIQUE', 'UPDATE', 'USING', 'VALUES', 'WHEN', 'WHERE',
  'RETURNING', 'NATURAL', 'LEFT', 'RIGHT', 'FULL', 'INNER', 'CROSS', 'OUTER', 'OFFSET', 'WINDOW', 'FILTER', 'OVER',
  'INDEXED', 'NOTHING', 'DO',
]);
/** Words that may name a column (SQLite's fallback tokens) but not follow an expression as an alias. */
const NO_ALIAS = new Set([...RESERVED]);

const CONFLICT = new Set(['ROLLBACK', 'ABORT', 'FAIL', 'IGNORE', 'REPLACE']);

export class Parser {
  private readonly toks: Token[];
  private p = 0;
  private depth = 0;
  private paramCount = 0;
  private readonly paramNames: (string | undefined)[] = [];
  private readonly named = new Map<string, number>();

  constructor(private readonly sql: string) {
    this.toks = tokenize(sql);
  }

  // ---- token helpers ----
  private get t(): Token { return this.toks[this.p]!; }
  private peek(n = 1): Token { return this.toks[Math.min(this.p + n, this.toks.length - 1)]!; }
  private next(): Token { const t = this.toks[this.p]!; if (t.kind !== 'eof') this.p++; return t; }
  private isKw(w: string, t: Token = this.t): boolean { return t.kind === 'id' && t.kw === w; }
  private isOp(o: string, t: Token = this.t): boolean { return t.kind === 'op' && t.text === o; }
  private acceptKw(w: string): boolean { if (this.isKw(w)) { this.p++; return true; } return false; }
  private acceptOp(o: string): boolean { if (this.isOp(o)) { this.p++; return true; } return false; }
  private expectKw(w: string): void { if (!this.acceptKw(w)) throw this.err(); }
  private expectOp(o: string): void { if (!this.acceptOp(o)) throw this.err(); }

  /** A syntax error at the current token, in SQLite's words plus the position. */
  err(t: Token = this.t): SqlError {
    const pos = position(this.sql, t.start);
    const where = ` (line ${pos.line}, column ${pos.column})`;
    if (t.kind === 'eof') return new SqlError('SQLITE_ERROR', `incomplete input${where}`, pos);
    return new SqlError('SQLITE_ERROR', `near "${this.sql.slice(t.start, t.end)}": syntax error${where}`, pos);
  }

  private name(): string {
    const t = this.t;
    if (t.kind === 'id' && (t.kw === '' || !RESERVED.has(t.kw))) { this.p++; return t.text; }
    if (t.kind === 'str') { this.p++; return t.text; }
    throw this.err();
  }
  /** A name where SQLite also accepts quoted strings and non-reserved keywords. */
  private isName(t: Token = this.t): boolean {
    return (t.kind === 'id' && (t.kw === '' || !RESERVED.has(t.kw)));
  }

  // ---- entry points ----
  /** True when no more statements remain (only semicolons). */
  atEnd(): boolean {
    while (this.acceptOp(';')) { /* skip empty statements */ }
    return this.t.kind === 'eof';
  }

  /** Offset in the SQL text where the next statement starts. */
  get offset(): number { return this.t.start; }

  /** Parses one statement and the `;` or end of input after it. */
  statement(): A.ParsedStatement {
    this.paramCount = 0;
    this.paramNames.length = 0;
    this.named.clear();
    const stmt = this.stmt();
    if (!this.acceptOp(';') && this.t.kind !== 'eof') throw this.err();
    return { stmt, paramCount: this.paramCount, paramNames: this.paramNames.slice() };
  }

  private stmt(): A.Stmt {
    const t = this.t;
    if (t.kind !== 'id') throw this.err();
    switch (t.kw) {
      case 'EXPLAIN': {
        this.p++;
        let qp = false;
        if (this.acceptKw('QUERY')) { this.expectKw('PLAN'); qp = true; }
        return { type: 'explain', queryPlan: qp, stmt: this.stmt() };
      }
      case 'SELECT': case 'VALUES': return this.select();
      case 'WITH': {
        const w = this.withClause();
        if (this.isKw('SELECT') || this.isKw('VALUES')) return this.select(w);
        if (this.isKw('INSERT') || this.isKw('REPLACE')) return this.insert(w);
        if (this.isKw('UPDATE')) return this.update(w);
        if (this.isKw('DELETE')) return this.delete(w);
        throw this.err();
      }
      case 'INSERT': case 'REPLACE': return this.insert({ ctes: [], recursive: false });
      case 'UPDATE': return this.update({ ctes: [], recursive: false });
      case 'DELETE': return this.delete({ ctes: [], recursive: false });
      case 'CREATE': return this.create();
      case 'DROP': return this.drop();
      case 'ALTER': return this.alter();
      case 'BEGIN': {
        this.p++;
        let mode: 'DEFERRED' | 'IMMEDIATE' | 'EXCLUSIVE' = 'DEFERRED';
        if (this.isKw('DEFERRED') || this.isKw('IMMEDIATE') || this.isKw('EXCLUSIVE')) mode = this.next().kw as typeof mode;
        this.acceptKw('TRANSACTION');
        return { type: 'begin', mode };
      }
      case 'COMMIT': case 'END':
        this.p++; this.acceptKw('TRANSACTION');
        return { type: 'commit' };
      case 'ROLLBACK': {
        this.p++; this.acceptKw('TRANSACTION');
        if (this.acceptKw('TO')) { this.acceptKw('SAVEPOINT'); return { type: 'rollback', to: this.name() }; }
        return { type: 'rollback', to: undefined };
      }
      case 'SAVEPOINT': this.p++; return { type: 'savepoint', name: this.name() };
      case 'RELEASE': this.p++; this.acceptKw('SAVEPOINT'); return { type: 'release', name: this.name() };
      case 'PRAGMA': {
        this.p++;
        let name = this.name();
        let schema: string | undefined;
        if (this.acceptOp('.')) { schema = name; name = this.name(); }
        let value: A.Expr | undefined;
        let call = false;
        if (this.acceptOp('=')) value = this.pragmaValue();
        else if (this.acceptOp('(')) { value = this.pragmaValue(); this.expectOp(')'); call = true; }
        return { type: 'pragma', name: name.toLowerCase(), schema, value, call };
      }
      default: throw this.err();
    }
  }

  private pragmaValue(): A.Expr {
    const t = this.t;
    if (t.kind === 'id') { this.p++; return { k: 'lit', v: t.text }; }
    if (t.kind === 'str') { this.p++; return { k: 'lit', v: t.text }; }
    let neg = false;
    if (this.acceptOp('-')) neg = true; else this.acceptOp('+');
    if (this.t.kind !== 'num') throw this.err();
    const v = numLiteral(this.next().text, this);
    return { k: 'lit', v: neg ? (typeof v === 'bigint' ? -v : -(v as number)) : v };
  }

  // ---- SELECT ----
  private withClause(): { ctes: A.Cte[]; recursive: boolean } {
    this.expectKw('WITH');
    const recursive = this.acceptKw('RECURSIVE');
    const ctes: A.Cte[] = [];
    do {
      const name = this.name();
      let cols: string[] | undefined;
      if (this.acceptOp('(')) { cols = this.eidList(); this.expectOp(')'); }
      this.expectKw('AS');
      if (this.acceptKw('NOT')) this.expectKw('MATERIALIZED'); else this.acceptKw('MATERIALIZED');
      this.expectOp('(');
      const select = this.select();
      this.expectOp(')');
      ctes.push({ name, cols, select });
    } while (this.acceptOp(','));
    return { ctes, recursive };
  }

  private nameList(): string[] {
    const out = [this.name()];
    while (this.acceptOp(',')) out.push(this.name());
    return out;
  }

  /**
   * SQLite's eidlist (the column lists of views, CTEs and foreign keys): its grammar reads a COLLATE
   * and an ASC or DESC after each name, then rejects them once the entry ends at "," or ")",
   * naming the column as written.
   */
  private eidList(): string[] {
    const out: string[] = [];
    do {
      const t = this.t;
      out.push(this.name());
      let extra = false;
      if (this.acceptKw('COLLATE')) { this.name(); extra = true; }
      if (this.acceptKw('ASC') || this.acceptKw('DESC')) extra = true;
      if (extra && (this.isOp(',') || this.isOp(')'))) throw new SqlError('SQLITE_ERROR', `syntax error after column name "${this.sql.slice(t.start, t.end)}"`);
    } while (this.acceptOp(','));
    return out;
  }

  select(pre?: { ctes: A.Cte[]; recursive: boolean }): A.Select {
    this.enter();
    let w = pre ?? { ctes: [] as A.Cte[], recursive: false };
    if (!pre && this.isKw('WITH')) w = this.withClause();
    const cores: (A.SelectCore | A.ValuesCore)[] = [this.selectCore()];
    const ops: A.Select['ops'] = [];
    for (;;) {
      if (this.acceptKw('UNION')) ops.push(this.acceptKw('ALL') ? 'UNION ALL' : 'UNION');
      else if (this.acceptKw('INTERSECT')) ops.push('INTERSECT');
      else if (this.acceptKw('EXCEPT')) ops.push('EXCEPT');
      else break;
      cores.push(this.selectCore());
    }
    let orderBy: A.OrderTerm[] = [];
    if (this.acceptKw('ORDER')) { this.expectKw('BY'); orderBy = this.orderTerms(); }
    let limit: A.Expr | undefined, offset: A.Expr | undefined;
    if (this.acceptKw('LIMIT')) {
      limit = this.expr();
      if (this.acceptKw('OFFSET')) offset = this.expr();
      else if (this.acceptOp(',')) { offset = limit; limit = this.expr(); }
    }
    this.leave();
    return { type: 'select', with: w.ctes, recursive: w.recursive, cores, ops, orderBy, limit, offset };
  }

  private orderTerms(): A.OrderTerm[] {
    const out: A.OrderTerm[] = [];
    do {
      const e = this.expr();
      let desc = false;
      if (this.acceptKw('DESC')) desc = true; else this.acceptKw('ASC');
      let nulls: 'FIRST' | 'LAST' | undefined;
      if (this.acceptKw('NULLS')) {
        if (this.acceptKw('FIRST')) nulls = 'FIRST';
        else { this.expectKw('LAST'); nulls = 'LAST'; }
      }
      out.push({ e, desc, nulls });
    } while (this.acceptOp(','));
    return out;
  }

  private selectCore(): A.SelectCore | A.ValuesCore {
    if (this.acceptKw('VALUES')) {
      const rows: A.Expr[][] = [];
      do {
        this.expectOp('(');
        const row = [this.expr()];
        while (this.acceptOp(',')) row.push(this.expr());
        this.expectOp(')');
        if (rows.length && row.length !== rows[0]!.length) {
          throw new SqlError('SQLITE_ERROR', 'all VALUES must have the same number of terms');
        }
        rows.push(row);
      } while (this.acceptOp(','));
      return { k: 'values', rows };
    }
    this.expectKw('SELECT');
    let distinct = false;
    if (this.acceptKw('DISTINCT')) distinct = true; else this.acceptKw('ALL');
    const cols = this.resultCols();
    let from: A.JoinItem[] = [];
    if (this.acceptKw('FROM')) from = this.from();
    let where: A.Expr | undefined;
    if (this.acceptKw('WHERE')) where = this.expr();
    let groupBy: A.Expr[] = [];
    let having: A.Expr | undefined;
    if (this.acceptKw('GROUP')) {
      this.expectKw('BY');
      groupBy = [this.expr()];
      while (this.acceptOp(',')) groupBy.push(this.expr());
    }
    if (this.acceptKw('HAVING')) having = this.expr();
    if (this.isKw('WINDOW')) throw this.err();
    return { k: 'core', distinct, cols, from, where, groupBy, having };
  }

  private resultCols(): A.ResultCol[] {
    const cols: A.ResultCol[] = [];
    do {
      if (this.acceptOp('*')) { cols.push({ star: true, table: undefined, expr: undefined, alias: undefined, text: '*' }); continue; }
      if (this.isName() || this.t.kind === 'str') {
        if (this.isOp('.', this.peek()) && this.isOp('*', this.peek(2))) {
          const table = this.next().text;
          this.p += 2;
          cols.push({ star: true, table, expr: undefined, alias: undefined, text: `${table}.*` });
          continue;
        }
      }
      const start = this.t.start;
      const expr = this.expr();
      const text = this.sql.slice(start, this.toks[this.p - 1]!.end);
      let alias: string | undefined;
      if (this.acceptKw('AS')) alias = this.aliasName();
      else if ((this.t.kind === 'id' && (this.t.kw === '' || !NO_ALIAS.has(this.t.kw))) || this.t.kind === 'str') alias = this.next().text;
      cols.push({ star: false, table: undefined, expr, alias, text });
    } while (this.acceptOp(','));
    return cols;
  }

  private aliasName(): string {
    const t = this.t;
    if (t.kind === 'id' || t.kind === 'str') { this.p++; return t.text; }
    throw this.err();
  }

  private from(): A.JoinItem[] {
    const items: A.JoinItem[] = [{ item: this.fromItem(), join: 'INNER', natural: false, on: undefined, using: undefined }];
    for (;;) {
      let join: A.JoinItem['join'];
      let natural = false;
      if (this.acceptOp(',')) join = 'INNER';
      else {
        if (this.acceptKw('NATURAL')) natural = true;
        if (this.acceptKw('LEFT')) { this.acceptKw('OUTER'); join = 'LEFT'; }
        else if (this.acceptKw('RIGHT')) { this.acceptKw('OUTER'); join = 'RIGHT'; }
        else if (this.acceptKw('FULL')) { this.acceptKw('OUTER'); join = 'FULL'; }
        else if (this.acceptKw('INNER')) join = 'INNER';
        else if (this.acceptKw('CROSS')) join = 'CROSS';
        else if (this.isKw('JOIN')) join = 'INNER';
        else { if (natural) throw this.err(); break; }
        this.expectKw('JOIN');
      }
      const item = this.fromItem();
      let on: A.Expr | undefined, using: string[] | undefined;
      if (this.acceptKw('ON')) on = this.expr();
      else if (this.acceptKw('USING')) { this.expectOp('('); using = this.nameList(); this.expectOp(')'); }
      items.push({ item, join, natural, on, using });
    }
    return items;
  }

  private fromAlias(): string | undefined {
    if (this.acceptKw('AS')) return this.aliasName();
    if ((this.t.kind === 'id' && (this.t.kw === '' || !NO_ALIAS.has(this.t.kw))) || this.t.kind === 'str') return this.next().text;
    return undefined;
  }

  private fromItem(): A.FromItem {
    if (this.acceptOp('(')) {
      if (this.isKw('SELECT') || this.isKw('VALUES') || this.isKw('WITH')) {
        const select = this.select();
        this.expectOp(')');
        return { k: 'sub', select, alias: this.fromAlias() };
      }
      // A parenthesised join list: treat as a subquery selecting everything from it.
      const inner = this.from();
      this.expectOp(')');
      const select: A.Select = {
        type: 'select', with: [], recursive: false, ops: [], orderBy: [], limit: undefined, offset: undefined,
        cores: [{ k: 'core', distinct: false, cols: [{ star: true, table: undefined, expr: undefined, alias: undefined, text: '*' }], from: inner, where: undefined, groupBy: [], having: undefined }],
      };
      return { k: 'sub', select, alias: this.fromAlias() };
    }
    let name = this.name();
    let schema: string | undefined;
    if (this.acceptOp('.')) { schema = name; name = this.name(); }
    if (this.acceptOp('(')) {
      const args: A.Expr[] = [];
      if (!this.isOp(')')) { args.push(this.expr()); while (this.acceptOp(',')) args.push(this.expr()); }
      this.expectOp(')');
      return { k: 'fn', name, args, alias: this.fromAlias() };
    }
    const alias = this.fromAlias();
    let indexed: string | null | undefined;
    if (this.acceptKw('INDEXED')) { this.expectKw('BY'); indexed = this.name(); }
    else if (this.isKw('NOT') && this.isKw('INDEXED', this.peek())) { this.p += 2; indexed = null; }
    return { k: 'table', name, schema, alias, indexed };
  }

  // ---- DML ----
  private conflictClause(): A.ConflictAction | undefined {
    if (this.isKw('ON') && this.isKw('CONFLICT', this.peek())) {
      this.p += 2;
      const t = this.next();
      if (t.kind === 'id' && CONFLICT.has(t.kw)) return t.kw as A.ConflictAction;
      throw this.err(t);
    }
    return undefined;
  }

  private insert(w: { ctes: A.Cte[]; recursive: boolean }): A.Insert {
    let or: A.ConflictAction | undefined;
    if (this.acceptKw('REPLACE')) or = 'REPLACE';
    else {
      this.expectKw('INSERT');
      if (this.acceptKw('OR')) {
        const t = this.next();
        if (t.kind !== 'id' || !CONFLICT.has(t.kw)) throw this.err(t);
        or = t.kw as A.ConflictAction;
      }
    }
    this.expectKw('INTO');
    let table = this.name();
    if (this.acceptOp('.')) table = this.name();
    let alias: string | undefined;
    if (this.acceptKw('AS')) alias = this.name();
    let cols: string[] | undefined;
    if (this.acceptOp('(')) { cols = this.nameList(); this.expectOp(')'); }
    let source: A.Select | undefined;
    if (this.acceptKw('DEFAULT')) { this.expectKw('VALUES'); }
    else if (this.isKw('SELECT') || this.isKw('VALUES') || this.isKw('WITH')) source = this.select();
    else throw this.err();
    const upserts: A.Upsert[] = [];
    while (this.isKw('ON') && this.isKw('CONFLICT', this.peek())) {
      if (!source) throw this.err();
      this.p += 2;
      let target: A.Upsert['target'];
      let targetWhere: A.Expr | undefined;
      if (this.acceptOp('(')) {
        target = [];
        do {
          let e = this.expr();
          let coll: string | undefined;
          if (e.k === 'collate') { coll = e.coll; e = e.e; }
          this.acceptKw('ASC') || this.acceptKw('DESC');
          target.push({ e, coll });
        } while (this.acceptOp(','));
        this.expectOp(')');
        if (this.acceptKw('WHERE')) targetWhere = this.expr();
      }
      this.expectKw('DO');
      if (this.acceptKw('NOTHING')) { upserts.push({ target, targetWhere, set: undefined, where: undefined }); continue; }
      this.expectKw('UPDATE');
      this.expectKw('SET');
      const set = this.assignments();
      let where: A.Expr | undefined;
      if (this.acceptKw('WHERE')) where = this.expr();
      upserts.push({ target, targetWhere, set, where });
    }
    const returning = this.returning();
    return { type: 'insert', with: w.ctes, or, table, alias, cols, source, upserts, returning };
  }

  private returning(): A.ResultCol[] | undefined {
    if (!this.acceptKw('RETURNING')) return undefined;
    return this.resultCols();
  }

  private assignments(): A.Assignment[] {
    const out: A.Assignment[] = [];
    do {
      let cols: string[];
      if (this.acceptOp('(')) { cols = this.nameList(); this.expectOp(')'); }
      else cols = [this.name()];
      this.expectOp('=');
      out.push({ cols, e: this.expr() });
    } while (this.acceptOp(','));
    return out;
  }

  private update(w: { ctes: A.Cte[]; recursive: boolean }): A.Update {
    this.expectKw('UPDATE');
    let or: A.ConflictAction | undefined;
    if (this.acceptKw('OR')) {
      const t = this.next();
      if (t.kind !== 'id' || !CONFLICT.has(t.kw)) throw this.err(t);
      or = t.kw as A.ConflictAction;
    }
    let table = this.name();
    if (this.acceptOp('.')) table = this.name();
    let alias: string | undefined;
    if (this.acceptKw('AS')) alias = this.name();
    else if (this.isName() && !this.isKw('SET')) alias = this.name();
    if (this.acceptKw('INDEXED')) { this.expectKw('BY'); this.name(); }
    else if (this.acceptKw('NOT')) this.expectKw('INDEXED');
    this.expectKw('SET');
    const set = this.assignments();
    let from: A.JoinItem[] = [];
    if (this.acceptKw('FROM')) from = this.from();
    let where: A.Expr | undefined;
    if (this.acceptKw('WHERE')) where = this.expr();
    const returning = this.returning();
    return { type: 'update', with: w.ctes, or, table, alias, set, from, where, returning };
  }

  private delete(w: { ctes: A.Cte[]; recursive: boolean }): A.Delete {
    this.expectKw('DELETE');
    this.expectKw('FROM');
    let table = this.name();
    if (this.acceptOp('.')) table = this.name();
    let alias: string | undefined;
    if (this.acceptKw('AS')) alias = this.name();
    else if (this.isName() && !this.isKw('WHERE')) alias = this.name();
    if (this.acceptKw('INDEXED')) { this.expectKw('BY'); this.name(); }
    else if (this.acceptKw('NOT')) this.expectKw('INDEXED');
    let where: A.Expr | undefined;
    if (this.acceptKw('WHERE')) where = this.expr();
    const returning = this.returning();
    return { type: 'delete', with: w.ctes, table, alias, where, returning };
  }

  // ---- DDL ----
  private ifNotExists(): boolean {
    if (this.isKw('IF')) { this.p++; this.expectKw('NOT'); this.expectKw('EXISTS'); return true; }
    return false;
  }

  /**
   * The name a CREATE gives its object, and whether it is qualified with the temp schema. SQLite
   * knows the schemas main and temp only (no ATTACH), and a TEMP object takes no qualifier.
   */
  private createdName(temp: boolean): [string, boolean] {
    const first = this.name();
    if (!this.acceptOp('.')) return [first, false];
    const name = this.name();
    const schema = first.toLowerCase();
    if (temp && schema !== 'temp') throw sqlError('temporary table name must be unqualified');
    if (schema !== 'main' && schema !== 'temp') throw sqlError(`unknown database ${first}`);
    return [name, schema === 'temp'];
  }

  private create(): A.Stmt {
    const start = this.t.start;
    this.expectKw('CREATE');
    let temp = this.acceptKw('TEMP') || this.acceptKw('TEMPORARY');
    if (temp && !this.isKw('TABLE') && !this.isKw('VIEW')) throw this.err();
    const unique = this.acceptKw('UNIQUE');
    if (unique && !this.isKw('INDEX')) throw this.err();
    if (this.acceptKw('TABLE')) {
      const ifNotExists = this.ifNotExists();
      const [name, inTemp] = this.createdName(temp);
      temp ||= inTemp;
      if (this.acceptKw('AS')) {
        const as = this.select();
        return { type: 'createTable', temp, ifNotExists, name, cols: [], constraints: [], withoutRowid: false, strict: false, as, sql: this.sql.slice(start, this.toks[this.p - 1]!.end) };
      }
      this.expectOp('(');
      const cols: A.ColumnDef[] = [];
      const constraints: A.TableConstraint[] = [];
      for (;;) {
        if (this.isKw('CONSTRAINT') || this.isKw('PRIMARY') || this.isKw('UNIQUE') || this.isKw('CHECK') || this.isKw('FOREIGN')) {
          if (cols.length === 0) throw this.err();
          constraints.push(this.tableConstraint());
        } else {
          if (constraints.length) throw this.err();
          cols.push(this.columnDef(name));
        }
        if (this.acceptOp(')')) break;
        this.expectOp(',');
      }
      let withoutRowid = false, strict = false;
      if (this.isName()) {
        do {
          if (this.acceptKw('WITHOUT')) { if (!this.isKw('ROWID')) throw this.err(); this.p++; withoutRowid = true; }
          else if (this.acceptKw('STRICT')) strict = true;
          else throw this.err();
        } while (this.acceptOp(','));
      }
      return { type: 'createTable', temp, ifNotExists, name, cols, constraints, withoutRowid, strict, as: undefined, sql: this.sql.slice(start, this.toks[this.p - 1]!.end) };
    }
    if (this.acceptKw('INDEX')) {
      const ifNotExists = this.ifNotExists();
      const [name, inTemp] = this.createdName(false);
      if (inTemp) throw sqlError('TEMP indexes are not supported yet; create the index without the temp. prefix');
      this.expectKw('ON');
      const table = this.name();
      this.expectOp('(');
      const cols = this.indexedCols();
      this.expectOp(')');
      let where: A.Expr | undefined;
      if (this.acceptKw('WHERE')) where = this.expr();
      return { type: 'createIndex', unique, ifNotExists, name, table, cols, where, sql: this.sql.slice(start, this.toks[this.p - 1]!.end) };
    }
    if (this.acceptKw('VIEW')) {
      const ifNotExists = this.ifNotExists();
      const [name, inTemp] = this.createdName(temp);
      temp ||= inTemp;
      let cols: string[] | undefined;
      if (this.acceptOp('(')) { cols = this.eidList(); this.expectOp(')'); }
      this.expectKw('AS');
      const select = this.select();
      return { type: 'createView', ifNotExists, temp, name, cols, select, sql: this.sql.slice(start, this.toks[this.p - 1]!.end) };
    }
    throw this.err();
  }

  private indexedCols(): A.IndexedCol[] {
    const out: A.IndexedCol[] = [];
    do {
      let e = this.expr();
      let coll: string | undefined;
      if (e.k === 'collate') { coll = e.coll; e = e.e; }
      let desc = false;
      if (this.acceptKw('DESC')) desc = true; else this.acceptKw('ASC');
      out.push({ e, coll, desc });
    } while (this.acceptOp(','));
    return out;
  }

  private typeName(): string {
    const words: string[] = [];
    while (this.t.kind === 'id' && (this.t.kw === '' || !RESERVED.has(this.t.kw) || false)) {
      // Stop at words that start a column constraint.
      if (['CONSTRAINT', 'PRIMARY', 'NOT', 'NULL', 'UNIQUE', 'CHECK', 'DEFAULT', 'COLLATE', 'REFERENCES', 'GENERATED', 'AS'].includes(this.t.kw)) break;
      words.push(this.next().text);
    }
    let type = words.join(' ');
    if (words.length && this.acceptOp('(')) {
      const s = this.t.start;
      this.signedNumber();
      if (this.acceptOp(',')) this.signedNumber();
      const e = this.t.start;
      this.expectOp(')');
      type += `(${this.sql.slice(s, e).trim()})`;
    }
    return type;
  }

  private signedNumber(): void {
    if (!this.acceptOp('-')) this.acceptOp('+');
    if (this.t.kind !== 'num') throw this.err();
    this.p++;
  }

  /** A column definition of table `table` (which SQLite's messages name). */
  private columnDef(table: string): A.ColumnDef {
    const spanStart = this.t.start;
    const name = this.name();
    const type = this.typeName();
    const col: A.ColumnDef = { name, type, notNull: undefined, pk: undefined, unique: [], check: [], dflt: undefined, collate: undefined, fk: undefined, generated: undefined };
    for (;;) {
      let cname: string | undefined;
      if (this.acceptKw('CONSTRAINT')) cname = this.name();
      if (this.acceptKw('PRIMARY')) {
        this.expectKw('KEY');
        let desc = false;
        if (this.acceptKw('DESC')) desc = true; else this.acceptKw('ASC');
        const conflict = this.conflictClause();
        const autoincrement = this.acceptKw('AUTOINCREMENT');
        if (col.pk) throw new SqlError('SQLITE_ERROR', `table "${table}" has more than one primary key`);
        if (col.generated) throw new SqlError('SQLITE_ERROR', 'generated columns cannot be part of the PRIMARY KEY');
        col.pk = { desc, conflict, autoincrement };
      } else if (this.isKw('NOT') && this.isKw('NULL', this.peek())) {
        this.p += 2;
        col.notNull = this.conflictClause() ?? 'ABORT';
      } else if (this.acceptKw('NULL')) {
        this.conflictClause();
      } else if (this.acceptKw('UNIQUE')) {
        col.unique.push(this.conflictClause());
      } else if (this.acceptKw('CHECK')) {
        this.expectOp('(');
        const s = this.t.start;
        const e = this.expr();
        col.check.push({ e, text: this.sql.slice(s, this.toks[this.p - 1]!.end), name: cname });
        this.expectOp(')');
      } else if (this.acceptKw('DEFAULT')) {
        if (col.generated) throw new SqlError('SQLITE_ERROR', 'cannot use DEFAULT on a generated column');
        const s = this.t.start;
        let e: A.Expr;
        let text: string | undefined;
        if (this.acceptOp('(')) {
          const is = this.t.start;
          e = this.expr();
          text = this.sql.slice(is, this.toks[this.p - 1]!.end);
          this.expectOp(')');
        } else if (this.isOp('-') || this.isOp('+')) {
          const neg = this.next().text === '-';
          if (this.t.kind === 'str' || this.t.kind === 'blob') {
            // SQLite takes a signed string or blob too; a minus applies when the default is used.
            const lit = this.primary();
            e = neg ? { k: 'unary', op: '-', e: lit } : lit;
          } else {
            const t = this.next();
            if (t.kind !== 'num') throw this.err(t);
            const v = numLiteral(t.text, this);
            e = { k: 'lit', v: neg ? (typeof v === 'bigint' ? -v : -(v as number)) : v };
          }
        } else if (this.t.kind === 'num' || this.t.kind === 'str' || this.t.kind === 'blob') e = this.primary();
        else if (this.t.kind === 'id') {
          const t = this.next();
          if (t.kw === 'NULL') e = { k: 'lit', v: null };
          else if (t.kw === 'TRUE') e = { k: 'lit', v: 1n };
          else if (t.kw === 'FALSE') e = { k: 'lit', v: 0n };
          else if (t.kw === 'CURRENT_TIME' || t.kw === 'CURRENT_DATE' || t.kw === 'CURRENT_TIMESTAMP') e = { k: 'fn', name: t.kw.toLowerCase(), args: [], distinct: false, star: false, filter: undefined };
          else e = { k: 'lit', v: t.text };
        } else throw this.err();
        col.dflt = { e, text: text ?? this.sql.slice(s, this.toks[this.p - 1]!.end) };
      } else if (this.acceptKw('COLLATE')) {
        // As written: the catalog checks it, and SQLite's error names it so.
        col.collate = this.name();
      } else if (this.isKw('REFERENCES')) {
        col.fk = this.fkClause([name]);
        if (col.fk.refCols && col.fk.refCols.length !== 1) throw new SqlError('SQLITE_ERROR', `foreign key on ${name} should reference only one column of table ${col.fk.table}`);
      } else if (this.isKw('GENERATED') || this.isKw('AS')) {
        if (this.acceptKw('GENERATED')) this.expectKw('ALWAYS');
        this.expectKw('AS');
        this.expectOp('(');
        const e = this.expr();
        this.expectOp(')');
        let stored = false;
        if (this.acceptKw('STORED')) stored = true; else this.acceptKw('VIRTUAL');
        if (col.dflt) throw new SqlError('SQLITE_ERROR', `error in generated column "${name}"`);
        if (col.pk) throw new SqlError('SQLITE_ERROR', 'generated columns cannot be part of the PRIMARY KEY');
        col.generated = { e, stored };
      } else break;
    }
    col.span = [spanStart, this.toks[this.p - 1]!.end];
    return col;
  }

  private fkClause(cols: string[]): A.ForeignKey {
    this.expectKw('REFERENCES');
    const table = this.name();
    let refCols: string[] | undefined;
    if (this.acceptOp('(')) { refCols = this.eidList(); this.expectOp(')'); }
    let onDelete = 'NO ACTION', onUpdate = 'NO ACTION';
    let deferred = false;
    for (;;) {
      if (this.acceptKw('ON')) {
        const which = this.next();
        if (which.kw !== 'DELETE' && which.kw !== 'UPDATE') throw this.err(which);
        let action: string;
        if (this.acceptKw('SET')) {
          if (this.acceptKw('NULL')) action = 'SET NULL';
          else { this.expectKw('DEFAULT'); action = 'SET DEFAULT'; }
        } else if (this.acceptKw('CASCADE')) action = 'CASCADE';
        else if (this.acceptKw('RESTRICT')) action = 'RESTRICT';
        else if (this.acceptKw('NO')) { this.expectKw('ACTION'); action = 'NO ACTION'; }
        else throw this.err();
        if (which.kw === 'DELETE') onDelete = action; else onUpdate = action;
      } else if (this.acceptKw('MATCH')) {
        this.name();
      } else if (this.isKw('DEFERRABLE') || (this.isKw('NOT') && this.isKw('DEFERRABLE', this.peek()))) {
        const not = this.acceptKw('NOT');
        this.p++;
        let initially = false;
        if (this.acceptKw('INITIALLY')) { initially = this.acceptKw('DEFERRED'); if (!initially) this.expectKw('IMMEDIATE'); }
        deferred = !not && initially;
      } else break;
    }
    return { cols, table, refCols, onDelete, onUpdate, ...(deferred ? { deferred } : {}) };
  }

  private tableConstraint(): A.TableConstraint {
    let cname: string | undefined;
    if (this.acceptKw('CONSTRAINT')) cname = this.name();
    if (this.acceptKw('PRIMARY')) {
      this.expectKw('KEY');
      this.expectOp('(');
      const cols = this.indexedCols();
      const autoincrement = this.acceptKw('AUTOINCREMENT');
      this.expectOp(')');
      return { k: 'pk', cols, conflict: this.conflictClause(), autoincrement };
    }
    if (this.acceptKw('UNIQUE')) {
      this.expectOp('(');
      const cols = this.indexedCols();
      this.expectOp(')');
      return { k: 'unique', cols, conflict: this.conflictClause() };
    }
    if (this.acceptKw('CHECK')) {
      this.expectOp('(');
      const s = this.t.start;
      const e = this.expr();
      const text = this.sql.slice(s, this.toks[this.p - 1]!.end);
      this.expectOp(')');
      return { k: 'check', e, text, name: cname };
    }
    this.expectKw('FOREIGN');
    this.expectKw('KEY');
    this.expectOp('(');
    const cols = this.eidList();
    this.expectOp(')');
    const fk = this.fkClause(cols);
    if (fk.refCols && fk.refCols.length !== cols.length) throw new SqlError('SQLITE_ERROR', 'number of columns in foreign key does not match the number of columns in the referenced table');
    return { k: 'fk', fk };
  }

  private drop(): A.Drop {
    this.expectKw('DROP');
    const t = this.next();
    if (t.kind !== 'id' || !['TABLE', 'INDEX', 'VIEW', 'TRIGGER'].includes(t.kw)) throw this.err(t);
    let ifExists = false;
    if (this.acceptKw('IF')) { this.expectKw('EXISTS'); ifExists = true; }
    let name = this.name();
    if (this.acceptOp('.')) name = this.name();
    return { type: 'drop', what: t.kw as A.Drop['what'], ifExists, name };
  }

  private alter(): A.Alter {
    this.expectKw('ALTER');
    this.expectKw('TABLE');
    let table = this.name();
    if (this.acceptOp('.')) table = this.name();
    if (this.acceptKw('RENAME')) {
      if (this.acceptKw('TO')) return { type: 'alter', table, op: 'rename', to: this.name() };
      this.acceptKw('COLUMN');
      const from = this.name();
      this.expectKw('TO');
      const toQuoted = this.t.kw === '';
      return { type: 'alter', table, op: 'renameColumn', from, to: this.name(), toQuoted };
    }
    if (this.acceptKw('ADD')) {
      this.acceptKw('COLUMN');
      const s = this.t.start;
      const col = this.columnDef(table);
      return { type: 'alter', table, op: 'addColumn', col, text: this.sql.slice(s, this.toks[this.p - 1]!.end) };
    }
    if (this.acceptKw('DROP')) {
      this.acceptKw('COLUMN');
      return { type: 'alter', table, op: 'dropColumn', col: this.name() };
    }
    throw this.err();
  }

  // ---- expressions ----
  private enter(): void {
    if (++this.depth > MAX_EXPR_DEPTH) throw new SqlError('SQLITE_ERROR', `Expression tree is too large (maximum depth ${MAX_EXPR_DEPTH})`);
  }
  private leave(): void { this.depth--; }

  expr(minPrec = 0): A.Expr {
    this.enter();
    let left: A.Expr;
    if (this.isKw('NOT')) {
      this.p++;
      left = { k: 'unary', op: 'NOT', e: this.expr(3) };
    } else left = this.unaryExpr();
    for (;;) {
      const t = this.t;
      let prec = -1;
      if (t.kind === 'op') {
        switch (t.text) {
          case '=': case '==': case '!=': case '<>': prec = 4; break;
          case '<': case '<=': case '>': case '>=': prec = 5; break;
          case '&': case '|': case '<<': case '>>': prec = 7; break;
          case '+': case '-': prec = 8; break;
          case '*': case '/': case '%': prec = 9; break;
          case '||': case '->': case '->>': prec = 10; break;
        }
      } else if (t.kind === 'id') {
        switch (t.kw) {
          case 'OR': prec = 1; break;
          case 'AND': prec = 2; break;
          case 'IS': case 'IN': case 'LIKE': case 'GLOB': case 'REGEXP': case 'MATCH': case 'BETWEEN': case 'ISNULL': case 'NOTNULL': prec = 4; break;
          case 'NOT': {
            const n = this.peek();
            if (n.kind === 'id' && ['IN', 'LIKE', 'GLOB', 'REGEXP', 'MATCH', 'BETWEEN', 'NULL'].includes(n.kw)) prec = 4;
            break;
          }
          case 'COLLATE': prec = 11; break;
        }
      }
      if (prec < 0 || prec < minPrec) break;
      // Comparison-level operators are left-associative: the right side binds one level tighter.
      if (t.kind === 'op') {
        this.p++;
        const r = this.expr(prec + 1);
        left = { k: 'bin', op: t.text === '==' ? '=' : t.text === '<>' ? '!=' : t.text, l: left, r };
        continue;
      }
      switch (t.kw) {
        case 'OR': case 'AND': this.p++; left = { k: 'bin', op: t.kw, l: left, r: this.expr(prec + 1) }; continue;
        case 'COLLATE': this.p++; left = { k: 'collate', e: left, coll: this.name().toUpperCase() }; continue;
        case 'ISNULL': this.p++; left = { k: 'isnull', not: false, e: left }; continue;
        case 'NOTNULL': this.p++; left = { k: 'isnull', not: true, e: left }; continue;
        case 'IS': {
          this.p++;
          const not = this.acceptKw('NOT');
          if (this.acceptKw('DISTINCT')) {
            this.expectKw('FROM');
            left = { k: 'bin', op: not ? 'IS' : 'IS NOT', l: left, r: this.expr(prec + 1) };
          } else left = { k: 'bin', op: not ? 'IS NOT' : 'IS', l: left, r: this.expr(prec + 1) };
          continue;
        }
      }
      const not = this.acceptKw('NOT');
      const kw = this.next().kw;
      if (kw === 'NULL') { left = { k: 'isnull', not: true, e: left }; continue; }
      if (kw === 'BETWEEN') {
        const lo = this.expr(prec + 1);
        this.expectKw('AND');
        const hi = this.expr(prec + 1);
        left = { k: 'between', not, e: left, lo, hi };
        continue;
      }
      if (kw === 'IN') {
        if (this.acceptOp('(')) {
          if (this.isKw('SELECT') || this.isKw('VALUES') || this.isKw('WITH')) {
            const select = this.select();
            this.expectOp(')');
            left = { k: 'in', not, e: left, list: undefined, select, table: undefined };
          } else {
            const list: A.Expr[] = [];
            if (!this.isOp(')')) { list.push(this.expr()); while (this.acceptOp(',')) list.push(this.expr()); }
            this.expectOp(')');
            left = { k: 'in', not, e: left, list, select: undefined, table: undefined };
          }
        } else {
          const table = this.name();
          left = { k: 'in', not, e: left, list: undefined, select: undefined, table };
        }
        continue;
      }
      const r = this.expr(prec + 1);
      let esc: A.Expr | undefined;
      if (this.acceptKw('ESCAPE')) esc = this.expr(6);
      left = { k: 'like', op: kw as 'LIKE', not, l: left, r, esc };
    }
    this.leave();
    return left;
  }

  private unaryExpr(): A.Expr {
    const t = this.t;
    if (t.kind === 'op' && (t.text === '-' || t.text === '+' || t.text === '~')) {
      this.p++;
      // -9223372036854775808 is the one integer literal whose magnitude alone does not fit 64 bits.
      if (t.text === '-' && this.t.kind === 'num' && this.t.text === '9223372036854775808') {
        this.p++;
        return { k: 'lit', v: -9223372036854775808n };
      }
      this.enter();
      const e = this.unaryExpr();
      this.leave();
      return { k: 'unary', op: t.text as '-', e };
    }
    let e = this.primary();
    while (this.isKw('COLLATE')) { this.p++; e = { k: 'collate', e, coll: this.name().toUpperCase() }; }
    return e;
  }

  primary(): A.Expr {
    const t = this.t;
    switch (t.kind) {
      case 'num': this.p++; return { k: 'lit', v: numLiteral(t.text, this) };
      case 'str': this.p++; return { k: 'lit', v: t.text };
      case 'blob': {
        this.p++;
        const b = new Uint8Array(t.text.length / 2);
        for (let i = 0; i < b.length; i++) b[i] = parseInt(t.text.slice(i * 2, i * 2 + 2), 16);
        return { k: 'lit', v: b };
      }
      case 'param': return this.param();
      case 'op':
        if (t.text === '(') {
          this.p++;
          if (this.isKw('SELECT') || this.isKw('VALUES') || this.isKw('WITH')) {
            const select = this.select();
            this.expectOp(')');
            return { k: 'subq', select };
          }
          const e = this.expr();
          if (this.isOp(',')) throw new SqlError('SQLITE_ERROR', 'row value misused');
          this.expectOp(')');
          return e;
        }
        throw this.err();
      case 'id': break;
      default: throw this.err();
    }
    if (t.kw !== '') {
      switch (t.kw) {
        case 'NULL': this.p++; return { k: 'lit', v: null };
        case 'TRUE': if (!this.isOp('(', this.peek()) && !this.isOp('.', this.peek())) { this.p++; return { k: 'lit', v: 1n }; } break;
        case 'FALSE': if (!this.isOp('(', this.peek()) && !this.isOp('.', this.peek())) { this.p++; return { k: 'lit', v: 0n }; } break;
        case 'CURRENT_TIME': case 'CURRENT_DATE': case 'CURRENT_TIMESTAMP':
          this.p++;
          return { k: 'fn', name: t.kw.toLowerCase(), args: [], distinct: false, star: false, filter: undefined };
        case 'CAST': {
          this.p++;
          this.expectOp('(');
          const e = this.expr();
          this.expectKw('AS');
          const type = this.typeName();
          this.expectOp(')');
          return { k: 'cast', e, type };
        }
        case 'CASE': {
          this.p++;
          let base: A.Expr | undefined;
          if (!this.isKw('WHEN')) base = this.expr();
          const whens: [A.Expr, A.Expr][] = [];
          while (this.acceptKw('WHEN')) {
            const w = this.expr();
            this.expectKw('THEN');
            whens.push([w, this.expr()]);
          }
          if (whens.length === 0) throw this.err();
          let els: A.Expr | undefined;
          if (this.acceptKw('ELSE')) els = this.expr();
          this.expectKw('END');
          return { k: 'case', base, whens, else: els };
        }
        case 'EXISTS': {
          this.p++;
          this.expectOp('(');
          const select = this.select();
          this.expectOp(')');
          return { k: 'exists', select };
        }
        case 'RAISE': {
          this.p++;
          this.expectOp('(');
          const a = this.next();
          if (!['IGNORE', 'ROLLBACK', 'ABORT', 'FAIL'].includes(a.kw)) throw this.err(a);
          let msg: A.Expr | undefined;
          if (a.kw !== 'IGNORE') { this.expectOp(','); msg = this.expr(); }
          this.expectOp(')');
          return { k: 'raise', action: a.kw, msg };
        }
      }
      if (RESERVED.has(t.kw) && !(t.kw === 'REPLACE' || t.kw === 'LEFT' || t.kw === 'RIGHT')) throw this.err();
    }
    this.p++;
    if (this.isOp('(') && t.kw !== '' ) return this.call(t.text);
    if (this.isOp('(') && t.kw === '' && t.kind === 'id' && this.sql[t.start] !== '"' && this.sql[t.start] !== '[' && this.sql[t.start] !== '`') return this.call(t.text);
    if (this.acceptOp('.')) {
      const n2 = this.colName();
      if (this.acceptOp('.')) return { k: 'col', table: n2, name: this.colName() };
      return { k: 'col', table: t.text, name: n2 };
    }
    return { k: 'col', table: undefined, name: t.text };
  }

  private colName(): string {
    const t = this.t;
    if (t.kind === 'id' || t.kind === 'str') { this.p++; return t.text; }
    throw this.err();
  }

  private call(name: string): A.Expr {
    this.expectOp('(');
    const args: A.Expr[] = [];
    let distinct = false, star = false;
    if (this.acceptOp('*')) star = true;
    else if (!this.isOp(')')) {
      if (this.acceptKw('DISTINCT')) distinct = true; else this.acceptKw('ALL');
      args.push(this.expr());
      while (this.acceptOp(',')) args.push(this.expr());
      if (this.isKw('ORDER')) throw this.err();
    }
    this.expectOp(')');
    let filter: A.Expr | undefined;
    if (this.acceptKw('FILTER')) {
      this.expectOp('(');
      this.expectKw('WHERE');
      filter = this.expr();
      this.expectOp(')');
    }
    if (this.isKw('OVER')) throw new SqlError('SQLITE_ERROR', 'window functions are not supported yet; rewrite the query without OVER (...)');
    return { k: 'fn', name: name.toLowerCase(), args, distinct, star, filter };
  }

  private param(): A.Expr {
    const t = this.next();
    const text = t.text;
    if (text === '?') {
      const idx = ++this.paramCount;
      return { k: 'param', idx, name: undefined };
    }
    if (text[0] === '?') {
      const n = Number(text.slice(1));
      if (!(n >= 1 && n <= MAX_VARIABLE_NUMBER)) {
        throw new SqlError('SQLITE_ERROR', `variable number must be between ?1 and ?${MAX_VARIABLE_NUMBER}`);
      }
      if (n > this.paramCount) this.paramCount = n;
      return { k: 'param', idx: n, name: undefined };
    }
    let idx = this.named.get(text);
    if (idx === undefined) {
      idx = ++this.paramCount;
      this.named.set(text, idx);
      this.paramNames[idx] = text;
    }
    return { k: 'param', idx, name: text };
  }
}

/** The value of a numeric literal: INTEGER when it fits 64 bits, REAL otherwise (as SQLite). */
function numLiteral(text: string, p: Parser): bigint | number {
  if (text.length > 2 && (text[1] === 'x' || text[1] === 'X')) {
    if (text.length - 2 > 16) throw new SqlError('SQLITE_ERROR', `hex literal too big: ${text}`);
    return BigInt.asIntN(64, BigInt(text));
  }
  void p;
  const v = textToNumeric(text);
  if (v === null) return Number(text);
  return v as bigint | number;
}

/** Parses every statement of `sql`. */
export function parseAll(sql: string): A.ParsedStatement[] {
  const p = new Parser(sql);
  const out: A.ParsedStatement[] = [];
  while (!p.atEnd()) out.push(p.statement());
  return out;
}

/** Parses a standalone expression (used for stored defaults and index expressions). */
export function parseExpr(sql: string): A.Expr {
  const p = new Parser(sql);
  const e = p.expr();
  if (!p.atEnd()) throw p.err();
  return e;
}
