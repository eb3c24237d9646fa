/**
 * The client protocol's byte format (round trips, every truncation refused) and the at-most-once
 * rule: a request id that applied once is answered from the session record, never run again, both
 * in the state machine and over the wire.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { LsmEngine } from '../../src/storage/engine.ts';
import { connect as netConnect } from '../../src/net/udp.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { decode, encode, PROTOCOL_VERSION, type ClientMessage, type ServerMessage } from '../../src/server/protocol.ts';
import {
  EngineStateMachine, decodeCommand, decodeSession, encodeRequest, encodeSystemBatch, sessionKey, BOUNDARY_KEY,
} from '../../src/server/state-machine.ts';
import { initNode } from '../../src/server/cluster.ts';
import { TrineNode } from '../../src/server/node.ts';
import { adminUser, freePorts, tempDir } from './helpers.ts';

const client = randomBytes(16);
const messages: (ClientMessage | ServerMessage)[] = [
  { type: 'hello', version: 1, client },
  { type: 'forward', version: 1, client, user: 'ada', role: 'readwrite' },
  { type: 'query', id: 7, consistency: 'none', sql: 'SELECT ?', params: [null, 1n, -(2n ** 63n), 1.5, 'é', Uint8Array.of(0, 255)] },
  { type: 'query', id: 2 ** 40, consistency: 'linearizable', sql: 'SELECT :a', params: { ':a': 'x', b: 2n } },
  { type: 'welcome', version: 1, node: 3, user: 'ada', role: 'admin', leader: 1, members: [{ id: 1, host: '::1', port: 7420, publicKey: randomBytes(32) }], raft: { role: 'follower', term: 9, commit: 12, applied: 11 } },
  { type: 'result', id: 7, inTransaction: true, columns: ['a', 'b'], rows: [[1n, null], ['x', Uint8Array.of(1)]], changes: 3, lastInsertRowid: 2n ** 62n },
  { type: 'error', id: 8, inTransaction: false, retryable: true, code: 'TX_CONFLICT', message: 'retry' },
];

test('every message round-trips; every truncation and trailing byte is refused', () => {
  for (const m of messages) {
    const b = encode(m);
    assert.equal(decode(b), m);
    for (let cut = 0; cut < b.length; cut++) assert.throws(() => decode(b.subarray(0, cut)), (e: any) => e.code === 'PROTOCOL_ERROR', `${m.type} cut at ${cut}`);
    const longer = new Uint8Array(b.length + 1);
    longer.set(b);
    assert.throws(() => decode(longer), (e: any) => e.code === 'PROTOCOL_ERROR');
  }
});

test('the state machine applies a request id once and keeps its answer; system batches stay in the system space', async () => {
  const engine = LsmEngine.open(join(tempDir('sm-dedup'), 'data'), { masterKey: new Uint8Array(32).fill(3) });
  const sm = new EngineStateMachine(engine);
  const seen: boolean[] = [];
  sm.onApplied = (cmds) => { for (const c of cmds) if (c.seq !== undefined) seen.push(c.fresh); };
  const put = (v: number) => [{ type: 'put' as const, key: Uint8Array.of(2, 1), value: Uint8Array.of(v) }];
  const e = (index: number, data: Uint8Array) => ({ index, term: 1, type: 'normal' as const, data });
  // The same id twice in one apply and once more later: only the first writes.
  await sm.apply([e(1, encodeRequest(client, 5, put(1), Uint8Array.of(0xaa))), e(2, encodeRequest(client, 5, put(2), Uint8Array.of(0xbb)))], { index: 2, term: 1, conf: null });
  await sm.apply([e(3, encodeRequest(client, 4, put(3), Uint8Array.of(0xcc)))], { index: 3, term: 1, conf: null });
  assert.equal(seen, [true, false, false]);
  assert.equal([...engine.get(Uint8Array.of(2, 1))!], [1]);
  assert.equal(decodeSession(engine.get(sessionKey(client))!), { seq: 5, answer: Uint8Array.of(0xaa) });
  await sm.apply([e(4, encodeRequest(client, 6, put(4), Uint8Array.of(0xdd)))], { index: 4, term: 1, conf: null });
  assert.equal([...engine.get(Uint8Array.of(2, 1))!], [4]);
  const sys = encodeSystemBatch([{ type: 'put', key: Uint8Array.of(0, 0x4d, 1), value: Uint8Array.of(1) }]);
  assert.is(decodeCommand(sys).ops.length, 1);
  assert.throws(() => encodeSystemBatch([{ type: 'put', key: BOUNDARY_KEY, value: Uint8Array.of(1) }]), (x: any) => x.code === 'SERVER_RESERVED_KEY');
  assert.throws(() => encodeSystemBatch([{ type: 'put', key: sessionKey(client), value: Uint8Array.of(1) }]), (x: any) => x.code === 'SERVER_RESERVED_KEY');
  assert.throws(() => encodeSystemBatch([{ type: 'put', key: Uint8Array.of(2, 1), value: Uint8Array.of(1) }]), (x: any) => x.code === 'SERVER_RESERVED_KEY');
  await engine.close();
});

test('over the wire, a retried request id returns the first answer and does not apply twice', async () => {
  const admin = adminUser();
  const [port] = await freePorts(1);
  const dir = join(tempDir('proto'), 'n');
  await initNode({ dir, listen: `127.0.0.1:${port}`, admin: admin.user });
  const node = await TrineNode.open({ dir });
  try {
    const open = async () => {
      const conn = await netConnect({ address: '127.0.0.1', port: port!, serverKey: node.publicKey, staticKey: admin.pair.privateKey });
      const s = conn.openStream();
      await s.send(encode({ type: 'hello', version: PROTOCOL_VERSION, client }));
      const w = decode((await s.next())!);
      assert.is(w.type, 'welcome');
      const ask = async (id: number, sql: string) => { await s.send(encode({ type: 'query', id, consistency: 'linearizable', sql, params: [] })); return (await s.next())!; };
      return { conn, ask };
    };
    const a = await open();
    await a.ask(1, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const first = await a.ask(2, "INSERT INTO t (v) VALUES ('once') RETURNING id");
    // The same id on a new connection (as after a failover): same bytes back, nothing new written.
    const b = await open();
    const again = await b.ask(2, "INSERT INTO t (v) VALUES ('once') RETURNING id");
    assert.equal([...again], [...first]);
    const count = decode(await b.ask(3, 'SELECT count(*) FROM t'));
    assert.equal(count.type === 'result' && count.rows, [[1n]]);
    const stale = decode(await b.ask(2, "INSERT INTO t (v) VALUES ('late')"));
    assert.equal(stale.type === 'result' && stale.rows, [[1n]], 'an applied id keeps answering with its first answer');
    const older = decode(await b.ask(1, "INSERT INTO t (v) VALUES ('older')"));
    assert.ok(older.type === 'error' && older.code === 'SERVER_STALE_REQUEST');
    await a.conn.close();
    await b.conn.close();
  } finally {
    await node.close();
  }
});

test.run();
