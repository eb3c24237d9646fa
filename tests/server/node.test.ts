/**
 * One node end to end on loopback: `init` founds the cluster (members and users replicated into
 * the system key space), `open` serves SQL over the client protocol; unknown user keys and changed
 * server keys are refused; the data survives a restart.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { KnownHosts } from '../../src/crypto/known-hosts.ts';
import { generateKeyPair } from '../../src/crypto/keys.ts';
import { fingerprint } from '../../src/crypto/fingerprint.ts';
import { initNode } from '../../src/server/cluster.ts';
import { TrineNode } from '../../src/server/node.ts';
import { connect } from '../../src/client/client.ts';
import { encodeSystemBatch } from '../../src/server/state-machine.ts';
import { putUser } from '../../src/server/system.ts';
import { adminUser, client, freePorts, rejects, tempDir, until } from './helpers.ts';

const base = tempDir('node');
const admin = adminUser();

test('init founds a one-node cluster; a client runs DDL, writes and reads; data survives a restart', async () => {
  const [port] = await freePorts(1);
  const dir = join(base, 'a');
  const { id } = await initNode({ dir, listen: `127.0.0.1:${port}`, admin: admin.user });
  assert.is(statSync(join(dir, 'node_key')).mode & 0o777, 0o600);
  assert.is(statSync(join(dir, 'master.key')).mode & 0o777, 0o600);
  let node = await TrineNode.open({ dir });
  try {
    assert.ok(node.founded);
    assert.equal(node.system.members.map((m) => [m.id, m.port]), [[id, port]]);
    assert.equal(node.system.users.map((u) => [u.name, u.role]), [['admin', 'admin']]);
    const c = await client(node.address, admin.pair);
    assert.is(c.user, 'admin');
    assert.is(c.cluster.length, 1);
    await c.query('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)');
    const ins = await c.query('INSERT INTO t (name, score, data) VALUES (?, ?, ?), (?, ?, ?)', ['a', 1.5, Uint8Array.of(1, 2), 'b', null, null]);
    assert.is(ins.changes, 2);
    assert.is(ins.lastInsertRowid, 2);
    // Several statements in one request see each other's writes before they are replicated.
    await c.query("INSERT INTO t (name) VALUES ('c'); UPDATE t SET score = 9 WHERE name = 'c'");
    const r = await c.query('SELECT id, name, score, data FROM t ORDER BY id');
    assert.equal(r.columns, ['id', 'name', 'score', 'data']);
    assert.equal(r.rows, [[1, 'a', 1.5, Uint8Array.of(1, 2)], [2, 'b', null, null], [3, 'c', 9, null]]);
    const named = await c.query('SELECT name FROM t WHERE id = :id', { id: 2 }, { consistency: 'none' });
    assert.equal(named.rows, [['b']]);
    await rejects(c.query('SELECT * FROM nope'), (e: any) => /no such table/.test(e.message));
    await c.close();
  } finally {
    await node.close();
  }
  node = await TrineNode.open({ dir });
  try {
    const c = await client(node.address, admin.pair);
    const r = await c.query('SELECT count(*) FROM t');
    assert.equal(r.rows, [[3]]);
    await c.close();
  } finally {
    await node.close();
  }
});

test('transactions: explicit BEGIN/COMMIT, rollback, and a serialization conflict between two sessions', async () => {
  const [port] = await freePorts(1);
  const dir = join(base, 'b');
  await initNode({ dir, listen: `127.0.0.1:${port}`, admin: admin.user });
  const node = await TrineNode.open({ dir });
  try {
    const a = await client(node.address, admin.pair);
    const b = await client(node.address, admin.pair);
    await a.query('CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER)');
    await a.query('INSERT INTO acct VALUES (1, 100), (2, 100)');
    await a.transaction(async (tx) => {
      await tx.query('UPDATE acct SET bal = bal - 10 WHERE id = 1');
      await tx.query('UPDATE acct SET bal = bal + 10 WHERE id = 2');
    });
    assert.equal((await b.query('SELECT bal FROM acct ORDER BY id')).rows, [[90], [110]]);
    await a.query('BEGIN');
    await a.query('DELETE FROM acct');
    assert.ok(a.inTransaction);
    await a.query('ROLLBACK');
    assert.equal((await a.query('SELECT count(*) FROM acct')).rows, [[2]]);
    // a reads id 1, b changes it and commits, a's commit must fail.
    await a.query('BEGIN');
    const seen = (await a.query('SELECT bal FROM acct WHERE id = 1')).rows[0]![0] as number;
    await b.query('UPDATE acct SET bal = 0 WHERE id = 1');
    await a.query('UPDATE acct SET bal = ? WHERE id = 2', [seen]);
    await rejects(a.query('COMMIT'), (e: any) => e.code === 'TX_CONFLICT');
    assert.is(a.inTransaction, false);
    assert.equal((await a.query('SELECT bal FROM acct ORDER BY id')).rows, [[0], [110]]);
    await a.close();
    await b.close();
  } finally {
    await node.close();
  }
});

test('an unknown user key is refused; a changed server key is refused loudly; roles are enforced', async () => {
  const [port] = await freePorts(1);
  const dir = join(base, 'c');
  await initNode({ dir, listen: `127.0.0.1:${port}`, admin: admin.user });
  const node = await TrineNode.open({ dir });
  try {
    const stranger = generateKeyPair('stranger');
    await rejects(client(node.address, stranger), (e: any) => e.code === 'NET_REFUSED' || e.code === 'NET_TIMEOUT');
    const kh = KnownHosts.empty();
    kh.add(`127.0.0.1:${port}`, generateKeyPair().publicKey);
    await rejects(client(node.address, admin.pair, kh), (e: any) => e.code === 'NET_SERVER_KEY_CHANGED');
    // --fingerprint: the right one is accepted, a wrong one refused.
    await rejects(connect({ host: '127.0.0.1', port: port!, key: admin.pair, knownHosts: KnownHosts.empty(), fingerprint: fingerprint(stranger.publicKey), print: () => undefined }), (e: any) => e.code === 'NET_UNKNOWN_SERVER_KEY');
    // A user added through a replicated system command is admitted at once, with its role.
    const reader = generateKeyPair('reader');
    await until(() => node.status().role === 'leader', 10_000, 'leadership');
    await node.driver.propose(encodeSystemBatch([putUser({ name: 'reader', role: 'readonly', publicKey: reader.publicKey, comment: '' })]));
    await until(() => node.system.users.length === 2, 10_000, 'the new user');
    const rc = await client(node.address, reader);
    assert.is(rc.role, 'readonly');
    assert.equal((await rc.query('SELECT 2')).rows, [[2]]);
    await rejects(rc.query('CREATE TABLE x (a)'), (e: any) => e.code === 'AUTH_READONLY');
    await rc.close();
    const ok = await connect({ host: '127.0.0.1', port: port!, key: admin.pair, knownHosts: KnownHosts.empty(), fingerprint: fingerprint(node.publicKey), print: () => undefined });
    assert.equal((await ok.query('SELECT 1 + 1')).rows, [[2]]);
    await ok.close();
  } finally {
    await node.close();
  }
});

test.run();
