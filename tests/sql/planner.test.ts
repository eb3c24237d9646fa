import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Sqlite from 'better-sqlite3';
import { fresh, rows } from './helpers.ts';

const SCHEMA = 'CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b TEXT, c); CREATE INDEX ta ON t(a); CREATE INDEX tbc ON t(b, c); CREATE UNIQUE INDEX tc ON t(c)';

function plan(s: ReturnType<typeof fresh>['s'], sql: string): string[] {
  return s.execute(`EXPLAIN QUERY PLAN ${sql}`).rows.map((r) => String(r[3]));
}

test('EXPLAIN QUERY PLAN has SQLite shape and matches SQLite for the basic access paths', () => {
  const { s } = fresh();
  s.execute(SCHEMA);
  const lite = new Sqlite(':memory:');
  lite.exec(SCHEMA);
  const cases = [
    'SELECT * FROM t WHERE id = 5',
    'SELECT * FROM t WHERE id > 5 AND id < 9',
    'SELECT * FROM t WHERE a = 3',
    'SELECT * FROM t',
    'SELECT * FROM t WHERE c = 1',
    'SELECT id, c FROM t WHERE c = 1',
    'SELECT * FROM t ORDER BY c',
    'SELECT * FROM t WHERE a IN (1, 2)',
    'SELECT id FROM t WHERE a IN (1, 2) ORDER BY a DESC',
    "SELECT * FROM t WHERE b IN ('x', 'y') AND c > 3",
    "SELECT * FROM t WHERE b = 'x' AND c IN (3, 4)",
    'SELECT * FROM t WHERE c IN (1, 2) AND a = 1',
    "SELECT * FROM t WHERE b IN ('x', 'y') ORDER BY c",
    'UPDATE t SET b = 1 WHERE a IN (1, 2)',
  ];
  for (const sql of cases) {
    const want = (lite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail);
    assert.equal(plan(s, sql), want, sql);
  }
  assert.equal(s.execute('EXPLAIN QUERY PLAN SELECT 1').columns, ['id', 'parent', 'notused', 'detail']);
  lite.close();
});

test('index searches: equality, ranges, prefixes, covering, index-ordered scans', () => {
  const { s } = fresh();
  s.execute(SCHEMA);
  assert.equal(plan(s, 'SELECT id FROM t WHERE a = 1'), ['SEARCH t USING COVERING INDEX ta (a=?)']);
  assert.equal(plan(s, 'SELECT * FROM t WHERE a > 1 AND a < 5'), ['SEARCH t USING INDEX ta (a>? AND a<?)']);
  assert.equal(plan(s, "SELECT * FROM t WHERE b = 'x' AND c > 2"), ['SEARCH t USING INDEX tbc (b=? AND c>?)']);
  assert.equal(plan(s, 'SELECT * FROM t ORDER BY id DESC'), ['SCAN t']);
  assert.equal(plan(s, 'SELECT a FROM t ORDER BY a'), ['SCAN t USING COVERING INDEX ta']);
  assert.equal(plan(s, 'SELECT * FROM t ORDER BY b'), ['SCAN t USING INDEX tbc']);
  assert.equal(plan(s, 'SELECT * FROM t ORDER BY a'), ['SCAN t USING INDEX ta']);
  assert.equal(plan(s, 'SELECT * FROM t WHERE a = 1 ORDER BY b'), ['SEARCH t USING INDEX ta (a=?)', 'USE TEMP B-TREE FOR ORDER BY']);
  assert.equal(plan(s, 'SELECT DISTINCT b FROM t'), ['SCAN t', 'USE TEMP B-TREE FOR DISTINCT']);
  assert.equal(plan(s, 'SELECT b, count(*) FROM t GROUP BY b'), ['SCAN t', 'USE TEMP B-TREE FOR GROUP BY']);
  // A text-affinity probe cannot search an INTEGER index without changing the comparison.
  assert.equal(plan(s, 'SELECT * FROM t WHERE b = 1'), ['SEARCH t USING INDEX tbc (b=?)']);
  assert.equal(plan(s, 'SELECT * FROM t WHERE +a = 1'), ['SCAN t']);
  assert.equal(plan(s, 'SELECT * FROM t NOT INDEXED WHERE a = 1'), ['SCAN t']);
  assert.equal(plan(s, 'SELECT * FROM t INDEXED BY tbc WHERE a = 1'), ['SCAN t USING INDEX tbc']);
  assert.equal(plan(s, 'SELECT id FROM t WHERE a IN (1, 2) ORDER BY a'), ['SEARCH t USING COVERING INDEX ta (a=?)']);
  assert.equal(plan(s, 'SELECT * FROM t WHERE a IN (1, 2) ORDER BY id'), ['SEARCH t USING INDEX ta (a=?)', 'USE TEMP B-TREE FOR ORDER BY']);
  assert.equal(plan(s, "SELECT * FROM t WHERE b IN ('x', 'y') AND c IN (1, 2) ORDER BY b, c"), ['SEARCH t USING INDEX tbc (b=? AND c=?)']);
  assert.equal(plan(s, 'SELECT * FROM t WHERE a NOT IN (1, 2)'), ['SCAN t']);
  assert.equal(plan(s, 'SELECT * FROM t WHERE a IN (1, b)'), ['SCAN t']);
  assert.equal(plan(s, 'SELECT * FROM t x JOIN t y ON y.a IN (x.a, x.c)'), ['SCAN x', 'SEARCH y USING INDEX ta (a=?)']);
  const join = plan(s, 'SELECT * FROM t x JOIN t y ON y.id = x.a');
  assert.equal(join, ['SCAN x', 'SEARCH y USING INTEGER PRIMARY KEY (rowid=?)']);
});

test('every access path returns what a full scan returns (seeded)', () => {
  const { s } = fresh();
  s.execute(SCHEMA);
  let x = Number(process.env.SQL_PLAN_SEED ?? 3);
  const rnd = (n: number): number => { x = (x * 1103515245 + 12345) % 2147483648; return x % n; };
  const vals = ['NULL', '1', '2', '2.5', "'2'", "'x'", "'X'", "x'00'", '-1', '9007199254740993'];
  s.execute('BEGIN');
  for (let i = 1; i <= 300; i++) s.execute(`INSERT OR IGNORE INTO t VALUES (${i}, ${vals[rnd(vals.length)]}, ${vals[rnd(vals.length)]}, ${vals[rnd(vals.length)]})`);
  s.execute('COMMIT');
  const conds = ['a IN (2, 1, 2)', "a IN ('2', 2.0, NULL, 'x')", "b IN ('x', 'X', 2)", "b IN ('x' COLLATE NOCASE, 2)", 'c IN (2, -1)', "b IN ('x', 2) AND c IN (1, 2, 2.5)", 'a IN (1, 2) AND a > 1', "b IN ('x', '2') AND c > 1", 'a = 2', "a = '2'", 'a > 1', 'a <= 2.5', 'a BETWEEN 1 AND 2', "b = 'x'", "b = 'x' AND c > 1", 'b = 2', "b > 'X'", 'c = 2', 'c IS NULL', 'id = 7', 'id >= 290', "id > '5'", 'id < 3.5', 'id IN (1, 5, 9)', "a = 2 COLLATE NOCASE", "b = 'X' COLLATE NOCASE"];
  for (const c of conds) {
    const fast = rows(s, `SELECT id FROM t WHERE ${c} ORDER BY id`);
    const slow = rows(s, `SELECT id FROM t NOT INDEXED WHERE +(${c}) ORDER BY id`);
    assert.equal(fast, slow, `${c} (seed ${process.env.SQL_PLAN_SEED ?? 3})`);
  }
  // A join whose left operand carries NOCASE must not probe a BINARY index on the right column.
  s.execute("CREATE TABLE n(x TEXT COLLATE NOCASE); INSERT INTO n VALUES ('X'), ('x'), ('2')");
  assert.equal(rows(s, 'SELECT n.x, t.id FROM n JOIN t ON n.x = t.b ORDER BY 1, 2'), rows(s, 'SELECT n.x, t.id FROM n JOIN t NOT INDEXED ON +n.x = t.b ORDER BY 1, 2'));
  assert.ok(rows(s, "SELECT count(*) FROM n JOIN t ON n.x = t.b WHERE n.x = 'X'")[0]![0] as number > 0);
  // IN probes run in index order (rowid order within a value), and a value listed twice (here
  // also as 2.0 and '2', equal under the column's affinity) still yields each row once.
  assert.equal(rows(s, "SELECT a, id FROM t WHERE a IN (2, -1, 2.0, '2', 1)"), rows(s, 'SELECT a, id FROM t NOT INDEXED WHERE a IN (2, -1, 1) ORDER BY a, id'));
  assert.equal(rows(s, 'SELECT a, id FROM t WHERE a IN (2, 1, -1) ORDER BY a DESC, id DESC'), rows(s, 'SELECT a, id FROM t NOT INDEXED WHERE a IN (2, 1, -1) ORDER BY a DESC, id DESC'));
  assert.equal(rows(s, "SELECT b, c, id FROM t WHERE b IN ('x', 2, 'x') AND c IN (2, 1, 2)"), rows(s, "SELECT b, c, id FROM t NOT INDEXED WHERE b IN ('x', 2) AND c IN (2, 1) ORDER BY b, c, id"));
  // Ordered index scans return the same order as a sort.
  assert.equal(rows(s, 'SELECT a, id FROM t ORDER BY a, id'), rows(s, 'SELECT a, id FROM t NOT INDEXED ORDER BY a, id'));
  assert.equal(rows(s, 'SELECT c FROM t ORDER BY c DESC'), rows(s, 'SELECT c FROM t NOT INDEXED ORDER BY c DESC'));
});

test('an index on an expression serves equality, IN and range terms on that expression', () => {
  const { s } = fresh();
  s.execute(SCHEMA);
  let x = Number(process.env.SQL_PLAN_SEED ?? 3);
  // The high bits: the low bits of this generator repeat with a short period.
  const rnd = (n: number): number => { x = (x * 1103515245 + 12345) % 2147483648; return Math.floor(x / 65536) % n; };
  const vals = ['NULL', '1', '2', '2.5', "'2'", "'x'", "'X'", "'Xy'", "x'00'", '-1'];
  s.execute('BEGIN');
  for (let i = 1; i <= 300; i++) s.execute(`INSERT INTO t VALUES (${i}, ${vals[rnd(vals.length)]}, ${vals[rnd(vals.length)]}, ${i})`);
  s.execute('COMMIT');
  s.execute('CREATE INDEX tl ON t(lower(b)); CREATE INDEX tca ON t(c % 3, CAST(a AS INT)); CREATE TABLE u(b TEXT)');
  const cases: [string, string][] = [
    ["lower(b) = 'x'", 'SEARCH t USING INDEX tl (<expr>=?)'],
    ["LOWER(t.B) = 'xy'", 'SEARCH t USING INDEX tl (<expr>=?)'],
    ["'x' = lower(b)", 'SEARCH t USING INDEX tl (<expr>=?)'],
    ["lower(b) > 'w'", 'SEARCH t USING INDEX tl (<expr>>?)'],
    ["lower(b) BETWEEN '2' AND 'x'", 'SEARCH t USING INDEX tl (<expr>>? AND <expr><?)'],
    ["lower(b) IN ('x', '2', 'x', 2)", 'SEARCH t USING INDEX tl (<expr>=?)'],
    ['c % 3 = 1', 'SEARCH t USING INDEX tca (<expr>=?)'],
    ["c % 3 = 1 AND CAST(a AS INT) = '2'", 'SEARCH t USING INDEX tca (<expr>=? AND <expr>=?)'],
    ['c % 3 IN (0, 2) AND CAST(a AS INT) >= 1', 'SEARCH t USING INDEX tca (<expr>=? AND <expr>>?)'],
    ["upper(b) = 'X'", 'SCAN t'],
    ['CAST(a AS INT) = 2', 'SCAN t'],
  ];
  for (const [c, want] of cases) {
    assert.equal(plan(s, `SELECT * FROM t WHERE ${c}`), [want], c);
    const fast = rows(s, `SELECT id FROM t WHERE ${c} ORDER BY id`);
    const slow = rows(s, `SELECT id FROM t NOT INDEXED WHERE +(${c}) ORDER BY id`);
    assert.ok(fast.length > 0 || c.startsWith('upper'), `${c} finds rows (seed ${process.env.SQL_PLAN_SEED ?? 3})`);
    assert.equal(fast, slow, `${c} (seed ${process.env.SQL_PLAN_SEED ?? 3})`);
  }
  // The same expression over another table's column is not this index's expression.
  s.execute("INSERT INTO u VALUES ('X')");
  assert.equal(plan(s, "SELECT x.id FROM t x, u y WHERE lower(y.b) = 'x'"), ['SCAN x', 'SCAN y']);
  assert.equal(rows(s, "SELECT count(*) FROM t x, u y WHERE lower(y.b) = 'x'"), [[300]]);
  // Rows written after the index exists are found through it too.
  s.execute("INSERT INTO t(id, b, c) VALUES (1000, 'NEW', 1000)");
  assert.equal(rows(s, "SELECT id FROM t WHERE lower(b) = 'new'"), [[1000]]);
});

test.run();
