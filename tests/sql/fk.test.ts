/**
 * Foreign keys as SQLite enforces them: violations are counted and fail the statement at its end
 * (deferred ones at COMMIT), actions run as SQLite's triggers do. Each script runs on Trine and on
 * SQLite (better-sqlite3), and every statement's outcome, error message and code must agree; each
 * test also states the outcome it expects, so it fails when both engines change together.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FK_FAILED as FK, bothWithForeignKeys } from './helpers.ts';


const both = bothWithForeignKeys;


test('a multi-row INSERT whose later row supplies an earlier row\'s parent passes; the counter fails what stays broken', () => {
  const out = both([
    'CREATE TABLE t (a INTEGER PRIMARY KEY, b REFERENCES t(a))',
    'INSERT INTO t VALUES (1, 2), (2, NULL)',
    'INSERT INTO t VALUES (3, 4), (5, 3)',
    'SELECT * FROM t',
  ]);
  assert.equal(out, ['ok ', 'ok ', FK, 'ok 1|2 2|null']);
});

test('NO ACTION is checked at statement end: a DELETE and re-INSERT of the parent key in one statement passes', () => {
  const out = both([
    'CREATE TABLE p (a TEXT PRIMARY KEY)',
    'CREATE TABLE c (x REFERENCES p(a))',
    "INSERT INTO p VALUES ('k')",
    "INSERT INTO c VALUES ('k')",
    "INSERT OR REPLACE INTO p VALUES ('k')",
    "UPDATE p SET a = 'j'",
    'DELETE FROM p',
    'SELECT * FROM p, c',
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', 'ok ', FK, FK, 'ok "k"|"k"']);
});

test('a statement that breaks a foreign key and another constraint reports the other one; OR FAIL keeps nothing then', () => {
  const out = both([
    'CREATE TABLE p (a INTEGER PRIMARY KEY)',
    'CREATE TABLE c (x REFERENCES p(a), y UNIQUE)',
    'INSERT INTO p VALUES (1)',
    'INSERT INTO c VALUES (1, 1)',
    'INSERT INTO c VALUES (5, 2), (1, 1)',
    'INSERT OR FAIL INTO c VALUES (5, 3), (1, 1)',
    'INSERT OR FAIL INTO c VALUES (1, 7), (1, 1)',
    'SELECT * FROM c',
  ]);
  assert.equal(out.slice(4), ['SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: c.y', FK, 'SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: c.y', 'ok 1|1 1|7']);
});

test('ON UPDATE and ON DELETE SET DEFAULT: the default must itself have a parent', () => {
  const out = both([
    'CREATE TABLE p (a INTEGER PRIMARY KEY)',
    'CREATE TABLE c (x DEFAULT 7 REFERENCES p(a) ON UPDATE SET DEFAULT ON DELETE SET DEFAULT)',
    'INSERT INTO p VALUES (1), (2)',
    'INSERT INTO c VALUES (1), (2)',
    'UPDATE p SET a = 3 WHERE a = 1',
    'DELETE FROM p WHERE a = 2',
    'INSERT INTO p VALUES (7)',
    'UPDATE p SET a = 3 WHERE a = 1',
    'DELETE FROM p WHERE a = 2',
    'SELECT * FROM c',
  ]);
  assert.equal(out.slice(4), [FK, FK, 'ok ', 'ok ', 'ok ', 'ok 7 7']);
});

test('an integer child equals a REAL parent key only exactly', () => {
  const out = both([
    'CREATE TABLE p (a REAL UNIQUE)',
    'CREATE TABLE c (x INT REFERENCES p(a))',
    'INSERT INTO p VALUES (9007199254740993), (3)',
    'INSERT INTO c VALUES (9007199254740993)',
    'INSERT INTO c VALUES (9007199254740992), (3), (\'3.0\')',
    'SELECT * FROM c',
  ]);
  assert.equal(out.slice(3), [FK, 'ok ', 'ok 9007199254740992 3 3']);
});

test('DEFERRABLE INITIALLY DEFERRED: counted until COMMIT, which fails and leaves the transaction open', () => {
  const out = both([
    'CREATE TABLE p (a INTEGER PRIMARY KEY)',
    'CREATE TABLE c (x REFERENCES p(a) DEFERRABLE INITIALLY DEFERRED, y REFERENCES p(a) NOT DEFERRABLE INITIALLY DEFERRED)',
    'INSERT INTO c VALUES (1, NULL)',
    'INSERT INTO c VALUES (NULL, 1)',
    'BEGIN',
    'INSERT INTO c VALUES (1, NULL)',
    'COMMIT',
    'SAVEPOINT s',
    'INSERT INTO c VALUES (2, NULL)',
    'ROLLBACK TO s',
    'INSERT INTO p VALUES (1)',
    'COMMIT',
    'SAVEPOINT s2',
    'DELETE FROM p',
    'RELEASE s2',
    'DELETE FROM c',
    'RELEASE s2',
    'SELECT count(*) FROM p',
  ]);
  assert.equal(out.slice(2), [FK, FK, 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok 0']);
});

test('rows orphaned while foreign keys were off: an UPDATE that moves one passes when the statement nets no violation', () => {
  const out = both([
    'PRAGMA foreign_keys = OFF',
    'CREATE TABLE p (a INTEGER PRIMARY KEY)',
    'CREATE TABLE c (x INT REFERENCES p(a), y INT)',
    'INSERT INTO p VALUES (1)',
    'INSERT INTO c VALUES (5, 6), (7, 1), (8, 9)',
    'PRAGMA foreign_keys = ON',
    'UPDATE c SET x = y WHERE rowid < 3',
    'UPDATE c SET x = y WHERE rowid = 3',
    'DELETE FROM c WHERE rowid = 3',
    'SELECT * FROM c',
  ]);
  assert.equal(out.slice(6), ['ok ', FK, 'ok ', 'ok 6|6 1|1']);
});

test('INSERT OR REPLACE into tables that reference each other: SQLite leaves the key unchecked after a SET NULL pair of actions', () => {
  const script = (del: string, upd: string): string[] => [
    `CREATE TABLE a (x INTEGER PRIMARY KEY, y REFERENCES b(z) ON UPDATE ${upd})`,
    `CREATE TABLE b (k INTEGER PRIMARY KEY, z UNIQUE REFERENCES a(x) ON DELETE ${del})`,
    'INSERT INTO a VALUES (1, NULL)',
    'INSERT INTO b VALUES (1, 1)',
    'INSERT OR REPLACE INTO a VALUES (1, 99)',
    'SELECT * FROM a, b',
  ];
  assert.equal(both(script('SET NULL', 'SET NULL')).slice(4), ['ok ', 'ok 1|99|1|null']);
  assert.equal(both(script('SET NULL', 'CASCADE')).slice(4), [FK, 'ok 1|null|1|1']);
  assert.equal(both(script('CASCADE', 'SET NULL')).slice(4), [FK, 'ok 1|null|1|1']);
});

test('UPDATE OR REPLACE of a parent key with an ON UPDATE action: a replacement fails on the row\'s own entries in the indexes checked before', () => {
  const script = (action: string, b: string): string[] => [
    'CREATE TABLE p (a TEXT UNIQUE, b UNIQUE)',
    `CREATE TABLE c (x REFERENCES p(a) ON UPDATE ${action})`,
    `INSERT INTO p VALUES ('0', 0), ('k', ${b})`,
    "UPDATE OR REPLACE p SET a = '0' WHERE rowid = 2",
    'SELECT rowid, * FROM p',
  ];
  assert.equal(both(script('RESTRICT', "'z'")).slice(3), ['SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: p.b', 'ok 1|"0"|0 2|"k"|"z"']);
  assert.equal(both(script('NO ACTION', "'z'")).slice(3), ['ok ', 'ok 2|"0"|"z"']);
  assert.equal(both(script('CASCADE', 'NULL')).slice(3), ['ok ', 'ok 2|"0"|null']);
  // An index that the UPDATE changes holds no entry of the row's to conflict with.
  const changed = both([
    'CREATE TABLE p (a TEXT UNIQUE, b, UNIQUE (b, a))',
    'CREATE TABLE c (x REFERENCES p(a) ON UPDATE RESTRICT)',
    "INSERT INTO p VALUES ('0', 0), ('k', 'z')",
    "UPDATE OR REPLACE p SET a = '0' WHERE rowid = 2",
  ]);
  assert.equal(changed.at(-1), 'ok ');
});

test('PRAGMA defer_foreign_keys counts immediate violations until COMMIT, skips RESTRICT, and ends with the transaction', () => {
  const out = both([
    'CREATE TABLE p (a INTEGER PRIMARY KEY)',
    'CREATE TABLE c (x REFERENCES p(a) ON DELETE RESTRICT)',
    'INSERT INTO p VALUES (1)',
    'INSERT INTO c VALUES (1)',
    'PRAGMA defer_foreign_keys = ON',
    'PRAGMA defer_foreign_keys',
    'INSERT INTO c VALUES (2)',
    'BEGIN',
    'PRAGMA defer_foreign_keys = ON',
    'INSERT INTO c VALUES (2)',
    'DELETE FROM p',
    'SAVEPOINT s',
    'INSERT INTO c VALUES (3)',
    'ROLLBACK TO s',
    'COMMIT',
    'DELETE FROM c WHERE x = 2',
    'INSERT INTO p VALUES (1)',
    'COMMIT',
    'PRAGMA defer_foreign_keys',
    'BEGIN',
    'PRAGMA defer_foreign_keys = ON',
    'INSERT INTO c VALUES (4)',
    'PRAGMA defer_foreign_keys = OFF',
    'INSERT INTO c VALUES (5)',
    'COMMIT',
    'SELECT * FROM c',
  ]);
  assert.equal(out.slice(5), ['ok 1', FK, 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok ', 'ok 0', 'ok ', 'ok ', 'ok ', 'ok ', FK, 'ok ', 'ok 1 4']);
});

test('a failed statement undoes its deferred counts only when SQLite journals it; OR FAIL in autocommit then fails the commit', () => {
  const out = both([
    'CREATE TABLE p (a INTEGER PRIMARY KEY)',
    'CREATE TABLE c (x REFERENCES p(a), y REFERENCES p(a) DEFERRABLE INITIALLY DEFERRED)',
    'BEGIN',
    'INSERT INTO c VALUES (1, 2), (NULL, NULL)',
    'COMMIT',
    'BEGIN',
    'INSERT INTO c VALUES (1, 2)',
    'COMMIT',
    'ROLLBACK',
    'CREATE TABLE d (x REFERENCES p(a) DEFERRABLE INITIALLY DEFERRED, y NOT NULL)',
    'INSERT OR FAIL INTO d VALUES (5, 1), (NULL, NULL)',
    'SELECT count(*) FROM d',
  ]);
  assert.equal(out.slice(2), ['ok ', FK, 'ok ', 'ok ', FK, FK, 'ok ', 'ok ', FK, 'ok 0']);
});

test('defer_foreign_keys ends with a statement that read a table, not with one that read none', () => {
  const script = (read: string) => [
    'CREATE TABLE t0(c2 INT UNIQUE)',
    'CREATE TABLE t1(c2)',
    'CREATE TABLE t2(c0 INTEGER PRIMARY KEY, c2 INT REFERENCES t0(c2))',
    'PRAGMA defer_foreign_keys = ON',
    read,
    'BEGIN',
    'INSERT INTO t2 VALUES (NULL, 1)',
    'COMMIT',
    'ROLLBACK',
  ];
  assert.equal(both(script('SELECT c2 FROM t1')).slice(6), [FK, 'ok ', 'SQLITE_ERROR: cannot rollback - no transaction is active']);
  assert.equal(both(script('SELECT 1')).slice(6), ['ok ', FK, 'ok ']);
});

test('turning defer_foreign_keys off forgets a deferred key\'s violations too (differential seed 20046)', () => {
  const script = (pragma: string) => [
    'CREATE TABLE t0 (c0 INTEGER PRIMARY KEY)',
    'CREATE TABLE t1 (c0, c1 REFERENCES t0(c0) DEFERRABLE INITIALLY DEFERRED)',
    'BEGIN',
    'INSERT INTO t1 VALUES (2, 5)',
    pragma,
    'COMMIT',
  ];
  assert.equal(both(script('PRAGMA defer_foreign_keys = OFF')).slice(5), ['ok ']);
  assert.equal(both(script('PRAGMA defer_foreign_keys = ON')).slice(5), [FK]);
});

test('UPDATE OR REPLACE that checks every index conflicts with the row\'s own entry where a column is set to the value it had', () => {
  const out = both([
    'CREATE TABLE t (a INT UNIQUE, b INT, c INT UNIQUE, r REFERENCES t(c) ON UPDATE CASCADE)',
    'INSERT INTO t VALUES (1, 10, 100, NULL), (2, 20, 200, NULL), (3, 30, 300, NULL)',
    'UPDATE OR REPLACE t SET a = 3, c = c WHERE a = 1',
    'UPDATE OR REPLACE t SET a = 3, c = c + 1 WHERE a = 1',
    'SELECT a, c FROM t ORDER BY a',
  ]);
  assert.equal(out.slice(2), ['SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: t.c', 'ok ', 'ok 2|200 3|101']);
});

test('a parent key that is neither the PRIMARY KEY nor a UNIQUE index is a foreign key mismatch when a statement needs it', () => {
  const MM = (c: string, p: string): string => `SQLITE_ERROR: foreign key mismatch - "${c}" referencing "${p}"`;
  const out = both([
    'CREATE TABLE p(a, b)',
    'CREATE TABLE c(x REFERENCES p(a))',
    'INSERT INTO c VALUES (NULL)',
    'INSERT INTO p VALUES (1, 2)',
    'INSERT INTO p VALUES (3, 2), (4, 5)',
    'UPDATE p SET b = 3',
    'UPDATE p SET a = 3',
    'DELETE FROM p',
    'DELETE FROM c',
    'CREATE TABLE p2(a INTEGER PRIMARY KEY, b)',
    'CREATE TABLE c2(x, y, FOREIGN KEY (x, y) REFERENCES p2)',
    'INSERT INTO c2 VALUES (1, 2)',
    'INSERT OR REPLACE INTO p2 VALUES (1, 1)',
    'CREATE TABLE p6(a)',
    'CREATE UNIQUE INDEX p6a ON p6(a COLLATE NOCASE)',
    'CREATE TABLE c6(x REFERENCES p6(a))',
    'INSERT INTO c6 VALUES (1)',
    'CREATE TABLE p8(a, b, UNIQUE(b, a))',
    'CREATE TABLE c8(x, y, FOREIGN KEY (x, y) REFERENCES p8(a, b))',
    'INSERT INTO c8 VALUES (1, 2)',
    // Through a cascade: deleting from q1 deletes from q2, whose child q3 names no unique key.
    'CREATE TABLE q1(a INTEGER PRIMARY KEY)',
    'CREATE TABLE q2(x REFERENCES q1 ON DELETE CASCADE)',
    'CREATE TABLE q3(z REFERENCES q2(x))',
    'DELETE FROM q1',
    // DROP TABLE's own DELETE skips the key instead.
    'DROP TABLE p',
  ]);
  assert.equal(out.slice(2), [MM('c', 'p'), 'ok ', MM('c', 'p'), 'ok ', MM('c', 'p'), MM('c', 'p'), MM('c', 'p'), 'ok ', 'ok ', MM('c2', 'p2'), MM('c2', 'p2'),
    'ok ', 'ok ', 'ok ', MM('c6', 'p6'), 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok ', MM('q3', 'q2'), 'ok ']);
});

test('a PRIMARY KEY with its own collation is the parent key under that collation, for writes and foreign_key_check', () => {
  const out = both([
    'CREATE TABLE p(a TEXT, PRIMARY KEY(a COLLATE NOCASE))',
    'CREATE TABLE c(x REFERENCES p)',
    "INSERT INTO p VALUES ('A')",
    "INSERT INTO c VALUES ('a')",
    "INSERT INTO c VALUES ('b')",
    'PRAGMA foreign_keys = OFF',
    "INSERT INTO c VALUES ('b')",
    'PRAGMA foreign_key_check',
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok "c"|2|"p"|0']);
});

test('a parent row\'s children are found under the parent column\'s collation, not the child column\'s', () => {
  const out = both([
    'CREATE TABLE p(a TEXT COLLATE NOCASE UNIQUE)',
    'CREATE TABLE c(x TEXT REFERENCES p(a))',
    "INSERT INTO p VALUES ('A')",
    "INSERT INTO c VALUES ('a')",
    'DELETE FROM p',
    "UPDATE p SET a = 'B'",
    'CREATE TABLE p2(a TEXT UNIQUE)',
    'CREATE TABLE c2(x TEXT COLLATE NOCASE REFERENCES p2(a) ON DELETE SET NULL)',
    "INSERT INTO p2 VALUES ('A'), ('a')",
    "INSERT INTO c2 VALUES ('a')",
    "DELETE FROM p2 WHERE a = 'A'",
    'CREATE TABLE p3(a TEXT COLLATE NOCASE UNIQUE)',
    'CREATE TABLE c3(x TEXT REFERENCES p3(a) ON UPDATE CASCADE)',
    "INSERT INTO p3 VALUES ('A')",
    "INSERT INTO c3 VALUES ('a'), ('A')",
    "UPDATE p3 SET a = 'b'",
    'SELECT * FROM p, c, p2, c2, p3, c3',
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', FK, FK, 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ',
    'ok "A"|"a"|"a"|"a"|"b"|"b" "A"|"a"|"a"|"a"|"b"|"b"']);
});

test('INSERT OR REPLACE leaves a self-referencing SET NULL key unchecked only when it supplies the rowid (differential seed 60031)', () => {
  const out = both([
    'CREATE TABLE t(id INTEGER PRIMARY KEY, a, r DEFAULT 0 REFERENCES t(id) ON DELETE SET NULL)',
    'INSERT OR REPLACE INTO t DEFAULT VALUES',
    'INSERT OR REPLACE INTO t(a) VALUES (2)',
    'INSERT OR REPLACE INTO t(r) SELECT 0',
    'INSERT OR REPLACE INTO t VALUES (NULL, 2, 0)',
    'INSERT OR REPLACE INTO t(id, r) VALUES (NULL, 0)',
    'INSERT OR REPLACE INTO t(rowid, r) VALUES (7, 0)',
    'SELECT * FROM t',
  ]);
  assert.equal(out, ['ok ', FK, FK, FK, 'ok ', 'ok ', 'ok ', 'ok 1|2|0 2|null|0 7|null|0']);
});

test('a row entering a table is its own parent only when its key equals its parent columns as stored, under BINARY', () => {
  const out = both([
    'CREATE TABLE u(a INTEGER UNIQUE, b TEXT REFERENCES u(a))',
    "INSERT INTO u VALUES (1, '1')",
    "INSERT INTO u VALUES ('2', 2)",
    'CREATE TABLE v(a INTEGER UNIQUE, b REAL REFERENCES v(a))',
    'INSERT INTO v VALUES (1, 1)',
    'CREATE TABLE w(a TEXT COLLATE NOCASE UNIQUE, b TEXT REFERENCES w(a))',
    "INSERT INTO w VALUES ('A', 'a')",
    "INSERT INTO w VALUES ('B', 'B')",
    'CREATE TABLE x(a INTEGER PRIMARY KEY, b TEXT REFERENCES x(a))',
    "INSERT INTO x VALUES (1, '1')",
    'SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM v), (SELECT count(*) FROM w), (SELECT count(*) FROM x)',
  ]);
  assert.equal(out, ['ok ', FK, FK, 'ok ', 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok ', 'ok 0|1|1|1']);
});

test('an INSERT with RETURNING journals as SQLite\'s does: its failure undoes its deferred counts (differential seed 90093)', () => {
  const out = both([
    'CREATE TABLE t0(a UNIQUE)',
    'CREATE TABLE t1(a PRIMARY KEY, b REFERENCES t0(a), c REFERENCES t0(a) DEFERRABLE INITIALLY DEFERRED)',
    'SAVEPOINT sp',
    "INSERT INTO t1 VALUES (2, 'x', 1) RETURNING a",
    'RELEASE sp',
    'SAVEPOINT sp',
    "INSERT INTO t1 VALUES (2, 'x', 1)",
    'RELEASE sp',
    'ROLLBACK',
    'CREATE TABLE p(a, b)',
    'CREATE TABLE c(x REFERENCES p(a))',
    'INSERT INTO p VALUES (1, 2)',
    'INSERT INTO p VALUES (1, 2) RETURNING a',
  ]);
  const MM = 'SQLITE_ERROR: foreign key mismatch - "c" referencing "p"';
  assert.equal(out, ['ok ', 'ok ', 'ok ', FK, 'ok ', 'ok ', FK, FK, 'ok ', 'ok ', 'ok ', 'ok ', MM]);
});

test('an UPDATE that needs foreign key work checks a self-referencing key whatever it assigns, so an orphan row fails it (differential seed 250156)', () => {
  const out = both([
    'PRAGMA foreign_keys = OFF',
    'CREATE TABLE p (k UNIQUE)',
    'CREATE TABLE t (id INTEGER PRIMARY KEY, k UNIQUE, s REFERENCES t(k), f REFERENCES p(k), x)',
    "INSERT INTO p VALUES (1), (2)",
    "INSERT INTO t VALUES (1, 'a', 'zz', 1, 0), (2, 'b', 'a', 1, 0)",
    'PRAGMA foreign_keys = ON',
    'UPDATE t SET x = 1',
    'UPDATE t SET f = 2 WHERE id = 2',
    'UPDATE t SET f = 2 WHERE id = 1',
    "UPDATE t SET k = 'c' WHERE id = 2",
    "UPDATE t SET k = 'd' WHERE id = 1",
    'SELECT id, k, f, x FROM t',
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', FK, 'ok ', FK, 'ok 1|"a"|1|1 2|"c"|2|1']);
});

test('an UPDATE that leaves the old row in the table while it checks the new keys finds that row as a child of its new key', () => {
  const out = both([
    'PRAGMA foreign_keys = OFF',
    'CREATE TABLE t (id INTEGER PRIMARY KEY, k UNIQUE, s REFERENCES t(k))',
    "INSERT INTO t VALUES (1, 'a', 'zz'), (12, 'b', 'a')",
    'CREATE TABLE u (id INTEGER PRIMARY KEY, k UNIQUE, s REFERENCES u(k))',
    "INSERT INTO u VALUES (1, 'a', 'zz'), (12, 'b', 'a')",
    'PRAGMA foreign_keys = ON',
    "UPDATE t SET k = 'zz' WHERE id = 1",
    "UPDATE u SET k = 'zz', id = 2 WHERE id = 1",
    'SELECT * FROM t',
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', FK, 'ok 1|"zz"|"zz" 12|"b"|"a"']);
});

test('a DO UPDATE coded after another conflict handler whose ON UPDATE SET NULL program is newest leaves that key of its row unchecked (differential seed 350334)', () => {
  const out = both([
    'PRAGMA foreign_keys = OFF',
    'CREATE TABLE t (id INTEGER PRIMARY KEY, k UNIQUE, s REFERENCES t(k) ON UPDATE SET NULL)',
    'INSERT INTO t VALUES (1, 0, 99)',
    'PRAGMA foreign_keys = ON',
    'INSERT INTO t VALUES (NULL, 0, 5) ON CONFLICT (k) DO UPDATE SET k = excluded.k',
    'INSERT INTO t VALUES (NULL, 0, 5) ON CONFLICT (k) DO UPDATE SET k = 3 ON CONFLICT DO UPDATE SET k = 4',
    'INSERT INTO t VALUES (NULL, 3, 5) ON CONFLICT DO UPDATE SET k = 6',
    'SELECT * FROM t',
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok 1|6|99']);
});

test('a statement whose immediate count ends below zero fails; a one-row INSERT mends no immediate key (differential seed 351987)', () => {
  const out = both([
    'PRAGMA foreign_keys = OFF',
    'CREATE TABLE t (id INTEGER PRIMARY KEY, s REFERENCES t(id))',
    'INSERT INTO t VALUES (1, 5), (2, 5)',
    'PRAGMA foreign_keys = ON',
    'INSERT INTO t VALUES (3, 99), (5, NULL)',
    'CREATE TABLE p (k UNIQUE)',
    'CREATE TABLE c (x REFERENCES p(k))',
    'BEGIN',
    'PRAGMA defer_foreign_keys = ON',
    'INSERT INTO c VALUES (10), (11)',
    'SAVEPOINT sp',
    'PRAGMA defer_foreign_keys = OFF',
    'ROLLBACK TO sp',
    'INSERT INTO p VALUES (7), (11)',
    'DELETE FROM c WHERE x = 10',
    'INSERT INTO p VALUES (11)',
    'ROLLBACK',
    'SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM p)',
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', FK, 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', FK, FK, 'ok ', 'ok ', 'ok 2|0']);
});

test.run();
