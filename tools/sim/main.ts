import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { SimFailure, simulate, replayCommand } from './simulator.ts';
import { measureFailover } from './failover.ts';

/**
 * node --import tsx tools/sim/main.ts --seed S --steps M [--trace]   replay one seed
 * node --import tsx tools/sim/main.ts --seeds N --steps M [--from F]  search N seeds
 * node --import tsx tools/sim/main.ts --failover N                    measure election time after a leader crash
 */
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const steps = opt('steps', 2000);
const trace = args.includes('--trace');

if (args.includes('--failover')) {
  const r = measureFailover(opt('failover', 200), opt('from', 1), opt('nodes', 3));
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
} else if (args.includes('--seed')) {
  const seed = opt('seed', 1);
  try {
    const s = simulate({ seed, steps, trace });
    process.stdout.write(`seed ${seed} ok: ${JSON.stringify(s)}\n`);
  } catch (e) {
    process.stdout.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
} else {
  const n = opt('seeds', 100);
  const from = opt('from', 1);
  const t0 = performance.now();
  let failed = 0;
  const total: Record<string, number> = {};
  let maxLive = 0;
  for (let seed = from; seed < from + n; seed++) {
    try {
      const s = simulate({ seed, steps });
      for (const [k, v] of Object.entries(s)) if (typeof v === 'number' && k !== 'seed') total[k] = (total[k] ?? 0) + v;
      maxLive = Math.max(maxLive, s.livenessSteps);
    } catch (e) {
      failed++;
      process.stdout.write(`${e instanceof SimFailure ? e.message : `seed ${seed}: ${String(e)}\nreplay: ${replayCommand(seed, steps)}`}\n`);
      if (failed >= 10) break;
    }
    if ((seed - from + 1) % 1000 === 0) process.stdout.write(`${seed - from + 1} seeds, ${failed} failed, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(`${n} seeds x ${steps} steps: ${failed} failed in ${secs.toFixed(1)} s; max liveness ${maxLive} steps; totals ${JSON.stringify(total)}\n`);
  process.exit(failed > 0 ? 1 : 0);
}
