import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Database, SqlError, type Session } from '../../src/sql/index.ts';
import { decodeRecord, encodeRecord, prefixEnd, treePrefix } from '../../src/sql/codec.ts';
import { MemoryKv } from '../../src/storage/memory-kv.ts';
import { fresh } from './helpers.ts';

function show(v: unknown): string {
  return typeof v === 'bigint' ? `${v}` : JSON.stringify(v);
}

function outcome(run: () => unknown[][]): string {
  try {
    return `ok ${run().map((r) => r.map(show).join('|')).join(' ')}`;
  } catch (e) {
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
}

function ours(s: Session, sql: string): string {
  return outcome(() => {
    try {
      return s.execute(sql, [], { safeIntegers: true }).rows;
    } catch (e) {
      assert.instance(e, SqlError, `${sql} fails with an SqlError`);
      throw e;
    }
  });
}

function theirs(lite: Sqlite.Database, sql: string): string {
  return outcome(() => {
    const st = lite.prepare(sql);
    return st.reader ? (st.raw(true).all() as unknown[][]) : (st.run(), []);
  });
}

/**
 * Runs `setup` then each query on Trine and on SQLite, both with foreign keys off, asserts that
 * every query's rows (or error) agree and returns Trine's, which the caller states too so a test
 * fails when both engines change together. `schema`: table or index definitions to swap in after
 * the setup (SQLite's writable_schema, our schema rows), so the rows break the new constraints.
 */
function both(setup: string[], queries: string[], schema: Record<string, string> = {}): string[] {
  const { kv } = fresh();
  let s = new Database(kv).session();
  const dir = mkdtempSync(join(tmpdir(), 'trine-pragma-'));
  const file = join(dir, 'db');
  let lite = new Sqlite(file);
  lite.defaultSafeIntegers(true);
  try {
    for (const sql of ['PRAGMA foreign_keys = OFF', ...setup]) {
      s.execute(sql);
      lite.exec(sql);
    }
    if (Object.keys(schema).length) {
      // better-sqlite3's defensive mode refuses writable_schema.
      (lite as unknown as { unsafeMode(on: boolean): void }).unsafeMode(true);
      lite.exec('PRAGMA writable_schema = ON');
      for (const [name, sql] of Object.entries(schema)) lite.prepare('UPDATE sqlite_schema SET sql = ? WHERE name = ?').run(sql, name);
      lite.close();
      lite = new Sqlite(file);
      lite.defaultSafeIntegers(true);
      rewriteSchema(kv, schema);
      s = new Database(kv).session();
    }
    const got = queries.map((q) => ours(s, q));
    assert.equal(got, queries.map((q) => theirs(lite, q)));
    return got;
  } finally {
    lite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Replaces the `sql` of the named schema rows in the key space, as writable_schema does. */
function rewriteSchema(kv: MemoryKv, schema: Record<string, string>): void {
  const p = treePrefix(1);
  const puts = [];
  for (const { key, value } of kv.scan({ gte: p, lt: prefixEnd(p) })) {
    const row = decodeRecord(value);
    const sql = schema[String(row[1])];
    if (sql !== undefined) puts.push({ type: 'put' as const, key: key.slice(), value: encodeRecord([row[0]!, row[1]!, row[2]!, row[3]!, sql]) });
  }
  assert.is(puts.length, Object.keys(schema).length, 'every schema row to rewrite exists');
  kv.write(puts);
}

const healthy = [
  'CREATE TABLE p(id INTEGER PRIMARY KEY, x TEXT NOT NULL UNIQUE)',
  'CREATE TABLE c(id INTEGER PRIMARY KEY, pid INT REFERENCES p(id), q TEXT COLLATE nocase REFERENCES p(x), CHECK (id > 0))',
  'CREATE INDEX cq ON c(q, pid)',
  'CREATE TABLE s(a INT, b TEXT) STRICT',
  "INSERT INTO p VALUES (1, 'a'), (2, 'b')",
  "INSERT INTO c VALUES (1, 1, 'a'), (2, 2, NULL), (3, NULL, 'b')",
  "INSERT INTO s VALUES (1, 'x')",
  'CREATE VIEW v AS SELECT * FROM c',
];

test('integrity_check and quick_check answer ok on a healthy database, in every form', () => {
  assert.equal(both(healthy, [
    'PRAGMA integrity_check', 'PRAGMA quick_check', 'PRAGMA integrity_check(3)', 'PRAGMA integrity_check(c)',
    'PRAGMA main.integrity_check', 'PRAGMA temp.quick_check', 'PRAGMA integrity_check(-1)',
    'SELECT * FROM pragma_integrity_check', "SELECT * FROM pragma_quick_check('s')", "SELECT * FROM pragma_integrity_check('c', 'main')",
    'PRAGMA integrity_check(nosuch)', "PRAGMA integrity_check('3')", 'SELECT * FROM pragma_integrity_check(5)',
    "SELECT * FROM pragma_integrity_check('c', 'temp')", 'PRAGMA integrity_check(0)', 'PRAGMA integrity_check(1.5)', 'PRAGMA integrity_check(v)',
    'PRAGMA foreign_key_check(v)',
  ]), [
    ...Array<string>(10).fill('ok "ok"'),
    'SQLITE_ERROR: no such table: nosuch', 'SQLITE_ERROR: no such table: 3', 'SQLITE_ERROR: no such table: 5',
    'SQLITE_ERROR: no such table: temp.c', 'ok "ok"', 'ok "ok"', 'ok "ok"', 'ok ',
  ]);
  const { s } = fresh();
  assert.equal(s.execute('PRAGMA integrity_check').columns, ['integrity_check']);
  assert.equal(s.execute('PRAGMA quick_check').columns, ['quick_check']);
});

test('integrity_check reports rows that break NOT NULL, STRICT types and CHECKs, and stale indexes', () => {
  const setup = [
    'CREATE TABLE t(a INT, b TEXT, c ANY)',
    'CREATE INDEX ta ON t(a)',
    'CREATE INDEX tc ON t(c)',
    'CREATE INDEX tb ON t(b)',
    "INSERT INTO t VALUES (1, NULL, 'x'), ('two', 'y', NULL), (3, 'z', 5)",
  ];
  const schema = {
    t: 'CREATE TABLE t(a INT, b TEXT NOT NULL, c ANY CHECK (c < 1)) STRICT',
    ta: 'CREATE INDEX ta ON t(c)',
    tc: 'CREATE INDEX tc ON t(c) WHERE c > 0',
    tb: "CREATE INDEX tb ON t(b) WHERE b > 'y'",
  };
  assert.equal(both(setup, ['PRAGMA integrity_check', 'PRAGMA quick_check', 'PRAGMA integrity_check(2)', 'PRAGMA quick_check(t)'], schema), [
    'ok "NULL value in t.b" "CHECK constraint failed in t" "row 1 missing from index ta" "non-INT value in t.a" "row 2 missing from index ta" "CHECK constraint failed in t" "row 3 missing from index ta"',
    'ok "NULL value in t.b" "CHECK constraint failed in t" "non-INT value in t.a" "CHECK constraint failed in t"',
    'ok "NULL value in t.b" "CHECK constraint failed in t"',
    'ok "NULL value in t.b" "CHECK constraint failed in t" "non-INT value in t.a" "CHECK constraint failed in t"',
  ]);
});

test('integrity_check reads generated columns as the rows hold them', () => {
  assert.equal(both(['CREATE TABLE t(a, b AS (a + 1), c AS (a * 2) STORED)', 'INSERT INTO t(a) VALUES (1), (NULL)'], ['PRAGMA integrity_check'], {
    t: 'CREATE TABLE t(a, b AS (a + 1) NOT NULL CHECK (b > 1), c AS (a * 2) STORED NOT NULL)',
  }), ['ok "NULL value in t.b" "NULL value in t.c"']);
});

test('integrity_check finds index entries without their row and duplicate UNIQUE keys', () => {
  const setup = ['CREATE TABLE t(a, b)', 'CREATE INDEX ta ON t(a)', 'INSERT INTO t VALUES (1, 1), (1, 2), (2, 3)'];
  assert.equal(both(setup, ['PRAGMA integrity_check', 'PRAGMA integrity_check(t)', 'PRAGMA quick_check'], { ta: 'CREATE UNIQUE INDEX ta ON t(a)' }), [
    'ok "non-unique entry in index ta"', 'ok "non-unique entry in index ta"', 'ok "ok"',
  ]);
  // A partial index's surplus entries pass, a full index's missing ones do not.
  assert.equal(both(setup, ['PRAGMA integrity_check'], { ta: 'CREATE UNIQUE INDEX ta ON t(a) WHERE b > 1' }), ['ok "ok"']);
  const partial = ['CREATE TABLE t(a, b)', 'CREATE INDEX ta ON t(a) WHERE b > 1', 'INSERT INTO t VALUES (1, 1), (1, 2), (2, 3)'];
  assert.equal(both(partial, ['PRAGMA integrity_check'], { ta: 'CREATE INDEX ta ON t(a)' }), [
    'ok "wrong # of entries in index ta" "row 1 missing from index ta"',
  ]);
});

test('foreign_key_check lists each orphan row per key, and nothing when every parent exists', () => {
  const setup = [
    'CREATE TABLE p(id INTEGER PRIMARY KEY, x TEXT UNIQUE)',
    'CREATE TABLE c(id INTEGER PRIMARY KEY, pid INT REFERENCES p(id), q TEXT COLLATE nocase REFERENCES p(x), r REFERENCES gone)',
    'CREATE TABLE ok(id INTEGER PRIMARY KEY, pid REFERENCES p)',
    "INSERT INTO p VALUES (1, 'X')",
    "INSERT INTO c VALUES (1, 1, 'x', NULL), (2, 5, NULL, NULL), (3, NULL, 'X', 3), (4, 'abc', 'X', NULL), (5, '1', NULL, NULL)",
    'INSERT INTO ok VALUES (1, 1), (2, NULL)',
  ];
  assert.equal(both(setup, [
    'PRAGMA foreign_key_check', 'PRAGMA foreign_key_check(c)', 'PRAGMA foreign_key_check(ok)', 'PRAGMA foreign_key_check(p)',
    'PRAGMA temp.foreign_key_check', 'PRAGMA foreign_key_check(nosuch)', "SELECT * FROM pragma_foreign_key_check('c', 'temp')",
    "SELECT \"table\", rowid, parent, fkid FROM pragma_foreign_key_check WHERE fkid = 2",
  ]), [
    'ok "c"|1|"p"|1 "c"|2|"p"|2 "c"|3|"gone"|0 "c"|4|"p"|2',
    'ok "c"|1|"p"|1 "c"|2|"p"|2 "c"|3|"gone"|0 "c"|4|"p"|2',
    'ok ', 'ok ', 'ok ',
    'SQLITE_ERROR: no such table: nosuch', 'SQLITE_ERROR: no such table: temp.c',
    'ok "c"|2|"p"|2 "c"|4|"p"|2',
  ]);
  const { s } = fresh();
  assert.equal(s.execute('PRAGMA foreign_key_check').columns, ['table', 'rowid', 'parent', 'fkid']);
});

test('foreign_key_check fails on a parent key that has no UNIQUE index', () => {
  assert.equal(both(['CREATE TABLE p(a, b)', 'CREATE TABLE c(x REFERENCES p(a))', 'INSERT INTO c VALUES (1)'], ['PRAGMA foreign_key_check']), [
    'SQLITE_ERROR: foreign key mismatch - "c" referencing "p"',
  ]);
  // Nor is the rowid of a parent without a PRIMARY KEY its implicit key.
  assert.equal(both(['CREATE TABLE p(a)', 'CREATE TABLE c(x REFERENCES p)'], ['PRAGMA foreign_key_check']), [
    'SQLITE_ERROR: foreign key mismatch - "c" referencing "p"',
  ]);
});

test('foreign_key_check finds parents by composite UNIQUE keys, TEXT primary keys and the parent affinity', () => {
  const setup = [
    'CREATE TABLE p1(a TEXT PRIMARY KEY, b)',
    'CREATE TABLE p2(a, b, UNIQUE(b, a))',
    'CREATE TABLE p4(a REAL UNIQUE, b INTEGER UNIQUE COLLATE nocase)',
    'CREATE TABLE c1(x REFERENCES p1, y, z, FOREIGN KEY (y, z) REFERENCES p2(a, b))',
    'CREATE TABLE c3(x REFERENCES p4(a), y TEXT REFERENCES p4(a))',
    "INSERT INTO p1 VALUES ('k', 1), ('5', 2)",
    "INSERT INTO p2 VALUES (1, 2), ('x', 'y')",
    'INSERT INTO p4 VALUES (1, 1), (2.5, 2)',
    "INSERT INTO c1 VALUES ('k', 1, 2), ('K', 2, 1), (5, 'x', 'y'), (NULL, 1, NULL), ('5', '1', 2)",
    "INSERT INTO c3 VALUES (1, '1'), (1.0, '1.0'), ('1', 1), (2.5, '2.5'), (3, '3')",
  ];
  assert.equal(both(setup, ['PRAGMA foreign_key_check(c1)', 'PRAGMA foreign_key_check(c3)']), [
    'ok "c1"|2|"p2"|0 "c1"|2|"p1"|1 "c1"|5|"p2"|0',
    'ok "c3"|5|"p4"|0 "c3"|5|"p4"|1',
  ]);
});

test('a schema prefix or argument must name main or temp; table-valued pragmas take at most their arguments', () => {
  assert.equal(both(['CREATE TABLE t(a)'], [
    'PRAGMA nosuch.table_info(t)', 'PRAGMA nosuch.foreign_keys', 'PRAGMA nosuch.bogus', 'PRAGMA temp.table_info(t)', 'PRAGMA Main.table_info(t)',
    "SELECT * FROM pragma_table_info('t', 'nosuch')", "SELECT name FROM pragma_table_info('t', 'temp')",
    "SELECT * FROM pragma_table_info('t', 'main', 'x')", "SELECT * FROM pragma_table_list('t', 'main')",
    "SELECT * FROM pragma_collation_list('t')", 'SELECT * FROM pragma_foreign_keys(1)',
    'PRAGMA temp.table_info(sqlite_master)', 'PRAGMA main.table_info(sqlite_temp_master)', "SELECT count(*) FROM pragma_table_xinfo('sqlite_temp_schema', 'temp')",
  ]), [
    'SQLITE_ERROR: unknown database nosuch', 'SQLITE_ERROR: unknown database nosuch', 'SQLITE_ERROR: unknown database nosuch', 'ok ',
    'ok 0|"a"|""|0|null|0', "SQLITE_ERROR: unknown database 'nosuch'", 'ok ',
    'SQLITE_ERROR: too many arguments on pragma_table_info() - max 2', 'SQLITE_ERROR: too many arguments on pragma_table_list() - max 1',
    'SQLITE_ERROR: too many arguments on pragma_collation_list() - max 0', 'SQLITE_ERROR: too many arguments on pragma_foreign_keys() - max 0',
    'ok 0|"type"|"TEXT"|0|null|0 1|"name"|"TEXT"|0|null|0 2|"tbl_name"|"TEXT"|0|null|0 3|"rootpage"|"INT"|0|null|0 4|"sql"|"TEXT"|0|null|0',
    'ok ', 'ok 5',
  ]);
});

test('table_list with a schema prefix lists that schema only', () => {
  assert.equal(both(['CREATE TABLE t(a)'], ['PRAGMA main.table_list', 'PRAGMA temp.table_list', 'PRAGMA main.table_list(t)']), [
    'ok "main"|"t"|"table"|1|0|0 "main"|"sqlite_schema"|"table"|5|0|0',
    'ok "temp"|"sqlite_temp_schema"|"table"|5|0|0',
    'ok "main"|"t"|"table"|1|0|0',
  ]);
});

test('index_xinfo spells collations as the definitions do', () => {
  const setup = [
    'CREATE TABLE t(a TEXT COLLATE NoCase UNIQUE, b, c COLLATE rtrim, UNIQUE(b COLLATE nocase, c), PRIMARY KEY(c, a COLLATE binary))',
    'CREATE INDEX e ON t(lower(a), b COLLATE RTrim, a, c) WHERE b COLLATE Binary > 0',
  ];
  assert.equal(both(setup, ['PRAGMA index_xinfo(sqlite_autoindex_t_1)', 'PRAGMA index_xinfo(sqlite_autoindex_t_2)', 'PRAGMA index_xinfo(sqlite_autoindex_t_3)', 'PRAGMA index_xinfo(e)']), [
    'ok 0|0|"a"|0|"NoCase"|1 1|-1|null|0|"BINARY"|0',
    'ok 0|1|"b"|0|"nocase"|1 1|2|"c"|0|"rtrim"|1 2|-1|null|0|"BINARY"|0',
    'ok 0|2|"c"|0|"rtrim"|1 1|0|"a"|0|"binary"|1 2|-1|null|0|"BINARY"|0',
    'ok 0|-2|null|0|"BINARY"|1 1|1|"b"|0|"RTrim"|1 2|0|"a"|0|"NoCase"|1 3|2|"c"|0|"rtrim"|1 4|-1|null|0|"BINARY"|0',
  ]);
});


test('a table-valued pragma whose argument comes from another table runs once per row of it', () => {
  const setup = ['CREATE TABLE p(id INTEGER PRIMARY KEY, x TEXT)', 'CREATE TABLE c(id INTEGER PRIMARY KEY, pid INT)', 'CREATE INDEX cp ON c(pid)'];
  assert.equal(both(setup, [
    'SELECT m.name, p.name FROM pragma_table_info(m.name) p, sqlite_master m',
    "SELECT m.name, p.name FROM pragma_table_info p, sqlite_master m WHERE p.arg = m.name AND m.type = 'table'",
    'SELECT m.name, i.name FROM pragma_index_list i JOIN sqlite_master m ON m.name = i.arg',
    'SELECT a.name, b.name FROM pragma_table_info(b.name) a, pragma_table_info(a.name) b',
  ]), [
    'ok "p"|"id" "p"|"x" "c"|"id" "c"|"pid"',
    'ok "p"|"id" "p"|"x" "c"|"id" "c"|"pid"',
    'ok "c"|"cp"',
    'SQLITE_ERROR: no query solution',
  ]);
});

test('a table-valued pragma runs once per value of an IN list or ORed equalities on its argument', () => {
  const setup = ['CREATE TABLE p(id INTEGER PRIMARY KEY, x TEXT)', 'CREATE TABLE c(id INTEGER PRIMARY KEY, pid INT)'];
  assert.equal(both(setup, [
    "SELECT p.name, p.arg FROM pragma_table_info p WHERE p.arg = 'p' OR p.arg = 'c'",
    "SELECT name FROM pragma_table_info WHERE arg IN ('p', 'c', 'p', NULL)",
    "SELECT name FROM pragma_table_info p WHERE p.arg = 'p' OR p.name = 'x'",
  ]), [
    'ok "id"|"c" "pid"|"c" "id"|"p" "x"|"p"',
    'ok "id" "pid" "id" "x"',
    'ok ',
  ]);
});

test.run();
