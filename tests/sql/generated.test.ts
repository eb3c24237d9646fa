/**
 * Generated columns and STRICT tables, checked against SQLite (better-sqlite3): each script runs
 * statement by statement on both engines, and the rows, errors and error codes must agree. A few
 * expected values are spelled out as well, so both engines being wrong the same way still fails.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Sqlite from 'better-sqlite3';
import { fails, fresh, one } from './helpers.ts';

function show(v: unknown): unknown {
  if (v instanceof Uint8Array) return `blob:${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'bigint') return `int:${v}`;
  if (typeof v === 'number') return `real:${v}`;
  return v;
}

/** Runs `script` (statements separated by `;` at line ends) on both engines; returns ours. */
function same(script: string): string[] {
  const lite = new Sqlite(':memory:');
  lite.defaultSafeIntegers(true);
  const { s } = fresh();
  const ours: string[] = [];
  for (const sql of script.split(/;\s*\n/).map((x) => x.trim()).filter(Boolean)) {
    let a: string, b: string;
    try {
      const st = lite.prepare(sql);
      a = JSON.stringify(st.reader ? (st.raw(true).all() as unknown[][]).map((r) => r.map(show)) : (st.run(), []));
    } catch (e) {
      a = `${(e as { code: string }).code}: ${(e as Error).message}`;
    }
    try {
      b = JSON.stringify(s.execute(sql, [], { safeIntegers: true }).rows.map((r) => r.map(show)));
    } catch (e) {
      b = `${(e as { code: string }).code}: ${(e as Error).message.replace(/ \(line \d+, column \d+\)$/, '')}`;
    }
    assert.is(b, a, sql);
    ours.push(b);
  }
  lite.close();
  return ours;
}

test('generated columns: values, dependency order, affinity, SELECT * and RETURNING', () => {
  const out = same(`
    CREATE TABLE t(a INT, b AS (a*2), c TEXT AS (b || 'x') STORED, d AS (c || e), e);
    INSERT INTO t(a, e) VALUES (1, 'z'), ('3', NULL);
    INSERT INTO t VALUES (5, 'q');
    SELECT *, typeof(b), typeof(c) FROM t;
    UPDATE t SET a = 10 WHERE a = 1 RETURNING *;
    INSERT INTO t(a) VALUES (7) RETURNING b, c, d;
    CREATE TABLE l(a, b AS (c), c AS (a));
    INSERT INTO l VALUES (4);
    SELECT * FROM l;
    CREATE TABLE g(id INTEGER PRIMARY KEY, x AS (id*2) STORED, y AS (id*3));
    INSERT INTO g(id) VALUES (NULL);
    INSERT INTO g DEFAULT VALUES;
    UPDATE g SET rowid = 20 WHERE id = 2;
    SELECT * FROM g;
    CREATE TABLE cs(a TEXT, b AS (a) COLLATE NOCASE, c INT AS (a), r REAL AS (length(a)));
    INSERT INTO cs VALUES ('X'), ('x'), ('5');
    SELECT a FROM cs WHERE b = 'x';
    SELECT c, typeof(c), r, typeof(r) FROM cs;
  `);
  assert.is(out[3], JSON.stringify([
    ['int:1', 'int:2', '2x', '2xz', 'z', 'integer', 'text'],
    ['int:3', 'int:6', '6x', null, null, 'integer', 'text'],
    ['int:5', 'int:10', '10x', '10xq', 'q', 'integer', 'text'],
  ]));
});

test('generated columns: errors with SQLite messages', () => {
  same(`
    CREATE TABLE t(a, b AS (a + 1), c);
    INSERT INTO t(b) VALUES (1);
    INSERT INTO t(a, c, b) VALUES (1, 2, 3);
    INSERT INTO t VALUES (1, 2, 3);
    INSERT INTO t VALUES (1);
    INSERT INTO t VALUES (1, 2);
    UPDATE t SET b = 3;
    UPDATE t SET a = 1, b = 3;
    CREATE TABLE l(a, b AS (c), c AS (b));
    CREATE TABLE l3(a, b AS (d), c AS (b), d AS (c), f AS (a));
    CREATE TABLE l4(a AS (a), b);
    CREATE TABLE k(a, b AS (a) PRIMARY KEY);
    CREATE TABLE k2(a, b DEFAULT 1 AS (a));
    CREATE TABLE e(a);
    ALTER TABLE e ADD COLUMN s AS (a) STORED;
    INSERT INTO e(a) VALUES (1);
    ALTER TABLE e ADD COLUMN s2 AS (a) STORED;
  `);
  const { s } = fresh();
  s.execute('CREATE TABLE t(a, b AS (a + 1))');
  assert.is(fails(s, 'INSERT INTO t(b) VALUES (1)', 'cannot INSERT into generated column "b"').code, 'SQLITE_ERROR');
  assert.is(fails(s, 'UPDATE t SET b = 1', 'cannot UPDATE generated column "b"').code, 'SQLITE_ERROR');
});

test('generated columns: NOT NULL, CHECK, UNIQUE, upserts, indexes', () => {
  same(`
    CREATE TABLE u(a, b AS (a+1) UNIQUE);
    INSERT INTO u VALUES (1);
    INSERT INTO u VALUES (1);
    INSERT INTO u VALUES (1) ON CONFLICT(b) DO UPDATE SET a = 100 RETURNING *;
    INSERT INTO u VALUES (1) ON CONFLICT(b) DO UPDATE SET b = 100;
    INSERT OR REPLACE INTO u VALUES (100);
    SELECT * FROM u;
    CREATE TABLE ck(a, b AS (a*2) CHECK (b < 10), c AS (a) NOT NULL);
    INSERT INTO ck VALUES (3);
    INSERT INTO ck VALUES (6);
    INSERT INTO ck VALUES (NULL);
    UPDATE ck SET a = 7;
    SELECT * FROM ck;
    CREATE TABLE r(a NOT NULL ON CONFLICT REPLACE DEFAULT 5, b AS (a * 2) NOT NULL, c NOT NULL ON CONFLICT REPLACE DEFAULT NULL);
    INSERT INTO r(a, c) VALUES (NULL, 1);
    INSERT INTO r(a, c) VALUES (NULL, NULL);
    SELECT * FROM r;
    CREATE TABLE r2(a, b AS (a) NOT NULL, c NOT NULL);
    INSERT INTO r2 VALUES (NULL, NULL);
    INSERT OR IGNORE INTO r2 VALUES (NULL, 1);
    SELECT * FROM r2;
    CREATE TABLE ix(a, b, v AS (a + b), s AS (a * b) STORED);
    INSERT INTO ix(a, b) VALUES (1, 2), (3, 4), (5, 6);
    CREATE INDEX ix_v ON ix(v);
    CREATE UNIQUE INDEX ix_s ON ix(s);
    SELECT a FROM ix WHERE v = 7;
    SELECT v, s FROM ix WHERE s > 2 ORDER BY s;
    UPDATE ix SET b = 0 WHERE a = 3;
    SELECT a FROM ix WHERE v = 3;
    INSERT INTO ix(a, b) VALUES (6, 5);
    CREATE TABLE up(a PRIMARY KEY, n, b AS (n * 2) UNIQUE);
    INSERT INTO up VALUES (1, 1);
    INSERT INTO up VALUES (2, 1) ON CONFLICT(b) DO UPDATE SET n = excluded.n + 10 RETURNING *;
    INSERT INTO up VALUES (1, 11) ON CONFLICT(a) DO UPDATE SET n = 5 RETURNING *, excluded.b;
    UPDATE OR REPLACE up SET n = 1 RETURNING *;
  `);
});

test('generated columns: ADD COLUMN (rows written before it compute the VIRTUAL column), DROP COLUMN, foreign key actions', () => {
  same(`
    CREATE TABLE m(a, b);
    INSERT INTO m VALUES (1, 2), (3, 4);
    ALTER TABLE m ADD COLUMN c AS (a + b);
    ALTER TABLE m ADD COLUMN d DEFAULT 7;
    ALTER TABLE m ADD COLUMN e AS (c * d) VIRTUAL;
    ALTER TABLE m ADD COLUMN f AS (a) CHECK (f > 2);
    INSERT INTO m VALUES (10, 20, 0);
    SELECT * FROM m;
    CREATE INDEX mc ON m(e);
    SELECT a FROM m WHERE e = 210;
    ALTER TABLE m DROP COLUMN e;
    ALTER TABLE m DROP COLUMN b;
    SELECT * FROM m;
    PRAGMA foreign_keys = ON;
    CREATE TABLE p(k PRIMARY KEY);
    CREATE TABLE c(a REFERENCES p(k) ON UPDATE CASCADE ON DELETE SET NULL, b AS (a || '!'), d AS (coalesce(b, 'none')) STORED);
    INSERT INTO p VALUES (1);
    INSERT INTO c(a) VALUES (1);
    UPDATE p SET k = 2;
    SELECT * FROM c;
    DELETE FROM p;
    SELECT * FROM c;
    CREATE TABLE pd(k INTEGER PRIMARY KEY);
    CREATE TABLE cd(a, r INTEGER DEFAULT 'd' REFERENCES pd(k) ON DELETE SET DEFAULT, g AS (a || r) STORED UNIQUE);
    INSERT INTO pd VALUES (1), (2);
    INSERT INTO cd(a, r) VALUES ('x', 1), ('x', 2);
    DELETE FROM pd;
    SELECT * FROM cd;
    CREATE TABLE n(a);
    INSERT INTO n VALUES (1);
    ALTER TABLE n ADD COLUMN f AS (NULL) NOT NULL;
    ALTER TABLE n ADD COLUMN f AS (a) CHECK (f > 5);
    ALTER TABLE n ADD COLUMN f AS (a) CHECK (f < 5);
    SELECT * FROM n;
    CREATE TABLE s(a INT) STRICT;
    INSERT INTO s(a) VALUES (1);
    ALTER TABLE s ADD COLUMN c INT DEFAULT 'x';
    ALTER TABLE s ADD COLUMN c INT DEFAULT '12';
    ALTER TABLE s ADD COLUMN e BLOB AS (1.5);
    ALTER TABLE s ADD COLUMN e INT AS ('x') NOT NULL CHECK (e > 1);
    ALTER TABLE s ADD COLUMN e INT AS (NULL) NOT NULL CHECK (e > 1);
    ALTER TABLE s ADD COLUMN e REAL AS (3) VIRTUAL;
    SELECT *, typeof(c), typeof(e) FROM s;
  `);
  const { s } = fresh();
  s.execute('CREATE TABLE m(a)');
  s.execute('INSERT INTO m VALUES (4)');
  s.execute('ALTER TABLE m ADD COLUMN v AS (a * 10)');
  assert.is(one(s, 'SELECT v FROM m'), 40n);
});

test('generated columns: a loop that ADD COLUMN made fails only the statements that compute a column in it', () => {
  const out = same(`
    CREATE TABLE e(a, b AS (a + 1));
    INSERT INTO e VALUES (1), (2);
    ALTER TABLE e ADD COLUMN v AS (v);
    ALTER TABLE e ADD COLUMN w AS (v + 1);
    ALTER TABLE e ADD COLUMN x AS (a * 2);
    SELECT a, b, x FROM e ORDER BY x;
    SELECT count(*) FROM e;
    SELECT * FROM e;
    SELECT a FROM e WHERE w IS NULL;
    SELECT a, (SELECT max(v) FROM e) FROM e;
    CREATE INDEX ex ON e(x);
    CREATE INDEX ev ON e(b, v);
    CREATE INDEX ew ON e(a) WHERE w > 0;
    SELECT a FROM e WHERE x = 4;
    INSERT INTO e(a) VALUES (3);
    INSERT INTO e(a) SELECT 1 WHERE 0;
    UPDATE e SET a = 3;
    UPDATE e SET a = 3 WHERE 0;
    DELETE FROM e WHERE a = 1 RETURNING a;
    DELETE FROM e WHERE a = 1;
    SELECT a FROM e;
  `);
  assert.equal(out.slice(5, 7), [JSON.stringify([['int:1', 'int:2', 'int:2'], ['int:2', 'int:3', 'int:4']]), JSON.stringify([['int:2']])]);
  assert.is(out[7], 'SQLITE_ERROR: generated column loop on "v"');
  assert.is(out[14], 'SQLITE_ERROR: generated column loop on "w"');
});

test('a generated column computed before the NOT NULL check reads x IN (..., c) as SQLite does: a NOT NULL column c adds no NULL (differential seed 90260)', () => {
  const out = same(`
    CREATE TABLE w (c0 REAL NOT NULL, c1 BLOB AS (0 IN (1, c0))) STRICT;
    INSERT INTO w VALUES (NULL);
    CREATE TABLE w2 (c0 REAL, c1 BLOB AS (0 IN (1, c0))) STRICT;
    INSERT INTO w2 VALUES (NULL);
    CREATE TABLE a(x);
    CREATE TABLE b(y NOT NULL);
    INSERT INTO a VALUES (1), (2);
    INSERT INTO b VALUES (1);
    SELECT x, 5 IN (7, y), 5 NOT IN (y, 8) FROM a LEFT JOIN b ON x = y ORDER BY x;
  `);
  assert.equal(out.slice(1, 4), ['SQLITE_CONSTRAINT_DATATYPE: cannot store INT value in BLOB column w.c1', '[]', '[]']);
  assert.is(out[8], '[["int:1","int:0","int:1"],["int:2",null,null]]');
});

test('STRICT tables: conversions, then the type check (SQLITE_CONSTRAINT_DATATYPE)', () => {
  same(`
    CREATE TABLE s(a INT, b REAL, c TEXT, d BLOB, e ANY, f INTEGER) STRICT;
    INSERT INTO s VALUES (1, 1, 1, x'01', 1, 1);
    INSERT INTO s VALUES ('2', '2.5', 2.5, x'01', '3', '7');
    INSERT INTO s(a) VALUES ('abc');
    INSERT INTO s(a) VALUES (2.5);
    INSERT INTO s(a) VALUES (2.0);
    INSERT INTO s(a) VALUES (' 4 ');
    INSERT INTO s(a) VALUES ('1e3');
    INSERT INTO s(a) VALUES ('0x10');
    INSERT INTO s(a) VALUES ('1e20');
    INSERT INTO s(b) VALUES ('x');
    INSERT INTO s(b) VALUES (9223372036854775807);
    INSERT INTO s(d) VALUES ('x');
    INSERT INTO s(c) VALUES (x'00');
    INSERT INTO s(c) VALUES (3);
    INSERT OR IGNORE INTO s(a) VALUES ('x');
    INSERT OR REPLACE INTO s(a) VALUES ('x');
    SELECT *, typeof(a), typeof(b), typeof(c), typeof(e) FROM s;
    UPDATE s SET a = 'zz';
    UPDATE s SET b = 5 WHERE a = 1 RETURNING b, typeof(b);
    CREATE TABLE st(id INTEGER PRIMARY KEY, a INT NOT NULL, b TEXT CHECK(b <> 'q')) STRICT;
    INSERT INTO st VALUES ('7', 1, '8');
    INSERT INTO st VALUES ('x', 1, '8');
    INSERT INTO st VALUES (NULL, NULL, 5);
    INSERT INTO st VALUES (NULL, 'x', NULL);
    INSERT INTO st VALUES (NULL, 1, 'q');
    SELECT *, typeof(b) FROM st;
    CREATE TABLE sg(a INT, c INT AS (a || 'y') VIRTUAL, b INT AS (a || 'x') STORED, d TEXT) STRICT;
    INSERT INTO sg(a, d) VALUES (1, x'00');
    INSERT INTO sg(a, d) VALUES (1, 'ok');
    CREATE TABLE sg2(a INT, b INT AS (a || 'x') STORED, c INT AS (a || 'y') VIRTUAL) STRICT;
    INSERT INTO sg2(a) VALUES (1);
    CREATE TABLE sg3(a TEXT, b INT AS (a), c REAL AS (a) STORED) STRICT;
    INSERT INTO sg3 VALUES ('12');
    INSERT INTO sg3 VALUES ('zz');
    SELECT *, typeof(b), typeof(c) FROM sg3;
    CREATE TABLE sg4(id INTEGER PRIMARY KEY, r REAL AS (id) STORED, b BLOB AS (abs(r)) STORED UNIQUE CHECK (b <> 13), c ANY NOT NULL) STRICT;
    INSERT INTO sg4(id, c) VALUES (NULL, NULL);
    INSERT INTO sg4(id, c) VALUES (NULL, 1);
    CREATE TABLE sg5(id INTEGER PRIMARY KEY, a TEXT UNIQUE, b BLOB AS (NULL) VIRTUAL NOT NULL, c ANY NOT NULL) STRICT;
    INSERT INTO sg5(id) VALUES (2);
    CREATE TABLE s6(id INTEGER PRIMARY KEY, b TEXT UNIQUE) STRICT;
    INSERT INTO s6 VALUES (1, 'a');
    INSERT INTO s6 VALUES (1, x'00');
    INSERT INTO s6 VALUES (2, 'b');
    UPDATE s6 SET id = 1, b = x'00' WHERE id = 2;
    PRAGMA foreign_keys = ON;
    CREATE TABLE p(k PRIMARY KEY);
    CREATE TABLE c(r INT REFERENCES p(k) ON UPDATE CASCADE, g TEXT AS (r || 'x') STORED) STRICT;
    INSERT INTO p VALUES (1);
    INSERT INTO c(r) VALUES (1);
    UPDATE p SET k = 'abc';
    UPDATE p SET k = '7';
    UPDATE p SET k = 8;
    SELECT r, typeof(r), g FROM c;
    CREATE TABLE s7(a INT NOT NULL, b TEXT CHECK (b <> 'q')) STRICT;
    INSERT INTO s7 VALUES (NULL, x'00');
    INSERT INTO s7 VALUES (1, x'00');
  `);
  const { s } = fresh();
  s.execute('CREATE TABLE s(a INT) STRICT');
  assert.is(fails(s, "INSERT INTO s VALUES ('abc')", 'cannot store TEXT value in INT column s.a').code, 'SQLITE_CONSTRAINT_DATATYPE');
  s.execute("INSERT INTO s VALUES ('12')");
  assert.is(one(s, 'SELECT a FROM s'), 12n);
});

test('STRICT: a NOT NULL column that OR REPLACE fills with its default is type-checked before the generated columns are computed again, only when there are some (differential seeds 350123, 352215)', () => {
  const out = same(`
    CREATE TABLE s (a INT DEFAULT 1.5, c TEXT AS (NULL) NOT NULL, PRIMARY KEY (a)) STRICT;
    INSERT OR REPLACE INTO s(a) VALUES (NULL);
    CREATE TABLE s2 (a INT NOT NULL DEFAULT 1.5, c TEXT AS (NULL) STORED NOT NULL) STRICT;
    INSERT OR REPLACE INTO s2(a) VALUES (NULL);
    CREATE TABLE s3 (a INT NOT NULL DEFAULT 2, c TEXT AS (NULL) NOT NULL) STRICT;
    INSERT OR REPLACE INTO s3(a) VALUES (NULL);
    CREATE TABLE s4 (a BLOB NOT NULL DEFAULT NULL, b INT NOT NULL) STRICT;
    INSERT OR REPLACE INTO s4 VALUES (NULL, '');
  `);
  assert.equal(out.slice(1), [
    'SQLITE_CONSTRAINT_DATATYPE: cannot store REAL value in INT column s.a', '[]',
    'SQLITE_CONSTRAINT_DATATYPE: cannot store REAL value in INT column s2.a', '[]',
    'SQLITE_CONSTRAINT_NOTNULL: NOT NULL constraint failed: s3.c', '[]',
    'SQLITE_CONSTRAINT_NOTNULL: NOT NULL constraint failed: s4.a',
  ]);
});

test.run();
