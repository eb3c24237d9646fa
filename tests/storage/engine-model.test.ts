/**
 * Model-based test: random puts, deletes, gets, range scans and `iterate` (both directions, bounds,
 * limits, snapshots, abandoned part-way), snapshots, snapshot streams ingested into a fresh engine
 * and into this one, rekeys, flushes, compactions and reopens against an in-memory sorted map.
 * Seeded; a failure prints the seed and the command that replays it. STORAGE_SEEDS and
 * STORAGE_OPS raise the default amount (sized to run in about ten seconds) for a longer soak.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import process from 'node:process';
import { LsmEngine, type EngineSnapshot } from '../../src/storage/engine.ts';
import { compareBytes, type KeyRange, type WriteOp } from '../../src/storage/kv.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';
import { isTrineError, toHex } from '../../src/crypto/index.ts';

const KEY = new Uint8Array(32).fill(3);
const SEEDS = Number(process.env['STORAGE_SEEDS'] ?? 12);
const FIRST_SEED = Number(process.env['STORAGE_SEED'] ?? 1);
const OPS = Number(process.env['STORAGE_OPS'] ?? 2000);
const OPTS = { memtableBytes: 6000, tableBytes: 3000, l0Trigger: 3, l1Bytes: 8000, cacheBytes: 64 << 10 };

type Model = Map<string, [Uint8Array, Uint8Array]>;

/** How often the rarer operations ran over all seeds, so a change of weights cannot skip them. */
const seen = { iterate: 0, ingestFresh: 0, ingestOwn: 0, rekey: 0, reopen: 0 };

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
  let masterKey = KEY;
  let db = LsmEngine.open('/db', { ...OPTS, masterKey, fs });
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
  /** Closes and reopens the engine; with `oldKey`, first checks that key is refused. */
  const reopen = async (where: string, oldKey?: Uint8Array) => {
    seen.reopen++;
    for (const s of snaps) s.snap.release();
    snaps.length = 0;
    await db.close();
    if (oldKey) {
      const before = fs.files();
      assert.throws(() => LsmEngine.open('/db', { ...OPTS, masterKey: oldKey, fs }), (e: unknown) => isTrineError(e, 'STORAGE_WRONG_KEY'), `old key refused after rekey at ${where}`);
      assert.equal(fs.files(), before, `a refused key changes nothing at ${where}`);
    }
    db = LsmEngine.open('/db', { ...OPTS, masterKey, fs });
    assert.is(db.appliedIndex, db.stats().durableAppliedIndex);
    const rg = range();
    assert.equal(show(db.scan(rg)), modelScan(model, rg), `scan after reopen ${JSON.stringify(rg)} at ${where}`);
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
    } else if (r < 0.76) {
      const rg = range();
      assert.equal(show(db.scan(rg)), modelScan(model, rg), `scan ${JSON.stringify(rg)} at ${where}`);
    } else if (r < 0.8) {
      // The public iterator, of the latest state or of a snapshot, sometimes abandoned part-way
      // (its tables must stay readable until it is closed, and be released after).
      seen.iterate++;
      const s = snaps.length && rng() < 0.5 ? snaps[int(snaps.length)]! : undefined;
      const rg = range();
      const want = modelScan(s ? s.model : model, rg);
      const it = db.iterate(s ? { ...rg, snapshot: s.snap } : rg);
      const stop = rng() < 0.3 ? int(want.length + 1) : Infinity;
      const got: string[] = [];
      for (const e of it) { if (got.length >= stop) break; got.push(`${toHex(e.key)}=${toHex(e.value)}`); }
      assert.equal(got, want.slice(0, stop), `iterate ${JSON.stringify(rg)}${s ? ' of a snapshot' : ''} at ${where}`);
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
    } else if (r < 0.945) {
      await db.flush();
    } else if (r < 0.965) {
      await db.compact();
    } else if (r < 0.975) {
      await reopen(where);
    } else if (r < 0.981) {
      // A snapshot streamed into a fresh engine holds exactly the snapshot's state, durably, even
      // when this engine moves on while the stream is read.
      seen.ingestFresh++;
      const snap = db.snapshot();
      const want = new Map(model);
      const applied = snap.appliedIndex;
      const k = key(), v = new TextEncoder().encode(`after snapshot ${i}`);
      db.write([{ type: 'put', key: k, value: v }], { appliedIndex: i });
      model.set(toHex(k), [k, v]);
      const dfs = new SimFs();
      let copy = LsmEngine.open('/copy', { ...OPTS, masterKey: KEY, fs: dfs });
      const got = await copy.ingest(snap.stream());
      snap.release();
      assert.equal(got, { entries: want.size, appliedIndex: applied }, `ingest result at ${where}`);
      assert.equal(show(copy.scan()), modelScan(want, {}), `ingested state at ${where}`);
      await copy.close();
      copy = LsmEngine.open('/copy', { ...OPTS, masterKey: KEY, fs: dfs });
      assert.is(copy.appliedIndex, applied, `ingested applied index after reopen at ${where}`);
      const rg = range();
      assert.equal(show(copy.iterate(rg)), modelScan(want, rg), `ingested state after reopen, ${JSON.stringify(rg)} at ${where}`);
      await copy.close();
    } else if (r < 0.985 && snaps.length) {
      // Ingest an older snapshot of this very engine: the state goes back to it, every snapshot
      // taken before is refused, and writes continue on top.
      seen.ingestOwn++;
      const s = snaps[int(snaps.length)]!;
      const chunks: Uint8Array[] = [];
      for await (const c of s.snap.stream()) chunks.push(c);
      await db.ingest(chunks);
      model.clear();
      for (const [h, kv] of s.model) model.set(h, kv);
      assert.is(db.appliedIndex, s.snap.appliedIndex, `applied index after ingest at ${where}`);
      assert.throws(() => s.snap.get(key()), (e: unknown) => isTrineError(e, 'STORAGE_SNAPSHOT_INVALID'), `old snapshot refused at ${where}`);
      for (const x of snaps) x.snap.release();
      snaps.length = 0;
      const rg = range();
      assert.equal(show(db.scan(rg)), modelScan(model, rg), `state after ingest at ${where}`);
    } else if (r < 0.988) {
      // Rekey while snapshots are open, then reopen: the old key is refused, the new one reads all.
      seen.rekey++;
      const next = Uint8Array.from({ length: 32 }, () => int(256));
      await db.rekey(next);
      const old = masterKey;
      masterKey = next;
      const rg = range();
      assert.equal(show(db.scan(rg)), modelScan(model, rg), `scan after rekey at ${where}`);
      for (const x of snaps) assert.equal(show(x.snap.scan(rg)), modelScan(x.model, rg), `snapshot scan after rekey at ${where}`);
      await reopen(where, old);
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
  if (SEEDS * OPS >= 10000) for (const [op, n] of Object.entries(seen)) assert.ok(n >= SEEDS, `${op} ran ${n} times over ${SEEDS} seeds`);
  if (process.env['STORAGE_VERBOSE']) console.log(JSON.stringify(seen));
});

test.run();
