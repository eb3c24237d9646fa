import { test } from 'uvu';
import { runScript } from '../../tools/sim/script.ts';

test('a new node joins as a learner, catches up, and is promoted to voter automatically', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    propose 1 a x10
    deliver
    join 4
    conf 1 addLearner 4
    expect 1 learners=none               # takes effect when committed
    deliver
    expect 1 voters=1,2,3,4 learners=none
    run x3
    expect 4 voters=1,2,3,4 applied=14 data=a,a,a,a,a,a,a,a,a,a   # 13: addLearner, 14: promote
    expect 2 voters=1,2,3,4
  `);
});

test('a learner neither votes nor counts toward a quorum', () => {
  runScript(`
    cluster 1 2 3 autopromote=off
    campaign 1
    deliver
    join 4
    conf 1 addLearner 4
    deliver
    expect 1 voters=1,2,3 learners=4
    crash 2
    crash 3
    propose 1 x
    run x5
    expect 1 commit=3 last=4             # 1 + learner 4 is no quorum of {1,2,3}
    expect 4 last=4 commit=3
  `);
});

test('one membership change at a time; a new leader waits for its first commit', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    expect 1 role=precandidate
    deliver 1->* prevote
    deliver *->1 prevoteResp
    deliver 1->* vote
    deliver *->1 voteResp
    expect 1 role=leader commit=1
    join 4
    conf 1 addLearner 4 !RAFT_CONF_PENDING   # its noop is not committed yet
    deliver
    conf 1 addLearner 4
    join 5
    conf 1 addLearner 5 !RAFT_CONF_PENDING   # the first change is not committed yet
    deliver
    expect 1 voters=1,2,3,4                  # 4 caught up and was promoted in the same exchange
    conf 1 addLearner 5
    deliver
    expect 1 voters=1,2,3,4,5
  `);
});

test('a removed node cannot disrupt the cluster and its id can never be reused', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    partition 1 2 | 3
    conf 1 remove 3
    deliver                              # committed by 1 and 2; node 3 never hears of it
    expect 1 voters=1,2
    expect 3 voters=1,2,3
    heal
    run x200                             # node 3 keeps timing out and asking for votes
    expect 1 role=leader term=2
    expect 2 term=2 lead=1
    expect 3 term=2
    conf 1 addLearner 3 !RAFT_BAD_CONF_CHANGE
    propose 1 still-working
    run x2
    expect 2 data=still-working
  `);
});

test('two-node cluster: removing a follower needs its ack; a crashed peer blocks it until it returns', () => {
  runScript(`
    cluster 1 2
    campaign 1
    deliver
    expect 1 role=leader
    crash 2
    conf 1 remove 2
    run x30
    expect 1 voters=1,2 commit=2         # no quorum of {1,2} without node 2: nothing commits
    expect 1 role=follower               # check-quorum: it lost its only peer
    restart 2
    run x60                              # node 1 wins again (node 2 lacks the removal entry)
    expect leader 1
    expect 1 voters=1
    propose 1 alone
    expect 1 data=alone applied=5        # commits on its own now
    expect 2 voters=1,2                  # node 2 may never learn it was removed...
    run x100
    expect leader 1                      # ...but it cannot disturb node 1
    expect 1 applied=5
  `);
});

test('two-node cluster: the leader cannot remove itself; it transfers leadership first', () => {
  runScript(`
    cluster 1 2
    campaign 1
    deliver
    conf 1 remove 1 !RAFT_REMOVE_LEADER
    transfer 1 2
    deliver
    expect 2 role=leader term=3
    conf 2 remove 1
    deliver
    expect 2 voters=2
    propose 2 solo
    expect 2 data=solo
    run x100
    expect 2 role=leader term=3
  `);
});

test('a leader whose own removal commits (proposed by its predecessor) steps down', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    conf 1 remove 2
    deliver 1->2 append                   # only node 2 receives its own removal entry
    drop
    crash 1
    run x60                               # node 2 (longest log) wins with node 3's vote...
    expect 2 voters=1,3 role=follower     # ...commits its own removal, and steps aside
    expect 3 voters=1,3
    restart 1
    run x60
    expect leader 1,3
  `);
});

test.run();
