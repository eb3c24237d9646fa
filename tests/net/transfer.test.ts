/**
 * Reliable, ordered delivery across a bad simulated link: loss, duplication, jitter (reordering).
 * Seeded; SEED=n replays a run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LinkConfig } from '../../src/net/sim-network.ts';
import { drain, establish, makeMessage, sameBytes, seedFromEnv, withSeed, world } from './harness.ts';

const FILE = 'tests/net/transfer.test.ts';
const MiB = 1024 * 1024;

function transfer(seed: number, link: LinkConfig, totalBytes: number, messageBytes: number) {
  return withSeed(FILE, seed, () => {
    const w = world(seed, link);
    const [c, s] = establish(w, 600_000);
    const id = c.openStream();
    const count = Math.ceil(totalBytes / messageBytes);
    let queued = 0;
    const queue = () => {
      // Keep a bounded amount queued, as an application honouring back-pressure would.
      while (queued < count && c.buffered(id) < 4 * MiB) c.send(id, makeMessage(id, queued++, messageBytes));
    };
    queue();
    let received = 0;
    const start = w.net.now;
    const ok = w.net.runUntil(() => received === count, 3_600_000, () => {
      drain(w, c);
      drain(w, s);
      for (let m = s.read(id); m; m = s.read(id)) {
        if (!sameBytes(m, makeMessage(id, received, messageBytes))) assert.unreachable(`message ${received} corrupted or out of order`);
        received++;
      }
      queue();
    });
    assert.ok(ok, `only ${received}/${count} messages arrived`);
    return { w, c, s, virtualMs: w.net.now - start };
  });
}

test('10 MiB with 10% loss, 5% duplication, jitter and reordering arrives intact and in order', () => {
  const seed = seedFromEnv(10);
  const { w, c, virtualMs } = transfer(seed, { loss: 0.10, duplicate: 0.05, delayMs: 10, jitterMs: 8 }, 10 * MiB, 64 * 1024);
  assert.ok(w.net.stats.lost > 500, 'the link really dropped packets');
  assert.ok(w.net.stats.duplicated > 200, 'the link really duplicated packets');
  assert.ok(c.packetsLost > 0, 'loss detection declared packets lost');
  console.log(`    10% loss: ${(10 * 1024 / (virtualMs / 1000)).toFixed(0)} KiB/s virtual, ${w.net.stats.sent} datagrams, ${c.packetsLost} declared lost`);
});

test('10 MiB with 30% loss completes', () => {
  const seed = seedFromEnv(30);
  const { w, virtualMs } = transfer(seed, { loss: 0.30, delayMs: 10, jitterMs: 4 }, 10 * MiB, 64 * 1024);
  assert.ok(w.net.stats.lost > 3000);
  console.log(`    30% loss: ${(10 * 1024 / (virtualMs / 1000)).toFixed(0)} KiB/s virtual`);
});

test('a bottleneck with a drop-tail queue: congestion control adapts and data arrives', () => {
  const seed = seedFromEnv(77);
  const { c } = transfer(seed, { delayMs: 20, bytesPerMs: 1250, queueBytes: 30_000 }, 2 * MiB, 16 * 1024);
  assert.ok(c.packetsLost > 0, 'the queue overflowed at least once');
  assert.ok(c.cc.cwnd < 10 * 1024 * 1024, 'the window is bounded by the losses');
});

test('HyStart++: with a deep queue, slow start ends on rising delay before any loss', () => {
  const seed = seedFromEnv(78);
  const { c } = transfer(seed, { delayMs: 20, bytesPerMs: 1250, queueBytes: 400_000 }, 2 * MiB, 16 * 1024);
  assert.ok(c.cc.ssthresh < Infinity, 'slow start ended');
  assert.is(c.packetsLost, 0, 'without losing a packet');
});

test('a blackout longer than the persistent congestion duration collapses the window, and the transfer resumes', () => {
  const seed = seedFromEnv(79);
  withSeed(FILE, seed, () => {
    const w = world(seed, { delayMs: 10 });
    const [c, s] = establish(w);
    const id = c.openStream();
    for (let i = 0; i < 64; i++) c.send(id, makeMessage(id, i, 32 * 1024));
    let n = 0;
    const read = () => { drain(w, s); for (let m = s.read(id); m; m = s.read(id)) { assert.ok(sameBytes(m, makeMessage(id, n, 32 * 1024))); n++; } };
    w.net.runUntil(() => n >= 8, 60_000, read);
    const before = c.cc.cwnd;
    w.net.tap = () => false;
    w.net.runUntil(() => false, 2000, read);
    w.net.tap = undefined;
    w.net.runUntil(() => n === 64, 120_000, read);
    assert.is(n, 64);
    assert.ok(c.persistentCongestionEvents >= 1, 'persistent congestion was declared');
    assert.ok(before > 2 * c.datagramSize, 'the window had grown before the blackout');
  });
});

test('many streams interleave fairly: a large message does not block small ones', () => {
  const seed = seedFromEnv(5);
  withSeed(FILE, seed, () => {
    const w = world(seed, { delayMs: 5, jitterMs: 2, loss: 0.02 });
    const [c, s] = establish(w);
    const bulk = c.openStream();
    c.send(bulk, makeMessage(bulk, 0, 8 * MiB));
    const small: number[] = [];
    for (let i = 0; i < 20; i++) small.push(c.openStream());
    for (const id of small) for (let k = 0; k < 5; k++) c.send(id, makeMessage(id, k, 1000));
    const doneAt = new Map<number, number>();
    const counts = new Map<number, number>();
    let bulkDone = -1;
    w.net.runUntil(() => bulkDone >= 0 && doneAt.size === small.length, 600_000, () => {
      drain(w, s);
      for (const id of small) {
        for (let m = s.read(id); m; m = s.read(id)) {
          const k = counts.get(id) ?? 0;
          assert.ok(sameBytes(m, makeMessage(id, k, 1000)), `stream ${id} message ${k}`);
          counts.set(id, k + 1);
          if (k + 1 === 5) doneAt.set(id, s.bytesReceived);
        }
      }
      const m = s.read(bulk);
      if (m) { assert.ok(sameBytes(m, makeMessage(bulk, 0, 8 * MiB))); bulkDone = s.bytesReceived; }
    });
    assert.is(doneAt.size, small.length);
    // Every small stream completed before even a quarter of the bulk message had arrived.
    for (const [id, at] of doneAt) assert.ok(at < 2 * MiB, `stream ${id} finished after ${at} bytes`);
    assert.ok(bulkDone > 8 * MiB);
  });
});

test.run();
