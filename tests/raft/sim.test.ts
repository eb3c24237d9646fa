import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Checker, InvariantError } from '../../tools/sim/checker.ts';
import { SimFailure, Simulation, simulate } from '../../tools/sim/simulator.ts';
import type { Entry } from '../../src/raft/types.ts';

const entry = (index: number, term: number, byte = 0): Entry => ({ index, term, type: 'normal', data: new Uint8Array([byte]) });

test('the simulator is deterministic: one seed, one run', () => {
  const a = simulate({ seed: 42, steps: 600 });
  const b = simulate({ seed: 42, steps: 600 });
  assert.equal(a, b);
  const c = simulate({ seed: 43, steps: 600 });
  assert.not.equal(a, c);
});

test('a short seed sweep holds every invariant and converges', () => {
  for (let seed = 10_000; seed < 10_030; seed++) {
    const s = simulate({ seed, steps: 1000 });
    assert.ok(s.committed > 0, `seed ${seed} committed nothing`);
    assert.ok(s.requestsDone > 0);
  }
});

test('a failure names the seed and the replay command', () => {
  const sim = new Simulation(7, false);
  // Sabotage: make node 1 apply an entry that was never committed.
  sim.onEvent = () => {
    if (sim.step === 300) sim.checker.applied(1, entry(999_999, 1), 999_998);
  };
  try {
    sim.run(400);
    assert.unreachable('the sabotage must be detected');
  } catch (e) {
    assert.instance(e, SimFailure);
    assert.match((e as Error).message, 'seed 7');
    assert.match((e as Error).message, 'node --import tsx tools/sim/main.ts --seed 7 --steps 400');
  }
});

test('the checker catches two leaders in one term', () => {
  const c = new Checker();
  c.leader(1, 5, () => -1);
  assert.throws(() => c.leader(2, 5, () => -1), (e: unknown) => e instanceof InvariantError && /election safety/.test((e as Error).message));
});

test('the checker catches a log-matching violation and a different committed entry', () => {
  const c = new Checker();
  c.persisted(1, [entry(1, 1), entry(2, 1)], 0);
  assert.throws(() => c.persisted(2, [entry(2, 1, 9)], 1), /log matching/);
  assert.throws(() => c.persisted(3, [entry(2, 1)], 7), /log matching/);
  c.committed(1, [entry(1, 1)], 1);
  assert.throws(() => c.committed(2, [entry(1, 2)], 2), /different entry/);
});

test('the checker catches a lost committed entry, an incomplete leader and a stale read', () => {
  const c = new Checker();
  c.committed(1, [entry(1, 1), entry(2, 2)], 2);
  assert.throws(() => c.truncated(3, [entry(2, 2)]), /truncated/);
  c.truncated(3, [entry(2, 3)]); // an uncommitted entry may go
  assert.throws(() => c.leader(4, 3, (i) => (i === 2 ? 1 : -1)), /leader completeness/);
  c.leader(5, 2, () => -1); // a leader of term 2 need not hold what term 2 committed after it
  assert.throws(() => c.readAnswered(1, 7, 1, 2), /stale read/);
  c.readAnswered(1, 8, 2, 2);
  c.effect(1, '1:1', 5);
  c.effect(2, '1:1', 5);
  assert.throws(() => c.effect(1, '1:1', 6), /twice/);
});

test.run();
