import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftLog } from '../../src/raft/log.ts';
import { Progress } from '../../src/raft/progress.ts';
import { isTrineError } from '../../src/crypto/errors.ts';
import type { Entry } from '../../src/raft/types.ts';

const e = (index: number, term: number, size = 1): Entry => ({ index, term, type: 'normal', data: new Uint8Array(size) });
const terms = (log: RaftLog) => log.entries.map((x) => x.term).join(',');

test('a delayed duplicate append does not truncate newer entries', () => {
  const log = new RaftLog(0, 0, [e(1, 1), e(2, 1), e(3, 2), e(4, 2)], 0, 0);
  assert.is(log.merge(1, [e(2, 1), e(3, 2)]), 3);
  assert.is(terms(log), '1,1,2,2');
  assert.is(log.lastIndex(), 4);
});

test('the first conflicting entry truncates the rest of the log', () => {
  const log = new RaftLog(0, 0, [e(1, 1), e(2, 1), e(3, 2), e(4, 2)], 1, 1);
  log.merge(1, [e(2, 1), e(3, 3)]);
  assert.is(terms(log), '1,1,3');
  assert.is(log.stable, 2, 'the truncated suffix must be persisted again');
});

test('overwriting a committed entry is refused loudly', () => {
  const log = new RaftLog(0, 0, [e(1, 1), e(2, 1)], 2, 2);
  assert.throws(() => log.merge(0, [e(1, 1), e(2, 5)]), (x: unknown) => isTrineError(x, 'RAFT_INVARIANT'));
});

test('slice honours the count and byte caps but always returns at least one entry', () => {
  const log = new RaftLog(0, 0, [e(1, 1, 10), e(2, 1, 10), e(3, 1, 10), e(4, 1, 10)], 0, 0);
  assert.is(log.slice(1, 2, 1000).length, 2);
  assert.is(log.slice(1, 10, 25).length, 2);
  assert.is(log.slice(1, 10, 5).length, 1);
  assert.is(log.slice(5, 10, 100).length, 0);
});

test('terms around a snapshot boundary, compaction and restore', () => {
  const log = new RaftLog(10, 3, [e(11, 3), e(12, 4), e(13, 4)], 12, 12);
  assert.is(log.term(10), 3);
  assert.is(log.term(9), -1, 'compacted');
  assert.is(log.term(14), -1, 'beyond the end');
  assert.is(log.firstIndexOfTerm(13), 12);
  assert.is(log.firstIndexOfTerm(11), 11, 'never below the snapshot');
  assert.is(log.lastIndexAtOrBelowTerm(13, 3), 11);
  log.compact(12);
  assert.is(log.snapIndex, 12);
  assert.is(log.snapTerm, 4);
  assert.is(terms(log), '4');
  assert.throws(() => log.compact(13), /beyond applied/);
  log.restore(20, 6);
  assert.is(log.lastIndex(), 20);
  assert.is(log.commit, 20);
  assert.is(log.lastTerm(), 6);
});

test('the election restriction compares last term first, then length', () => {
  const log = new RaftLog(0, 0, [e(1, 1), e(2, 2)], 0, 0);
  assert.ok(log.isUpToDate(2, 2));
  assert.ok(log.isUpToDate(1, 3), 'newer term wins even if shorter');
  assert.not.ok(log.isUpToDate(5, 1), 'longer but older loses');
  assert.not.ok(log.isUpToDate(1, 2));
});

test('a restart with a commit index beyond the log is refused (corrupt state)', () => {
  assert.throws(() => new RaftLog(0, 0, [e(1, 1)], 2, 0), /beyond the last entry/);
  assert.throws(() => new RaftLog(0, 0, [e(2, 1)], 0, 0), /expected 1/);
});

test('progress: the in-flight window pauses replication and acks free it', () => {
  const p = new Progress(1, 2);
  p.becomeReplicate();
  p.addInflight(5);
  assert.not.ok(p.paused());
  p.addInflight(9);
  assert.ok(p.paused());
  p.freeInflight(5);
  assert.is(p.inflightCount(), 1);
  assert.not.ok(p.paused());
  p.addInflight(12);
  p.freeFirstInflight();
  assert.is(p.inflightCount(), 1);
  p.update(12);
  p.freeInflight(12);
  assert.is(p.inflightCount(), 0);
  assert.is(p.match, 12);
  assert.is(p.next, 13);
  p.becomeProbe();
  assert.not.ok(p.paused());
  p.probeSent = true;
  assert.ok(p.paused());
  p.becomeSnapshot(40);
  assert.ok(p.paused());
});

test.run();
