import { TICK_MS } from '../../src/raft/limits.ts';
import { Simulation } from './simulator.ts';

export interface FailoverStats {
  seeds: number;
  nodes: number;
  tickMs: number;
  /** Crash of the leader -> another node is leader (ms, simulated). */
  electedMedianMs: number;
  electedP99Ms: number;
  electedMaxMs: number;
  /** Crash of the leader -> a write proposed to the new leader at that moment is committed. */
  writeMedianMs: number;
  writeP99Ms: number;
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

/**
 * Failover time on a healthy LAN-like network (0.1-1 ms one way): elect a leader, let it run,
 * crash it at a random moment, and time how long until a new leader exists and until a write
 * sent to it commits. Default timing: ELECTION_TICKS x TICK_MS, randomized to [1x, 2x).
 */
export function measureFailover(seeds: number, from = 1, nodes = 3): FailoverStats {
  const elected: number[] = [];
  const written: number[] = [];
  for (let seed = from; seed < from + seeds; seed++) {
    const sim = new Simulation(seed, false, { nodes, opts: {} });
    sim.runUntil(2000);
    const old = sim.leader();
    if (old === null) throw new Error(`seed ${seed}: no leader after 2 s`);
    sim.runUntil(2000 + sim.rng.next() * 200);
    const crashAt = sim.now;
    const oldTerm = old.raft!.term;
    old.crash();
    let electedAt = -1;
    let writeIndex = -1;
    let writtenAt = -1;
    sim.onEvent = () => {
      const l = sim.leader();
      if (l === null || l.raft!.term <= oldTerm) return;
      if (electedAt < 0) {
        electedAt = sim.now;
        l.raft!.propose(new Uint8Array([1]));
        writeIndex = l.raft!.log.lastIndex();
        l.process();
      } else if (writtenAt < 0 && l.raft!.log.commit >= writeIndex) {
        writtenAt = sim.now;
      }
    };
    for (let t = crashAt; writtenAt < 0 && t < crashAt + 10_000; t += TICK_MS) sim.runUntil(t + TICK_MS);
    if (writtenAt < 0) throw new Error(`seed ${seed}: no new leader accepted a write within 10 s`);
    elected.push(electedAt - crashAt);
    written.push(writtenAt - crashAt);
  }
  elected.sort((a, b) => a - b);
  written.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    seeds, nodes, tickMs: TICK_MS,
    electedMedianMs: r(pct(elected, 50)), electedP99Ms: r(pct(elected, 99)), electedMaxMs: r(elected[elected.length - 1]),
    writeMedianMs: r(pct(written, 50)), writeP99Ms: r(pct(written, 99)),
  };
}
