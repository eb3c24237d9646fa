import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Sqlite from 'better-sqlite3';
import { fails, fresh, one, rows } from './helpers.ts';

function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return `blob:${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'bigint') return `int:${v}`;
  if (typeof v === 'number') return `real:${v}`;
  return v;
}

/** Evaluates each expression on SQLite and on Trine; values and storage classes must agree. */
function agree(exprs: string[], setup = ''): void {
  const lite = new Sqlite(':memory:');
  lite.defaultSafeIntegers(true);
  const { s } = fresh();
  if (setup) { lite.exec(setup); s.execute(setup); }
  for (const e of exprs) {
    const sql = `SELECT ${e}`;
    let want: unknown;
    try { want = (lite.prepare(sql).raw(true).all() as unknown[][]).map((r) => r.map(norm)); } catch (err) { want = `error: ${(err as Error).message}`; }
    let got: unknown;
    try { got = s.execute(sql, [], { safeIntegers: true }).rows.map((r) => r.map(norm)); } catch (err) { got = `error: ${(err as Error).message.replace(/ \(line.*$/, '')}`; }
    assert.equal(got, want, sql);
  }
  lite.close();
}

test('scalar functions agree with SQLite', () => {
  agree([
    "abs(-5), abs(-5.5), abs(NULL), abs('-3')", 'abs(-9223372036854775808)',
    "coalesce(NULL, NULL, 3, 4), ifnull(NULL, 'x'), nullif(1, 1), nullif(1, 2), iif(1 > 2, 'a', 'b')",
    "length('héllo'), length(x'0102'), length(123), length(NULL)",
    "lower('ÀBC'), upper('àbc'), substr('hello', 2, 3), substr('hello', -3), substr('hello', 0, 2), substr('hello', 2, -1), substr(x'010203', 2)",
    "trim('  x  '), ltrim('xxyxx', 'x'), rtrim('abc  '), trim('abcba', 'ab')",
    "replace('aaa', 'a', 'bb'), replace('abc', '', 'x'), instr('hello', 'll'), instr('hello', 'z'), instr(x'0102', x'02')",
    'round(2.5), round(-2.5), round(1.005, 2), round(123.456, -1), round(5), round(NULL)',
    "typeof(1), typeof(1.0), typeof('x'), typeof(x'00'), typeof(NULL)",
    "hex('abc'), hex(255), hex(x'00ff'), quote('it''s'), quote(1.5), quote(NULL), quote(x'0a'), quote(10)",
    "max(1, 'a', 2.5), min(1, 'a', 2.5), max(NULL, 1), min(3, 1, 2)",
    "unicode('€'), char(72, 105, 8364), zeroblob(3), hex(zeroblob(2)), typeof(random()), length(randomblob(5))",
    "printf('%d|%5d|%-5d|%05d|%+d', 42, 42, 42, 42, 42), printf('%.2f|%10.3f|%e|%g|%g', 3.14159, 2.5, 1234.5, 0.0001, 1e20)",
    "printf('%s|%10s|%-10s|%.2s', 'abc', 'abc', 'abc', 'abc'), printf('%x|%X|%o|%c', 255, 255, 8, 'xyz'), printf('%q|%Q|%Q', 'it''s', 'a', NULL)",
    "printf('%,d', 1234567), printf('%%'), format('%s-%s', 1, 2), printf('%d', '12abc'), printf(NULL), printf('%s')",
    "like('a%', 'abc'), 'abc' LIKE 'A_C', 'abc' GLOB 'a*', 'abc' GLOB 'A*', 'a_c' LIKE 'a\\_c' ESCAPE '\\', 'abc' NOT LIKE '%z%', '[x' GLOB '[[]x'",
    "'b' BETWEEN 'a' AND 'c', 5 NOT BETWEEN 1 AND 3, NULL BETWEEN 1 AND 2, 2 IN (1, 2, NULL), 3 IN (1, 2, NULL), 3 NOT IN (1, 2), NULL IN ()",
    "1 IS NULL, NULL IS NULL, 1 IS NOT NULL, NULL IS 1, 1 IS 1, 1 IS DISTINCT FROM 2, NULL IS NOT DISTINCT FROM NULL, 5 ISNULL, 5 NOTNULL",
    "CASE 2 WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END, CASE WHEN NULL THEN 1 END, CASE 'a' WHEN 'A' THEN 1 ELSE 0 END",
    "CAST('12.5abc' AS REAL), CAST(12.9 AS INTEGER), CAST('0x1F' AS INTEGER), CAST(x'3132' AS INTEGER), CAST(5 AS TEXT), CAST(5.0 AS TEXT), CAST('5' AS NUMERIC), CAST('5.5' AS NUMERIC)",
    "1 + 2 * 3, 7 / 2, 7 / 2.0, 7 % 3, -7 % 3, 7.5 % 2, 1 / 0, 1 % 0, 2 << 3, -16 >> 2, 6 & 3, 6 | 3, ~5, 'a' || 'b' || 1",
    "9223372036854775807 + 1, -9223372036854775808 - 1, 9223372036854775807 * 2, -(-9223372036854775808), 4611686018427387904 * 2",
    "'10' + 5, '3.5' * 2, 'abc' + 1, x'31' + 1, '  7  ' = 7, 1 = 1.0, '1' = 1",
    "sign(-3), sign(0), sign(2.5), sign('x'), ceil(1.2), floor(-1.2), sqrt(16), pow(2, 10), ln(1), log10(100), pi() > 3",
    "likely(1), unlikely(0), sqlite_version() IS NOT NULL, octet_length('é'), unhex('4142'), unhex('zz')",
    // An empty blob makes substr NULL; trim's character set and sign's number both end at a NUL.
    "substr(X'', 1), substr(zeroblob(0), 1, 1), trim(X'00', X'00'), trim('xax', 'x' || X'00' || 'a'), sign('10' || X'00'), sign('-2 ' || X'0078'), sign('x' || X'00')",
  ]);
});

test('date and time functions agree with SQLite', () => {
  agree([
    "date('2024-02-29'), date('2024-02-29', '+1 year'), date('2024-01-31', '+1 month'), date('2024-03-15', 'start of month'), date('2024-03-15', 'start of year')",
    "time('12:34:56'), time('12:34:56.789', 'subsec'), datetime('2024-01-01 10:00:00', '+90 minutes'), datetime('2024-01-01T10:00:00Z'), datetime('2024-01-01 10:00:00+02:00')",
    "datetime(0, 'unixepoch'), datetime(1700000000, 'unixepoch'), julianday('2000-01-01'), julianday('2000-01-01 12:00:00'), unixepoch('2024-01-01')",
    "strftime('%Y-%m-%d %H:%M:%S', '2024-07-04 13:05:09'), strftime('%j %w %u %W %U', '2024-07-04'), strftime('%s', '2024-01-01'), strftime('%f', '2024-01-01 00:00:01.5')",
    "strftime('%G-%V %g', '2021-01-03'), strftime('%I %p %l %k %e', '2024-07-04 09:05:00'), strftime('%J', '2024-01-01')",
    "date('2024-01-01', 'weekday 0'), date('2024-01-01', '-1 day', 'weekday 5'), date('nonsense'), date(NULL), datetime('2024-01-01', '+1.5 days')",
    "date(2460000.5), datetime('2024-01-01 10:00', '+1 hour', '-30 seconds')",
  ]);
  const { s } = fresh();
  // The session clock is fixed by the test database at 2024-01-15 12:30:45 UTC.
  assert.is(one(s, "SELECT datetime('now')"), '2024-01-15 12:30:45');
  assert.is(one(s, 'SELECT CURRENT_DATE'), '2024-01-15');
  assert.is(one(s, 'SELECT CURRENT_TIME'), '12:30:45');
});

test('ORDER BY: ASC/DESC, NULLS FIRST/LAST, alias, ordinal, expression, collation', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t(a, b TEXT COLLATE NOCASE); INSERT INTO t VALUES (2, 'b'), (NULL, 'A'), (1, 'c'), (3, NULL), (1, 'B')");
  assert.equal(rows(s, 'SELECT a FROM t ORDER BY a'), [[null], [1], [1], [2], [3]]);
  assert.equal(rows(s, 'SELECT a FROM t ORDER BY a DESC'), [[3], [2], [1], [1], [null]]);
  assert.equal(rows(s, 'SELECT a FROM t ORDER BY a NULLS LAST'), [[1], [1], [2], [3], [null]]);
  assert.equal(rows(s, 'SELECT a FROM t ORDER BY a DESC NULLS FIRST'), [[null], [3], [2], [1], [1]]);
  assert.equal(rows(s, 'SELECT a AS x, b FROM t ORDER BY x, 2'), [[null, 'A'], [1, 'B'], [1, 'c'], [2, 'b'], [3, null]]);
  assert.equal(rows(s, 'SELECT b FROM t ORDER BY b'), [[null], ['A'], ['b'], ['B'], ['c']]);
  assert.equal(rows(s, 'SELECT b FROM t ORDER BY b COLLATE BINARY'), [[null], ['A'], ['B'], ['b'], ['c']]);
  assert.equal(rows(s, 'SELECT a FROM t ORDER BY -a LIMIT 2'), [[null], [3]]);
  fails(s, 'SELECT a FROM t ORDER BY 3', '1st ORDER BY term out of range - should be between 1 and 1');
});

test('LIMIT and OFFSET, including the comma form and negative limits', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a); INSERT INTO t VALUES (1), (2), (3), (4), (5)');
  assert.equal(rows(s, 'SELECT a FROM t LIMIT 2'), [[1], [2]]);
  assert.equal(rows(s, 'SELECT a FROM t LIMIT 2 OFFSET 3'), [[4], [5]]);
  assert.equal(rows(s, 'SELECT a FROM t LIMIT 1, 2'), [[2], [3]]);
  assert.equal(rows(s, 'SELECT a FROM t LIMIT -1 OFFSET 4'), [[5]]);
  assert.equal(rows(s, 'SELECT a FROM t LIMIT 0'), []);
  assert.equal(rows(s, 'SELECT a FROM t ORDER BY a DESC LIMIT ?', [2]), [[5], [4]]);
  fails(s, "SELECT a FROM t LIMIT 'x'", 'datatype mismatch');
});

test('DISTINCT, GROUP BY, HAVING and aggregates', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t(g TEXT, v); INSERT INTO t VALUES ('a', 1), ('a', 2), ('b', 3), ('b', NULL), ('c', 2.5)");
  assert.equal(rows(s, 'SELECT DISTINCT g FROM t ORDER BY g'), [['a'], ['b'], ['c']]);
  assert.equal(rows(s, 'SELECT g, count(*), count(v), sum(v), total(v), avg(v), min(v), max(v) FROM t GROUP BY g ORDER BY g'), [
    ['a', 2, 2, 3, 3, 1.5, 1, 2], ['b', 2, 1, 3, 3, 3, 3, 3], ['c', 1, 1, 2.5, 2.5, 2.5, 2.5, 2.5]]);
  assert.equal(rows(s, 'SELECT g FROM t GROUP BY g HAVING sum(v) > 2.9 ORDER BY 1'), [['a'], ['b']]);
  assert.equal(rows(s, "SELECT group_concat(v), group_concat(v, '-'), count(DISTINCT g) FROM t"), [['1,2,3,2.5', '1-2-3-2.5', 3]]);
  assert.equal(rows(s, 'SELECT count(*), sum(v) FROM t WHERE 0'), [[0, null]]);
  assert.equal(rows(s, 'SELECT g, max(v) FROM t'), [['b', 3]]);
  assert.equal(rows(s, 'SELECT count(*) FILTER (WHERE v > 1) FROM t'), [[3]]);
  fails(s, 'SELECT g FROM t WHERE count(*) > 1', 'misuse of aggregate function count()');
  fails(s, 'SELECT sum(max(v)) FROM t', /misuse of aggregate/);
  fails(s, 'SELECT g FROM t HAVING g', 'HAVING clause on a non-aggregate query');
  fails(s, 'SELECT g FROM t HAVING count(*) > 1', 'HAVING clause on a non-aggregate query');
  assert.equal(rows(s, 'SELECT count(*) FROM t HAVING count(*) > 1'), [[5]]);
  fails(s, 'SELECT g FROM t ORDER BY count(*)', 'misuse of aggregate: count()');
  fails(s, 'SELECT sum(v, 1) FROM t', 'wrong number of arguments to function sum()');
  s.execute('CREATE TABLE big(x INTEGER); INSERT INTO big VALUES (9223372036854775807), (1)');
  fails(s, 'SELECT sum(x) FROM big', 'integer overflow');
  assert.equal(rows(s, 'SELECT total(x) FROM big'), [[9223372036854775808]]);
});

test('joins: inner, LEFT, USING, NATURAL, comma and subqueries', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE a(id INTEGER PRIMARY KEY, x); CREATE TABLE b(id INTEGER PRIMARY KEY, aid, y)");
  s.execute("INSERT INTO a VALUES (1, 'one'), (2, 'two'), (3, 'three'); INSERT INTO b VALUES (10, 1, 'p'), (11, 1, 'q'), (12, 3, 'r')");
  assert.equal(rows(s, 'SELECT a.x, b.y FROM a JOIN b ON b.aid = a.id ORDER BY b.id'), [['one', 'p'], ['one', 'q'], ['three', 'r']]);
  assert.equal(rows(s, 'SELECT a.x, b.y FROM a LEFT JOIN b ON b.aid = a.id ORDER BY a.id, b.id'), [['one', 'p'], ['one', 'q'], ['two', null], ['three', 'r']]);
  assert.equal(rows(s, 'SELECT a.x FROM a LEFT JOIN b ON b.aid = a.id WHERE b.id IS NULL'), [['two']]);
  assert.equal(rows(s, 'SELECT count(*) FROM a, b'), [[9]]);
  s.execute('CREATE TABLE c(id, z); INSERT INTO c VALUES (1, 10), (3, 30)');
  assert.equal(rows(s, 'SELECT id, x, z FROM a JOIN c USING (id) ORDER BY id'), [[1, 'one', 10], [3, 'three', 30]]);
  assert.equal(rows(s, 'SELECT * FROM a NATURAL JOIN c ORDER BY id'), [[1, 'one', 10], [3, 'three', 30]]);
  assert.equal(rows(s, 'SELECT x FROM a WHERE id IN (SELECT aid FROM b) ORDER BY 1'), [['one'], ['three']]);
  assert.equal(rows(s, 'SELECT x, (SELECT count(*) FROM b WHERE b.aid = a.id) FROM a ORDER BY id'), [['one', 2], ['two', 0], ['three', 1]]);
  assert.equal(rows(s, 'SELECT x FROM a WHERE EXISTS (SELECT 1 FROM b WHERE aid = a.id) ORDER BY id'), [['one'], ['three']]);
  assert.equal(rows(s, 'SELECT t.n FROM (SELECT count(*) AS n FROM b) AS t'), [[3]]);
  assert.equal(rows(s, 'WITH q(n) AS (SELECT id FROM a WHERE id > 1) SELECT sum(n) FROM q'), [[5]]);
  fails(s, 'SELECT id FROM a, b', 'ambiguous column name: id');
  fails(s, 'SELECT a.nosuch FROM a', 'no such column: a.nosuch');
  fails(s, 'SELECT * FROM a RIGHT JOIN b ON 1', /RIGHT and FULL OUTER JOIN are not supported/);
  fails(s, 'SELECT (SELECT 1, 2)', 'sub-select returns 2 columns - expected 1');
});

test('compound selects: UNION, UNION ALL, INTERSECT, EXCEPT, VALUES', () => {
  const { s } = fresh();
  assert.equal(rows(s, 'SELECT 2 UNION SELECT 1 UNION SELECT 2'), [[1], [2]]);
  assert.equal(rows(s, 'SELECT 2 UNION ALL SELECT 1 UNION ALL SELECT 2'), [[2], [1], [2]]);
  assert.equal(rows(s, 'VALUES (1), (2), (3) INTERSECT VALUES (2), (3), (4)'), [[2], [3]]);
  assert.equal(rows(s, 'VALUES (1), (2), (3) EXCEPT VALUES (2) ORDER BY 1 DESC'), [[3], [1]]);
  assert.equal(s.execute('VALUES (1, 2)').columns, ['column1', 'column2']);
  fails(s, 'SELECT 1 UNION SELECT 1, 2', 'SELECTs to the left and right of UNION do not have the same number of result columns');
});

test('subquery and view columns: plain column references keep their affinity, expressions have none', () => {
  agree([
    // An expression column takes the TEXT affinity of the other side.
    '(SELECT count(*) FROM (SELECT 1 AS x) JOIN s ON x = c)', '(SELECT count(*) FROM (SELECT 1 AS x) WHERE x IN (SELECT c FROM s))',
    "(SELECT CAST(0 AS TEXT) >= x FROM (SELECT 1 AS x))", '(SELECT count(*) FROM v JOIN s ON v.e = s.c)', '(SELECT count(*) FROM (VALUES (1)) JOIN s ON column1 = c)',
    // A reference to a column declared without a type keeps BLOB affinity, which TEXT does not convert.
    '(SELECT count(*) FROM v JOIN s ON v.b = s.i)', '(SELECT count(*) FROM (SELECT b FROM s) AS q JOIN s ON q.b = 1)',
    // Unary plus removes affinity.
    '(SELECT 1 = +c FROM s)',
    // A compound column takes the first affinity among its arms, BLOB when a later arm may hold other kinds.
    '(SELECT count(*) FROM (SELECT 1 AS x UNION ALL SELECT c FROM s LIMIT 9) JOIN s ON x = c)',
    '(SELECT count(*) FROM (SELECT c AS x FROM s UNION ALL SELECT 1 LIMIT 9) WHERE x = 1)',
    "(SELECT count(*) FROM (SELECT c AS x FROM s UNION ALL SELECT 'a' LIMIT 9) WHERE x = 1)",
    '(SELECT count(*) FROM (SELECT CASE WHEN 1 THEN c END AS x FROM s UNION ALL SELECT c FROM s LIMIT 9) WHERE x = 1)',
    // A compound or VALUES used as an expression: affinity of the rightmost arm, none for several VALUES rows.
    '1 IN (SELECT 2 UNION ALL SELECT c FROM s)', '1 IN (SELECT c FROM s UNION ALL SELECT 2)', '(SELECT c FROM s UNION ALL SELECT 2) = 1',
    '1 IN (VALUES (CAST(1 AS TEXT)))', '1 IN (VALUES (2), (CAST(1 AS TEXT)))', '(SELECT count(*) FROM (VALUES (2), (CAST(1 AS TEXT))) WHERE column1 = 1)',
    // TEXT affinity in a comparison turns numbers into text only when the other operand is text.
    "(SELECT 1.0 UNION ALL SELECT c FROM s LIMIT 1) = 1, (SELECT 1.0 UNION ALL SELECT c FROM s LIMIT 1) = '1', (SELECT 1.0 UNION ALL SELECT c FROM s LIMIT 1) IS '1.0'",
  ], "CREATE TABLE s (c TEXT, b, i INT); INSERT INTO s VALUES ('1', '1', 1); CREATE VIEW v AS SELECT 1 AS e, b FROM s;");
});

test('WHERE terms over a compound subquery judge each arm by its own affinity, as SQLite pushes them down', () => {
  const q = (from: string, where: string): string => `(SELECT group_concat(quote(v), ' ') FROM ${from} WHERE ${where})`;
  const ab = '(SELECT y AS v FROM b UNION ALL SELECT x FROM a)';
  agree([
    // The TEXT arm compares '1' > '1' as text, the INTEGER arm 2 > 1 as numbers; the outer copy of
    // the term (no affinity) keeps its say, so '1' = 1 holds in neither.
    q(ab, 'v > 1'), q(ab, "v = '1'"), q(ab, 'v <> 1'), q(ab, 'v NOT IN (1)'), q(ab, 'v IS NOT 1'), q(ab, 'v NOT BETWEEN 0 AND 1'),
    q('(SELECT x AS v FROM a UNION ALL SELECT y FROM b)', "v < '2'"), q('(SELECT y AS v FROM b UNION SELECT x FROM a)', 'v > 1'),
    q('(SELECT y AS v FROM b EXCEPT SELECT x FROM a)', 'v > 1'), q('(SELECT y AS v FROM b UNION ALL VALUES (\'1\'), (2))', 'v > 1'),
    q('(SELECT y AS v FROM b GROUP BY y UNION ALL SELECT max(x) FROM a)', 'v > 1'), q('w', 'v > 1'),
    // Through a query that only picks the compound's columns, as SQLite flattens it.
    q(`(SELECT * FROM ${ab})`, 'v > 1'), q(`(SELECT DISTINCT v AS u FROM ${ab} WHERE v < 3)`, 'u > 1'), q('w2', 'v > 1'),
    `(WITH c AS ${ab}, d AS (SELECT * FROM c) SELECT group_concat(quote(v), ' ') FROM d WHERE v > 1)`,
    q(`(SELECT * FROM ${ab} LIMIT 9)`, 'v > 1'), q(`(SELECT v, count(*) FROM ${ab} GROUP BY v)`, 'v > 1'),
    q(ab, 'v > (SELECT 1)'), q(ab, 'v > 1 AND abs(random()) >= 0'),
    q(`a JOIN ${ab} t`, 't.v > 1 AND a.x = 1'), q(`a LEFT JOIN ${ab} t ON t.v > 1`, 'a.x = 1'), q(`a LEFT JOIN ${ab} t ON 1`, 't.v > 1 AND a.x = 1'),
    // Kept out: a LIMIT on the compound, non-deterministic functions, correlated subqueries, a
    // LEFT JOIN's WHERE term that NULL rows pass, and CTEs named more than once.
    q(`(SELECT y AS v FROM b UNION ALL SELECT x FROM a LIMIT 9)`, 'v > 1'), q(ab, 'v > 1 + (random() & 0)'), q(ab, 'EXISTS (SELECT 1 WHERE v > 1)'),
    q(`a LEFT JOIN ${ab} t ON 1`, '(t.v > 1 OR t.v IS NULL) AND a.x = 1'),
    `(WITH c AS ${ab} SELECT group_concat(quote(v), ' ') FROM c WHERE v > 1)`,
    `(WITH c AS ${ab} SELECT count(*) FROM c WHERE v > 1) + (WITH c AS ${ab} SELECT count(*) FROM c, c AS d WHERE c.v > 1)`,
  ], "CREATE TABLE a (x INTEGER); CREATE TABLE b (y TEXT); INSERT INTO a VALUES (1), (2); INSERT INTO b VALUES ('1'), ('2'); CREATE VIEW w AS SELECT y AS v FROM b UNION ALL SELECT x FROM a; CREATE VIEW w2 AS SELECT * FROM w;");
});

test('x IN (SELECT r) with one side REAL and the other without affinity applies REAL, as SQLite does (seed 3216)', () => {
  // 9007199254740993 under REAL affinity is the double 9007199254740992, which the REAL column holds.
  const setup = "CREATE TABLE t(r REAL, i INTEGER); INSERT INTO t VALUES (9007199254740993, 9007199254740993), ('abc', 1);";
  agree([
    '9007199254740993 IN (SELECT r FROM t), 9007199254740993 NOT IN (SELECT r FROM t), 9007199254740993 IN t2',
    "'9007199254740993' IN (SELECT r FROM t), 'abc' IN (SELECT r FROM t), 9007199254740993 IN (SELECT CAST(i AS REAL) FROM t)",
    '9007199254740993 IN (SELECT x FROM v), 9007199254740993 IN (SELECT 1 UNION SELECT r FROM t), 9007199254740993 IN (SELECT r FROM t UNION SELECT 1)',
    '9007199254740993 IN (SELECT r + 0 FROM t), 9007199254740993 IN (SELECT i FROM t), (SELECT count(*) FROM t WHERE i IN (SELECT r FROM t))',
    '(SELECT count(*) FROM t WHERE r IN (SELECT 9007199254740993)), (SELECT count(*) FROM v2 WHERE y IN (SELECT r FROM t))',
  ], `${setup} CREATE TABLE t2(r REAL); INSERT INTO t2 SELECT r FROM t; CREATE VIEW v AS SELECT r AS x FROM t; CREATE VIEW v2 AS SELECT i | 0 AS y FROM t;`);
});

test('result column names follow SQLite', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)');
  assert.equal(s.execute('SELECT A, t.b, b + 1, a AS x, *, count(*) FROM t').columns, ['a', 'b', 'b + 1', 'x', 'a', 'b', 'count(*)']);
  // A rowid is named after the INTEGER PRIMARY KEY column, or else rowid whatever it was called.
  assert.equal(s.execute('SELECT rowid, oid, t._rowid_ FROM t').columns, ['a', 'a', 'a']);
  s.execute('CREATE TABLE u(x)');
  assert.equal(s.execute('SELECT rowid, oid, _rowid_ FROM u').columns, ['rowid', 'rowid', 'rowid']);
});

test('views, FROM subqueries and CTEs name their columns as SQLite does: duplicates take :1, :2 ...', () => {
  const setup = `CREATE TABLE t(id INTEGER PRIMARY KEY, c TEXT, d); INSERT INTO t VALUES (1, 'x', 2); CREATE TABLE u(x); INSERT INTO u VALUES (7);
    CREATE VIEW v2 AS SELECT 1 AS a, 2 AS a; CREATE VIEW v3 AS SELECT c COLLATE NOCASE, rowid, d + 1, t.c, id AS c FROM t;
    CREATE VIEW v4 AS SELECT * FROM (SELECT 1 AS a, 2 AS A) UNION ALL SELECT 3, 4;
    CREATE VIEW v5 AS SELECT rowid, oid, likely(x), true, y."c:1" FROM u, (SELECT 5 AS c, 6 AS c) AS y; CREATE VIEW v6(a, A) AS SELECT 1, 2;`;
  const lite = new Sqlite(':memory:');
  lite.defaultSafeIntegers(true);
  lite.exec(setup);
  const { s } = fresh();
  s.execute(setup);
  for (const sql of [
    'SELECT * FROM v2', 'SELECT "a:1", a FROM v2', 'SELECT * FROM v3', 'SELECT * FROM v4', 'SELECT * FROM v5',
    'SELECT * FROM (SELECT 1 AS a, 2 AS a, 3 AS a, 4 AS "a:1")', 'SELECT * FROM (SELECT 1 AS "a:1", 2 AS a, 3 AS a)',
    'SELECT * FROM (SELECT c COLLATE NOCASE, rowid, t.c, t.rowid, oid, likely(d), c AS "" FROM t)',
    'SELECT * FROM (SELECT *, * FROM t)', "SELECT * FROM (SELECT 1, 1, 'x', true, 2 AS FALSE)",
    'WITH w AS (SELECT 1 AS a, 2 AS a) SELECT * FROM w', 'WITH w(a, a) AS (SELECT 1, 2) SELECT * FROM w', 'SELECT * FROM v6', 'WITH w AS (SELECT c COLLATE NOCASE, rowid FROM t) SELECT * FROM w',
  ]) {
    const p = lite.prepare(sql);
    const want = { columns: p.columns().map((c) => c.name), rows: p.raw(true).all() };
    const r = s.execute(sql, [], { safeIntegers: true });
    assert.equal({ columns: r.columns, rows: r.rows }, want, sql);
  }
  lite.close();
});

test('a table-valued pragma named without parentheses is an eponymous table, as in SQLite', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, c TEXT)');
  assert.equal(rows(s, "SELECT name, ncol FROM pragma_table_list AS p WHERE p.name = 't'"), [['t', 2]]);
  assert.equal(rows(s, 'SELECT * FROM main.pragma_table_list'), rows(s, 'SELECT * FROM pragma_table_list()'));
  // Without its argument table_info describes no table.
  const r = s.execute('SELECT * FROM pragma_table_info');
  assert.equal({ columns: r.columns, rows: r.rows }, { columns: ['cid', 'name', 'type', 'notnull', 'dflt_value', 'pk'], rows: [] });
  assert.equal(rows(s, 'SELECT name FROM pragma_collation_list ORDER BY 1'), [['BINARY'], ['NOCASE'], ['RTRIM']]);
  fails(s, 'SELECT * FROM pragma_nosuch', 'no such table: pragma_nosuch');
});

test('names resolve in the order SQLite uses: result columns, HAVING, WHERE, ON clauses in join order, ORDER BY, GROUP BY', () => {
  const setup = 'CREATE TABLE t(a, b); CREATE TABLE u(c, d);';
  const lite = new Sqlite(':memory:');
  lite.exec(setup);
  const { s } = fresh();
  s.execute(setup);
  const cases: [string, string][] = [
    ['SELECT x1 FROM t WHERE x2 GROUP BY x3 HAVING x4 ORDER BY x5', 'x1'],
    ['SELECT a FROM t WHERE x2 GROUP BY x3 HAVING x4 ORDER BY x5', 'x4'],
    ['SELECT a FROM t WHERE x2 GROUP BY x3 HAVING a ORDER BY x5', 'x2'],
    ['SELECT a FROM t WHERE a GROUP BY x3 HAVING a ORDER BY x5', 'x5'],
    ['SELECT a FROM t JOIN u ON x6 JOIN u AS u2 ON x7 WHERE x2', 'x2'],
    ['SELECT a FROM t JOIN u ON x6 JOIN u AS u2 ON x7 WHERE a', 'x6'],
    ['SELECT a FROM t JOIN u ON u.c JOIN u AS u2 ON x7 ORDER BY x5', 'x7'],
    ['SELECT x1, a FROM t JOIN u ON x6', 'x1'],
    ['SELECT (SELECT x9) FROM t WHERE x2', 'x9'],
    ['SELECT x1 FROM t WHERE count(*) > 1', 'x1'],
    // A table-valued function's arguments come after WHERE and ON, before ORDER BY.
    ['SELECT a FROM t, pragma_table_info(x8) WHERE x2', 'x2'],
    ['SELECT a FROM t JOIN pragma_table_info(x8) ON x6', 'x6'],
    ['SELECT a FROM t, pragma_table_info(x8) ORDER BY x5', 'x8'],
  ];
  for (const [sql, name] of cases) {
    assert.throws(() => lite.prepare(sql), (e: Error) => e.message === `no such column: ${name}`, `SQLite: ${sql}`);
    fails(s, sql, `no such column: ${name}`);
  }
  lite.close();
  // They may name a result column alias, as WHERE may.
  s.execute("INSERT INTO t VALUES ('u', 1)");
  assert.equal(rows(s, 'SELECT a AS q, name FROM t, pragma_table_info(q)'), [['u', 'c'], ['u', 'd']]);
  // HAVING without aggregation is refused before WHERE's names are resolved.
  fails(s, 'SELECT a FROM t WHERE x2 HAVING x4', 'HAVING clause on a non-aggregate query');
});

test('unknown functions and wrong argument counts are errors', () => {
  const { s } = fresh();
  fails(s, 'SELECT nosuch(1)', 'no such function: nosuch');
  fails(s, 'SELECT abs(1, 2)', 'wrong number of arguments to function abs()');
  fails(s, 'SELECT substr(1)', 'wrong number of arguments to function substr()');
  fails(s, 'SELECT 1 FROM nosuch', 'no such table: nosuch');
  fails(s, 'SELECT * ', 'no tables specified');
  fails(s, "SELECT 'x' LIKE 'y' ESCAPE 'ab'", 'ESCAPE expression must be a single character');
});

test('quote() writes an infinity as SQLite does, a literal that reads back as one (differential seed 351613)', () => {
  agree(["quote(1e999), quote(-1e999), quote(9e999 - 9e999)", 'CAST(quote(-1e999) AS REAL) = -1e999']);
  const { s } = fresh();
  assert.equal(rows(s, 'SELECT quote(1e999), quote(-1e999)'), [['9.0e+999', '-9.0e+999']]);
});

test.run();
