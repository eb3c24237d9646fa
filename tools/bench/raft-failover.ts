/**
 * Real failover time over loopback: a 3-node cluster (real UDP, Noise IK, encrypted logs with
 * fsync), the leader is killed, and we time until the first write is acknowledged by the new
 * leader. Repeated TRIALS times; prints min, median, p99 and max.
 *
 *   node --import tsx tools/bench/raft-failover.ts [trials]      (default 20; each trial < 5 s)
 *
 * Timeouts in force: tick 10 ms, election timeout drawn from [150, 300) ms, heartbeat 30 ms,
 * pre-vote and check-quorum on (src/raft/limits.ts).
 */
import process from 'node:process';
import { NetCluster } from '../raft-net-cluster.ts';

const trials = Number(process.argv[2] ?? 20);
const times: number[] = [];
for (let t = 0; t < trials; t++) {
  const c = await NetCluster.start(3);
  try {
    const leader = await c.waitLeader();
    for (let i = 0; i < 10; i++) await c.write(`warm${i}`, 'x');
    const t0 = performance.now();
    await c.kill(leader);
    await c.write('after', 'kill');
    times.push(performance.now() - t0);
  } finally {
    await c.close();
  }
}
times.sort((a, b) => a - b);
const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
console.log(`raft failover over loopback, ${trials} trials: kill leader -> first acknowledged write`);
console.log(`  min ${q(0).toFixed(0)} ms, median ${q(0.5).toFixed(0)} ms, p99 ${q(0.99).toFixed(0)} ms, max ${times[times.length - 1]!.toFixed(0)} ms`);
