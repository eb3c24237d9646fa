/**
 * Model-based test: random puts, deletes, gets, range scans (both directions, bounds, limits),
 * snapshots, flushes, compactions and reopens against an in-memory sorted map. Seeded; a failure
 * prints the seed and the command that replays it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import process from 'node:process';
import { LsmEngine, type EngineSnapshot } from '../../src/storage/engine.ts';
import { compareBytes, type KeyRange, type WriteOp } from '../../src/storage/kv.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';
import { toHex } from '../../src/crypto/index.ts';

const KEY = new Uint8Array(32).fill(3);
const SEEDS = Number(process.env['STORAGE_SEEDS'] ?? 6);
const FIRST_SEED = Number(process.env['STORAGE_SEED'] ?? 1);
const OPS = Number(process.env['STORAGE_OPS'] ?? 2500);
const OPTS = { masterKey: KEY, memtableBytes: 6000, tableBytes: 3000, l0Trigger: 3, l1Bytes: 8000, cacheBytes: 64 << 10 };

type Model = Map<string, [Uint8Array, Uint8Array]>;

function modelScan(m: Model, r: KeyRange): string[] {
  const rows = [...m.values()].filter(([k]) => {
    if (r.gte && compareBytes(k, r.gte) < 0) return false;
    if (r.gt && compareBytes(k, r.gt) <= 0) return false;
    if (r.lt && compareBytes(k, r.lt) >= 0) return false;
    if (r.lte && compareBytes(k, r.lte) > 0) return false;
    return true;
  }).sort((a, b) => compareBytes(a[0], b[0]));
  if (r.reverse) rows.reverse();
  return rows.slice(0, r.limit ?? Infinity).map(([k, v]) => `${toHex(k)}=${toHex(v)}`);
}

const show = (it: Iterable<{ key: Uint8Array; value: Uint8Array }>) => [...it].map((e) => `${toHex(e.key)}=${toHex(e.value)}`);

async function runSeed(seed: number): Promise<void> {
  const rng = prng(seed);
  const int = (n: number) => Math.floor(rng() * n);
  const replay = `STORAGE_SEED=${seed} STORAGE_SEEDS=1 node --import tsx tests/storage/engine-model.test.ts`;
  const fs = new SimFs();
  let db = LsmEngine.open('/db', { ...OPTS, fs });
  const model: Model = new Map();
  const snaps: { snap: EngineSnapshot; model: Model }[] = [];
  // Keys share prefixes (prefix compression) and vary in length, the empty key included.
  const key = () => {
    const n = int(300);
    return n === 0 ? new Uint8Array(0) : new TextEncoder().encode(`k${(n % 7).toString().repeat(1 + (n % 3))}/${n}`);
  };
  const range = (): KeyRange => {
    const r: Record<string, unknown> = {};
    if (rng() < 0.5) r[rng() < 0.5 ? 'gte' : 'gt'] = key();
    if (rng() < 0.5) r[rng() < 0.5 ? 'lt' : 'lte'] = key();
    if (rng() < 0.4) r['reverse'] = true;
    if (rng() < 0.3) r['limit'] = int(20);
    return r as KeyRange;
  };
  for (let i = 0; i < OPS; i++) {
    const r = rng();
    const where = `seed ${seed} op ${i}; replay: ${replay}`;
    if (r < 0.45) {
      const batch: WriteOp[] = [];
      for (let j = 1 + int(4); j > 0; j--) {
        const k = key();
        if (rng() < 0.75) {
          const v = new TextEncoder().encode(`v${i}.${j}`.padEnd(int(60), '#'));
          batch.push({ type: 'put', key: k, value: v });
        } else batch.push({ type: 'del', key: k });
      }
      db.write(batch, { appliedIndex: i });
      for (const op of batch) {
        if (op.type === 'put') model.set(toHex(op.key), [op.key, op.value]);
        else model.delete(toHex(op.key));
      }
    } else if (r < 0.7) {
      const k = key();
      const want = model.get(toHex(k))?.[1];
      const got = db.get(k);
      assert.equal(got && toHex(got), want && toHex(want), `get ${toHex(k)} at ${where}`);
    } else if (r < 0.8) {
      const rg = range();
      assert.equal(show(db.scan(rg)), modelScan(model, rg), `scan ${JSON.stringify(rg)} at ${where}`);
    } else if (r < 0.85) {
      if (snaps.length < 4) snaps.push({ snap: db.snapshot(), model: new Map(model) });
      else snaps.splice(int(snaps.length), 1)[0]!.snap.release();
    } else if (r < 0.92 && snaps.length) {
      const s = snaps[int(snaps.length)]!;
      const rg = range();
      assert.equal(show(s.snap.scan(rg)), modelScan(s.model, rg), `snapshot scan at ${where}`);
      const k = key();
      const want = s.model.get(toHex(k))?.[1];
      const got = s.snap.get(k);
      assert.equal(got && toHex(got), want && toHex(want), `snapshot get at ${where}`);
    } else if (r < 0.95) {
      await db.flush();
    } else if (r < 0.97) {
      await db.compact();
    } else if (r < 0.985) {
      for (const s of snaps) s.snap.release();
      snaps.length = 0;
      await db.close();
      db = LsmEngine.open('/db', { ...OPTS, fs });
      assert.is(db.appliedIndex, db.stats().durableAppliedIndex);
    } else {
      // Let background flushes and compactions make progress between operations.
      for (let y = int(20); y > 0; y--) await new Promise((res) => setImmediate(res));
    }
  }
  for (const s of snaps) assert.equal(show(s.snap.scan()), modelScan(s.model, {}), `final snapshot scan, seed ${seed}; replay: ${replay}`);
  await db.compact();
  assert.equal(show(db.scan()), modelScan(model, {}), `final scan, seed ${seed}; replay: ${replay}`);
  const st = db.stats();
  if (process.env["STORAGE_VERBOSE"]) console.log(seed, JSON.stringify(st));
  assert.ok(st.flushes > 0 && st.compactions > 0, `seed ${seed} exercised flush and compaction`);
  await db.close();
}

test('random operations match an in-memory sorted map', async () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    try {
      await runSeed(seed);
    } catch (e) {
      console.error(`failed at seed ${seed}; replay: STORAGE_SEED=${seed} STORAGE_SEEDS=1 node --import tsx tests/storage/engine-model.test.ts`);
      throw e;
    }
  }
});

test.run();
