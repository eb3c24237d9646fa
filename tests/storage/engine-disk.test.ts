/**
 * The engine on the real disk, where compactions run on the worker thread: random operations
 * against a model, with reopens; the worker's tables must read back exactly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { LsmEngine } from '../../src/storage/engine.ts';
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
    let compactions = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 3000; i++) {
        const k = `key${Math.floor(rng() * 2000)}`;
        if (rng() < 0.85) { const v = `r${round}i${i}`.padEnd(20 + Math.floor(rng() * 50), '='); model.set(k, v); db.write([{ type: 'put', key: new TextEncoder().encode(k), value: new TextEncoder().encode(v) }]); }
        else { model.delete(k); db.write([{ type: 'del', key: new TextEncoder().encode(k) }]); }
        if (i % 100 === 0) { await new Promise((r) => setImmediate(r)); await db.throttle(); }
      }
      await db.settle();
      compactions += db.stats().compactions;
      const got = [...db.scan()].map((e) => `${new TextDecoder().decode(e.key)}=${new TextDecoder().decode(e.value)}`);
      const want = [...model].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
      assert.equal(got, want, `round ${round}; replay: ${replay}`);
      if (round % 2 === 1) { await db.close(); db = LsmEngine.open(dir, OPTS); }
    }
    assert.ok(compactions > 0, 'compactions ran');
    await db.compact();
    assert.is([...db.scan()].length, model.size);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
