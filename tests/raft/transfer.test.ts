import { test } from 'uvu';
import { ELECTION_TICKS } from '../../src/raft/limits.ts';
import { runScript } from '../../tools/sim/script.ts';

test('leadership moves to an up-to-date follower at once, skipping pre-vote and the leader lease', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    transfer 1 2
    expect queue 1->2 timeoutNow 1
    deliver 1->2
    expect 2 role=candidate term=3       # forced campaign: no pre-vote round
    deliver
    expect 2 role=leader term=3
    expect 1 role=follower lead=2
    expect 3 lead=2
  `);
});

test('a lagging target is caught up first; proposals wait during the transfer', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    isolate 3
    propose 1 a x5
    deliver
    heal
    transfer 1 3
    expect queue 1->3 timeoutNow 0
    expect 1 transferee=3
    propose? 1 refused
    deliver
    expect 3 role=leader term=3 data=a,a,a,a,a
    expect 1 role=follower
  `);
});

test('a transfer to an unreachable node is abandoned after an election timeout', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    isolate 3
    transfer 1 3
    run x${ELECTION_TICKS}
    expect 1 role=leader term=2 transferee=0
    propose 1 resumed
    run x2
    expect 2 data=resumed
  `);
});

test('graceful shutdown: transfer, then stop the old leader; the cluster keeps its leader', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    propose 1 before
    deliver
    transfer 1 3
    deliver
    crash 1
    expect 3 role=leader term=3
    propose 3 after
    deliver
    expect 2 data=before,after
  `);
});

test.run();
