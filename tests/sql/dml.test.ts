import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Sqlite from 'better-sqlite3';
import { bothWithForeignKeys, fails, fresh, one, rows } from './helpers.ts';

test('INSERT: multi-row VALUES, column lists, DEFAULT VALUES, INSERT ... SELECT', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT DEFAULT 'd', b INT)");
  const r = s.execute("INSERT INTO t(a, b) VALUES ('x', 1), ('y', 2)");
  assert.is(r.changes, 2);
  assert.is(r.lastInsertRowid, 2);
  s.execute('INSERT INTO t DEFAULT VALUES');
  s.execute('INSERT INTO t(b) SELECT b * 10 FROM t WHERE b IS NOT NULL ORDER BY b');
  assert.equal(rows(s, 'SELECT * FROM t'), [[1, 'x', 1], [2, 'y', 2], [3, 'd', null], [4, 'd', 10], [5, 'd', 20]]);
  s.execute('INSERT INTO t(rowid, a) VALUES (100, ?)', ['r']);
  assert.equal(rows(s, 'SELECT id, a FROM t WHERE id = 100'), [[100, 'r']]);
  fails(s, 'INSERT INTO t VALUES (1)', 'table t has 3 columns but 1 values were supplied');
  fails(s, 'INSERT INTO t(a, b) VALUES (1)', '1 values for 2 columns');
  fails(s, 'INSERT INTO t(zz) VALUES (1)', 'table t has no column named zz');
  fails(s, 'INSERT INTO nosuch VALUES (1)', 'no such table: nosuch');
  fails(s, "INSERT INTO t(id) VALUES ('abc')", 'datatype mismatch');
  fails(s, 'INSERT INTO sqlite_master VALUES (1, 2, 3, 4, 5)', 'table sqlite_master may not be modified');
});

test('constraint errors carry SQLite messages and codes', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, u TEXT UNIQUE, n NOT NULL, c CHECK (c > 0), CONSTRAINT pos CHECK (n <> 'bad'))");
  s.execute("INSERT INTO t VALUES (1, 'a', 1, 1)");
  assert.is(fails(s, "INSERT INTO t VALUES (1, 'b', 1, 1)", 'UNIQUE constraint failed: t.id').code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
  assert.is(fails(s, "INSERT INTO t VALUES (2, 'a', 1, 1)", 'UNIQUE constraint failed: t.u').code, 'SQLITE_CONSTRAINT_UNIQUE');
  assert.is(fails(s, "INSERT INTO t VALUES (2, 'b', NULL, 1)", 'NOT NULL constraint failed: t.n').code, 'SQLITE_CONSTRAINT_NOTNULL');
  assert.is(fails(s, "INSERT INTO t VALUES (2, 'b', 1, -1)", 'CHECK constraint failed: c > 0').code, 'SQLITE_CONSTRAINT_CHECK');
  fails(s, "INSERT INTO t VALUES (2, 'b', 'bad', 1)", 'CHECK constraint failed: pos');
  s.execute('CREATE TABLE p(a, b, PRIMARY KEY (a, b))');
  s.execute('INSERT INTO p VALUES (1, 2)');
  fails(s, 'INSERT INTO p VALUES (1, 2)', 'UNIQUE constraint failed: p.a, p.b');
  s.execute("INSERT INTO t VALUES (2, 'b', 1, 1)");
  fails(s, "UPDATE t SET u = 'a' WHERE id = 2", 'UNIQUE constraint failed: t.u');
});

test('a failing statement changes nothing (statement atomicity), inside and outside BEGIN', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a UNIQUE)');
  fails(s, 'INSERT INTO t VALUES (1), (2), (1)', 'UNIQUE constraint failed: t.a');
  assert.equal(rows(s, 'SELECT * FROM t'), []);
  s.execute('BEGIN');
  s.execute('INSERT INTO t VALUES (5)');
  fails(s, 'INSERT INTO t VALUES (6), (5)', 'UNIQUE constraint failed: t.a');
  s.execute('COMMIT');
  assert.equal(rows(s, 'SELECT * FROM t'), [[5]]);
});

test('OR IGNORE, OR REPLACE, OR FAIL, OR ROLLBACK, OR ABORT', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, u UNIQUE, v)');
  s.execute("INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)");
  assert.is(s.execute("INSERT OR IGNORE INTO t VALUES (3, 'a', 3), (4, 'd', 4)").changes, 1);
  s.execute("INSERT OR REPLACE INTO t VALUES (5, 'b', 5)");
  assert.equal(rows(s, 'SELECT * FROM t'), [[1, 'a', 1], [4, 'd', 4], [5, 'b', 5]]);
  s.execute("REPLACE INTO t VALUES (1, 'z', 9)");
  assert.equal(rows(s, 'SELECT * FROM t WHERE id = 1'), [[1, 'z', 9]]);
  fails(s, "INSERT OR FAIL INTO t VALUES (6, 'f', 6), (7, 'z', 7)", 'UNIQUE constraint failed: t.u');
  assert.equal(rows(s, 'SELECT id FROM t WHERE id > 5'), [[6]], 'OR FAIL keeps the rows before the failure');
  s.execute('BEGIN');
  s.execute("INSERT INTO t VALUES (8, 'h', 8)");
  fails(s, "INSERT OR ROLLBACK INTO t VALUES (9, 'z', 9)", 'UNIQUE constraint failed: t.u');
  assert.is(s.inTransaction, false);
  assert.equal(rows(s, 'SELECT id FROM t WHERE id >= 8'), []);
  s.execute('BEGIN');
  s.execute("INSERT INTO t VALUES (8, 'h', 8)");
  fails(s, "INSERT OR ABORT INTO t VALUES (9, 'i', 9), (10, 'z', 10)", 'UNIQUE constraint failed: t.u');
  assert.is(s.inTransaction, true);
  s.execute('COMMIT');
  assert.equal(rows(s, 'SELECT id FROM t WHERE id >= 8'), [[8]]);
  // Conflict clauses on the constraint itself apply when the statement has none.
  s.execute('CREATE TABLE k(a UNIQUE ON CONFLICT IGNORE, b NOT NULL ON CONFLICT REPLACE DEFAULT 7)');
  s.execute('INSERT INTO k VALUES (1, NULL), (1, 2)');
  assert.equal(rows(s, 'SELECT * FROM k'), [[1, 7]]);
});

test('upsert: DO NOTHING, DO UPDATE with excluded, targets and WHERE', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE kv(k TEXT PRIMARY KEY, v INT, n INT DEFAULT 0)');
  s.execute("INSERT INTO kv(k, v) VALUES ('a', 1)");
  s.execute("INSERT INTO kv(k, v) VALUES ('a', 2) ON CONFLICT DO NOTHING");
  assert.equal(rows(s, 'SELECT * FROM kv'), [['a', 1, 0]]);
  const r = s.execute("INSERT INTO kv(k, v) VALUES ('a', 5), ('b', 6) ON CONFLICT(k) DO UPDATE SET v = v + excluded.v, n = n + 1 RETURNING k, v, n");
  assert.equal(r.rows, [['a', 6, 1], ['b', 6, 0]]);
  assert.is(r.changes, 2);
  s.execute("INSERT INTO kv(k, v) VALUES ('a', 100) ON CONFLICT(k) DO UPDATE SET v = excluded.v WHERE excluded.v < 50");
  assert.equal(rows(s, "SELECT v FROM kv WHERE k = 'a'"), [[6]]);
  fails(s, "INSERT INTO kv(k, v) VALUES ('a', 1) ON CONFLICT(v) DO NOTHING", 'ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint');
  s.execute('CREATE TABLE c(id INTEGER PRIMARY KEY, hits INT)');
  s.execute('INSERT INTO c VALUES (1, 1) ON CONFLICT(id) DO UPDATE SET hits = hits + 1');
  s.execute('INSERT INTO c VALUES (1, 1) ON CONFLICT(id) DO UPDATE SET hits = hits + 1');
  assert.equal(rows(s, 'SELECT * FROM c'), [[1, 2]]);
});

test('UPDATE with expressions, rowid changes, FROM, RETURNING, conflicts', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, a INT UNIQUE, b TEXT)');
  s.execute("INSERT INTO t VALUES (1, 10, 'x'), (2, 20, 'y'), (3, 30, 'z')");
  const r = s.execute('UPDATE t SET a = a + 1, b = upper(b) WHERE id >= 2 RETURNING id, a, b');
  assert.equal(r.rows, [[2, 21, 'Y'], [3, 31, 'Z']]);
  assert.is(r.changes, 2);
  s.execute('UPDATE t SET id = id + 100 WHERE id = 1');
  assert.equal(rows(s, 'SELECT id FROM t ORDER BY id'), [[2], [3], [101]]);
  fails(s, 'UPDATE t SET a = 21 WHERE id = 3', 'UNIQUE constraint failed: t.a');
  s.execute('UPDATE OR REPLACE t SET a = 21 WHERE id = 3');
  assert.equal(rows(s, 'SELECT id, a FROM t ORDER BY id'), [[3, 21], [101, 10]]);
  s.execute('CREATE TABLE m(id INTEGER PRIMARY KEY, label TEXT)');
  s.execute("INSERT INTO m VALUES (3, 'three'), (101, 'hundred-one')");
  s.execute('UPDATE t SET b = m.label FROM m WHERE m.id = t.id');
  assert.equal(rows(s, 'SELECT b FROM t ORDER BY id'), [['three'], ['hundred-one']]);
  fails(s, 'UPDATE t SET zz = 1', 'no such column: zz');
  fails(s, "UPDATE t SET id = 'x'", 'datatype mismatch');
});

test('DELETE with WHERE and RETURNING; changes() and total_changes()', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a)');
  s.execute('INSERT INTO t VALUES (1), (2), (3), (4)');
  assert.is(one(s, 'SELECT changes()'), 4n);
  const r = s.execute('DELETE FROM t WHERE a % 2 = 0 RETURNING a');
  assert.equal(r.rows, [[2], [4]]);
  assert.is(one(s, 'SELECT changes()'), 2n);
  assert.is(one(s, 'SELECT total_changes()'), 6n);
  s.execute('DELETE FROM t');
  assert.equal(rows(s, 'SELECT count(*) FROM t'), [[0]]);
});

test('a failed statement counts in changes() and total_changes() only the rows OR FAIL keeps', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a UNIQUE, b CHECK (b > 0))');
  s.execute('INSERT INTO t VALUES (1, 1)');
  const counts = (): unknown[] => [one(s, 'SELECT changes()'), one(s, 'SELECT total_changes()')];
  fails(s, 'INSERT OR FAIL INTO t VALUES (2, 1), (1, 1)', 'UNIQUE constraint failed: t.a');
  assert.equal(counts(), [1n, 2n], 'the row kept by OR FAIL counts');
  fails(s, 'INSERT INTO t VALUES (3, 1), (1, 1)', 'UNIQUE constraint failed: t.a');
  assert.equal(counts(), [0n, 2n], 'an aborted statement changed nothing');
  fails(s, 'INSERT INTO nosuch VALUES (1)', 'no such table: nosuch');
  assert.equal(counts(), [0n, 2n], 'a statement that never ran leaves changes() alone');
  s.execute('BEGIN');
  fails(s, 'UPDATE OR FAIL t SET b = b - 1', 'CHECK constraint failed: b > 0');
  assert.equal(counts(), [0n, 2n]);
  fails(s, 'INSERT OR FAIL INTO t VALUES (4, 1), (5, 0)', 'CHECK constraint failed: b > 0');
  assert.equal(counts(), [1n, 3n], 'inside BEGIN too');
  fails(s, 'INSERT OR ROLLBACK INTO t VALUES (6, 1), (1, 1)', 'UNIQUE constraint failed: t.a');
  assert.equal(counts(), [0n, 3n], 'OR ROLLBACK keeps nothing');
  assert.is(s.inTransaction, false);
  s.execute('CREATE TABLE u(x INTEGER PRIMARY KEY)');
  s.execute('INSERT INTO u VALUES (1), (2), (3)');
  fails(s, 'DELETE FROM u WHERE x = 9 OR x = 2 OR abs(-9223372036854775808 + x - x)', 'integer overflow');
  assert.equal(counts(), [0n, 6n]);
});

test('last_insert_rowid() follows the session, and rowids exceed 2^53 exactly', () => {
  const { db, s } = fresh();
  s.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v)');
  s.execute('INSERT INTO t VALUES (9007199254740993, 1)');
  assert.is(one(s, 'SELECT last_insert_rowid()'), 9007199254740993n);
  assert.is(s.execute('SELECT 1').lastInsertRowid, 9007199254740993n);
  s.execute('INSERT INTO t(v) VALUES (2)');
  assert.is(one(s, 'SELECT max(id) FROM t'), 9007199254740994n);
  const other = db.session();
  assert.is(one(other, 'SELECT last_insert_rowid()'), 0n);
  // The same SQL text shares one compiled plan; each session still keeps its own rowid.
  other.execute('INSERT INTO t(v) VALUES (2)');
  assert.is(one(other, 'SELECT last_insert_rowid()'), 9007199254740995n);
  assert.is(one(s, 'SELECT last_insert_rowid()'), 9007199254740994n);
});

test('foreign keys: enforced only with PRAGMA foreign_keys = ON, with actions', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT)');
  s.execute('CREATE TABLE c(id INTEGER PRIMARY KEY, pid REFERENCES p(id) ON DELETE CASCADE, q REFERENCES p ON DELETE SET NULL)');
  s.execute('INSERT INTO c VALUES (1, 99, NULL)');
  s.execute('DELETE FROM c');
  s.execute('PRAGMA foreign_keys = ON');
  assert.equal(rows(s, 'PRAGMA foreign_keys'), [[1]]);
  const e = fails(s, 'INSERT INTO c VALUES (1, 99, NULL)', 'FOREIGN KEY constraint failed');
  assert.is(e.code, 'SQLITE_CONSTRAINT_FOREIGNKEY');
  s.execute("INSERT INTO p VALUES (1, 'a'), (2, 'b')");
  s.execute('INSERT INTO c VALUES (1, 1, 2), (2, 2, 2)');
  s.execute('DELETE FROM p WHERE id = 1');
  assert.equal(rows(s, 'SELECT * FROM c'), [[2, 2, 2]]);
  s.execute('DELETE FROM p WHERE id = 2');
  assert.equal(rows(s, 'SELECT * FROM c'), []);
  s.execute('CREATE TABLE r(x REFERENCES p(id))');
  s.execute("INSERT INTO p VALUES (3, 'c'); INSERT INTO r VALUES (3)");
  fails(s, 'DELETE FROM p WHERE id = 3', 'FOREIGN KEY constraint failed');
  assert.equal(rows(s, 'PRAGMA foreign_key_list(c)'), [[0, 0, 'p', 'q', null, 'NO ACTION', 'SET NULL', 'NONE'], [1, 0, 'p', 'pid', 'id', 'NO ACTION', 'CASCADE', 'NONE']]);
});

test('named and numbered parameters bind by name and position', () => {
  const { s } = fresh();
  assert.equal(rows(s, 'SELECT :a, @b, $c, ?4', { a: 1, b: 'two', $c: 3n, }).map((r) => r.slice(0, 3)), [[1, 'two', 3]]);
  assert.equal(rows(s, 'SELECT ?2, ?1', ['x', 'y']), [['y', 'x']]);
  assert.equal(rows(s, 'SELECT ?, ?', [true, new Uint8Array([1])]), [[1, new Uint8Array([1])]]);
  assert.equal(s.execute('SELECT ?', [2n ** 62n]).rows, [[2n ** 62n]]);
});

test('foreign key SET NULL actions keep the child NOT NULL: the parent change fails and changes nothing', () => {
  const { s } = fresh();
  s.execute('PRAGMA foreign_keys = ON');
  s.execute('CREATE TABLE p(id INTEGER PRIMARY KEY)');
  s.execute('CREATE TABLE c2(x INT NOT NULL REFERENCES p ON DELETE SET NULL ON UPDATE SET NULL)');
  s.execute('INSERT INTO p VALUES (1), (2); INSERT INTO c2 VALUES (1), (2)');
  assert.is(fails(s, 'DELETE FROM p', 'NOT NULL constraint failed: c2.x').code, 'SQLITE_CONSTRAINT_NOTNULL');
  fails(s, 'UPDATE p SET id = 5 WHERE id = 2', 'NOT NULL constraint failed: c2.x');
  assert.equal(rows(s, 'SELECT * FROM p'), [[1], [2]]);
  assert.equal(rows(s, 'SELECT * FROM c2'), [[1], [2]]);
});

test('upsert: the ON CONFLICT targets are checked first, in clause order, then the rowid and the other indexes', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE p(a UNIQUE, b); CREATE UNIQUE INDEX pb ON p(b)');
  s.execute('INSERT INTO p VALUES (1, 1), (2, 2)');
  assert.is(s.execute('INSERT INTO p VALUES (2, 1) ON CONFLICT (a) DO NOTHING').changes, 0);
  s.execute('INSERT INTO p VALUES (2, 1) ON CONFLICT (b) DO UPDATE SET b = -b ON CONFLICT (a) DO UPDATE SET b = 1000 + b');
  assert.equal(rows(s, 'SELECT * FROM p'), [[1, -1], [2, 2]]);
  s.execute('CREATE TABLE q(id INTEGER PRIMARY KEY, a UNIQUE, b UNIQUE, c UNIQUE)');
  s.execute('INSERT INTO q VALUES (1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 3, 3)');
  assert.is(s.execute('INSERT INTO q VALUES (1, 2, 3, 9) ON CONFLICT (b) DO NOTHING').changes, 0);
  // The rowid comes right after the index target that a rowid target follows: before b here.
  s.execute('INSERT INTO q VALUES (1, 5, 3, 6) ON CONFLICT (a) DO UPDATE SET c = 100 ON CONFLICT (id) DO UPDATE SET c = 200 ON CONFLICT (b) DO UPDATE SET c = 300');
  s.execute('INSERT INTO q VALUES (1, 5, 6, 3) ON CONFLICT (c) DO UPDATE SET b = 1000 + b ON CONFLICT (id) DO UPDATE SET b = 3000 + b');
  assert.equal(rows(s, 'SELECT * FROM q'), [[1, 1, 1, 200], [2, 2, 2, 2], [3, 3, 1003, 3]]);
  s.execute('CREATE TABLE r(x, y); CREATE UNIQUE INDEX r1 ON r(x); CREATE UNIQUE INDEX r2 ON r(x)');
  s.execute('INSERT INTO r VALUES (1, 1)');
  s.execute('INSERT INTO r VALUES (1, 2) ON CONFLICT (x) DO UPDATE SET y = 9');
  assert.equal(rows(s, 'SELECT * FROM r'), [[1, 9]]);
});

test('upsert: a target naming the INTEGER PRIMARY KEY with other columns matches no index; rowid names the rowid', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE v(c0 INTEGER PRIMARY KEY, c1, UNIQUE (c1, c0))');
  fails(s, 'INSERT INTO v VALUES (1, 1) ON CONFLICT (c0, c1) DO NOTHING', 'ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint');
  s.execute('CREATE TABLE v3(c0, c1)');
  s.execute('INSERT INTO v3(rowid, c0) VALUES (1, 1)');
  s.execute('INSERT INTO v3(rowid, c0) VALUES (1, 1) ON CONFLICT (rowid) DO UPDATE SET c1 = 5');
  assert.equal(rows(s, 'SELECT rowid, * FROM v3'), [[1, 1, 5]]);
});

test('RETURNING sees only the target table, under its own name (not FROM tables, not the alias)', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a, b); CREATE TABLE u(a, b)');
  s.execute('INSERT INTO t VALUES (1, 5), (2, 6); INSERT INTO u VALUES (1, 7)');
  assert.equal(rows(s, 'UPDATE t SET b = 1 FROM u WHERE u.a = t.a RETURNING b, a'), [[1, 1]]);
  fails(s, 'UPDATE t SET b = 3 FROM u WHERE u.a = t.a RETURNING u.b', 'no such column: u.b');
  assert.equal(rows(s, 'UPDATE t AS x SET b = 4 FROM u WHERE u.a = x.a RETURNING t.b'), [[4]]);
  fails(s, 'DELETE FROM t AS x WHERE a = 2 RETURNING x.b', 'no such column: x.b');
});

test('RETURNING names a rowid reference after the INTEGER PRIMARY KEY column, else rowid, as a SELECT does', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a INTEGER PRIMARY KEY, b); CREATE TABLE u(x, y)');
  assert.equal(s.execute('INSERT INTO t VALUES (1, 2) RETURNING rowid, oid, _rowid_, t.rowid, b').columns, ['a', 'a', 'a', 'a', 'b']);
  assert.equal(s.execute('INSERT INTO u VALUES (1, 2) RETURNING rowid, oid, u._rowid_, x').columns, ['rowid', 'rowid', 'rowid', 'x']);
  assert.equal(s.execute('UPDATE u SET x = 3 RETURNING oid, oid AS k').columns, ['rowid', 'k']);
  assert.equal(s.execute('DELETE FROM t RETURNING _rowid_, *').columns, ['a', 'a', 'b']);
});

test('writing to a view first compiles it: a view over a dropped table reports that table (differential seed 3102)', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t0(a); CREATE TABLE t1(a)');
  s.execute('CREATE VIEW v0 AS SELECT * FROM t0; CREATE VIEW v1 AS SELECT * FROM v0, t1; CREATE VIEW v2(x, y) AS SELECT 1');
  s.execute('CREATE VIEW v3 AS SELECT b FROM t1; CREATE VIEW v4 AS SELECT * FROM v4');
  fails(s, 'DELETE FROM v0', 'cannot modify v0 because it is a view');
  // SQLite takes a view's declared column names without counting its result columns here.
  fails(s, 'UPDATE v2 SET x = 1', 'cannot modify v2 because it is a view');
  s.execute('DROP TABLE t0');
  for (const sql of ['DELETE FROM v0', 'UPDATE v0 SET a = 1', 'INSERT INTO v0 VALUES (1)', 'INSERT INTO v1 SELECT 1, 2 RETURNING *']) {
    assert.is(fails(s, sql, 'no such table: main.t0').code, 'SQLITE_ERROR');
  }
  fails(s, 'DELETE FROM v3', 'no such column: b');
  fails(s, 'DELETE FROM v4', 'view v4 is circularly defined');
});

test('foreign keys: UPDATE checks only the keys whose columns it assigns, so orphan rows stay writable', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(x REFERENCES p, y UNIQUE)');
  s.execute('INSERT INTO c VALUES (99, 1)');
  s.execute('PRAGMA foreign_keys = ON');
  assert.is(s.execute('UPDATE c SET y = 2').changes, 1);
  s.execute('INSERT INTO c VALUES (5, 2) ON CONFLICT (y) DO UPDATE SET y = 3');
  fails(s, 'UPDATE c SET x = x', 'FOREIGN KEY constraint failed');
  fails(s, 'INSERT INTO c VALUES (5, 3) ON CONFLICT (y) DO UPDATE SET x = 4', 'FOREIGN KEY constraint failed');
  assert.equal(rows(s, 'SELECT * FROM c'), [[99, 3]]);
});

test('a UNIQUE constraint sharing the PRIMARY KEY index fails with the primary key code', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(c0, c1, UNIQUE (c0), PRIMARY KEY (c0))');
  s.execute('INSERT INTO t VALUES (1, 1), (2, 2)');
  assert.is(fails(s, 'INSERT INTO t VALUES (1, 2)', 'UNIQUE constraint failed: t.c0').code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
  assert.is(fails(s, 'UPDATE t SET c0 = 1 WHERE c0 = 2', 'UNIQUE constraint failed: t.c0').code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
  s.execute('CREATE TABLE u(c0 UNIQUE, c1)');
  s.execute('INSERT INTO u VALUES (1, 1)');
  assert.is(fails(s, 'INSERT INTO u VALUES (1, 2)', 'UNIQUE constraint failed: u.c0').code, 'SQLITE_CONSTRAINT_UNIQUE');
});

test('foreign keys: parent changes find children with SQLite affinity rules; a row may be its own parent', () => {
  const { s } = fresh();
  s.execute('PRAGMA foreign_keys = ON');
  s.execute('CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE q(id INT UNIQUE)');
  s.execute('CREATE TABLE c(x TEXT REFERENCES p ON DELETE CASCADE ON UPDATE CASCADE)');
  s.execute('CREATE TABLE d(x TEXT REFERENCES q(id) ON DELETE CASCADE)');
  s.execute('CREATE TABLE r(x TEXT REFERENCES p ON DELETE RESTRICT)');
  s.execute('INSERT INTO p VALUES (3), (4), (5); INSERT INTO q VALUES (3), (5)');
  s.execute("INSERT INTO c VALUES ('3.0'), (' 4'); INSERT INTO d VALUES ('3.0'), ('5'); INSERT INTO r VALUES ('5.0')");
  // The INTEGER PRIMARY KEY parent keeps its affinity in the action: '3.0' cascades.
  s.execute('DELETE FROM p WHERE id = 3');
  s.execute('UPDATE p SET id = 8 WHERE id = 4');
  assert.equal(rows(s, 'SELECT x, typeof(x) FROM c'), [['8', 'text']]);
  // Another parent key does not: the action misses '3.0', which still counts as a child.
  assert.is(fails(s, 'DELETE FROM q WHERE id = 3', 'FOREIGN KEY constraint failed').code, 'SQLITE_CONSTRAINT_FOREIGNKEY');
  s.execute('DELETE FROM q WHERE id = 5');
  assert.equal(rows(s, 'SELECT x FROM d'), [['3.0']]);
  assert.is(fails(s, 'DELETE FROM p WHERE id = 5', 'FOREIGN KEY constraint failed').code, 'SQLITE_CONSTRAINT_TRIGGER');
  s.execute('CREATE TABLE t(n INTEGER PRIMARY KEY, m REFERENCES t(n) ON UPDATE CASCADE)');
  s.execute('INSERT INTO t VALUES (1, 1), (2, 1)');
  s.execute('UPDATE t SET n = 10 WHERE n = 1');
  assert.equal(rows(s, 'SELECT * FROM t'), [[2, 10], [10, 10]]);
});

test('an upsert targeting a unique index sees a row with the same rowid there first, as SQLite does', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b UNIQUE); INSERT INTO t VALUES (2, 'x')");
  assert.is(s.execute("INSERT INTO t VALUES (2, 'x') ON CONFLICT (b) DO NOTHING").changes, 0);
  assert.is(s.execute("INSERT INTO t VALUES (2, 'x') ON CONFLICT (b) DO UPDATE SET b = 'y'").changes, 1);
  assert.equal(rows(s, 'SELECT * FROM t'), [[2, 'y']]);
  // Without a target on the index, the rowid is checked first.
  fails(s, "INSERT INTO t VALUES (2, 'y')", 'UNIQUE constraint failed: t.a');
  fails(s, "INSERT INTO t VALUES (2, 'z') ON CONFLICT (b) DO NOTHING", 'UNIQUE constraint failed: t.a');
});

test('upsert: excluded.* is typed by column affinity except on a rowid conflict checked first, as SQLite does', () => {
  const { s } = fresh();
  const typed = "excluded.c1 || typeof(excluded.c1) || ',' || excluded.c2 || typeof(excluded.c2)";
  // No CHECK: the rowid conflict comes before affinity, so the values are as supplied.
  s.execute('CREATE TABLE a(k INTEGER PRIMARY KEY, c1 TEXT, c2 INT, u UNIQUE, r)');
  s.execute("INSERT INTO a VALUES (1, 'x', 0, 0, 0)");
  assert.is(one(s, `INSERT INTO a VALUES (1, 2, '3.0', 9, 0) ON CONFLICT DO UPDATE SET r = ${typed} RETURNING r`), '2integer,3.0text');
  // An index target checked before the rowid: affinity first.
  assert.is(one(s, `INSERT INTO a VALUES (1, 2, '3.0', 9, 0) ON CONFLICT (u) DO NOTHING ON CONFLICT DO UPDATE SET r = ${typed} RETURNING r`), '2text,3integer');
  // A CHECK constraint (or a generated column) makes SQLite apply affinity before any conflict check.
  s.execute('CREATE TABLE b(k INTEGER PRIMARY KEY, c1 TEXT, c2 INT, r, CHECK (r IS NOT 99))');
  s.execute("INSERT INTO b VALUES (1, 'x', 0, 0)");
  assert.is(one(s, `INSERT INTO b VALUES (1, 2, '3.0', 0) ON CONFLICT DO UPDATE SET r = ${typed} RETURNING r`), '2text,3integer');
  s.execute('CREATE TABLE g(k INTEGER PRIMARY KEY, c1 TEXT, c2 INT, r, x AS (1))');
  s.execute("INSERT INTO g VALUES (1, 'x', 0, 0)");
  assert.is(one(s, `INSERT INTO g VALUES (1, 2, '3.0', 0) ON CONFLICT DO UPDATE SET r = ${typed} RETURNING r`), '2text,3integer');
});

test('upsert: a default is typed for excluded.* once an earlier row of the statement got past the rowid check (seed 186)', () => {
  const { s } = fresh();
  // SQLite computes a constant default once into the row's register and applies affinity there.
  s.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, c1 TEXT DEFAULT 2, c2 INT DEFAULT '3', r)");
  s.execute('INSERT INTO t(k) VALUES (1)');
  const set = "r = excluded.c1 || typeof(excluded.c1) || ',' || excluded.c2 || typeof(excluded.c2)";
  assert.equal(s.execute(`INSERT INTO t(k) VALUES (1), (NULL), (1) ON CONFLICT DO UPDATE SET ${set} RETURNING r`).rows, [['2integer,3text'], [null], ['2text,3integer']]);
  assert.equal(s.execute(`INSERT INTO t(k) SELECT NULL UNION ALL SELECT 1 ON CONFLICT DO UPDATE SET ${set} RETURNING r`).rows, [[null], ['2text,3integer']]);
});

test('RETURNING of INSERT and UPDATE passes a REAL column\'s integral value through as an integer, as SQLite does', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(c REAL, d INT)');
  const list = "c, coalesce(c, 0), ifnull(c, 0), nullif(c, 0), iif(1, c, 0), CASE WHEN 1 THEN c END, max(c, 0), +c, CAST(c AS NUMERIC), "
    + "c COLLATE NOCASE, typeof(c), c + 0, c || '', CAST(c AS REAL), (SELECT c), coalesce((SELECT c), 0), min(c, 5.0)";
  const typed = (r: unknown[][]): string[] => r[0]!.map((v) => `${typeof v}:${String(v)}`);
  // Reading SQLite: an integer tagged REAL comes out as an integer unless the expression is REAL.
  const want = ['number:5', 'bigint:5', 'bigint:5', 'bigint:5', 'bigint:5', 'bigint:5', 'bigint:5', 'bigint:5', 'bigint:5',
    'number:5', 'string:real', 'number:5', 'string:5.0', 'number:5', 'number:5', 'bigint:5', 'number:5'];
  assert.equal(typed(s.execute(`INSERT INTO t VALUES (5, 1) RETURNING ${list}`, [], { safeIntegers: true }).rows), want);
  assert.equal(typed(s.execute(`UPDATE t SET d = 2 RETURNING ${list}`, [], { safeIntegers: true }).rows), want);
  // Outside [-2^47, 2^47) the value is a plain REAL; DELETE returns the stored row, REAL.
  const edges = s.execute('INSERT INTO t VALUES (140737488355328, 1), (-140737488355328, 1) RETURNING coalesce(c, 0)', [], { safeIntegers: true }).rows;
  assert.equal(edges, [[140737488355328], [-140737488355328n]]);
  assert.equal(s.execute('DELETE FROM t WHERE d = 2 RETURNING coalesce(c, 0)', [], { safeIntegers: true }).rows, [[5]]);
});

test('UPDATE applies rows in the order its scan finds them, or in rowid order where SQLite collects them first (seed 30114)', () => {
  const { s } = fresh();
  s.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, u UNIQUE, k); CREATE INDEX ik ON t(k); INSERT INTO t VALUES (1, 2, 'b'), (2, 3, 'a'), (3, 10, 'c')");
  // The scan on k visits row 2 first: its new u = 2 meets row 1's old u = 2 (in rowid order row 1
  // would have moved to 1 already).
  fails(s, "UPDATE t SET u = a WHERE k > ''", 'UNIQUE constraint failed: t.u');
  // Row 2 (k = 'a') takes u = 4 first; rows 1 and 3 are then ignored.
  s.execute("UPDATE t SET u = a + 10 WHERE k > ''");
  s.execute("UPDATE OR IGNORE t SET u = 4 WHERE k > ''");
  assert.equal(rows(s, 'SELECT a, u FROM t ORDER BY a'), [[1, 11], [2, 4], [3, 13]]);
  // Changing the scanned index, or RETURNING, makes SQLite collect the rowids first.
  s.execute("UPDATE OR IGNORE t SET u = 5, k = k WHERE k > ''");
  assert.equal(rows(s, 'SELECT a, u FROM t ORDER BY a'), [[1, 5], [2, 4], [3, 13]]);
  assert.equal(rows(s, "UPDATE OR IGNORE t SET u = 6 WHERE k > '' RETURNING a"), [[1]]);
});

test('UPDATE OR REPLACE: a row its replacement cascades away is skipped; a key it does not check is still checked (seeds 50111, 50000)', () => {
  const { s } = fresh();
  s.execute('PRAGMA foreign_keys = ON');
  s.execute('CREATE TABLE t(k REAL UNIQUE, p REAL REFERENCES t(k) ON DELETE CASCADE)');
  s.execute('INSERT INTO t VALUES (0, NULL), (3, 0), (4, 0), (5, NULL)');
  // Replacing row 1 (k = 0) cascades to rows 2 and 3, the updated row among them.
  assert.is(s.execute('UPDATE OR REPLACE t SET k = 0 WHERE rowid = 2').changes, 0);
  assert.equal(rows(s, 'SELECT rowid, k FROM t'), [[4, 5]]);
  // An UPDATE OR REPLACE that changes no rowid and no unique index compiles no deletion, so
  // SQLite's skipped SET NULL check (setNullUnchecked) does not apply to it.
  s.execute('CREATE TABLE u(a INTEGER PRIMARY KEY, b INTEGER REFERENCES u(a) ON DELETE SET NULL)');
  s.execute('INSERT OR REPLACE INTO u VALUES (1, 0)');
  assert.is(fails(s, 'UPDATE OR REPLACE u SET b = 0 WHERE a = 1', 'FOREIGN KEY constraint failed').code, 'SQLITE_CONSTRAINT_FOREIGNKEY');
  s.execute('UPDATE OR REPLACE u SET b = 0, a = 1 WHERE a = 1');
  assert.equal(rows(s, 'SELECT * FROM u'), [[1, 0]]);
});

test('CREATE TEMP TABLE and VIEW (or a temp. name) are refused, not made in main; TEMP INDEX and bad qualifiers fail as in SQLite', () => {
  const { s } = fresh();
  const lite = new Sqlite(':memory:');
  const TABLE = 'TEMP tables are not supported yet; create a regular table (without TEMP) and drop it when done';
  const VIEW = 'TEMP views are not supported yet; create a regular view (without TEMP) and drop it when done';
  for (const sql of ['CREATE TEMP TABLE a (x)', 'CREATE TEMPORARY TABLE a (x)', 'CREATE TABLE temp.a (x)', 'CREATE TEMP TABLE a AS SELECT 1', 'CREATE TEMP TABLE IF NOT EXISTS a (x)']) {
    assert.is(fails(s, sql, TABLE).code, 'SQLITE_ERROR');
  }
  for (const sql of ['CREATE TEMP VIEW v AS SELECT 1', 'CREATE VIEW "temp".v AS SELECT 1']) assert.is(fails(s, sql, VIEW).code, 'SQLITE_ERROR');
  s.execute('CREATE TABLE d (x)');
  lite.exec('CREATE TABLE d (x)');
  fails(s, 'CREATE INDEX temp.k ON d(x)', 'TEMP indexes are not supported yet; create the index without the temp. prefix');
  // SQLite's own errors, which no TEMP support would change.
  for (const sql of ['CREATE TEMP INDEX i ON d(x)', 'CREATE TEMP UNIQUE INDEX i ON d(x)', 'CREATE UNIQUE TEMP INDEX i ON d(x)', 'CREATE TEMP TABLE main.z (x)', 'CREATE TEMP VIEW main.z AS SELECT 1', 'CREATE TABLE foo.z (x)', 'CREATE INDEX foo.k ON d(x)']) {
    let want = '';
    try { lite.exec(sql); } catch (e) { want = (e as Error).message; }
    assert.ok(want !== '', sql);
    fails(s, sql, want);
  }
  assert.equal(rows(s, "SELECT group_concat(name) FROM sqlite_schema"), [['d']]);
  lite.close();
});

test('UPDATE OR REPLACE with foreign keys on the table: a replacement rechecks the indexes, and the row\'s own entry fails unless the last lookup found the row (seed 5065)', () => {
  const out = bothWithForeignKeys([
    // A VIRTUAL column that reads the assigned one puts its index among those checked.
    'CREATE TABLE t (a UNIQUE, v AS (a IS NOT 7) VIRTUAL, b UNIQUE, f REFERENCES t(b), UNIQUE (b, v))',
    "INSERT INTO t(rowid, a, b) VALUES (1, 0, 'p'), (2, 5, 'q')",
    'UPDATE OR REPLACE t SET a = 0 WHERE rowid = 2',
    'CREATE TABLE u (a UNIQUE, b UNIQUE, f REFERENCES u(b), c UNIQUE)',
    "INSERT INTO u(rowid, a, b, c) VALUES (1, 0, 'p', 1), (2, 5, 'q', 2)",
    'UPDATE OR REPLACE u SET a = 0, c = c WHERE rowid = 2',
    'UPDATE OR REPLACE u SET a = 0 WHERE rowid = 2',
    // The row's own entry looked up after the replacement: the recheck passes.
    'CREATE TABLE w (c UNIQUE, b UNIQUE, f REFERENCES w(b), a UNIQUE)',
    "INSERT INTO w(rowid, a, b, c) VALUES (1, 0, 'p', 1), (2, 5, 'q', 2)",
    'UPDATE OR REPLACE w SET a = 0, c = c WHERE rowid = 2',
    'SELECT u.rowid, u.a, w.rowid, w.a, w.c FROM u, w',
  ]);
  assert.equal(out.filter((_, i) => [2, 5, 6, 9, 10].includes(i)), ['SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: t.b, t.v', 'SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: u.c', 'ok ', 'ok ', 'ok 2|0|2|0|2']);
});

test.run();
