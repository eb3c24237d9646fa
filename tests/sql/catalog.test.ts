import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Database, type Session } from '../../src/sql/index.ts';
import { fails, fresh, one, rows } from './helpers.ts';
import { mulberry32 } from './gen.ts';
import Sqlite from 'better-sqlite3';

/**
 * Runs each case's statement after `setup` on SQLite and on a fresh Trine: SQLite must fail with
 * the message given (or succeed for null), and Trine exactly as SQLite; `after` checks Trine's
 * state once each case ran.
 */
function sameAsSqlite(setup: string, cases: [string, string | null][], after?: (s: Session) => void): void {
  for (const [sql, want] of cases) {
    const { s } = fresh();
    const lite = new Sqlite(':memory:');
    s.execute(setup);
    lite.exec(setup);
    let theirs: string | null = null;
    try { lite.exec(sql); } catch (e) { theirs = (e as Error).message; }
    lite.close();
    assert.is(theirs, want, `SQLite on ${sql}`);
    if (want === null) s.execute(sql);
    else fails(s, sql, want);
    after?.(s);
  }
}

test('CREATE TABLE stores its text in sqlite_master with autoindexes after it', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT UNIQUE NOT NULL, c, UNIQUE(b, c))');
  s.execute('CREATE INDEX tc ON t(c) WHERE c > 0');
  assert.equal(rows(s, 'SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master'), [
    ['table', 't', 't', 2, 'CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT UNIQUE NOT NULL, c, UNIQUE(b, c))'],
    ['index', 'sqlite_autoindex_t_1', 't', 3, null],
    ['index', 'sqlite_autoindex_t_2', 't', 4, null],
    ['index', 'tc', 't', 5, 'CREATE INDEX tc ON t(c) WHERE c > 0'],
  ]);
  assert.equal(rows(s, 'SELECT name FROM sqlite_schema WHERE type = ?', ['index']).length, 3);
});

test('the schema is stored in the key space: a second Database over the same store sees it', () => {
  const { s, kv } = fresh();
  s.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b DEFAULT 'x'); INSERT INTO t(a) VALUES (1)");
  const other = new Database(kv).session();
  assert.equal(rows(other, 'SELECT * FROM t'), [[1, 'x']]);
});

test('PRAGMA table_info, index_list, index_info answer as SQLite does', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT UNIQUE NOT NULL DEFAULT 'x', c REAL DEFAULT (1+2), d, UNIQUE(c, d))");
  s.execute('CREATE INDEX i1 ON t(b); CREATE UNIQUE INDEX i2 ON t(c) WHERE c > 0; CREATE INDEX i3 ON t(b || c, d DESC)');
  assert.equal(rows(s, 'PRAGMA table_info(t)'), [[0, 'a', 'INTEGER', 0, null, 1], [1, 'b', 'TEXT', 1, "'x'", 0], [2, 'c', 'REAL', 0, '1+2', 0], [3, 'd', '', 0, null, 0]]);
  assert.equal(s.execute('PRAGMA table_info(t)').columns, ['cid', 'name', 'type', 'notnull', 'dflt_value', 'pk']);
  assert.equal(rows(s, 'PRAGMA index_list(t)'), [[0, 'i3', 0, 'c', 0], [1, 'i2', 1, 'c', 1], [2, 'i1', 0, 'c', 0], [3, 'sqlite_autoindex_t_2', 1, 'u', 0], [4, 'sqlite_autoindex_t_1', 1, 'u', 0]]);
  assert.equal(rows(s, 'PRAGMA index_info(i3)'), [[0, -2, null], [1, 3, 'd']]);
  assert.equal(rows(s, 'PRAGMA index_info(sqlite_autoindex_t_2)'), [[0, 2, 'c'], [1, 3, 'd']]);
  assert.equal(rows(s, "SELECT name FROM pragma_table_info('t') WHERE pk"), [['a']]);
  s.execute('CREATE TABLE u(x TEXT, y INT, PRIMARY KEY(x, y))');
  assert.equal(rows(s, 'PRAGMA index_list(u)'), [[0, 'sqlite_autoindex_u_1', 1, 'pk', 0]]);
  assert.equal(rows(s, 'PRAGMA table_info(u)').map((r) => r[5]), [1, 2]);
  assert.equal(rows(s, 'PRAGMA table_info(nosuch)'), []);
});

test('a UNIQUE constraint sharing the primary key\'s index makes it the primary key\'s, with either ON CONFLICT clause, as in SQLite', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE w (a UNIQUE, b, PRIMARY KEY (a) ON CONFLICT REPLACE); CREATE TABLE y (a, b, UNIQUE (a, b), PRIMARY KEY (a, b))');
  assert.equal(rows(s, 'PRAGMA index_list(w)'), [[0, 'sqlite_autoindex_w_1', 1, 'pk', 0]]);
  assert.equal(rows(s, 'PRAGMA index_list(y)'), [[0, 'sqlite_autoindex_y_1', 1, 'pk', 0]]);
  s.execute('INSERT INTO w VALUES (1, 1); INSERT INTO w VALUES (1, 2)');
  assert.equal(rows(s, 'SELECT * FROM w'), [[1, 2]]);
  s.execute('CREATE TABLE x (a PRIMARY KEY, b, UNIQUE (a) ON CONFLICT IGNORE); INSERT INTO x VALUES (1, 1); INSERT INTO x VALUES (1, 2)');
  assert.equal(rows(s, 'SELECT * FROM x'), [[1, 1]]);
  fails(s, 'CREATE TABLE z (a, UNIQUE (a) ON CONFLICT IGNORE, UNIQUE (a) ON CONFLICT REPLACE)', 'conflicting ON CONFLICT clauses specified');
  s.execute('CREATE INDEX wi ON w(b) WHERE b > 0');
  assert.equal(rows(s, 'PRAGMA index_list(w)'), [[0, 'wi', 0, 'c', 1], [1, 'sqlite_autoindex_w_1', 1, 'pk', 0]]);
});

test('PRAGMA table_list lists tables and views in the order of SQLite\'s schema hash table, then the temp schema', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t1(a); CREATE TABLE t2(a); CREATE VIEW v AS SELECT 1, 2; CREATE TABLE t4(a INTEGER PRIMARY KEY AUTOINCREMENT, b TEXT) STRICT');
  assert.equal(rows(s, 'PRAGMA table_list'), [
    ['main', 't4', 'table', 2, 0, 1], ['main', 'sqlite_sequence', 'table', 2, 0, 0], ['main', 'sqlite_schema', 'table', 5, 0, 0],
    ['main', 't1', 'table', 1, 0, 0], ['main', 't2', 'table', 1, 0, 0], ['main', 'v', 'view', 2, 0, 0],
    ['temp', 'sqlite_temp_schema', 'table', 5, 0, 0],
  ]);
  // The argument is matched against SQLite's internal names of the schema tables.
  assert.equal(rows(s, "PRAGMA table_list('sqlite_master')"), [['main', 'sqlite_schema', 'table', 5, 0, 0]]);
  assert.equal(rows(s, "PRAGMA table_list('sqlite_schema')"), []);
  assert.equal(rows(s, "SELECT * FROM pragma_table_list('SQLITE_TEMP_MASTER')"), [['temp', 'sqlite_temp_schema', 'table', 5, 0, 0]]);
  assert.equal(rows(s, "PRAGMA table_list('T2')"), [['main', 't2', 'table', 1, 0, 0]]);
});

const TL_SEED = Number(process.env.SQL_TABLE_LIST_SEED ?? 7);

test(`PRAGMA table_list orders random schemas as SQLite does (seed ${TL_SEED})`, () => {
  const r = mulberry32(TL_SEED);
  const pick = (s: string): string => s[Math.floor(r() * s.length)]!;
  for (let round = 0; round < 6; round++) {
    const { s } = fresh();
    const lite = new Sqlite(':memory:');
    const n = Math.floor(r() * 90);
    const taken = new Set<string>();
    for (let i = 0; i < n; i++) {
      let name = '';
      const len = 1 + Math.floor(r() * 6);
      for (let k = 0; k < len; k++) name += pick('abcXYZ_09\u00e9');
      if (taken.has(name.toLowerCase()) || /^sqlite_/i.test(name)) continue;
      taken.add(name.toLowerCase());
      const sql = r() < 0.2 ? `CREATE VIEW "${name}" AS SELECT 1` : `CREATE TABLE "${name}"(a${r() < 0.1 ? ' INTEGER PRIMARY KEY AUTOINCREMENT' : ''})`;
      s.execute(sql);
      lite.exec(sql);
    }
    const want = lite.prepare('PRAGMA table_list').raw(true).all() as unknown[][];
    lite.close();
    assert.equal(rows(s, 'PRAGMA table_list'), want, `round ${round} (replay: SQL_TABLE_LIST_SEED=${TL_SEED} node --import tsx tests/sql/catalog.test.ts)`);
  }
});

test('CREATE TABLE, CREATE INDEX and DROP refuse what SQLite refuses, with its messages', () => {
  const setup = 'CREATE TABLE g(id INTEGER PRIMARY KEY, v, w)';
  const cases: [string, string | null][] = [
    ['CREATE INDEX i ON sqlite_schema(name)', 'table sqlite_master may not be indexed'],
    ['CREATE INDEX i ON sqlite_master(name)', 'table sqlite_master may not be indexed'],
    ['CREATE INDEX i ON g(id) WHERE id > ?', 'parameters prohibited in partial index WHERE clauses'],
    ['CREATE INDEX i ON g(v + ?)', 'parameters prohibited in index expressions'],
    ['CREATE INDEX i ON g(random())', 'non-deterministic functions prohibited in index expressions'],
    ['CREATE INDEX i ON g(v) WHERE random() > 1', 'non-deterministic functions prohibited in partial index WHERE clauses'],
    ["CREATE INDEX i ON g(date('now'))", null],
    ['CREATE INDEX i ON g(id) WHERE (SELECT 1)', 'subqueries prohibited in partial index WHERE clauses'],
    ['CREATE INDEX i ON g((SELECT 1))', 'subqueries prohibited in index expressions'],
    ['CREATE INDEX i ON g(g.v)', 'the "." operator prohibited in index expressions'],
    ["CREATE INDEX i ON g('zz')", 'no such column: zz'],
    ["CREATE INDEX i ON g('v')", null],
    ['CREATE INDEX i ON g(_rowid_ + 1)', 'no such column: _rowid_'],
    ['DROP TABLE sqlite_master', 'table sqlite_master may not be dropped'],
    ['DROP TABLE sqlite_temp_master', 'table sqlite_temp_master may not be dropped'],
    ['CREATE VIEW IF NOT EXISTS g AS SELECT 1', null],
    ['CREATE TABLE t(a INTEGER PRIMARY KEY, b) STRICT', 'missing datatype for t.b'],
    ['CREATE TABLE t(a INT, b FOO) STRICT', 'unknown datatype for t.b: "FOO"'],
    ['CREATE TABLE t(a int, b Integer, c text, d blob, e real, f any) STRICT', null],
    ['CREATE TABLE t(a CHECK ((SELECT 1)))', 'subqueries prohibited in CHECK constraints'],
    ['CREATE TABLE t(a CHECK (a > 0) CHECK (?))', 'parameters prohibited in CHECK constraints'],
    ['CREATE TABLE t(a, CHECK (count(a) > 0))', 'misuse of aggregate function count()'],
    ['CREATE TABLE t(a, CHECK (random() > 0), CHECK (rowid > 0), CHECK (max(a, 1) > 0))', null],
    ['CREATE TABLE t(a, CHECK (x.a > 0))', 'no such column: x.a'],
    ['CREATE TABLE t(a DEFAULT (a))', 'default value of column [a] is not constant'],
    ['CREATE TABLE t(a DEFAULT (?))', 'default value of column [a] is not constant'],
    ['CREATE TABLE t(a DEFAULT (random()), b DEFAULT (true))', null],
    ['CREATE TABLE t(a AS (b), b AS (a))', 'must have at least one non-generated column'],
    ['CREATE TABLE t(a AS (?))', 'must have at least one non-generated column'],
    ['CREATE TABLE t(a, b AS (random()))', 'non-deterministic functions prohibited in generated columns'],
    ['CREATE TABLE t(a, b AS (t.a))', 'the "." operator prohibited in generated columns'],
    ['CREATE TABLE t(a, b AS (c))', 'no such column: c'],
    ['CREATE TABLE t(a, b AS (a) PRIMARY KEY)', 'generated columns cannot be part of the PRIMARY KEY'],
    ['CREATE TABLE t(a INTEGER PRIMARY KEY AS (1))', 'generated columns cannot be part of the PRIMARY KEY'],
    ['CREATE TABLE t(a, b AS (1), PRIMARY KEY (b))', 'generated columns cannot be part of the PRIMARY KEY'],
    ['CREATE TABLE t(a, b AS (a) DEFAULT 1)', 'cannot use DEFAULT on a generated column'],
    ['CREATE TABLE t(a, b DEFAULT 1 AS (a))', 'error in generated column "b"'],
    ['CREATE TABLE t(a REFERENCES p(x, y))', 'foreign key on a should reference only one column of table p'],
    ['CREATE TABLE t(a, b, FOREIGN KEY (a, b) REFERENCES p(x))', 'number of columns in foreign key does not match the number of columns in the referenced table'],
    ['CREATE TABLE t(a, FOREIGN KEY (a, b) REFERENCES p)', 'unknown column "b" in foreign key definition'],
    ['CREATE TABLE t(a COLLATE nosuch)', 'no such collation sequence: nosuch'],
  ];
  sameAsSqlite(setup, cases);
});

test('ALTER TABLE refuses views, system tables, clashing renames and broken added columns as SQLite does', () => {
  const setup = 'CREATE TABLE t(a INTEGER PRIMARY KEY, b, c); CREATE VIEW v AS SELECT a, b FROM t';
  const cases: [string, string | null][] = [
    ['ALTER TABLE v RENAME TO x', 'view v may not be altered'],
    ['ALTER TABLE v RENAME TO t', 'there is already another table or index with this name: t'],
    ['ALTER TABLE v RENAME TO sqlite_y', 'object name reserved for internal use: sqlite_y'],
    ['ALTER TABLE v ADD COLUMN z', 'Cannot add a column to a view'],
    ['ALTER TABLE v RENAME COLUMN a TO q', 'cannot rename columns of view "v"'],
    ['ALTER TABLE v DROP COLUMN a', 'cannot drop column from view "v"'],
    ['ALTER TABLE sqlite_master RENAME TO x', 'table sqlite_master may not be altered'],
    ['ALTER TABLE sqlite_schema ADD COLUMN x', 'table sqlite_master may not be altered'],
    ['ALTER TABLE t RENAME COLUMN a TO b', 'error in table t after rename: duplicate column name: b'],
    ['ALTER TABLE t RENAME COLUMN c TO A', 'error in table t after rename: duplicate column name: A'],
    ['ALTER TABLE t RENAME COLUMN a TO A', null],
    ['ALTER TABLE t ADD COLUMN d COLLATE nosuch', 'no such collation sequence: nosuch'],
    ['ALTER TABLE t ADD COLUMN d DEFAULT (b)', 'default value of column [d] is not constant'],
    ['ALTER TABLE t ADD COLUMN b PRIMARY KEY', 'duplicate column name: b'],
    ['ALTER TABLE t ADD COLUMN d CHECK ((SELECT 1))', 'error in table t after add column: subqueries prohibited in CHECK constraints'],
    ['ALTER TABLE t ADD COLUMN d AS (random())', 'error in table t after add column: non-deterministic functions prohibited in generated columns'],
    ['ALTER TABLE t ADD COLUMN d AS (nosuch)', 'error in table t after add column: no such column: nosuch'],
  ];
  sameAsSqlite(setup, cases, (s) => {
    // Whatever failed left a schema that still loads.
    assert.equal(rows(s, 'SELECT count(*) FROM t'), [[0]]);
  });
});

test('a STRICT table\'s primary key columns are NOT NULL, except an INTEGER PRIMARY KEY', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE s(a TEXT PRIMARY KEY, b INT) STRICT; CREATE TABLE u(a INTEGER, b ANY, PRIMARY KEY(a, b)) STRICT; CREATE TABLE r(a INTEGER PRIMARY KEY, b INT) STRICT');
  assert.equal(rows(s, 'SELECT name, "notnull" FROM pragma_table_info(\'s\')'), [['a', 1], ['b', 0]]);
  assert.equal(rows(s, 'SELECT name, "notnull" FROM pragma_table_info(\'u\')'), [['a', 1], ['b', 1]]);
  assert.equal(rows(s, 'SELECT name, "notnull" FROM pragma_table_info(\'r\')'), [['a', 0], ['b', 0]]);
  fails(s, 'INSERT INTO s VALUES (NULL, 1)', 'NOT NULL constraint failed: s.a');
  s.execute('INSERT INTO r VALUES (NULL, 1)');
});

test('PRAGMA table_info hides generated columns, table_xinfo marks them; the schema tables show SQLite\'s column types', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE p(a INTEGER PRIMARY KEY, g AS (a * 2), h INT AS (a + 1) STORED, b TEXT)');
  assert.equal(rows(s, 'PRAGMA table_info(p)'), [[0, 'a', 'INTEGER', 0, null, 1], [1, 'b', 'TEXT', 0, null, 0]]);
  assert.equal(rows(s, "SELECT name, hidden FROM pragma_table_xinfo('p')"), [['a', 0], ['g', 2], ['h', 3], ['b', 0]]);
  const schemaCols = [[0, 'type', 'TEXT', 0, null, 0], [1, 'name', 'TEXT', 0, null, 0], [2, 'tbl_name', 'TEXT', 0, null, 0], [3, 'rootpage', 'INT', 0, null, 0], [4, 'sql', 'TEXT', 0, null, 0]];
  assert.equal(rows(s, 'PRAGMA table_info(sqlite_master)'), schemaCols);
  assert.equal(rows(s, 'PRAGMA table_info(sqlite_temp_master)'), schemaCols);
  assert.equal(rows(s, 'PRAGMA collation_list'), [[0, 'RTRIM'], [1, 'NOCASE'], [2, 'BINARY']]);
});

test('an explicit ON CONFLICT ABORT on a column UNIQUE conflicts with another clause on the same index; a bare UNIQUE gives way', () => {
  const { s } = fresh();
  const msg = 'conflicting ON CONFLICT clauses specified';
  fails(s, 'CREATE TABLE a (x UNIQUE ON CONFLICT ABORT PRIMARY KEY ON CONFLICT IGNORE)', msg);
  fails(s, 'CREATE TABLE b (x PRIMARY KEY ON CONFLICT IGNORE UNIQUE ON CONFLICT ABORT)', msg);
  fails(s, 'CREATE TABLE c (x UNIQUE ON CONFLICT ABORT, UNIQUE (x) ON CONFLICT FAIL)', msg);
  fails(s, 'CREATE TABLE d (x UNIQUE ON CONFLICT ABORT UNIQUE ON CONFLICT IGNORE)', msg);
  s.execute('CREATE TABLE e (x UNIQUE ON CONFLICT ABORT, PRIMARY KEY (x) ON CONFLICT ABORT)');
  s.execute('CREATE TABLE f (x UNIQUE PRIMARY KEY ON CONFLICT IGNORE)');
  s.execute('INSERT INTO f VALUES (1); INSERT INTO f VALUES (1)');
  assert.equal(rows(s, 'SELECT * FROM f'), [[1]]);
  assert.equal(rows(s, "SELECT name FROM sqlite_schema WHERE type = 'table'"), [['e'], ['f']]);
});

test("PRAGMA table_info on a view shows SQLite's column types: declared, else named from the affinity", () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t (a, b INT, c TEXT, e FLOAT)');
  s.execute('CREATE VIEW v AS SELECT a, b, c, e, a + 1, CAST(a AS TEXT), CAST(a AS INTEGER), (SELECT b FROM t) FROM t');
  assert.equal(rows(s, 'SELECT name, type FROM pragma_table_info(?)', ['v']), [
    ['a', 'BLOB'], ['b', 'INT'], ['c', 'TEXT'], ['e', 'FLOAT'], ['a + 1', ''], ['CAST(a AS TEXT)', 'TEXT'], ['CAST(a AS INTEGER)', 'INT'], ['(SELECT b FROM t)', 'INT'],
  ]);
  s.execute('CREATE VIEW w AS SELECT * FROM (SELECT a, b FROM t)');
  assert.equal(rows(s, 'SELECT name, type FROM pragma_table_info(?)', ['w']), [['a', 'BLOB'], ['b', 'INT']]);
});

test("pragma_<name> tables answer as SQLite's eponymous virtual tables: value pragmas, hidden arg and schema columns", () => {
  const { db, s } = fresh();
  s.execute('CREATE TABLE t(a INT, b); CREATE INDEX ti ON t(b); PRAGMA user_version = 7');
  assert.equal(rows(s, 'SELECT * FROM pragma_user_version'), [[7]]);
  assert.equal(s.execute('SELECT * FROM pragma_foreign_keys').columns, ['foreign_keys']);
  assert.equal(rows(s, 'SELECT * FROM pragma_defer_foreign_keys, pragma_foreign_keys()'), [[0, 0]]);
  assert.equal(rows(s, 'SELECT schema_version > 0 FROM pragma_schema_version'), [[1]]);
  // A statement compiled by one session reads the state of the session that runs it.
  const other = db.session();
  other.execute('PRAGMA foreign_keys = ON');
  assert.equal(rows(other, 'SELECT * FROM pragma_foreign_keys'), [[1]]);
  assert.equal(rows(s, 'SELECT * FROM pragma_foreign_keys'), [[0]]);
  // The hidden columns are left out of *, hold the arguments, and an equality on one is an argument.
  const info = s.execute("SELECT *, arg, schema FROM pragma_table_info('t')");
  assert.equal(info.columns, ['cid', 'name', 'type', 'notnull', 'dflt_value', 'pk', 'arg', 'schema']);
  assert.equal(info.rows, [[0, 'a', 'INT', 0, null, 0, 't', null], [1, 'b', '', 0, null, 0, 't', null]]);
  assert.equal(rows(s, "SELECT name, arg FROM pragma_table_info WHERE arg = 'T'"), [['a', 'T'], ['b', 'T']]);
  assert.equal(rows(s, "SELECT pragma_table_info.arg, name, schema FROM pragma_table_info WHERE 't' = arg AND schema = 'main'"), [['t', 'a', 'main'], ['t', 'b', 'main']]);
  assert.equal(rows(s, 'SELECT * FROM pragma_table_info'), []);
  assert.equal(rows(s, 'SELECT m.name, p.name FROM sqlite_master m JOIN pragma_index_list p ON p.arg = m.name'), [['t', 'ti']]);
  assert.equal(rows(s, "SELECT name, arg FROM pragma_table_list WHERE arg = 't'"), [['t', 't']]);
  assert.equal(rows(s, "SELECT name FROM pragma_table_xinfo('t') WHERE arg = 'x'"), []);
  fails(s, 'SELECT arg FROM pragma_foreign_keys', 'no such column: arg');
  fails(s, 'SELECT * FROM pragma_database_list WHERE arg = 1', 'no such column: arg');
});

test("Kysely's introspection query (CTE joined with pragma_table_info) works", () => {
  const { s } = fresh();
  s.execute('CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, age INT DEFAULT 0)');
  s.execute('CREATE VIEW adults AS SELECT id, name FROM person WHERE age >= 18');
  const sql = `with "table_list" as (select "name", "sql", "type" from "sqlite_master" where "type" in (?, ?) and "name" not like ? and "name" != ? and "name" != ? order by "name") select "tl"."name" as "table", "p"."cid", "p"."name", "p"."type", "p"."notnull", "p"."dflt_value", "p"."pk" from "table_list" as "tl", pragma_table_info(tl.name) as "p" order by "tl"."name", "p"."cid"`;
  const r = s.execute(sql, ['table', 'view', 'sqlite_%', 'kysely_migration', 'kysely_migration_lock']);
  assert.equal(r.columns, ['table', 'cid', 'name', 'type', 'notnull', 'dflt_value', 'pk']);
  assert.equal(r.rows, [
    ['adults', 0, 'id', 'INTEGER', 0, null, 0], ['adults', 1, 'name', 'TEXT', 0, null, 0],
    ['person', 0, 'id', 'INTEGER', 0, null, 1], ['person', 1, 'name', 'TEXT', 1, null, 0], ['person', 2, 'age', 'INT', 0, '0', 0],
  ]);
});

test('AUTOINCREMENT creates sqlite_sequence and never reuses rowids', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, v)');
  s.execute('INSERT INTO t(v) VALUES (1), (2), (3)');
  s.execute('DELETE FROM t WHERE id = 3');
  s.execute('INSERT INTO t(v) VALUES (4)');
  assert.equal(rows(s, 'SELECT id FROM t'), [[1], [2], [4]]);
  assert.equal(rows(s, 'SELECT * FROM sqlite_sequence'), [['t', 4]]);
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE name = 'sqlite_sequence'"), [['CREATE TABLE sqlite_sequence(name,seq)']]);
  fails(s, 'CREATE TABLE u(id TEXT PRIMARY KEY AUTOINCREMENT)', 'AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY');
});

test('CREATE errors: duplicates, reserved names, unknown table or column', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a)');
  fails(s, 'CREATE TABLE t(b)', 'table t already exists');
  s.execute('CREATE TABLE IF NOT EXISTS t(b)');
  fails(s, 'CREATE TABLE u(a, A)', 'duplicate column name: A');
  fails(s, 'CREATE TABLE sqlite_x(a)', 'object name reserved for internal use: sqlite_x');
  fails(s, 'CREATE TABLE u(a PRIMARY KEY, b PRIMARY KEY)', /more than one primary key/);
  fails(s, 'CREATE INDEX i ON nosuch(a)', 'no such table: main.nosuch');
  fails(s, 'CREATE INDEX i ON t(zz)', 'no such column: zz');
  s.execute('CREATE INDEX i ON t(a)');
  fails(s, 'CREATE INDEX i ON t(a)', 'index i already exists');
  s.execute('CREATE INDEX IF NOT EXISTS i ON t(a)');
  fails(s, 'CREATE TABLE w(a) WITHOUT ROWID', /WITHOUT ROWID tables are not supported/);
});

test('CREATE UNIQUE INDEX on duplicate data fails and leaves no index', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a); INSERT INTO t VALUES (1), (1)');
  fails(s, 'CREATE UNIQUE INDEX u ON t(a)', 'UNIQUE constraint failed: t.a');
  assert.equal(rows(s, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"), [[0]]);
});

test('expression and partial indexes are maintained and used', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a TEXT, b INT); CREATE UNIQUE INDEX lo ON t(lower(a)); CREATE UNIQUE INDEX pb ON t(b) WHERE b > 10');
  s.execute("INSERT INTO t VALUES ('Ab', 1), ('cd', 1), ('x', 11)");
  fails(s, "INSERT INTO t VALUES ('AB', 2)", "UNIQUE constraint failed: index 'lo'");
  fails(s, "INSERT INTO t VALUES ('y', 11)", 'UNIQUE constraint failed: t.b');
  s.execute("UPDATE t SET a = 'zz' WHERE a = 'Ab'");
  s.execute("INSERT INTO t VALUES ('ab', 2)");
  assert.equal(rows(s, 'SELECT a FROM t ORDER BY a'), [['ab'], ['cd'], ['x'], ['zz']]);
});

test('DROP TABLE, INDEX and VIEW, with their error messages', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a UNIQUE); CREATE INDEX i ON t(a); CREATE VIEW v AS SELECT a FROM t; INSERT INTO t VALUES (1)');
  fails(s, 'DROP INDEX sqlite_autoindex_t_1', 'index associated with UNIQUE or PRIMARY KEY constraint cannot be dropped');
  fails(s, 'DROP TABLE v', 'use DROP VIEW to delete view v');
  fails(s, 'DROP VIEW t', 'use DROP TABLE to delete table t');
  fails(s, 'DROP TABLE nosuch', 'no such table: nosuch');
  fails(s, 'DROP INDEX nosuch', 'no such index: nosuch');
  fails(s, 'DROP VIEW nosuch', 'no such view: nosuch');
  s.execute('DROP TABLE IF EXISTS nosuch; DROP INDEX IF EXISTS nosuch; DROP VIEW IF EXISTS nosuch');
  s.execute('DROP INDEX i; DROP VIEW v; DROP TABLE t');
  assert.equal(rows(s, 'SELECT * FROM sqlite_master'), []);
  // The data went with the table: a new table with the same name starts empty.
  s.execute('CREATE TABLE t(a)');
  assert.equal(rows(s, 'SELECT * FROM t'), []);
});

test('ALTER TABLE RENAME TO, RENAME COLUMN, ADD COLUMN, DROP COLUMN', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INT); CREATE INDEX tb ON t(b); INSERT INTO t VALUES (1, \'x\', 5)');
  s.execute('ALTER TABLE t RENAME TO u');
  fails(s, 'SELECT * FROM t', 'no such table: t');
  assert.equal(rows(s, "SELECT tbl_name FROM sqlite_master WHERE name = 'tb'"), [['u']]);
  s.execute('ALTER TABLE u RENAME COLUMN b TO bee');
  assert.equal(rows(s, 'SELECT bee FROM u'), [['x']]);
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE name = 'tb'"), [['CREATE INDEX tb ON "u"(bee)']]);
  s.execute("ALTER TABLE u ADD COLUMN d TEXT NOT NULL DEFAULT 'dd'");
  assert.equal(rows(s, 'SELECT * FROM u'), [[1, 'x', 5, 'dd']]);
  fails(s, 'ALTER TABLE u ADD COLUMN e NOT NULL', 'Cannot add a NOT NULL column with default value NULL');
  fails(s, 'ALTER TABLE u ADD COLUMN e UNIQUE', 'Cannot add a UNIQUE column');
  fails(s, 'ALTER TABLE u ADD COLUMN e DEFAULT (random())', 'Cannot add a column with non-constant default');
  fails(s, 'ALTER TABLE u ADD COLUMN d', 'duplicate column name: d');
  s.execute('ALTER TABLE u DROP COLUMN c');
  assert.equal(rows(s, 'SELECT * FROM u'), [[1, 'x', 'dd']]);
  assert.equal(rows(s, 'PRAGMA table_info(u)').map((r) => r[1]), ['a', 'bee', 'd']);
  fails(s, 'ALTER TABLE u DROP COLUMN a', 'cannot drop PRIMARY KEY column: "a"');
  fails(s, 'ALTER TABLE u DROP COLUMN bee', /error in index tb/);
  fails(s, 'ALTER TABLE u DROP COLUMN zz', 'no such column: "zz"');
  fails(s, 'ALTER TABLE nosuch RENAME TO x', 'no such table: nosuch');
  // Foreign keys, the table's own and other tables', follow it to its new name (text as SQLite's).
  s.execute('PRAGMA foreign_keys = ON');
  s.execute('CREATE TABLE p(id INTEGER PRIMARY KEY, par REFERENCES p(id)); INSERT INTO p VALUES (1, NULL)');
  s.execute('CREATE TABLE c(x REFERENCES p(id), y REFERENCES P, z REFERENCES pp(p), FOREIGN KEY (x) REFERENCES "p" (id))');
  s.execute('ALTER TABLE p RENAME TO q');
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE name IN ('q', 'c') ORDER BY name"), [
    ['CREATE TABLE c(x REFERENCES "q"(id), y REFERENCES "q", z REFERENCES pp(p), FOREIGN KEY (x) REFERENCES "q" (id))'],
    ['CREATE TABLE "q"(id INTEGER PRIMARY KEY, par REFERENCES "q"(id))'],
  ]);
  s.execute('INSERT INTO c VALUES (1, 1, NULL)');
  fails(s, 'INSERT INTO c VALUES (2, 1, NULL)', 'FOREIGN KEY constraint failed');
  fails(s, 'INSERT INTO q VALUES (2, 9)', 'FOREIGN KEY constraint failed');
});

test('RENAME COLUMN rewrites the stored SQL as SQLite does: only references, quoted only as written', () => {
  // Each expected text is what SQLite 3 stores for the same statements.
  const cases: [string[], string, string[]][] = [
    [['CREATE TABLE t(a INT, b TEXT)'], 'ALTER TABLE t RENAME COLUMN b TO xx', ['CREATE TABLE t(a INT, xx TEXT)']],
    [['CREATE TABLE t(a INT, "b" TEXT, c AS (b || "b"))'], 'ALTER TABLE t RENAME COLUMN b TO xx', ['CREATE TABLE t(a INT, "xx" TEXT, c AS (xx || "xx"))']],
    [['CREATE TABLE t(a INT, [b] TEXT)'], 'ALTER TABLE t RENAME COLUMN "b" TO xx', ['CREATE TABLE t(a INT, "xx" TEXT)']],
    [['CREATE TABLE t(a INT, b TEXT)'], 'ALTER TABLE t RENAME COLUMN b TO "x y"', ['CREATE TABLE t(a INT, "x y" TEXT)']],
    [["CREATE TABLE t(a DEFAULT 'b', B CHECK (b <> 'b' AND t.b > 0), CONSTRAINT b UNIQUE (b))"], 'ALTER TABLE t RENAME b TO xx',
      ['', "CREATE TABLE t(a DEFAULT 'b', xx CHECK (xx <> 'b' AND t.xx > 0), CONSTRAINT b UNIQUE (xx))"]],
    [['CREATE TABLE t(id INTEGER PRIMARY KEY, b REFERENCES o(b), p REFERENCES t(id))'], 'ALTER TABLE t RENAME id TO k',
      ['CREATE TABLE t(k INTEGER PRIMARY KEY, b REFERENCES o(b), p REFERENCES t(k))']],
    [['CREATE TABLE t(a b, b a)'], 'ALTER TABLE t RENAME b TO k', ['CREATE TABLE t(a b, k a)']],
    [['CREATE TABLE t(a, b)', "CREATE INDEX i ON t(lower(b), a + b, b COLLATE nocase DESC) WHERE b IS NOT NULL AND 'b' <> t.b"], 'ALTER TABLE t RENAME b TO k',
      ["CREATE INDEX i ON t(lower(k), a + k, k COLLATE nocase DESC) WHERE k IS NOT NULL AND 'b' <> t.k", 'CREATE TABLE t(a, k)']],
  ];
  for (const [setup, alter, want] of cases) {
    const { s } = fresh();
    for (const q of setup) s.execute(q);
    s.execute(alter);
    assert.equal(rows(s, 'SELECT sql FROM sqlite_master ORDER BY name').map((r) => r[0] ?? ''), want, alter);
  }
  const { s } = fresh();
  s.execute("CREATE TABLE t(a, b CHECK (b <> 'b')); ALTER TABLE t RENAME b TO c");
  s.execute('PRAGMA foreign_keys = ON');
  s.execute('CREATE TABLE p(id INTEGER PRIMARY KEY, id2 UNIQUE); INSERT INTO p VALUES (1, 1)');
  s.execute('CREATE TABLE c(x REFERENCES p(id), id, z REFERENCES p, w REFERENCES o(id), FOREIGN KEY (id) REFERENCES "p" (id), CHECK (id > 0))');
  s.execute('ALTER TABLE p RENAME COLUMN id TO pid');
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE name = 'c'"), [['CREATE TABLE c(x REFERENCES p(pid), id, z REFERENCES p, w REFERENCES o(id), FOREIGN KEY (id) REFERENCES "p" (pid), CHECK (id > 0))']], 'foreign keys follow the parent column');
  s.execute('INSERT INTO c VALUES (1, 1, 1, NULL)');
  fails(s, 'INSERT INTO c VALUES (2, 1, 1, NULL)', 'FOREIGN KEY constraint failed');
  s.execute("INSERT INTO t VALUES (1, 'x')");
  fails(s, "INSERT INTO t VALUES (1, 'b')", "CHECK constraint failed: c <> 'b'");
});

test('views: select through them, column lists, errors', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 2), (3, 4)');
  s.execute('CREATE VIEW v(x, y) AS SELECT a, a + b FROM t');
  assert.equal(rows(s, 'SELECT y FROM v WHERE x = 3'), [[7]]);
  fails(s, 'INSERT INTO v VALUES (1, 2)', 'cannot modify v because it is a view');
  fails(s, 'CREATE VIEW v AS SELECT 1', 'view v already exists');
  fails(s, 'CREATE VIEW p AS SELECT a FROM t WHERE b = ?', 'parameters are not allowed in views');
  // Like SQLite, CREATE VIEW does not resolve the query: it fails when the view is used.
  s.execute('CREATE VIEW w AS SELECT nosuch FROM t; CREATE VIEW w2(a) AS SELECT 1, 2; CREATE VIEW m AS SELECT * FROM later');
  fails(s, 'SELECT * FROM w', 'no such column: nosuch');
  fails(s, 'SELECT * FROM w2', "expected 1 columns for 'w2' but got 2");
  assert.equal(rows(s, 'PRAGMA table_info(w2)'), [[0, 'a', '', 0, null, 0]]);
  // A view's tables are those of the main database, so SQLite names them main.<table>.
  fails(s, 'SELECT * FROM m', 'no such table: main.later');
  fails(s, 'PRAGMA table_info(m)', 'no such table: main.later');
  assert.equal(rows(s, "PRAGMA table_list(m)"), [['main', 'm', 'view', 0, 0, 0]]);
  fails(s, 'ALTER TABLE t RENAME TO t2', 'error in view w: no such column: nosuch');
  s.execute('CREATE TABLE later (z); INSERT INTO later VALUES (5)');
  assert.equal(rows(s, 'SELECT * FROM m'), [[5]]);
  s.execute('CREATE VIEW c AS WITH later AS (SELECT 6) SELECT * FROM later; DROP TABLE later');
  assert.equal(rows(s, 'SELECT * FROM c'), [[6]]);
  fails(s, 'SELECT * FROM m', 'no such table: main.later');
});

test('schema changes are seen by other sessions after commit, not before', () => {
  const { db, s } = fresh();
  const other = db.session();
  s.execute('BEGIN');
  s.execute('CREATE TABLE t(a)');
  fails(other, 'SELECT * FROM t', 'no such table: t');
  s.execute('COMMIT');
  assert.equal(rows(other, 'SELECT * FROM t'), []);
  s.execute('BEGIN; DROP TABLE t; ROLLBACK');
  assert.equal(rows(s, 'SELECT count(*) FROM t'), [[0]]);
  assert.is(one(s, 'PRAGMA schema_version'), 1n);
});

test('CREATE TABLE AS SELECT copies rows and derives column types', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t(a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y')");
  s.execute('CREATE TABLE u AS SELECT a, b, a * 2 AS c FROM t');
  assert.equal(rows(s, 'SELECT * FROM u'), [[1, 'x', 2], [2, 'y', 4]]);
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE name = 'u'"), [['CREATE TABLE u(a INT,b TEXT,c)']]);
});

test('ADD COLUMN puts the definition before the table constraints, so the schema still parses', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t (c0, c1 , PRIMARY KEY (c0)); INSERT INTO t VALUES (1, 2)');
  s.execute('ALTER TABLE t ADD c12 INTEGER DEFAULT 3');
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE name = 't'"), [['CREATE TABLE t (c0, c1 , c12 INTEGER DEFAULT 3, PRIMARY KEY (c0))']]);
  assert.equal(rows(s, 'SELECT * FROM t'), [[1, 2, 3]]);
});

test('DROP COLUMN on a table with a partial index checks the index WHERE without failing', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t (a, b, c); CREATE INDEX i ON t (a) WHERE a > 2; INSERT INTO t VALUES (3, 4, 5)');
  s.execute('ALTER TABLE t DROP COLUMN c');
  assert.equal(rows(s, 'SELECT * FROM t WHERE a > 2'), [[3, 4]]);
  fails(s, 'ALTER TABLE t DROP COLUMN a', 'error in index i after drop column: no such column: a');
});

test('DROP COLUMN refuses with SQLite\'s messages when a view, index or table constraint still uses the column', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t (a, b, c, d UNIQUE, e, f, g, UNIQUE (c, e), FOREIGN KEY (f) REFERENCES t(a), CHECK (g > 0))');
  s.execute('CREATE VIEW v AS SELECT b AS x FROM t; CREATE INDEX ie ON t (a + 1)');
  fails(s, 'ALTER TABLE t DROP COLUMN b', 'error in view v after drop column: no such column: b');
  fails(s, 'ALTER TABLE t DROP COLUMN a', 'error in index ie after drop column: no such column: a');
  fails(s, 'ALTER TABLE t DROP COLUMN c', 'error in table t after drop column: no such column: c');
  fails(s, 'ALTER TABLE t DROP COLUMN d', 'cannot drop UNIQUE column: "d"');
  fails(s, 'ALTER TABLE t DROP COLUMN f', 'error in table t after drop column: unknown column "f" in foreign key definition');
  fails(s, 'ALTER TABLE t DROP COLUMN g', 'error in table t after drop column: no such column: g');
  s.execute('CREATE TABLE w (a); CREATE VIEW wv AS SELECT a FROM w; DROP TABLE w');
  fails(s, 'ALTER TABLE t DROP COLUMN e', 'error in view wv: no such table: main.w');
  s.execute('DROP VIEW wv; DROP VIEW v; ALTER TABLE t DROP COLUMN b');
  assert.equal(rows(s, 'PRAGMA table_info(t)').map((r) => r[1]), ['a', 'c', 'd', 'e', 'f', 'g']);
});

test('ADD COLUMN refuses NOT NULL, non-constant and REFERENCES defaults and failing CHECKs only when rows exist, as SQLite does', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE e (a); CREATE TABLE r (a); INSERT INTO r VALUES (1)');
  for (const def of ['b NOT NULL', 'c DEFAULT (1 + 2)', 'd DEFAULT CURRENT_TIMESTAMP', 'f REFERENCES e(a) DEFAULT 1', 'g DEFAULT 0 CHECK (g > 0)']) {
    s.execute(`ALTER TABLE e ADD ${def}`);
  }
  fails(s, 'ALTER TABLE r ADD b NOT NULL', 'Cannot add a NOT NULL column with default value NULL');
  fails(s, 'ALTER TABLE r ADD c DEFAULT (1 + 2)', 'Cannot add a column with non-constant default');
  fails(s, 'ALTER TABLE r ADD d DEFAULT CURRENT_TIMESTAMP', 'Cannot add a column with non-constant default');
  // Only while foreign keys are enforced (SQLite's own default is off).
  s.execute('PRAGMA foreign_keys = ON');
  fails(s, 'ALTER TABLE r ADD f REFERENCES e(a) DEFAULT 1', 'Cannot add a REFERENCES column with non-NULL default value');
  s.execute('PRAGMA foreign_keys = OFF');
  // SQLite's code here is SQLITE_ERROR, not SQLITE_CONSTRAINT_CHECK.
  assert.is(fails(s, 'ALTER TABLE r ADD g DEFAULT 0 CHECK (g > 0)', 'CHECK constraint failed').code, 'SQLITE_ERROR');
  assert.is(fails(s, 'ALTER TABLE r ADD g CHECK (a > 5)', 'CHECK constraint failed').code, 'SQLITE_ERROR');
  s.execute("ALTER TABLE r ADD h DEFAULT 5 CHECK (h > 0); ALTER TABLE r ADD i DEFAULT (-(-2)); ALTER TABLE r ADD j DEFAULT -'3'");
  s.execute('ALTER TABLE r ADD f REFERENCES e(a) DEFAULT 1');
  assert.equal(rows(s, 'SELECT * FROM r'), [[1, 5, 2, -3, 1]]);
});

test('RENAME TO and RENAME COLUMN rewrite the views that use the table, as SQLite does', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE p (a, b); CREATE TABLE o (b, c); INSERT INTO p VALUES (1, 2); INSERT INTO o VALUES (2, 3)');
  s.execute("CREATE VIEW v AS SELECT b AS x, p.a, 'p' FROM p WHERE p.b > 0");
  s.execute('CREATE VIEW w AS SELECT x.b, o.b AS ob FROM p AS x JOIN o ON o.b = x.b');
  s.execute('ALTER TABLE p RENAME TO q');
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE name = 'v'"), [[`CREATE VIEW v AS SELECT b AS x, "q".a, 'p' FROM "q" WHERE "q".b > 0`]]);
  s.execute('ALTER TABLE q RENAME COLUMN b TO bee');
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE type = 'view'"), [
    [`CREATE VIEW v AS SELECT bee AS x, "q".a, 'p' FROM "q" WHERE "q".bee > 0`],
    [`CREATE VIEW w AS SELECT x.bee, o.b AS ob FROM "q" AS x JOIN o ON o.b = x.bee`],
  ]);
  assert.equal(rows(s, 'SELECT * FROM v'), [[2, 1, 'p']]);
  assert.equal(rows(s, 'SELECT * FROM w'), [[2, 2]]);
  s.execute('CREATE VIEW u AS SELECT s.a FROM (SELECT a FROM q) s');
  fails(s, 'ALTER TABLE q RENAME COLUMN a TO z', 'error in view u after rename: no such column: s.a');
  assert.equal(rows(s, 'SELECT * FROM u'), [[1]]);
});

test("RENAME COLUMN leaves a view's own column list and renames both operands of IS [NOT] DISTINCT FROM, as SQLite does", () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 2)');
  s.execute('CREATE VIEW v (a) AS SELECT b FROM t; CREATE VIEW w (a, x) AS SELECT a, b FROM t');
  s.execute('CREATE VIEW d AS SELECT b FROM t WHERE 1 IS NOT DISTINCT FROM a AND a IS DISTINCT FROM 2');
  s.execute('ALTER TABLE t RENAME COLUMN a TO z');
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE type = 'view'"), [
    ['CREATE VIEW v (a) AS SELECT b FROM t'], ['CREATE VIEW w (a, x) AS SELECT z, b FROM t'],
    ['CREATE VIEW d AS SELECT b FROM t WHERE 1 IS NOT DISTINCT FROM z AND z IS DISTINCT FROM 2'],
  ]);
  assert.equal(rows(s, 'SELECT * FROM v'), [[2]]);
  assert.equal(rows(s, 'SELECT a, x FROM w'), [[1, 2]]);
  assert.equal(rows(s, 'SELECT * FROM d'), [[2]]);
});

test('RENAME COLUMN in views renames only what resolves to the column: subqueries, CTEs, compound parts and aliases as SQLite', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t (a, b); CREATE TABLE u (a, c); INSERT INTO t VALUES (1, 2); INSERT INTO u VALUES (1, 3)');
  const views = [
    'CREATE VIEW v1 AS WITH x(a) AS (SELECT a FROM t) SELECT a FROM x',
    'CREATE VIEW v2 AS SELECT b AS a FROM t ORDER BY a',
    'CREATE VIEW v3 AS SELECT b a FROM t ORDER BY a',
    'CREATE VIEW v4 AS SELECT x.a FROM t AS x WHERE x.a IN (SELECT a FROM u)',
    'CREATE VIEW v5 AS SELECT a FROM t UNION SELECT a FROM u',
    'CREATE VIEW v6 AS SELECT c FROM u WHERE EXISTS (SELECT 1 FROM t WHERE t.a = u.a AND b = c - 1)',
    'CREATE VIEW v7 AS SELECT t.a, u.c FROM t JOIN u USING (a)',
  ];
  s.execute(views.join('; '));
  fails(s, 'ALTER TABLE t RENAME COLUMN a TO z', 'error in view v7 after rename: cannot join using column a - column not present in both tables');
  s.execute('DROP VIEW v7; ALTER TABLE t RENAME COLUMN a TO z');
  assert.equal(rows(s, "SELECT sql FROM sqlite_master WHERE type = 'view'"), [
    ['CREATE VIEW v1 AS WITH x(a) AS (SELECT z FROM t) SELECT a FROM x'],
    ['CREATE VIEW v2 AS SELECT b AS a FROM t ORDER BY a'],
    ['CREATE VIEW v3 AS SELECT b a FROM t ORDER BY a'],
    ['CREATE VIEW v4 AS SELECT x.z FROM t AS x WHERE x.z IN (SELECT a FROM u)'],
    ['CREATE VIEW v5 AS SELECT z FROM t UNION SELECT a FROM u'],
    ['CREATE VIEW v6 AS SELECT c FROM u WHERE EXISTS (SELECT 1 FROM t WHERE t.z = u.a AND b = c - 1)'],
  ]);
  assert.equal(rows(s, 'SELECT * FROM v6'), [[3]]);
  // A subquery's column keeps its name for the outer query, which then no longer finds it.
  s.execute('CREATE VIEW w AS SELECT b FROM (SELECT b FROM t) AS s');
  fails(s, 'ALTER TABLE t RENAME COLUMN b TO y', 'error in view w after rename: no such column: b');
});

test.run();
