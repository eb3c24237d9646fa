/**
 * Three Raft drivers over real UDP on loopback, through Noise IK sessions authenticated by each
 * node's static key: election, replication, failover after the leader is killed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetCluster } from '../../tools/raft-net-cluster.ts';

test('three nodes over loopback elect a leader, replicate, and fail over when the leader is killed', async () => {
  const c = await NetCluster.start(3);
  try {
    const first = await c.waitLeader();
    for (let i = 0; i < 20; i++) await c.write(`k${i}`, `v${i}`);
    for (const n of c.nodes) {
      await n.driver.readBarrier();
      assert.is(n.sm.data.get('k19'), 'v19', `node ${n.id}`);
    }
    const t0 = Date.now();
    await c.kill(first);
    await c.write('after', 'failover');
    console.log(`    loopback failover: ${Date.now() - t0} ms from kill to the first acknowledged write`);
    const second = c.leader()!;
    assert.ok(second && second.id !== first.id);
    for (const n of c.nodes.filter((x) => x.running)) {
      await n.driver.readBarrier();
      for (let i = 0; i < 20; i++) assert.is(n.sm.data.get(`k${i}`), `v${i}`);
      assert.is(n.sm.data.get('after'), 'failover');
    }
    assert.ok(second.transport.stats.received > 0);
  } finally {
    await c.close();
  }
});

test.run();
