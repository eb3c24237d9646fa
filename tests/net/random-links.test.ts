/**
 * Randomised runs: random link conditions, random message sizes, several streams in both
 * directions, then a graceful close. Every message must arrive intact and in order per stream.
 * NET_SEEDS=n widens the search (default 6 seeds); SEED=n replays one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CloseCode } from '../../src/net/errors.ts';
import { Prng } from '../../src/net/sim-network.ts';
import { drain, establish, makeMessage, sameBytes, withSeed, world } from './harness.ts';

const FILE = 'tests/net/random-links.test.ts';

function run(seed: number): void {
  withSeed(FILE, seed, () => {
    const r = new Prng(seed * 7919);
    const link = { loss: r.next() * 0.25, duplicate: r.next() * 0.1, delayMs: 1 + r.next() * 40, jitterMs: r.next() * 20 };
    const w = world(seed, link, { maxDatagramBytes: 1200 + r.int(2) * 8000 });
    const [c, s] = establish(w, 600_000);
    const plan: { from: 'c' | 's'; id: number; sizes: number[] }[] = [];
    const streams = 1 + r.int(6);
    for (let k = 0; k < streams; k++) {
      const id = c.openStream();
      const sizes = Array.from({ length: 1 + r.int(30) }, () => (r.int(10) === 0 ? r.int(300_000) : r.int(3000)));
      plan.push({ from: 'c', id, sizes });
      const back = Array.from({ length: r.int(10) }, () => r.int(5000));
      if (back.length) plan.push({ from: 's', id, sizes: back });
    }
    for (const p of plan) {
      if (p.from === 'c') p.sizes.forEach((n, i) => c.send(p.id, makeMessage(p.id, i, n)));
    }
    const got = new Map<string, number>();
    const total = plan.reduce((a, p) => a + p.sizes.length, 0);
    let received = 0;
    const ok = w.net.runUntil(() => received === total, 3_600_000, () => {
      drain(w, c);
      // The server answers on each stream once the client's first bytes have opened it there.
      for (const e of drain(w, s)) {
        if (e.type !== 'stream') continue;
        for (const p of plan) if (p.from === 's' && p.id === e.id) p.sizes.forEach((n, i) => s.send(p.id, makeMessage(p.id + 1_000_000, i, n)));
      }
      for (const p of plan) {
        const conn = p.from === 'c' ? s : c;
        const key = `${p.from}${p.id}`;
        for (let m = conn.read(p.id); m; m = conn.read(p.id)) {
          const i = got.get(key) ?? 0;
          const tag = p.from === 'c' ? p.id : p.id + 1_000_000;
          if (!sameBytes(m, makeMessage(tag, i, p.sizes[i]!))) assert.unreachable(`${key} message ${i} corrupted or out of order`);
          got.set(key, i + 1);
          received++;
        }
      }
    });
    assert.ok(ok, `${received}/${total} messages after ${JSON.stringify(link)}`);
    c.closeGracefully(w.net.now, CloseCode.NO_ERROR, 'done');
    let peerSawClose = false;
    w.net.runUntil(() => peerSawClose, 600_000, () => {
      drain(w, c);
      for (let e = s.pollEvent(); e; e = s.pollEvent()) if (e.type === 'closed' && e.byPeer && e.code === CloseCode.NO_ERROR) peerSawClose = true;
    });
    // With loss the CLOSE itself may be lost; then the server's idle timeout ends it instead.
    assert.ok(peerSawClose || s.state === 'closed' || link.loss > 0, 'the server learnt of the close');
  });
}

const only = process.env['SEED'];
const count = Number(process.env['NET_SEEDS'] ?? 6);
test(`random links, streams and message sizes (${only ? `seed ${only}` : `${count} seeds`})`, () => {
  if (only) run(Number(only));
  else for (let seed = 1; seed <= count; seed++) run(seed);
});

test.run();
