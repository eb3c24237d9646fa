/**
 * Tampering with files on disk: every read either returns exactly what was written or throws
 * STORAGE_CORRUPT with a clear message; never wrong data.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import process from 'node:process';
import { isTrineError, utf8 } from '../../src/crypto/index.ts';
import { LsmEngine } from '../../src/storage/engine.ts';
import { LogStore } from '../../src/storage/log.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';

const KEY = new Uint8Array(32).fill(11);
const N = 400;
const TRIALS = Number(process.env['STORAGE_TRIALS'] ?? 300);
const OPTS = { masterKey: KEY, memtableBytes: 16000, tableBytes: 6000, l0Trigger: 8 };
const val = (i: number) => `value ${i} `.padEnd(30 + (i % 20), '*');

async function build(): Promise<SimFs> {
  const fs = new SimFs();
  const db = LsmEngine.open('/db', { ...OPTS, fs });
  for (let i = 0; i < N; i++) db.write([{ type: 'put', key: utf8(`key${String(i).padStart(4, '0')}`), value: utf8(val(i)) }], { appliedIndex: i + 1 });
  await db.flush();
  await db.compact();
  // A second generation on top, so the store has more than one sorted run.
  for (let i = 0; i < N; i += 3) db.write([{ type: 'put', key: utf8(`key${String(i).padStart(4, '0')}`), value: utf8(val(i)) }], { appliedIndex: N + i });
  await db.flush();
  await db.close();
  return fs;
}

/** Opens and reads everything; returns 'ok' when every read is right, 'corrupt' when reported. */
function readAll(fs: SimFs): 'ok' | 'corrupt' {
  try {
    const db = LsmEngine.open('/db', { ...OPTS, fs });
    const rows = [...db.scan()];
    assert.is(rows.length, N, 'row count');
    rows.forEach((r, i) => assert.is(new TextDecoder().decode(r.value), val(i), 'scanned value'));
    for (let i = 0; i < N; i += 7) assert.is(new TextDecoder().decode(db.get(utf8(`key${String(i).padStart(4, '0')}`))!), val(i), 'point read');
    return 'ok';
  } catch (e) {
    if (isTrineError(e, 'STORAGE_CORRUPT')) {
      assert.match((e as Error).message, /storage corruption: .+; restore this node/);
      return 'corrupt';
    }
    throw e;
  }
}

test('flipping any byte of any file is detected or harmless', async () => {
  const base = await build();
  const files = [...base.files()].filter(([p]) => !p.endsWith('/KEY'));
  const rng = prng(42);
  let detected = 0;
  for (let t = 0; t < TRIALS; t++) {
    const fs = base.afterCrash(() => 0.999999);
    const [path, bytes] = files[Math.floor(rng() * files.length)]!;
    const b = bytes.slice();
    const at = Math.floor(rng() * b.length);
    b[at]! ^= 1 << Math.floor(rng() * 8);
    fs.tamper(path, b);
    if (readAll(fs) === 'corrupt') detected++;
  }
  // Only the unauthenticated padding of headers can change unnoticed.
  assert.ok(detected > TRIALS * 0.6, `${detected}/${TRIALS} detected`);
});

test('swapping two blocks of a table, or truncating it, is detected', async () => {
  const base = await build();
  const [path, bytes] = [...base.files()].filter(([p]) => p.endsWith('.sst')).sort((a, b) => b[1].length - a[1].length)[0]!;
  // Find two sealed blocks by their positions: tables start at 256; blocks are ~4 KiB, but any
  // two equal-length ranges that straddle block starts will do for a swap of ciphertext.
  const len = 500;
  const a = 256, c = 256 + 2 * len;
  const swapped = bytes.slice();
  swapped.set(bytes.subarray(c, c + len), a);
  swapped.set(bytes.subarray(a, a + len), c);
  let fs = base.afterCrash(() => 0.999999);
  fs.tamper(path, swapped);
  assert.is(readAll(fs), 'corrupt');
  fs = base.afterCrash(() => 0.999999);
  fs.tamper(path, bytes.subarray(0, bytes.length - 1));
  assert.is(readAll(fs), 'corrupt');
});

test('replacing a table with another table, or the manifest with an older one, is detected', async () => {
  const fs0 = new SimFs();
  let db = LsmEngine.open('/db', { ...OPTS, fs: fs0 });
  for (let i = 0; i < N; i++) db.write([{ type: 'put', key: utf8(`key${String(i).padStart(4, '0')}`), value: utf8(val(i)) }]);
  await db.flush();
  const oldManifest = fs0.files().get('/db/MANIFEST')!;
  await db.compact();
  await db.close();
  const tables = [...fs0.files()].filter(([p]) => p.endsWith('.sst'));
  let fs = fs0.afterCrash(() => 0.999999);
  fs.tamper('/db/MANIFEST', oldManifest);
  assert.throws(() => LsmEngine.open('/db', { ...OPTS, fs }), (e: unknown) => isTrineError(e, 'STORAGE_CORRUPT') && /missing/.test((e as Error).message));
  if (tables.length >= 2) {
    fs = fs0.afterCrash(() => 0.999999);
    fs.tamper(tables[0]![0], tables[1]![1]);
    assert.is(readAll(fs), 'corrupt');
  }
  // A table written under the same id in another store (same name, other bytes) is also caught.
  const other = new SimFs();
  db = LsmEngine.open('/db', { ...OPTS, fs: other });
  for (let i = 0; i < N; i++) db.write([{ type: 'put', key: utf8(`key${String(i).padStart(4, '0')}`), value: utf8(val(i)) }]);
  await db.compact();
  await db.close();
  fs = fs0.afterCrash(() => 0.999999);
  const [name] = tables[0]!;
  const foreign = other.files().get(name);
  if (foreign) {
    fs.tamper(name, foreign);
    assert.is(readAll(fs), 'corrupt');
  }
});

test('a flipped byte inside an earlier log record is reported, not returned', async () => {
  const fs = new SimFs();
  const log = LogStore.open('/log', { masterKey: KEY, fs });
  for (let i = 1; i <= 10; i++) await log.append([{ index: i, term: 1, data: utf8(`entry ${i}`.padEnd(40, '-')) }]);
  await log.close();
  const [path, bytes] = [...fs.files()].find(([p, b]) => p.endsWith('.seg') && b.length > 256)!;
  const b = bytes.slice();
  b[300]! ^= 0x20;
  fs.tamper(path, b);
  const re = LogStore.open('/log', { masterKey: KEY, fs });
  // The log ends before the damaged record, and says so; no altered entry is served.
  assert.ok(re.recovery.droppedBytes > 0);
  for (const e of re.entries(re.firstIndex(), re.lastIndex() + 1)) assert.is(new TextDecoder().decode(e.data), `entry ${e.index}`.padEnd(40, '-'));
});

test.run();
