import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Sqlite from 'better-sqlite3';
import { parseAll } from '../../src/sql/parser.ts';
import { tokenize } from '../../src/sql/lexer.ts';
import { SqlError } from '../../src/sql/errors.ts';

function parseError(sql: string): SqlError {
  try {
    parseAll(sql);
  } catch (e) {
    assert.instance(e, SqlError);
    return e as SqlError;
  }
  throw new Error(`expected a syntax error for: ${sql}`);
}

test('syntax errors name the token found, its line and column', () => {
  const e = parseError('SELECT a\nFROM FROM t');
  assert.is(e.message, 'near "FROM": syntax error (line 2, column 6)');
  assert.is(e.line, 2);
  assert.is(e.column, 6);
  assert.is(e.code, 'SQLITE_ERROR');
});

test('truncated statements report incomplete input', () => {
  assert.match(parseError('SELECT 1 FROM').message, /^incomplete input/);
  assert.match(parseError('SELECT (1').message, /^incomplete input/);
});

test('unrecognized tokens are reported as SQLite does', () => {
  assert.match(parseError('SELECT #').message, /^unrecognized token: "#"/);
  assert.match(parseError("SELECT 'abc").message, /^unrecognized token: "'abc"/);
  assert.match(parseError('SELECT 12abc').message, /^unrecognized token: "12abc"/);
  assert.match(parseError("SELECT x'0g'").message, /^unrecognized token/);
});

test('all parameter forms get slots; named ones share a slot', () => {
  const [p] = parseAll('SELECT ?, ?5, :a, @b, $c, :a');
  assert.is(p!.paramCount, 8);
  assert.is(p!.paramNames[6], ':a');
  assert.is(p!.paramNames[7], '@b');
  assert.is(p!.paramNames[8], '$c');
  assert.match(parseError('SELECT ?0').message, /variable number must be between/);
});

test('operator precedence follows SQLite', () => {
  const [p] = parseAll('SELECT 1 + 2 * 3 = 7 AND NOT 0 OR 0');
  const s = p!.stmt as { cores: { cols: { expr: { op: string; l: { op: string } } }[] }[] };
  const e = s.cores[0]!.cols[0]!.expr;
  assert.is(e.op, 'OR');
  assert.is(e.l.op, 'AND');
});

test('integer literals stay exact at 64 bits and overflow to real', () => {
  const [p] = parseAll('SELECT 9223372036854775807, -9223372036854775808, 9223372036854775808, 0x7fffffffffffffff');
  const cols = (p!.stmt as { cores: { cols: { expr: { v: unknown } }[] }[] }).cores[0]!.cols.map((c) => c.expr.v);
  assert.equal(cols, [9223372036854775807n, -9223372036854775808n, 9223372036854775808, 9223372036854775807n]);
});

test('every statement kind of the subset parses', () => {
  const ok = [
    'CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY AUTOINCREMENT, b TEXT NOT NULL DEFAULT \'x\' UNIQUE, c REAL CHECK (c > 0), d REFERENCES p(id) ON DELETE CASCADE, UNIQUE(b, c), CHECK(a <> b))',
    'CREATE UNIQUE INDEX IF NOT EXISTS i ON t(lower(b) COLLATE NOCASE DESC, c) WHERE c > 1',
    'CREATE VIEW v(x, y) AS SELECT a, b FROM t',
    'DROP TABLE IF EXISTS t', 'DROP INDEX i', 'DROP VIEW IF EXISTS v',
    'ALTER TABLE t RENAME TO u', 'ALTER TABLE t RENAME COLUMN a TO b', 'ALTER TABLE t ADD COLUMN z INT DEFAULT 0', 'ALTER TABLE t DROP COLUMN z',
    'INSERT OR REPLACE INTO t(a, b) VALUES (1, 2), (3, 4) RETURNING *',
    'INSERT INTO t DEFAULT VALUES', 'REPLACE INTO t SELECT * FROM u',
    'INSERT INTO t(a) VALUES (1) ON CONFLICT(a) DO UPDATE SET b = excluded.b WHERE b < 3 ON CONFLICT DO NOTHING',
    'UPDATE OR IGNORE t SET a = 1, b = b + 1 FROM u WHERE t.a = u.a RETURNING a',
    'DELETE FROM t WHERE a IN (1, 2, 3) RETURNING *',
    'WITH x AS (SELECT 1) SELECT DISTINCT a AS q, t.* FROM t LEFT JOIN u USING (a) WHERE b BETWEEN 1 AND 2 GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 DESC NULLS LAST LIMIT 10 OFFSET 5',
    'SELECT CASE WHEN a THEN 1 ELSE 2 END, CAST(a AS TEXT), a IS NOT DISTINCT FROM b, a LIKE \'%x\' ESCAPE \'\\\', a NOT GLOB \'*\', EXISTS (SELECT 1)',
    'SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3 INTERSECT VALUES (4)',
    'BEGIN IMMEDIATE TRANSACTION', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT s1', 'RELEASE SAVEPOINT s1', 'ROLLBACK TO s1',
    'PRAGMA foreign_keys = ON', 'PRAGMA table_info(t)', 'EXPLAIN QUERY PLAN SELECT * FROM t',
  ];
  for (const sql of ok) parseAll(sql);
});

test('a column UNIQUE records its ON CONFLICT clause, and none when it has none', () => {
  const [p] = parseAll('CREATE TABLE t (x UNIQUE UNIQUE ON CONFLICT ABORT UNIQUE ON CONFLICT IGNORE)');
  const ct = p!.stmt as Extract<typeof p.stmt, { type: 'createTable' }>;
  assert.equal(ct.cols[0]!.unique, [undefined, 'ABORT', 'IGNORE']);
});

test('column definitions refuse what SQLite refuses while parsing them, naming the table or column', () => {
  assert.is(parseError('CREATE TABLE a(x PRIMARY KEY PRIMARY KEY)').message, 'table "a" has more than one primary key');
  assert.is(parseError('CREATE TABLE a(x, y AS (x) DEFAULT 1)').message, 'cannot use DEFAULT on a generated column');
  assert.is(parseError('CREATE TABLE a(x, y DEFAULT 1 AS (x))').message, 'error in generated column "y"');
  assert.is(parseError('CREATE TABLE a(x, y AS (x) PRIMARY KEY)').message, 'generated columns cannot be part of the PRIMARY KEY');
  assert.is(parseError('CREATE TABLE a(x REFERENCES p(b, c))').message, 'foreign key on x should reference only one column of table p');
});

test('view, CTE and foreign key column lists refuse COLLATE and ASC/DESC with SQLite\'s message, naming the column as written', () => {
  const lite = new Sqlite(':memory:');
  const liteError = (sql: string): string => {
    try { lite.prepare(sql); } catch (e) { return (e as Error).message; }
    return 'ok';
  };
  const cases: [string, string][] = [
    ['CREATE TABLE c(x REFERENCES p(a COLLATE NOCASE))', 'syntax error after column name "a"'],
    ['CREATE TABLE c(x REFERENCES p(a, "b" DESC, c))', 'syntax error after column name ""b""'],
    ['CREATE TABLE c(x, FOREIGN KEY(x ASC) REFERENCES p)', 'syntax error after column name "x"'],
    ['CREATE TABLE c(x, FOREIGN KEY(x) REFERENCES p([a] COLLATE binary ASC))', 'syntax error after column name "[a]"'],
    ['CREATE VIEW v(a DESC) AS SELECT 1', 'syntax error after column name "a"'],
    ['WITH w(a COLLATE NOCASE) AS (SELECT 1) SELECT * FROM w', 'syntax error after column name "a"'],
    // Where the entry does not end at "," or ")", the token after it is the error.
    ['CREATE TABLE c(x REFERENCES p(a ASC COLLATE NOCASE))', 'near "COLLATE": syntax error (line 1, column 37)'],
    ['CREATE TABLE c(x REFERENCES p(a COLLATE NOCASE x))', 'near "x": syntax error (line 1, column 48)'],
  ];
  for (const [sql, want] of cases) {
    assert.is(parseError(sql).message, want, sql);
    assert.is(liteError(sql), want.replace(/ \(line .*\)$/, ''), sql);
  }
  lite.close();
});

test('statements split on semicolons; comments are skipped', () => {
  const ps = parseAll('SELECT 1; -- one\n/* two */ SELECT 2;;');
  assert.is(ps.length, 2);
});

test('the lexer decodes quoted identifiers and doubled quotes', () => {
  const t = tokenize('"a""b" [c d] `e` \'it\'\'s\'');
  assert.equal(t.slice(0, 4).map((x) => [x.kind, x.text]), [['id', 'a"b'], ['id', 'c d'], ['id', 'e'], ['str', "it's"]]);
});

test.run();
