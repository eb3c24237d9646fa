/**
 * Crash safety on the simulated disk: a workload of batches (each tagged with its Raft index),
 * flushes, compactions, background work, a rekey and an ingest of a snapshot stream is cut at
 * every mutating disk operation in turn; the disk then loses whatever was not fsynced (tearing the
 * last write at random). Reopening must succeed with exactly one of the two master keys (the old
 * one until the rekey switched KEY, the new one after) and hold exactly the state after the batch
 * `appliedIndex` names, with `appliedIndex` at least the one the last completed flush, compaction
 * or ingest reported: nothing invented, nothing durable lost. An ingest shows the old state or the
 * new one, never a mix. Opening does work of its own (removing tables a crash orphaned, finishing
 * an interrupted rekey), so the second test also cuts that open at each of its disk operations.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import process from 'node:process';
import { isTrineError, toHex } from '../../src/crypto/index.ts';
import { LsmEngine } from '../../src/storage/engine.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';

const KEY = new Uint8Array(32).fill(9);
const NEW_KEY = new Uint8Array(32).fill(10);
const SEEDS = Number(process.env['STORAGE_SEEDS'] ?? 2);
const FIRST_SEED = Number(process.env['STORAGE_SEED'] ?? 1);
const OPTS = { memtableBytes: 3000, tableBytes: 2000, l0Trigger: 2, l1Bytes: 4000 };
const BATCHES = 100;
const REKEY_AT = 40;
const INGEST_AT = 70;
/** The Raft index of the ingested snapshot: above every batch before it, as Raft's would be. */
const SNAPSHOT_INDEX = 1000;

type State = Map<string, string>;
/** The state after each Raft index, shared by every run of one seed (they all write the same). */
type History = Map<number, State>;
interface Outcome { acked: number; rekeyStarted: boolean; rekeyed: boolean }

/** A snapshot stream of another store, with keys that overlap the workload's. */
async function snapshotStream(seed: number): Promise<{ chunks: Uint8Array[]; state: State }> {
  const db = LsmEngine.open('/src', { ...OPTS, masterKey: KEY, fs: new SimFs() });
  const state: State = new Map();
  const ops = [];
  for (let k = 0; k < 120; k += 1 + (k % 3)) {
    const v = `snap${seed}.${k}`.padEnd(20 + (k % 17), '~');
    ops.push({ type: 'put' as const, key: new TextEncoder().encode(`key${k}`), value: new TextEncoder().encode(v) });
    state.set(`key${k}`, v);
  }
  db.write(ops, { appliedIndex: SNAPSHOT_INDEX });
  const snap = db.snapshot();
  const chunks: Uint8Array[] = [];
  for await (const c of snap.stream()) chunks.push(c);
  snap.release();
  await db.close();
  return { chunks, state };
}

async function workload(fs: SimFs, seed: number, crashAt: number, history: History, stream: { chunks: Uint8Array[]; state: State }): Promise<Outcome> {
  const rng = prng(seed);
  const int = (n: number) => Math.floor(rng() * n);
  let model: State = new Map();
  history.set(0, new Map());
  const out: Outcome = { acked: 0, rekeyStarted: false, rekeyed: false };
  let index = 0;
  try {
    const db = LsmEngine.open('/db', { ...OPTS, masterKey: KEY, fs });
    fs.crashAt(crashAt, prng(seed * 31 + crashAt));
    for (let i = 1; i <= BATCHES; i++) {
      if (i === REKEY_AT) {
        out.rekeyStarted = true;
        await db.rekey(NEW_KEY);
        out.rekeyed = true;
      }
      if (i === INGEST_AT) {
        // Writes not yet flushed go with the old state; the tables of the new one come first.
        const r = await db.ingest(stream.chunks);
        assert.is(r.appliedIndex, SNAPSHOT_INDEX);
        index = SNAPSHOT_INDEX;
        model = new Map(stream.state);
        history.set(index, new Map(model));
        out.acked = index;
      }
      const ops = [];
      for (let j = 1 + int(5); j > 0; j--) {
        const k = `key${int(60)}`;
        if (rng() < 0.8) { const v = `v${i}.${j}`.padEnd(10 + int(40), '.'); ops.push({ type: 'put' as const, key: new TextEncoder().encode(k), value: new TextEncoder().encode(v) }); model.set(k, v); }
        else { ops.push({ type: 'del' as const, key: new TextEncoder().encode(k) }); model.delete(k); }
      }
      db.write(ops, { appliedIndex: ++index });
      history.set(index, new Map(model));
      const r = rng();
      if (r < 0.06) { await db.flush(); out.acked = index; }
      else if (r < 0.08) { await db.compact(); out.acked = index; }
      else if (r < 0.3) await new Promise((res) => setImmediate(res));
    }
    await db.flush();
    out.acked = index;
    await db.close();
  } catch (e) {
    const name = (e as Error).name, cause = (e as { cause?: Error }).cause?.name;
    if (name !== 'SimCrash' && cause !== 'SimCrash') throw e;
  }
  return out;
}

const dump = (db: LsmEngine) => [...db.scan()].map((e) => `${new TextDecoder().decode(e.key)}=${new TextDecoder().decode(e.value)}`).join(' ');
const dumpModel = (m: State) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(' ');
/** A copy of a crashed disk with everything on it durable (the rng keeps every pending write). */
const copyDisk = (fs: SimFs) => fs.afterCrash(() => 0.999999);

/**
 * Opens a crashed store: exactly one of the two keys must open it, the old one before the rekey
 * started and the new one once it returned. The refused key must leave the disk as it was.
 */
function openAfterCrash(disk: SimFs, o: Outcome, where: string): { db: LsmEngine; key: Uint8Array } {
  const opened: { db: LsmEngine; key: Uint8Array }[] = [];
  for (const key of [KEY, NEW_KEY]) {
    const before = disk.files();
    try { opened.push({ db: LsmEngine.open('/db', { ...OPTS, masterKey: key, fs: disk }), key }); } catch (e) {
      if (!isTrineError(e, 'STORAGE_WRONG_KEY')) assert.unreachable(`reopen failed ${where}: ${(e as Error).message}`);
      assert.equal(disk.files(), before, `a refused key changed the disk ${where}`);
    }
  }
  assert.is(opened.length, 1, `${opened.length} keys open the store ${where}`);
  const { key } = opened[0]!;
  if (!o.rekeyStarted) assert.is(key, KEY, `only the new key opens the store before the rekey started ${where}`);
  if (o.rekeyed) assert.is(key, NEW_KEY, `the old key still opens the store after the rekey returned ${where}`);
  return opened[0]!;
}

/** The reopened state is exactly the state after some Raft index at or above the acknowledged one. */
function checkState(db: LsmEngine, history: History, acked: number, where: string): void {
  const a = db.appliedIndex;
  assert.ok(a >= acked, `durable applied index ${a} is below the acknowledged ${acked} ${where}`);
  const want = history.get(a);
  assert.ok(want, `applied index ${a} names no batch ${where}`);
  assert.is(dump(db), dumpModel(want!), `state differs from the state after index ${a} ${where}`);
}

async function forEachCrash(seed: number, visit: (k: number, total: number, disk: SimFs, o: Outcome, history: History) => Promise<void>): Promise<void> {
  const stream = await snapshotStream(seed);
  const history: History = new Map();
  const clean = new SimFs();
  const done = await workload(clean, seed, Infinity, history, stream);
  assert.ok(done.rekeyed && done.acked > SNAPSHOT_INDEX, 'the workload rekeys and ingests');
  const total = clean.ops;
  assert.ok(total > 50, 'the workload touches the disk');
  for (let k = 1; k <= total; k++) {
    const fs = new SimFs();
    const o = await workload(fs, seed, k, history, stream);
    await visit(k, total, fs.afterCrash(prng(seed * 7 + k)), o, history);
  }
}

test('after a crash at any disk operation, reopen holds exactly the durable prefix', async () => {
  let ingests = 0;
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const replay = `STORAGE_SEED=${seed} STORAGE_SEEDS=1 node --import tsx tests/storage/engine-crash.test.ts`;
    await forEachCrash(seed, async (k, total, disk, o, history) => {
      const where = `after a crash at op ${k}/${total}; replay: ${replay}`;
      const { db, key } = openAfterCrash(disk, o, where);
      checkState(db, history, o.acked, where);
      if (db.appliedIndex >= SNAPSHOT_INDEX) ingests++;
      // The reopened store keeps working, and stays readable with its key.
      const a = db.appliedIndex;
      db.write([{ type: 'put', key: new TextEncoder().encode('after'), value: new TextEncoder().encode(toHex(new Uint8Array([k & 255]))) }], { appliedIndex: a + 1 });
      await db.flush();
      await db.close();
      const re = LsmEngine.open('/db', { ...OPTS, masterKey: key, fs: disk });
      assert.is(re.appliedIndex, a + 1, `second reopen ${where}`);
      await re.close();
    });
  }
  assert.ok(ingests > 0, 'some crashes leave the ingested state');
});

test('a crash while open recovers (removing orphans, finishing a rekey) leaves a store that opens to the same state', async () => {
  let cut = 0, rekeys = 0;
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const replay = `STORAGE_SEED=${seed} STORAGE_SEEDS=1 node --import tsx tests/storage/engine-crash.test.ts`;
    await forEachCrash(seed, async (k, total, disk, o, history) => {
      // How many disk operations a clean open of this disk performs, and what it finds.
      const probe = copyDisk(disk);
      const { db: first, key } = openAfterCrash(probe, o, `after a crash at op ${k}/${total}; replay: ${replay}`);
      const openOps = probe.ops;
      // KEY is 117 bytes, plus 72 while it still holds the previous master (FORMATS.md, KEY file).
      if (openOps && disk.files().get('/db/KEY')!.length > 117) rekeys++;
      const want = dump(first);
      const a = first.appliedIndex;
      await first.close({ flush: false });
      for (let j = 1; j <= openOps; j++) {
        const where = `after a crash at op ${k}/${total} and at op ${j}/${openOps} of the next open; replay: ${replay}`;
        const d = copyDisk(disk);
        d.crashAt(j, prng(seed * 131 + k * 17 + j));
        try {
          LsmEngine.open('/db', { ...OPTS, masterKey: key, fs: d });
          assert.unreachable(`the open did not reach its disk operation ${where}`);
        } catch (e) {
          if ((e as Error).name !== 'SimCrash') throw e;
        }
        cut++;
        const again = d.afterCrash(prng(seed * 7 + k * 3 + j));
        const { db, key: opener } = openAfterCrash(again, o, where);
        assert.is(opener, key, `the key that opens the store changed ${where}`);
        assert.is(db.appliedIndex, a, `applied index changed ${where}`);
        assert.is(dump(db), want, `state changed ${where}`);
        checkState(db, history, o.acked, where);
        // Nothing left over: a later clean open has nothing to remove or finish.
        await db.close({ flush: false });
        const settled = copyDisk(again);
        const quiet = LsmEngine.open('/db', { ...OPTS, masterKey: key, fs: settled });
        assert.is(settled.ops, 0, `a second open still had recovery to do ${where}`);
        await quiet.close({ flush: false });
      }
    });
  }
  assert.ok(cut > 0 && rekeys > 0, `${cut} opens with recovery work to cut, ${rekeys} of them finishing a rekey`);
});

test.run();
