import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScript } from '../../tools/sim/script.ts';

test('the log is compacted once the snapshot threshold of applied entries is reached', () => {
  runScript(`
    cluster 1 2 3 threshold=10
    campaign 1
    deliver
    propose 1 v x7
    deliver
    expect 1 applied=9 snap=0
    propose 1 w
    deliver
    expect 1 applied=10 snap=10 last=10
    expect 2 snap=10
  `);
});

test('a follower too far behind receives the snapshot in chunks, then the entries after it', () => {
  const c = runScript(`
    cluster 1 2 3 chunk=16
    campaign 1
    deliver
    isolate 3
    propose 1 a x30
    deliver
    compact 1                 # node 1 drops entries 1..32; node 3 is at 2
    propose 1 after
    deliver
    expect 1 snap=32 last=33
    heal
    run x4
    expect 3 snap=32 applied=33 commit=33 last=33
  `);
  // The state machine snapshot is larger than one 16-byte chunk: several chunks were needed.
  const snapshotMsgs = c.sent.get('snapshot') ?? 0;
  const size = c.node(1).raft!.latestSnapshot()!.meta.size;
  assert.ok(size > 16 * 3, `snapshot size ${size}`);
  assert.ok(snapshotMsgs >= Math.ceil(size / 16), `${snapshotMsgs} chunks for ${size} bytes`);
  assert.is(c.node(3).sm.hash, c.node(1).sm.hash);
});

test('lost snapshot chunks are re-sent on the heartbeat and the transfer completes', () => {
  runScript(`
    cluster 1 2 3 chunk=16
    campaign 1
    deliver
    isolate 3
    propose 1 a x30
    deliver
    compact 1
    heal
    tick 1 x3                 # heartbeat: node 3 answers, the leader finds it needs a snapshot
    deliver 1->3
    deliver 3->1
    deliver 1->3 snapshot     # first chunk arrives
    drop 3->1                 # its ack is lost
    tick 1 x3                 # the heartbeat re-sends the unacknowledged chunk
    run x10
    expect 3 snap=32 applied=32
  `);
});

test('a node restarts from its snapshot plus the log after it', () => {
  const c = runScript(`
    cluster 1 2 3 threshold=10
    campaign 1
    deliver
    propose 1 v x12
    deliver
    propose 1 tail x3
    deliver
    expect 2 snap=14 applied=17 last=17   # compaction runs after the Ready that crossed the threshold
    crash 2
    restart 2
    expect 2 snap=14 applied=17 commit=17 last=17 data=tail,tail,tail
    run x5
    propose 1 more
    run x3
    expect 2 applied=18
  `);
  assert.is(c.node(2).sm.hash, c.node(1).sm.hash);
});

test.run();
