import { test } from 'uvu';
import * as assert from 'uvu/assert';
import process from 'node:process';
import { SimFailure, simulate, type SimStats } from '../../tools/sim/simulator.ts';

// The CI search: SIM_SEEDS seeds (default 500) of SIM_STEPS steps (default 2000) with every fault
// kind; SIM_FROM shifts the seed range. A failure prints its seed and the one-line replay command.
const SEEDS = Number(process.env.SIM_SEEDS ?? 500);
const STEPS = Number(process.env.SIM_STEPS ?? 2000);
const FROM = Number(process.env.SIM_FROM ?? 1);

test(`${SEEDS} simulated clusters x ${STEPS} steps under every fault kind keep all invariants and converge after healing`, () => {
  const total: Record<string, number> = {};
  const failures: string[] = [];
  let maxLiveness = 0;
  for (let seed = FROM; seed < FROM + SEEDS; seed++) {
    let s: SimStats;
    try {
      s = simulate({ seed, steps: STEPS });
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      failures.push(e.message);
      if (failures.length >= 5) break;
      continue;
    }
    for (const [k, v] of Object.entries(s)) total[k] = (total[k] ?? 0) + v;
    maxLiveness = Math.max(maxLiveness, s.livenessSteps);
  }
  assert.equal(failures, [], failures.join('\n'));
  // The run is only meaningful if every fault kind was actually injected and exercised.
  for (const k of ['crashes', 'tornCrashes', 'partitions', 'oneWay', 'weather', 'adds', 'removes', 'transfers', 'snapshotsSent', 'readsAnswered', 'requestsDone']) {
    assert.ok((total[k] ?? 0) > 0, `no ${k} in ${SEEDS} seeds`);
  }
  assert.ok(total.leaders >= SEEDS, 'elections happened');
  process.stdout.write(`  ${SEEDS} seeds x ${STEPS} steps: max convergence after heal ${maxLiveness} steps; ${JSON.stringify(total)}\n`);
});

test.run();
