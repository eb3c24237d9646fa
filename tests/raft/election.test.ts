import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftNode, bootstrapState } from '../../src/raft/raft.ts';
import { ELECTION_TICKS } from '../../src/raft/limits.ts';
import { runScript } from '../../tools/sim/script.ts';
import { Prng } from '../../tools/sim/prng.ts';

test('three nodes elect one leader after a pre-vote round and a vote round', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    expect 1 role=precandidate term=1     # pre-vote does not spend a term
    deliver 1->* prevote
    expect 2 term=1 vote=0                # granting a pre-vote changes nothing on the voter
    deliver *->1 prevoteResp
    expect 1 role=candidate term=2 vote=1
    deliver
    expect 1 role=leader term=2 commit=2
    expect 2 role=follower term=2 lead=1 vote=1 commit=2
    expect 3 role=follower term=2 lead=1 commit=2
  `);
});

test('election timeouts are drawn from the injected randomness within [T, 2T)', () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new Prng(seed);
    const r = new RaftNode({ id: 1, rand: () => rng.next() }, bootstrapState([1, 2, 3]));
    let ticks = 0;
    while (r.role === 'follower' && ticks < 100) {
      r.tick();
      ticks++;
    }
    assert.ok(ticks >= ELECTION_TICKS && ticks < 2 * ELECTION_TICKS, `timeout ${ticks}`);
    seen.add(ticks);
  }
  assert.ok(seen.size >= 5, `timeouts should vary, saw ${[...seen].join(',')}`);
  // Same seed, same timeout: the core is deterministic.
  const a = new Prng(7), b = new Prng(7);
  const ra = new RaftNode({ id: 1, rand: () => a.next() }, bootstrapState([1, 2, 3]));
  const rb = new RaftNode({ id: 1, rand: () => b.next() }, bootstrapState([1, 2, 3]));
  let ta = 0, tb = 0;
  while (ra.role === 'follower') { ra.tick(); ta++; }
  while (rb.role === 'follower') { rb.tick(); tb++; }
  assert.is(ta, tb);
});

test('a node votes once per term and a candidate with a stale log loses', () => {
  runScript(`
    cluster 1 2 3 prevote=off checkquorum=off
    campaign 1
    deliver
    expect 1 role=leader term=2
    isolate 3
    propose 1 x
    deliver                       # node 2 gets entry 3, node 3 does not
    expect 2 last=3 commit=3
    expect 3 last=2
    crash 1
    heal
    campaign 3                    # node 3 lacks the committed entry 3: node 2 must refuse it
    expect 3 role=candidate term=3
    deliver 3->2 vote
    expect 2 term=3 vote=0        # adopts the term, withholds the vote
    deliver 2->3 voteResp
    expect 3 role=candidate
    campaign 2                    # the up-to-date node wins the next term
    deliver
    expect 2 role=leader term=4
    expect 3 role=follower lead=2 vote=2 last=4
  `);
});

test('pre-vote: a partitioned node does not inflate its term and cannot depose the leader on return', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    expect 1 role=leader term=2
    isolate 3
    tick 3 x200                   # many election timeouts, every pre-vote lost
    expect 3 term=2 role=precandidate
    heal
    tick 1 x3                     # heartbeat
    deliver
    expect 1 role=leader term=2
    expect 3 role=follower term=2 lead=1
  `);
});

test('without pre-vote the same partition forces a disruptive election', () => {
  runScript(`
    cluster 1 2 3 prevote=off checkquorum=off
    campaign 1
    deliver
    isolate 3
    tick 3 x100
    heal
    campaign 3
    deliver
    expect 1 role=follower
    expect 3 role=leader
  `);
});

test('check-quorum: a leader cut off from the majority steps down, the majority elects another', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    expect 1 role=leader term=2
    partition 1 | 2 3
    tick 1 x${2 * ELECTION_TICKS}   # a full check-quorum round without acks
    expect 1 role=follower term=2 lead=0
    run x60
    expect leader 2,3
    heal
    run x3
    expect leader 2,3
    expect 1 role=follower
  `);
});

test('followers that hear from a leader ignore vote requests (leader lease), even with a higher term', () => {
  runScript(`
    cluster 1 2 3 prevote=off
    campaign 1
    deliver
    expect 1 role=leader term=2
    campaign 3
    expect 3 role=candidate term=3
    deliver 3->* vote
    expect 1 role=leader term=2    # ignored: 3 saw no leader lately but 1 and 2 did
    expect 2 term=2 vote=1
    expect queue *->3 voteResp 0
  `);
});

test('a single-node cluster elects itself and commits alone', () => {
  runScript(`
    cluster 1
    campaign 1
    expect 1 role=leader term=2 commit=2
    propose 1 a
    expect 1 commit=3 applied=3 data=a
  `);
});

test.run();
