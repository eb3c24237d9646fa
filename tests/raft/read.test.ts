import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScript } from '../../tools/sim/script.ts';
import { encodeRequest } from '../../tools/sim/node.ts';
import { ClientSessions } from '../../src/raft/sessions.ts';

test('ReadIndex on the leader: answered once a heartbeat round confirms leadership', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    propose 1 a
    deliver
    read 1 7
    expect 1 read7=none
    expect queue 1->2 heartbeat 1        # the confirmation round
    deliver 1->*
    deliver 2->1                         # one follower + the leader = quorum
    expect 1 read7=3
  `);
});

test('ReadIndex from a follower: the leader confirms, the follower waits until it applied the index', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver
    propose 1 a
    deliver 1->2
    deliver 2->1                         # leader commits 3; node 3 has not even got entry 3
    read 3 9
    expect queue 3->1 readIndex 1
    deliver 3->1
    deliver 1->* heartbeat
    deliver *->1 heartbeatResp
    deliver 1->3 readIndexResp
    expect 3 read9=none applied=2        # it knows the read index (3) but has not applied it
    deliver
    expect 3 read9=3 applied=3
  `);
});

test('a new leader defers reads until it has committed an entry of its own term', () => {
  runScript(`
    cluster 1 2 3
    campaign 1
    deliver 1->* prevote
    deliver *->1 prevoteResp
    deliver 1->* vote
    deliver *->1 voteResp
    expect 1 role=leader commit=1
    read 1 4
    deliver 1->* heartbeat
    expect 1 read4=none
    deliver
    expect 1 read4=2 commit=2
  `);
});

test('lease reads: answered locally while the lease holds, not after it expires', () => {
  const c = runScript(`
    cluster 1 2 3 lease
    run x40                               # elect (after the start-up lease), heartbeats establish a lease
    expect leader 1,2,3
  `);
  const l = [1, 2, 3].find((id) => c.node(id).raft!.role === 'leader')!;
  const f = [1, 2, 3].find((id) => id !== l)!;
  const commit = c.node(l).raft!.log.commit;
  c.run(`
    isolate ${l}
    read ${l} 5
    expect ${l} read5=${commit}           # no round trip needed
    tick all x11                          # the lease (15 - 3 drift - 1 ticks after the last confirmed heartbeat) runs out
    read ${l} 6
    deliver
    expect ${l} read6=none                # now it needs a quorum, which it cannot reach
    expect ${f} role=follower             # the others have not yet started to vote for anyone else
  `);
});

test('a retried client request is applied at most once (session table)', () => {
  const c = runScript(`
    cluster 1 2 3
    campaign 1
    deliver
  `);
  const req = encodeRequest(1, 1, 42);
  c.node(1).raft!.propose(req);
  c.node(2).raft!.propose(req); // the client's retry through another node
  c.node(1).process();
  c.node(2).process();
  c.run('deliver');
  c.node(1).raft!.propose(encodeRequest(1, 2, 43));
  c.node(1).process();
  c.run('deliver');
  for (const id of [1, 2, 3]) {
    const sm = c.node(id).sm;
    assert.is(sm.index, 5, `node ${id} applied 3 request entries`);
    assert.is(sm.effects, 2, `node ${id}: the duplicate took no effect`);
    assert.is(sm.sessions.lastSeq('1'), 2);
  }
});

test('session table: duplicates return the first result, older requests are stale, oldest client evicted', () => {
  const t = new ClientSessions<string>(2);
  assert.equal(t.begin('a', 1, 10), { kind: 'apply' });
  t.finish('a', 1, 10, 'r1');
  assert.equal(t.begin('a', 1, 11), { kind: 'duplicate', result: 'r1' });
  t.finish('a', 2, 12, 'r2');
  assert.equal(t.begin('a', 1, 13), { kind: 'stale' });
  t.finish('b', 1, 14, 'x');
  t.finish('c', 1, 15, 'y');
  assert.is(t.size(), 2);
  assert.is(t.lastSeq('a'), 0, 'least recently active client forgotten');
  const u = ClientSessions.fromJSON<string>(t.toJSON());
  assert.equal(u.begin('c', 1, 16), { kind: 'duplicate', result: 'y' });
});

test.run();
