import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Database, type ReadSet } from '../../src/sql/index.ts';
import type { WriteOp } from '../../src/storage/kv.ts';
import { MemoryKv } from '../../src/storage/memory-kv.ts';
import { fails, fresh, rows } from './helpers.ts';

test('BEGIN ... COMMIT makes writes visible to other sessions only at commit', () => {
  const { db, s } = fresh();
  const other = db.session();
  s.execute('CREATE TABLE t(a)');
  for (const begin of ['BEGIN', 'BEGIN DEFERRED', 'BEGIN IMMEDIATE TRANSACTION', 'BEGIN EXCLUSIVE']) {
    s.execute('DELETE FROM t');
    s.execute(begin);
    assert.ok(s.inTransaction);
    s.execute('INSERT INTO t VALUES (1)');
    assert.equal(rows(s, 'SELECT count(*) FROM t'), [[1]], 'read your own writes');
    assert.equal(rows(other, 'SELECT count(*) FROM t'), [[0]], `${begin}: not visible before commit`);
    s.execute('COMMIT');
    assert.equal(rows(other, 'SELECT count(*) FROM t'), [[1]]);
  }
  s.execute('BEGIN; INSERT INTO t VALUES (2); END');
  assert.equal(rows(other, 'SELECT count(*) FROM t'), [[2]]);
});

test('ROLLBACK discards everything, including schema changes', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a); INSERT INTO t VALUES (1)');
  s.execute('BEGIN');
  s.execute('INSERT INTO t VALUES (2); CREATE TABLE u(b); INSERT INTO u VALUES (1); DROP TABLE t');
  s.execute('ROLLBACK');
  assert.equal(rows(s, 'SELECT * FROM t'), [[1]]);
  fails(s, 'SELECT * FROM u', 'no such table: u');
});

test('transaction statement errors', () => {
  const { s } = fresh();
  fails(s, 'COMMIT', 'cannot commit - no transaction is active');
  fails(s, 'ROLLBACK', 'cannot rollback - no transaction is active');
  fails(s, 'RELEASE x', 'no such savepoint: x');
  assert.is(fails(s, 'ROLLBACK TO nosuch', 'no such savepoint: nosuch').code, 'SQLITE_ERROR', 'outside a transaction too');
  fails(s, 'ROLLBACK TRANSACTION TO SAVEPOINT x', 'no such savepoint: x');
  assert.is(s.inTransaction, false);
  s.execute('BEGIN');
  fails(s, 'BEGIN', 'cannot start a transaction within a transaction');
  fails(s, 'ROLLBACK TO nosuch', 'no such savepoint: nosuch');
  s.execute('ROLLBACK');
});

test('SAVEPOINT, ROLLBACK TO and RELEASE nest', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a)');
  s.execute('BEGIN');
  s.execute('INSERT INTO t VALUES (1)');
  s.execute('SAVEPOINT a');
  s.execute('INSERT INTO t VALUES (2)');
  s.execute('SAVEPOINT b');
  s.execute('INSERT INTO t VALUES (3)');
  s.execute('ROLLBACK TO a');
  assert.equal(rows(s, 'SELECT a FROM t'), [[1]]);
  s.execute('INSERT INTO t VALUES (4)');
  s.execute('ROLLBACK TO a'); // the savepoint survives ROLLBACK TO
  s.execute('INSERT INTO t VALUES (5)');
  s.execute('RELEASE a');
  fails(s, 'ROLLBACK TO a', 'no such savepoint: a');
  s.execute('COMMIT');
  assert.equal(rows(s, 'SELECT a FROM t'), [[1], [5]]);
});

test('ROLLBACK TO restores rows overwritten several times within the transaction', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v)');
  s.execute("BEGIN; INSERT INTO t VALUES (1, 'a'); SAVEPOINT p; UPDATE t SET v = 'b'; UPDATE t SET v = 'c'");
  s.execute('ROLLBACK TO p');
  assert.equal(rows(s, 'SELECT v FROM t'), [['a']]);
  s.execute("UPDATE t SET v = 'd'; DELETE FROM t; ROLLBACK TO p; COMMIT");
  assert.equal(rows(s, 'SELECT v FROM t'), [['a']]);
});

test('a SAVEPOINT outside BEGIN starts a transaction that its RELEASE commits', () => {
  const { db, s } = fresh();
  const other = db.session();
  s.execute('CREATE TABLE t(a)');
  s.execute('SAVEPOINT outer_sp');
  s.execute('INSERT INTO t VALUES (1)');
  assert.ok(s.inTransaction);
  assert.equal(rows(other, 'SELECT count(*) FROM t'), [[0]]);
  s.execute('RELEASE outer_sp');
  assert.ok(!s.inTransaction);
  assert.equal(rows(other, 'SELECT count(*) FROM t'), [[1]]);
});

test('a transaction reads a consistent snapshot while others commit', () => {
  const { db, s } = fresh();
  const other = db.session();
  s.execute('CREATE TABLE t(a); INSERT INTO t VALUES (1)');
  s.execute('BEGIN');
  assert.equal(rows(s, 'SELECT count(*) FROM t'), [[1]]);
  other.execute('INSERT INTO t VALUES (2)');
  assert.equal(rows(s, 'SELECT count(*) FROM t'), [[1]], 'the snapshot taken at the first read holds');
  s.execute('COMMIT');
  assert.equal(rows(s, 'SELECT count(*) FROM t'), [[2]]);
});

test('commit hands one atomic batch and the read set to the committer', () => {
  const kv = new MemoryKv();
  const commits: { batch: WriteOp[]; reads: ReadSet }[] = [];
  const db = new Database(kv, { committer: (batch, reads) => { commits.push({ batch, reads }); kv.write(batch); } });
  const s = db.session();
  s.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v); CREATE INDEX tv ON t(v)');
  commits.length = 0;
  s.execute('BEGIN');
  s.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')");
  s.execute('SELECT * FROM t WHERE id = 1');
  s.execute("SELECT * FROM t WHERE v > 'a'");
  assert.is(commits.length, 0, 'nothing reaches the committer before COMMIT');
  s.execute('COMMIT');
  assert.is(commits.length, 1);
  const { batch, reads } = commits[0]!;
  assert.is(batch.length, 4, 'two rows and two index entries');
  assert.ok(batch.every((op) => op.type === 'put'));
  assert.ok(reads.keys.length > 0, 'point reads are recorded');
  assert.ok(reads.ranges.length > 0, 'range scans are recorded');
  s.execute('SELECT * FROM t');
  assert.is(commits.length, 1, 'read-only statements commit nothing');
});

test('a committer that refuses rolls the transaction back', () => {
  const kv = new MemoryKv();
  let refuse = false;
  const db = new Database(kv, { committer: (batch) => { if (refuse) throw new Error('conflict'); kv.write(batch); } });
  const s = db.session();
  s.execute('CREATE TABLE t(a)');
  refuse = true;
  assert.throws(() => s.execute('INSERT INTO t VALUES (1)'), /conflict/);
  refuse = false;
  assert.equal(s.execute('SELECT count(*) FROM t').rows, [[0]]);
  assert.ok(!s.inTransaction);
});

test.run();
