/** Encryption at rest: no plaintext on disk, wrong keys refused without changes, rekey. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrineError, utf8 } from '../../src/crypto/index.ts';
import { LsmEngine } from '../../src/storage/engine.ts';
import { LogStore } from '../../src/storage/log.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';

const KEY = new Uint8Array(32).fill(5);
const KEY2 = new Uint8Array(32).fill(6);
const MARKER = 'PLAINTEXT-MARKER-0123456789-SECRET';

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p)); else out.push(p);
  }
  return out;
}

/** True when `hay` contains any 8-byte run of `needle`. */
function containsRun(hay: Uint8Array, needle: Uint8Array, run = 8): boolean {
  const h = Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
  for (let i = 0; i + run <= needle.length; i++) if (h.indexOf(needle.subarray(i, i + run)) >= 0) return true;
  return false;
}

test('no file under the data directory holds the marker or any 8-byte run of it (tables, manifest, log)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trine-plain-'));
  try {
    const marker = utf8(MARKER);
    // The check itself must be able to fail: it finds the marker in a plain file.
    assert.ok(containsRun(utf8(`xx${MARKER.slice(5, 14)}yy`), marker));
    const db = LsmEngine.open(join(dir, 'db'), { masterKey: KEY, memtableBytes: 20000, tableBytes: 8000, l0Trigger: 2 });
    const log = LogStore.open(join(dir, 'log'), { masterKey: KEY });
    for (let i = 0; i < 2000; i++) {
      const key = utf8(`${MARKER}/key/${i}`);
      const value = utf8(`${MARKER} value ${i} ${MARKER}`);
      db.write([{ type: 'put', key, value }], { appliedIndex: i + 1 });
      if (i % 100 === 0) await log.append([{ index: i / 100 + 1, term: 1, data: value }]);
    }
    log.saveHardState(marker);
    await db.flush();
    await db.compact();
    const snap = db.snapshot();
    assert.ok([...snap.scan({ limit: 3 })].length === 3);
    await db.close();
    await log.close();
    const files = filesUnder(dir);
    assert.ok(files.some((f) => f.endsWith('.sst')) && files.some((f) => f.endsWith('MANIFEST')) && files.some((f) => f.endsWith('.seg')));
    for (const f of files) assert.not.ok(containsRun(readFileSync(f), marker), `${f} holds plaintext`);
    const re = LsmEngine.open(join(dir, 'db'), { masterKey: KEY });
    assert.is(new TextDecoder().decode(re.get(utf8(`${MARKER}/key/7`))!), `${MARKER} value 7 ${MARKER}`);
    await re.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function sample(fs: SimFs, key: Uint8Array | { passphrase: string; scrypt: { N: number; r: number; p: number } }): Promise<void> {
  const db = LsmEngine.open('/db', { masterKey: key, fs, memtableBytes: 2000, tableBytes: 1500, l0Trigger: 3 });
  for (let i = 0; i < 300; i++) db.write([{ type: 'put', key: utf8(`k${i}`), value: utf8(`value ${i}`) }], { appliedIndex: i + 1 });
  await db.flush();
  await db.close();
}

test('a wrong master key is refused with a clear error and changes nothing on disk', async () => {
  const fs = new SimFs();
  await sample(fs, KEY);
  const before = fs.files();
  for (const wrong of [KEY2, { passphrase: 'guess', scrypt: { N: 1024, r: 8, p: 1 } }]) {
    try { LsmEngine.open('/db', { masterKey: wrong, fs }); assert.unreachable('opened with a wrong key'); } catch (e) {
      assert.ok(isTrineError(e, 'STORAGE_WRONG_KEY'), String(e));
      assert.match((e as Error).message, /does not open the data directory \/db/);
    }
  }
  assert.equal(fs.files(), before);
  assert.throws(() => LsmEngine.open('/db', { masterKey: new Uint8Array(31), fs }), (e: unknown) => isTrineError(e, 'STORAGE_BAD_MASTER_KEY'));
  const db = LsmEngine.open('/db', { masterKey: KEY, fs });
  assert.is(new TextDecoder().decode(db.get(utf8('k42'))!), 'value 42');
});

test('rekey rewraps file keys only: data bytes unchanged, old key refused, new key (or passphrase) opens', async () => {
  const fs = new SimFs();
  const pass = { passphrase: 'correct horse battery', scrypt: { N: 1024, r: 8, p: 1 } };
  await sample(fs, pass);
  const bodies = new Map([...fs.files()].filter(([p]) => p.endsWith('.sst')).map(([p, b]) => [p, b.subarray(256)]));
  let db = LsmEngine.open('/db', { masterKey: pass, fs });
  await db.rekey(KEY2);
  assert.is(new TextDecoder().decode(db.get(utf8('k7'))!), 'value 7');
  await db.close({ flush: false });
  for (const [p, body] of bodies) assert.equal(fs.files().get(p)!.subarray(256), body, `${p} data rewritten`);
  assert.throws(() => LsmEngine.open('/db', { masterKey: pass, fs }), (e: unknown) => isTrineError(e, 'STORAGE_WRONG_KEY'));
  db = LsmEngine.open('/db', { masterKey: KEY2, fs });
  assert.is(new TextDecoder().decode(db.get(utf8('k299'))!), 'value 299');
  await db.close();
});

/** How many disk operations a rekey of the store on `base` takes (counted on a copy). */
async function rekeyOps(base: SimFs): Promise<number> {
  const count = base.afterCrash(() => 0.999999);
  const probe = LsmEngine.open('/db', { masterKey: KEY, fs: count });
  const before = count.ops;
  await probe.rekey(KEY2);
  return count.ops - before;
}

test('a crash at any point of a rekey leaves a store that the old or the new key opens, data intact', async () => {
  const base = new SimFs();
  await sample(base, KEY);
  const total = await rekeyOps(base);
  assert.ok(total > 5);
  for (let k = 1; k <= total; k++) {
    const fs = base.afterCrash(() => 0.999999);
    const db = LsmEngine.open('/db', { masterKey: KEY, fs });
    fs.crashAt(k, prng(k));
    await db.rekey(KEY2).then(() => assert.unreachable('no crash'), (e) => assert.ok(String(e).includes('crash') || String((e as Error).cause).includes('crash'), String(e)));
    const disk = fs.afterCrash(prng(100 + k));
    let opened: LsmEngine | undefined;
    for (const key of [KEY2, KEY]) {
      try { opened = LsmEngine.open('/db', { masterKey: key, fs: disk }); break; } catch (e) { assert.ok(isTrineError(e, 'STORAGE_WRONG_KEY'), `crash at rekey op ${k}: ${e}`); }
    }
    assert.ok(opened, `crash at rekey op ${k}: neither key opens the store`);
    assert.is([...opened!.scan()].length, 300, `crash at rekey op ${k}: data lost`);
    await opened!.close();
  }
});

test('a rekey cut inside any write (a torn key slot) and then retried leaves every file opening with the new key', async () => {
  const base = new SimFs();
  await sample(base, KEY);
  const total = await rekeyOps(base);
  for (let k = 1; k <= total; k++) {
    for (const torn of [0.25, 0.5, 0.9]) {
      const fs = base.afterCrash(() => 0.999999);
      const db = LsmEngine.open('/db', { masterKey: KEY, fs });
      // The cut write lands in part: a key slot may hold the new key's id in front of garbage.
      fs.crashAt(k, () => torn);
      await db.rekey(KEY2).catch(() => undefined);
      const disk = fs.afterCrash(() => 0.999999);
      let again: LsmEngine;
      try { again = LsmEngine.open('/db', { masterKey: KEY, fs: disk }); } catch {
        // The KEY file had switched: the new key opens it and finishes the rekey itself.
        again = LsmEngine.open('/db', { masterKey: KEY2, fs: disk });
      }
      await again.rekey(KEY2);
      await again.close();
      const done = LsmEngine.open('/db', { masterKey: KEY2, fs: disk });
      assert.is([...done.scan()].length, 300, `rekey cut at op ${k} (torn at ${torn}) and retried: data lost`);
      await done.close();
      try { LsmEngine.open('/db', { masterKey: KEY, fs: disk }); assert.unreachable('the old key still opens the store'); } catch (e) { assert.ok(isTrineError(e, 'STORAGE_WRONG_KEY'), String(e)); }
    }
  }
});

test.run();
