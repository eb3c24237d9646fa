/** The typed syntax tree the parser produces and the planner consumes. */
import type { Value } from './value.ts';

export type Expr =
  | { k: 'lit'; v: Value }
  | { k: 'param'; idx: number; name: string | undefined }
  | { k: 'col'; table: string | undefined; name: string }
  | { k: 'unary'; op: '-' | '+' | '~' | 'NOT'; e: Expr }
  | { k: 'bin'; op: string; l: Expr; r: Expr }
  | { k: 'like'; op: 'LIKE' | 'GLOB' | 'REGEXP' | 'MATCH'; not: boolean; l: Expr; r: Expr; esc: Expr | undefined }
  | { k: 'between'; not: boolean; e: Expr; lo: Expr; hi: Expr }
  | { k: 'in'; not: boolean; e: Expr; list: Expr[] | undefined; select: Select | undefined; table: string | undefined }
  | { k: 'isnull'; not: boolean; e: Expr }
  | { k: 'case'; base: Expr | undefined; whens: [Expr, Expr][]; else: Expr | undefined }
  | { k: 'cast'; e: Expr; type: string }
  | { k: 'collate'; e: Expr; coll: string }
  | { k: 'fn'; name: string; args: Expr[]; distinct: boolean; star: boolean; filter: Expr | undefined }
  | { k: 'exists'; select: Select }
  | { k: 'subq'; select: Select }
  | { k: 'raise'; action: string; msg: Expr | undefined };

export interface ResultCol {
  /** `*` or `t.*` when star is set. */
  star: boolean;
  table: string | undefined;
  expr: Expr | undefined;
  alias: string | undefined;
  /** The expression's source text, which SQLite uses as the column name when there is no alias. */
  text: string;
}

export type FromItem =
  | { k: 'table'; name: string; schema: string | undefined; alias: string | undefined; indexed: string | null | undefined }
  | { k: 'fn'; name: string; args: Expr[]; alias: string | undefined }
  | { k: 'sub'; select: Select; alias: string | undefined };

export interface JoinItem {
  item: FromItem;
  /** Join type relative to the items before it: 'INNER' (also comma/CROSS), 'LEFT', 'RIGHT', 'FULL'. */
  join: 'INNER' | 'LEFT' | 'RIGHT' | 'FULL' | 'CROSS';
  natural: boolean;
  on: Expr | undefined;
  using: string[] | undefined;
}

export interface OrderTerm {
  e: Expr;
  desc: boolean;
  nulls: 'FIRST' | 'LAST' | undefined;
}

export interface SelectCore {
  k: 'core';
  distinct: boolean;
  cols: ResultCol[];
  from: JoinItem[];
  where: Expr | undefined;
  groupBy: Expr[];
  having: Expr | undefined;
}

export interface ValuesCore {
  k: 'values';
  rows: Expr[][];
}

export interface Cte {
  name: string;
  cols: string[] | undefined;
  select: Select;
}

export interface Select {
  type: 'select';
  with: Cte[];
  recursive: boolean;
  /** First core, then (op, core) pairs in order. */
  cores: (SelectCore | ValuesCore)[];
  ops: ('UNION' | 'UNION ALL' | 'INTERSECT' | 'EXCEPT')[];
  orderBy: OrderTerm[];
  limit: Expr | undefined;
  offset: Expr | undefined;
}

export type ConflictAction = 'ROLLBACK' | 'ABORT' | 'FAIL' | 'IGNORE' | 'REPLACE';

export interface Upsert {
  target: { e: Expr; coll: string | undefined }[] | undefined;
  targetWhere: Expr | undefined;
  /** undefined = DO NOTHING */
  set: Assignment[] | undefined;
  where: Expr | undefined;
}

export interface Assignment {
  cols: string[];
  e: Expr;
}

export interface Insert {
  type: 'insert';
  with: Cte[];
  or: ConflictAction | undefined;
  table: string;
  alias: string | undefined;
  cols: string[] | undefined;
  /** undefined = DEFAULT VALUES */
  source: Select | undefined;
  upserts: Upsert[];
  returning: ResultCol[] | undefined;
}

export interface Update {
  type: 'update';
  with: Cte[];
  or: ConflictAction | undefined;
  table: string;
  alias: string | undefined;
  set: Assignment[];
  from: JoinItem[];
  where: Expr | undefined;
  returning: ResultCol[] | undefined;
}

export interface Delete {
  type: 'delete';
  with: Cte[];
  table: string;
  alias: string | undefined;
  where: Expr | undefined;
  returning: ResultCol[] | undefined;
}

export interface ForeignKey {
  cols: string[];
  table: string;
  refCols: string[] | undefined;
  onDelete: string;
  onUpdate: string;
  /** DEFERRABLE INITIALLY DEFERRED: violations are counted until COMMIT. */
  deferred?: boolean;
}

export interface ColumnDef {
  name: string;
  type: string;
  notNull: ConflictAction | undefined;
  /** PRIMARY KEY on the column. */
  pk: { desc: boolean; conflict: ConflictAction | undefined; autoincrement: boolean } | undefined;
  /** One entry per UNIQUE on the column: its ON CONFLICT action, undefined when it names none. */
  unique: (ConflictAction | undefined)[];
  check: { e: Expr; text: string; name: string | undefined }[];
  /** The default expression and its source text (PRAGMA table_info shows the text). */
  dflt: { e: Expr; text: string } | undefined;
  collate: string | undefined;
  fk: ForeignKey | undefined;
  generated: { e: Expr; stored: boolean } | undefined;
  /** Offsets of the definition in the CREATE TABLE text (ALTER TABLE DROP COLUMN cuts it out). */
  span?: [number, number];
}

export interface IndexedCol {
  e: Expr;
  coll: string | undefined;
  desc: boolean;
}

export type TableConstraint =
  | { k: 'pk'; cols: IndexedCol[]; conflict: ConflictAction | undefined; autoincrement: boolean }
  | { k: 'unique'; cols: IndexedCol[]; conflict: ConflictAction | undefined }
  | { k: 'check'; e: Expr; text: string; name: string | undefined }
  | { k: 'fk'; fk: ForeignKey };

export interface CreateTable {
  type: 'createTable';
  temp: boolean;
  ifNotExists: boolean;
  name: string;
  cols: ColumnDef[];
  constraints: TableConstraint[];
  withoutRowid: boolean;
  strict: boolean;
  as: Select | undefined;
  /** Original text of the statement, as sqlite_schema.sql stores it. */
  sql: string;
}

export interface CreateIndex {
  type: 'createIndex';
  unique: boolean;
  ifNotExists: boolean;
  name: string;
  table: string;
  cols: IndexedCol[];
  where: Expr | undefined;
  sql: string;
}

export interface CreateView {
  type: 'createView';
  ifNotExists: boolean;
  temp: boolean;
  name: string;
  cols: string[] | undefined;
  select: Select;
  sql: string;
}

export interface Drop {
  type: 'drop';
  what: 'TABLE' | 'INDEX' | 'VIEW' | 'TRIGGER';
  ifExists: boolean;
  name: string;
}

export type Alter =
  | { type: 'alter'; table: string; op: 'rename'; to: string }
  | { type: 'alter'; table: string; op: 'renameColumn'; from: string; to: string; /** The new name was written quoted. */ toQuoted: boolean }
  | { type: 'alter'; table: string; op: 'addColumn'; col: ColumnDef; text: string }
  | { type: 'alter'; table: string; op: 'dropColumn'; col: string };

export type Stmt =
  | Select
  | Insert
  | Update
  | Delete
  | CreateTable
  | CreateIndex
  | CreateView
  | Drop
  | Alter
  | { type: 'begin'; mode: 'DEFERRED' | 'IMMEDIATE' | 'EXCLUSIVE' }
  | { type: 'commit' }
  | { type: 'rollback'; to: string | undefined }
  | { type: 'savepoint'; name: string }
  | { type: 'release'; name: string }
  | { type: 'pragma'; name: string; schema: string | undefined; value: Expr | undefined; call: boolean }
  | { type: 'explain'; queryPlan: boolean; stmt: Stmt };

export interface ParsedStatement {
  stmt: Stmt;
  /** Number of parameter slots (highest index). */
  paramCount: number;
  /** Parameter names by slot index (1-based), for named parameters. */
  paramNames: (string | undefined)[];
}
