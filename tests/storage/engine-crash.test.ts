/**
 * Crash safety on the simulated disk: a workload of batches (each tagged with its Raft index),
 * flushes, compactions and background work is cut at every mutating disk operation in turn; the
 * disk then loses whatever was not fsynced (tearing the last write at random). Reopening must
 * succeed and hold exactly the state after batch `appliedIndex`, with `appliedIndex` at least the
 * one the last completed flush reported: nothing invented, nothing durable lost.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import process from 'node:process';
import { toHex } from '../../src/crypto/index.ts';
import { LsmEngine } from '../../src/storage/engine.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';

const KEY = new Uint8Array(32).fill(9);
const SEEDS = Number(process.env['STORAGE_SEEDS'] ?? 2);
const FIRST_SEED = Number(process.env['STORAGE_SEED'] ?? 1);
const OPTS = { masterKey: KEY, memtableBytes: 3000, tableBytes: 2000, l0Trigger: 2, l1Bytes: 4000 };
const BATCHES = 100;

type State = Map<string, string>;

async function workload(fs: SimFs, seed: number, crashAt: number, history: State[]): Promise<{ acked: number }> {
  const rng = prng(seed);
  const int = (n: number) => Math.floor(rng() * n);
  const model: State = new Map();
  history[0] = new Map();
  let acked = 0;
  try {
    const db = LsmEngine.open('/db', { ...OPTS, fs });
    fs.crashAt(crashAt, prng(seed * 31 + crashAt));
    for (let i = 1; i <= BATCHES; i++) {
      const ops = [];
      for (let j = 1 + int(5); j > 0; j--) {
        const k = `key${int(60)}`;
        if (rng() < 0.8) { const v = `v${i}.${j}`.padEnd(10 + int(40), '.'); ops.push({ type: 'put' as const, key: new TextEncoder().encode(k), value: new TextEncoder().encode(v) }); model.set(k, v); }
        else { ops.push({ type: 'del' as const, key: new TextEncoder().encode(k) }); model.delete(k); }
      }
      db.write(ops, { appliedIndex: i });
      history[i] = new Map(model);
      const r = rng();
      if (r < 0.06) { await db.flush(); acked = i; }
      else if (r < 0.08) { await db.compact(); acked = i; }
      else if (r < 0.3) await new Promise((res) => setImmediate(res));
    }
    await db.flush();
    acked = BATCHES;
    await db.close();
  } catch (e) {
    const name = (e as Error).name, cause = (e as { cause?: Error }).cause?.name;
    if (name !== 'SimCrash' && cause !== 'SimCrash') throw e;
  }
  return { acked };
}

const dump = (db: LsmEngine) => [...db.scan()].map((e) => `${new TextDecoder().decode(e.key)}=${new TextDecoder().decode(e.value)}`).join(' ');
const dumpModel = (m: State) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(' ');

test('after a crash at any disk operation, reopen holds exactly the durable prefix', async () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const replay = `STORAGE_SEED=${seed} STORAGE_SEEDS=1 node --import tsx tests/storage/engine-crash.test.ts`;
    const clean = new SimFs();
    const history: State[] = [];
    await workload(clean, seed, Infinity, history);
    const total = clean.ops;
    assert.ok(total > 50, 'the workload touches the disk');
    for (let k = 1; k <= total; k++) {
      const fs = new SimFs();
      const { acked } = await workload(fs, seed, k, history);
      const disk = fs.afterCrash(prng(seed * 7 + k));
      let db: LsmEngine;
      try { db = LsmEngine.open('/db', { ...OPTS, fs: disk }); } catch (e) {
        assert.unreachable(`reopen failed after crash at op ${k}/${total}: ${(e as Error).message}; replay: ${replay}`);
        return;
      }
      const a = db.appliedIndex;
      assert.ok(a >= acked, `crash at op ${k}: durable applied index ${a} is below the acknowledged flush at ${acked}; replay: ${replay}`);
      assert.is(dump(db), dumpModel(history[a]!), `crash at op ${k}: state differs from the state after batch ${a}; replay: ${replay}`);
      // The reopened store keeps working.
      db.write([{ type: 'put', key: new TextEncoder().encode('after'), value: new TextEncoder().encode(toHex(new Uint8Array([k & 255]))) }], { appliedIndex: a + 1 });
      await db.flush();
      await db.close();
    }
  }
});

test.run();
