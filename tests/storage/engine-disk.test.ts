/**
 * The engine on the real disk, where flushes and compactions run on background threads: random
 * operations against a model, with reopens; the threads' tables must read back exactly. Also the
 * packed memtable a flush hands its thread, against the memtable's own groups.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { LsmEngine } from '../../src/storage/engine.ts';
import { compareBytes } from '../../src/storage/kv.ts';
import { Memtable, packedBuffers, packedGroups } from '../../src/storage/memtable.ts';
import { prng } from '../../src/storage/sim-fs.ts';

const KEY = new Uint8Array(32).fill(21);
const SEED = Number(process.env['STORAGE_SEED'] ?? 1);
const OPTS = { masterKey: KEY, memtableBytes: 30000, tableBytes: 12000, l0Trigger: 2, l1Bytes: 40000 };

test('worker compactions on disk keep every row, across reopens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trine-disk-'));
  const replay = `STORAGE_SEED=${SEED} node --import tsx tests/storage/engine-disk.test.ts`;
  try {
    const rng = prng(SEED);
    const model = new Map<string, string>();
    let db = LsmEngine.open(dir, OPTS);
    let compactions = 0, flushes = 0, threadJobs = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 3000; i++) {
        const k = `key${Math.floor(rng() * 2000)}`;
        if (rng() < 0.85) { const v = `r${round}i${i}`.padEnd(20 + Math.floor(rng() * 50), '='); model.set(k, v); db.write([{ type: 'put', key: new TextEncoder().encode(k), value: new TextEncoder().encode(v) }]); }
        else { model.delete(k); db.write([{ type: 'del', key: new TextEncoder().encode(k) }]); }
        if (i % 100 === 0) { await new Promise((r) => setImmediate(r)); await db.throttle(); }
      }
      await db.settle();
      const st = db.stats();
      compactions += st.compactions; flushes += st.flushes; threadJobs += st.threadJobs;
      const got = [...db.scan()].map((e) => `${new TextDecoder().decode(e.key)}=${new TextDecoder().decode(e.value)}`);
      const want = [...model].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
      assert.equal(got, want, `round ${round}; replay: ${replay}`);
      if (round % 2 === 1) { await db.close(); db = LsmEngine.open(dir, OPTS); }
    }
    assert.ok(compactions > 0 && flushes > 0, 'flushes and compactions ran');
    assert.is(threadJobs, compactions + flushes, 'every flush and compaction ran on a background thread');
    await db.compact();
    assert.is([...db.scan()].length, model.size);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a memtable packed for the flush thread holds every version of every key, in order, across a transfer', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = prng(seed);
    const m = new Memtable();
    // The model: per key (hex), its versions newest first.
    const model = new Map<string, { seq: number; value: Uint8Array | undefined }[]>();
    const n = 1 + Math.floor(rng() * 400);
    let seq = 0;
    for (let i = 1; i <= n; i++) {
      const key = new Uint8Array(Math.floor(rng() * (rng() < 0.05 ? 600 : 12))).map(() => Math.floor(rng() * 4));
      const value = rng() < 0.2 ? undefined : new Uint8Array(rng() < 0.1 ? 200 + Math.floor(rng() * 20000) : Math.floor(rng() * 8)).map(() => Math.floor(rng() * 256));
      // Several writes in one batch share a sequence number; a later one replaces the earlier.
      if (seq === 0 || rng() >= 0.1) seq += 1 + Math.floor(rng() * 1_000_003);
      m.put(key, seq, value);
      const k = Buffer.from(key).toString('hex');
      const vs = model.get(k) ?? [];
      if (vs[0]?.seq === seq) vs[0].value = value; else vs.unshift({ seq, value });
      model.set(k, vs);
    }
    // Each group is read as it comes: the generator reuses its group array and entries.
    const show = (gs: Iterable<{ key: Uint8Array; seq: number; del: boolean; value: Uint8Array }[]>) => {
      const out: string[] = [];
      for (const g of gs) out.push(g.map((e) => `${Buffer.from(e.key).toString('hex')}@${e.seq}${e.del ? 'x' : `=${Buffer.from(e.value).toString('hex')}`}`).join(' '));
      return out;
    };
    const want = [...model].sort(([a], [b]) => compareBytes(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')))
      .map(([k, vs]) => vs.map((v) => `${k}@${v.seq}${v.value === undefined ? 'x' : `=${Buffer.from(v.value).toString('hex')}`}`).join(' '));
    assert.equal(show(packedGroups(m.pack(false))), want, `seed ${seed}: in process`);
    const packed = m.pack(true);
    const moved = structuredClone(packed, { transfer: packedBuffers(packed) });
    assert.equal(show(packedGroups(moved)), want, `seed ${seed}: after a transfer`);
    assert.equal(show(packedGroups(m.pack(false))), want, `seed ${seed}: the memtable still reads after its copy moved`);
    // A damaged hand-over is refused, never read as other data.
    const bad = m.pack(true);
    // Entry rows are [key offset, key length, newest version, -]; version rows [seq, value offset, value length, older].
    bad.entries[bad.order[0]! * 4] = bad.arena.length + 1;
    assert.throws(() => [...packedGroups(bad)], (e: Error) => (e as { code?: string }).code === 'STORAGE_CORRUPT', `seed ${seed}: a key outside the bytes`);
    const cyc = m.pack(true);
    const newest = cyc.entries[cyc.order[0]! * 4 + 2]!;
    cyc.versions[newest * 4 + 3] = newest;
    assert.throws(() => [...packedGroups(cyc)], (e: Error) => (e as { code?: string }).code === 'STORAGE_CORRUPT', `seed ${seed}: a version chain that loops`);
  }
});

test.run();
