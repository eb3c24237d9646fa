/**
 * The in-memory store against a model: a plain map per committed version. Random batches of puts
 * and deletes (few distinct keys, so keys die and come back and the point index fills with
 * removed slots), gets, scans and snapshots held across many later writes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toHex } from '../../src/crypto/index.ts';
import type { KvSnapshot, WriteOp } from '../../src/storage/kv.ts';
import { MemoryKv } from '../../src/storage/memory-kv.ts';
import { prng } from '../../src/storage/sim-fs.ts';

type Model = Map<string, string>;

function sortedEntries(m: Model, gte?: string, lt?: string, reverse = false): string[] {
  const out = [...m].filter(([k]) => (gte === undefined || k >= gte) && (lt === undefined || k < lt)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
  return reverse ? out.reverse() : out;
}

test('gets, scans and snapshots match a model through writes, deletes and index rebuilds', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = prng(seed);
    const kv = new MemoryKv();
    let model: Model = new Map();
    const snaps: { snap: KvSnapshot; model: Model }[] = [];
    const keyCount = seed % 4 === 0 ? 2000 : 60;
    const keyOf = (): Uint8Array => {
      const i = Math.floor(rng() * keyCount);
      // Varying lengths, shared prefixes, and keys that are prefixes of others.
      return Uint8Array.from({ length: 1 + (i % 7) }, (_, j) => (i >> (j % 3)) & 0xff);
    };
    for (let step = 0; step < 600; step++) {
      const r = rng();
      if (r < 0.55) {
        const batch: WriteOp[] = [];
        const next = new Map(model);
        const size = rng() < 0.1 ? 300 : 1 + Math.floor(rng() * 8);
        for (let i = 0; i < size; i++) {
          const key = keyOf();
          if (rng() < 0.35) { batch.push({ type: 'del', key }); next.delete(toHex(key)); }
          else { const value = Uint8Array.of(step & 255, i & 255, seed); batch.push({ type: 'put', key, value }); next.set(toHex(key), toHex(value)); }
        }
        kv.write(batch, { owned: rng() < 0.5 });
        model = next;
      } else if (r < 0.8) {
        const key = keyOf();
        const got = kv.get(key);
        assert.is(got === undefined ? undefined : toHex(got), model.get(toHex(key)), `seed ${seed} step ${step} get ${toHex(key)}`);
      } else if (r < 0.88) {
        const a = toHex(keyOf()), b = toHex(keyOf());
        const [gte, lt] = a < b ? [a, b] : [b, a];
        const reverse = rng() < 0.5;
        const got = [...kv.scan({ gte: Buffer.from(gte, 'hex'), lt: Buffer.from(lt, 'hex'), reverse })].map((e) => `${toHex(e.key)}=${toHex(e.value)}`);
        assert.equal(got, sortedEntries(model, gte, lt, reverse), `seed ${seed} step ${step} scan`);
      } else if (r < 0.94) {
        snaps.push({ snap: kv.snapshot(), model });
      } else if (snaps.length > 0) {
        const i = Math.floor(rng() * snaps.length);
        const { snap, model: then } = snaps[i]!;
        for (let j = 0; j < 10; j++) {
          const key = keyOf();
          const got = snap.get(key);
          assert.is(got === undefined ? undefined : toHex(got), then.get(toHex(key)), `seed ${seed} step ${step} snapshot get`);
        }
        assert.equal([...snap.scan()].map((e) => `${toHex(e.key)}=${toHex(e.value)}`), sortedEntries(then), `seed ${seed} step ${step} snapshot scan`);
        if (rng() < 0.5) { snap.release(); snaps.splice(i, 1); }
      }
    }
    assert.equal([...kv.scan()].map((e) => `${toHex(e.key)}=${toHex(e.value)}`), sortedEntries(model), `seed ${seed} final`);
  }
});

test.run();
