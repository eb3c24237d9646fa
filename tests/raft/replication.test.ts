import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScript } from '../../tools/sim/script.ts';

test('proposals replicate, commit on a quorum and apply in order everywhere', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    propose 1 a
    propose 1 b
    expect 1 commit=2 last=4          # not committed before a quorum holds them
    deliver
    expect 1 commit=4 applied=4 data=a,b
    expect 2 commit=4 applied=4 data=a,b
    expect 3 commit=4 applied=4 data=a,b
  `);
});

test('a follower forwards proposals to its leader', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    propose 3 from-follower
    expect queue 3->1 propose 1
    deliver
    expect 1 commit=3 data=from-follower
    expect 3 applied=3 data=from-follower
  `);
});

test('batching: many proposals in one Ready travel in one append per follower', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    propose 1 v x100
    expect queue 1->2 append 1
    expect queue 1->3 append 1
    deliver
    expect 2 last=102 commit=102
  `);
});

test('pipelining: the leader streams up to the in-flight window before any ack, then stops', () => {
  runScript(`
    cluster 1 2 3 inflight=4 batch=2
    campaign 1
    deliver
    propose 1 v x20
    expect queue 1->2 append 4        # 4 messages of 2 entries in flight, the rest waits
    deliver 1->2
    deliver 2->1                      # acks free the window: the leader sends the next ones
    expect queue 1->2 append 4
    deliver
    expect 2 last=22 commit=22
    expect 3 last=22 commit=22
  `);
});

test('Figure 8: an entry of an earlier term on a majority is not committed by counting', () => {
  const c = runScript(`
    cluster 1 2 3 4 5 batch=1 checkquorum=off
    campaign 1
    deliver
    expect 1 role=leader term=2 commit=2
    isolate 1
    propose 1 x                 # (a) index 3, term 2, on S1 only
    crash 1
    heal
    campaign 5                  # (b) S5 leads term 3 with S2-S4, appends its noop at 3
    deliver 5->* prevote
    deliver *->5 prevoteResp
    deliver 5->* vote
    deliver *->5 voteResp
    expect 5 role=leader term=3 last=3
    drop 5->*
    crash 5
    restart 1                   # (c) S1 leads term 4...
    campaign 1
    deliver 1->* prevote
    deliver *->1 prevoteResp    # refused (they voted in term 3), S1 learns term 3
    campaign 1
    deliver 1->* prevote
    deliver *->1 prevoteResp
    deliver 1->* vote
    deliver *->1 voteResp
    expect 1 role=leader term=4 last=4
    deliver 1->2 append         # probe at 3: rejected
    deliver 1->3 append
    drop 1->4
    deliver *->1 appendResp
    deliver 1->2 append         # back off: send 3:2 (one entry per append)
    deliver 1->3 append
    deliver *->1 appendResp     # S2 and S3 ack 3; the pipelined 4:4 follows...
    drop 1->*                   # ...and is lost
    expect 2 terms=1,2,2
    expect 3 terms=1,2,2
    expect 1 commit=2           # 3:2 is on S1, S2, S3, a majority, yet not committed
    crash 1                     # (d) S5 returns and legitimately overwrites index 3
    restart 5
    campaign 5
    deliver
    campaign 5
    deliver
    expect 5 role=leader term=5
    expect 2 terms=1,2,3,5 commit=4
    expect 3 terms=1,2,3,5 commit=4
  `);
  assert.ok(c.checker.maxCommit >= 4);
});

test('Figure 8 (e): once the leader commits an entry of its own term, the older one is safe', () => {
  runScript(`
    cluster 1 2 3 4 5 batch=1 checkquorum=off
    campaign 1
    deliver
    isolate 1
    propose 1 x
    crash 1
    heal
    campaign 5
    deliver 5->* prevote
    deliver *->5 prevoteResp
    deliver 5->* vote
    deliver *->5 voteResp
    drop 5->*
    crash 5
    restart 1
    campaign 1
    deliver 1->* prevote
    deliver *->1 prevoteResp
    campaign 1
    deliver 1->* prevote
    deliver *->1 prevoteResp
    deliver 1->* vote
    deliver *->1 voteResp
    drop 1->4
    drop 1->5
    isolate 4
    deliver                     # S2 and S3 get 3:2 and 4:4: both commit
    expect 1 role=leader term=4 commit=4 data=x
    crash 1
    heal
    restart 5
    campaign 5
    deliver
    campaign 5
    deliver
    expect 5 role=precandidate  # S2 and S3 hold a newer last term: S5 cannot win
    expect 2 terms=1,2,2,4
  `);
});

test('a partitioned old leader commits nothing, answers no reads, and adopts the new history', () => {
  runScript(`
    cluster 1 2 3 4 5
    campaign 1
    deliver
    partition 1 2 | 3 4 5
    propose 1 lost
    read 1 7
    run x3
    expect 1 commit=2 read7=none
    run x60
    expect leader 3,4,5
    expect 1 commit=2 read7=none
    propose 3 kept
    run x3
    heal
    run x10
    expect leader 3,4,5
    expect 1 data=kept applied=4
    expect 2 data=kept applied=4
  `);
});

test('a node rejoining with a longer but stale log loses its tail and cannot win', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    isolate 1
    propose 1 stale x5          # node 1's log: 7 entries, the last 5 never committed
    run x60
    expect leader 2,3
    expect 1 last=7 commit=2
    propose 2 fresh
    run x3
    heal
    run x40
    expect leader 2,3
    expect 1 data=fresh applied=4 last=4
  `);
});

test('fast back-off: a follower with a long divergent tail is repaired in a few round trips', () => {
  const c = runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    isolate 1
    propose 1 stale x60
    propose 1 stale x60
    propose 1 stale x60         # 180 divergent entries on node 1
    run x60
    expect leader 2,3
    propose 2 fresh x60
    propose 2 fresh x60
    propose 2 fresh x60         # 180 entries of a newer term at the same indexes
    run x3
  `);
  // A leader elected now starts optimistic (next = its last index + 1), far past the divergence.
  const lead = c.node(2).raft!.role === 'leader' ? 2 : 3;
  const other = lead === 2 ? 3 : 2;
  c.run(`
    transfer ${lead} ${other}
    run x5
    expect ${other} role=leader
  `);
  const before = c.sent.get('appendReject') ?? 0;
  c.run(`
    heal
    run x20
  `);
  const leader = c.node(other).raft!;
  const n1 = c.node(1).raft!;
  assert.is(n1.log.lastIndex(), leader.log.lastIndex());
  assert.is(n1.log.commit, leader.log.commit);
  assert.is(n1.log.term(100), leader.log.term(100));
  const rejects = (c.sent.get('appendReject') ?? 0) - before;
  // One-entry-at-a-time back-off would need ~180 rejections; by term it needs about one.
  assert.ok(rejects >= 1 && rejects <= 3, `rejections: ${rejects}`);
});

test.run();
