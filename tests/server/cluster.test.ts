/**
 * Three nodes on loopback founding one cluster: a write sent to a follower is forwarded to the
 * leader and replicated; killing the leader loses no acknowledged write, and a client connected to
 * it moves to another member (keys learnt from the welcome) and keeps writing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initCluster, startNodes } from '../../src/server/cluster.ts';
import type { TrineNode } from '../../src/server/node.ts';
import { adminUser, client, freePorts, tempDir, until } from './helpers.ts';

const admin = adminUser();

async function leaderOf(nodes: TrineNode[]): Promise<TrineNode> {
  let l: TrineNode | undefined;
  await until(() => { l = nodes.find((n) => n.status().role === 'leader'); return !!l; }, 20_000, 'a leader');
  return l!;
}

test('three nodes: follower writes are forwarded; killing the leader loses no acknowledged write', async () => {
  const ports = await freePorts(3);
  const dirs = await initCluster({ dir: tempDir('cluster'), size: 3, ports, admin: admin.user });
  const nodes = await startNodes(dirs);
  const live = new Set(nodes);
  try {
    for (const n of nodes) await n.waitFounded();
    const leader = await leaderOf(nodes);
    const follower = nodes.find((n) => n !== leader)!;
    assert.is(follower.system.members.length, 3);

    const cf = await client(follower.address, admin.pair);
    assert.is(cf.cluster.length, 3);
    await cf.query('CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)');
    const r = await cf.query('INSERT INTO kv VALUES (1, ?) RETURNING k, v', ['one']);
    assert.equal(r.rows, [[1, 'one']]);
    // Read-your-writes on the follower (linearizable read after the barrier).
    assert.equal((await cf.query('SELECT v FROM kv WHERE k = 1')).rows, [['one']]);
    // A transaction through the follower.
    await cf.transaction(async (tx) => {
      await tx.query("INSERT INTO kv VALUES (2, 'two')");
      assert.equal((await tx.query('SELECT count(*) FROM kv')).rows, [[2]]);
    });

    const cl = await client(leader.address, admin.pair);
    const acked: number[] = [1, 2];
    let k = 3;
    for (; k < 20; k++) { await cl.query('INSERT INTO kv VALUES (?, ?)', [k, `v${k}`]); acked.push(k); }

    // Kill the leader while both clients keep writing.
    const writers = [cl, cf].map(async (c, j) => {
      for (let i = 0; i < 15; i++) {
        const key = 1000 * (j + 1) + i;
        await c.query('INSERT INTO kv VALUES (?, ?)', [key, 'w']);
        acked.push(key);
      }
    });
    await new Promise((r) => setTimeout(r, 30));
    live.delete(leader);
    await leader.close({ transfer: false });
    await Promise.all(writers);

    const survivors = [...live];
    const newLeader = await leaderOf(survivors);
    assert.ok(newLeader !== leader);
    const check = await client(survivors[0]!.address, admin.pair);
    const rows = (await check.query('SELECT k FROM kv ORDER BY k')).rows.map((x) => x[0] as number);
    for (const a of acked) assert.ok(rows.includes(a), `acknowledged write ${a} lost`);
    assert.is(rows.length, new Set(rows).size);
    // Every survivor converges on the same rows (local reads, no barrier).
    for (const n of survivors) {
      const c = await client(n.address, admin.pair);
      let local: unknown[] = [];
      const t0 = Date.now();
      do { local = (await c.query('SELECT k FROM kv ORDER BY k', [], { consistency: 'none' })).rows.map((x) => x[0]); } while (local.length < rows.length && Date.now() - t0 < 10_000);
      assert.equal(local, rows);
      await c.close();
    }
    await Promise.all([cl.close(), cf.close(), check.close()]);
  } finally {
    for (const n of live) await n.close({ transfer: false });
  }
});

test('concurrent read-modify-write transactions through every node are serializable (no lost update)', async () => {
  const ports = await freePorts(3);
  const dirs = await initCluster({ dir: tempDir('cluster-ser'), size: 3, ports, admin: admin.user });
  const nodes = await startNodes(dirs);
  try {
    for (const n of nodes) await n.waitFounded();
    await leaderOf(nodes);
    const clients = await Promise.all([0, 1, 2, 0, 1, 2].map((i) => client(nodes[i]!.address, admin.pair)));
    await clients[0]!.query('CREATE TABLE counter (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO counter VALUES (1, 0)');
    const per = 6;
    await Promise.all(clients.map(async (c) => {
      for (let i = 0; i < per; i++) {
        await c.transaction(async (tx) => {
          const v = (await tx.query('SELECT v FROM counter WHERE id = 1')).rows[0]![0] as number;
          await tx.query('UPDATE counter SET v = ? WHERE id = 1', [v + 1]);
        }, 1000);
      }
    }));
    const final = (await clients[1]!.query('SELECT v FROM counter WHERE id = 1')).rows[0]![0];
    assert.is(final, clients.length * per);
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    for (const n of nodes) await n.close({ transfer: false });
  }
});

test.run();
