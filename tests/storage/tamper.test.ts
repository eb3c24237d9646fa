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
import { FileKind, Keyring, openFileHeader } from '../../src/storage/envelope.ts';
import { ByteReader } from '../../src/storage/codec.ts';
import { readManifest, writeManifest } from '../../src/storage/manifest.ts';

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

const ROWS = Array.from({ length: N }, (_, i) => [`key${String(i).padStart(4, '0')}`, val(i)] as const);

/** Opens and reads everything; returns 'ok' when every read is right, 'corrupt' when reported. */
function readAll(fs: SimFs, want: readonly (readonly [string, string])[] = ROWS): 'ok' | 'corrupt' {
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  try {
    const db = LsmEngine.open('/db', { ...OPTS, fs });
    assert.equal([...db.scan()].map((r) => [text(r.key), text(r.value)]), want.map(([k, v]) => [k, v]), 'scanned rows');
    assert.equal([...db.scan({ reverse: true })].map((r) => text(r.key)), want.map(([k]) => k).reverse(), 'reverse scan');
    for (let i = 0; i < want.length; i += 7) assert.is(text(db.get(utf8(want[i]![0]))!), want[i]![1], 'point read');
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

/** Where the sealed blocks of a table lie, read the way FORMATS.md describes: footer, then index. */
function tableLayout(fs: SimFs, path: string): { blocks: { off: number; len: number }[]; filterOff: number; indexOff: number; footerOff: number } {
  const b = fs.files().get(path)!;
  const ring = Keyring.open(fs, '/db', KEY, () => true);
  const cipher = openFileHeader(ring, b.subarray(0, 256), FileKind.Table, undefined, path);
  const footerOff = b.length - 56;
  const f = new ByteReader(cipher.open(footerOff, 5, b.subarray(footerOff), 'footer'), 'footer');
  const indexOff = f.u64(), indexLen = f.u32(), filterOff = f.u64();
  const r = new ByteReader(cipher.open(indexOff, 2, b.subarray(indexOff, indexOff + indexLen), 'index'), 'index');
  const blocks: { off: number; len: number }[] = [];
  for (let n = r.varint(); n > 0; n--) { r.blob(); blocks.push({ off: r.varint(), len: r.varint() }); }
  // The layout must be the one the format promises, or the moves below would test nothing.
  assert.is(blocks[0]!.off, 256);
  for (let i = 1; i < blocks.length; i++) assert.is(blocks[i]!.off, blocks[i - 1]!.off + blocks[i - 1]!.len);
  assert.is(filterOff, blocks[blocks.length - 1]!.off + blocks[blocks.length - 1]!.len);
  return { blocks, filterOff, indexOff, footerOff };
}

/**
 * A store with two tables holding the same entries (written twice, one batch each), so they have
 * the same layout. Every key starts with its own byte and values have one length, so every data
 * block but the last holds the same number of entries and has the same sealed length.
 */
const EQ_N = 200;
const eqKey = (i: number) => `${String.fromCharCode(0x30 + i)}-fixed-suffix`;
const eqVal = (i: number) => `value ${String(i).padStart(3, '0')} `.padEnd(150, '=');
async function buildEqual(): Promise<{ fs: SimFs; tables: string[] }> {
  const fs = new SimFs();
  const db = LsmEngine.open('/db', { ...OPTS, fs, memtableBytes: 1 << 20, background: false });
  const batch = Array.from({ length: EQ_N }, (_, i) => ({ type: 'put' as const, key: utf8(eqKey(i)), value: utf8(eqVal(i)) }));
  db.write(batch);
  await db.flush();
  db.write(batch);
  await db.flush();
  await db.close();
  const tables = [...fs.files().keys()].filter((p) => p.endsWith('.sst')).sort();
  assert.is(tables.length, 2);
  return { fs, tables };
}
const EQ_ROWS = Array.from({ length: EQ_N }, (_, i) => [eqKey(i), eqVal(i)] as const);

test('swapping two whole sealed data blocks of equal length inside a table is detected', async () => {
  const { fs: base, tables } = await buildEqual();
  const path = tables[0]!;
  const { blocks } = tableLayout(base, path);
  assert.ok(blocks.length >= 4, `${blocks.length} blocks`);
  const bytes = base.files().get(path)!;
  let swaps = 0;
  for (let i = 0; i < blocks.length; i++) {
    for (let j = i + 1; j < blocks.length; j++) {
      const a = blocks[i]!, c = blocks[j]!;
      if (a.len !== c.len) continue;
      const swapped = bytes.slice();
      swapped.set(bytes.subarray(c.off, c.off + c.len), a.off);
      swapped.set(bytes.subarray(a.off, a.off + a.len), c.off);
      const fs = base.afterCrash(() => 0.999999);
      fs.tamper(path, swapped);
      assert.is(readAll(fs, EQ_ROWS), 'corrupt', `blocks ${i} and ${j} swapped`);
      swaps++;
    }
  }
  assert.ok(swaps >= 3, `only ${swaps} pairs of equal-length blocks to swap`);
  // The same swap with the table's own bytes put back reads fine: the check above is not vacuous.
  assert.is(readAll(base.afterCrash(() => 0.999999), EQ_ROWS), 'ok');
});

test('a sealed block moved to the same offset of another table is detected', async () => {
  const { fs: base, tables } = await buildEqual();
  const [pa, pb] = tables as [string, string];
  const la = tableLayout(base, pa), lb = tableLayout(base, pb);
  assert.equal(la, lb, 'both tables have one layout');
  const a = base.files().get(pa)!, b = base.files().get(pb)!;
  // Every sealed region of the other table, moved over the same region: data, filter, index, footer.
  const regions = [...la.blocks, { off: la.filterOff, len: la.indexOff - la.filterOff }, { off: la.indexOff, len: la.footerOff - la.indexOff }, { off: la.footerOff, len: 56 }];
  for (const { off, len } of regions) {
    const moved = a.slice();
    moved.set(b.subarray(off, off + len), off);
    const fs = base.afterCrash(() => 0.999999);
    fs.tamper(pa, moved);
    assert.is(readAll(fs, EQ_ROWS), 'corrupt', `region at ${off} of ${pb} moved into ${pa}`);
  }
});

test('truncating a table anywhere is detected, also when zero bytes pad it back to its length', async () => {
  const { fs: base, tables } = await buildEqual();
  const path = tables[0]!;
  const { blocks, filterOff, footerOff } = tableLayout(base, path);
  const bytes = base.files().get(path)!;
  const cuts = [
    ['the last byte', bytes.length - 1],
    ['the footer', footerOff],
    ['mid-footer', footerOff + 20],
    ['index and footer', filterOff],
    ['mid-block', blocks[1]!.off + (blocks[1]!.len >> 1)],
    ['one byte into a block', blocks[2]!.off + 1],
    ['every block', 256],
    ['the header', 100],
  ] as const;
  for (const [what, at] of cuts) {
    let fs = base.afterCrash(() => 0.999999);
    fs.tamper(path, bytes.subarray(0, at));
    assert.is(readAll(fs, EQ_ROWS), 'corrupt', `cut ${what} (${at} of ${bytes.length} bytes)`);
    // Same length as before (the manifest's size check passes): the seals must catch it.
    const padded = new Uint8Array(bytes.length);
    padded.set(bytes.subarray(0, at));
    fs = base.afterCrash(() => 0.999999);
    fs.tamper(path, padded);
    assert.is(readAll(fs, EQ_ROWS), 'corrupt', `cut ${what} (${at} of ${bytes.length} bytes), zero-padded`);
  }
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

test('a manifest put back older by two flushes is refused and nothing is changed; older by one it opens', async () => {
  const fs0 = new SimFs();
  const db = LsmEngine.open('/db', { ...OPTS, fs: fs0, background: false });
  const manifests: Uint8Array[] = [];
  const rows: (readonly [string, string])[][] = [];
  for (let flush = 0; flush < 5; flush++) {
    for (let i = flush * 50; i < flush * 50 + 50; i++) db.write([{ type: 'put', key: utf8(`key${String(i).padStart(4, '0')}`), value: utf8(val(i)) }], { appliedIndex: i + 1 });
    await db.flush();
    manifests.push(fs0.files().get('/db/MANIFEST')!);
    rows.push(ROWS.slice(0, flush * 50 + 50));
  }
  await db.close();
  const tableCount = [...fs0.files().keys()].filter((p) => p.endsWith('.sst')).length;
  assert.is(tableCount, 5, 'one table per flush, none compacted away');
  const refused = (fs: SimFs, why: RegExp) => {
    const before = fs.files();
    assert.throws(() => LsmEngine.open('/db', { ...OPTS, fs }), (e: unknown) => isTrineError(e, 'STORAGE_CORRUPT') && why.test((e as Error).message) && /restore this node/.test((e as Error).message));
    assert.equal(fs.files(), before, 'open changed files on disk');
  };
  for (const back of [2, 3, 4]) {
    // Every table the older manifest lists still exists: only the newer tables can tell.
    const fs = fs0.afterCrash(() => 0.999999);
    fs.tamper('/db/MANIFEST', manifests[4 - back]!);
    refused(fs, /manifest is older than the tables/);
  }
  const gone = fs0.afterCrash(() => 0.999999);
  gone.remove('/db/MANIFEST');
  refused(gone, /MANIFEST is missing/);
  // A manifest (written with the key) that lists a table of its own generation cannot be genuine.
  const early = fs0.afterCrash(() => 0.999999);
  const ring = Keyring.open(early, '/db', KEY, () => true);
  writeManifest(early, '/db', ring, { ...readManifest(early, '/db', ring), generation: 4 });
  refused(early, /written from manifest generation 4, yet MANIFEST \(generation 4\) lists it/);
  // Older by one flush it is what a crash just before the manifest's rename leaves (FORMATS.md,
  // Manifest): it opens at that state, and the Raft log replays the rest.
  const fs = fs0.afterCrash(() => 0.999999);
  fs.tamper('/db/MANIFEST', manifests[3]!);
  assert.is(readAll(fs, rows[3]), 'ok');
  assert.is(LsmEngine.open('/db', { ...OPTS, fs }).appliedIndex, 200);
  // The current manifest opens with every row: the refusals above are not vacuous.
  assert.is(readAll(fs0.afterCrash(() => 0.999999), rows[4]), 'ok');
});

test('a table of format 1 (footer without the generation) is refused with a clear error', async () => {
  const { fs, tables } = await buildEqual();
  const path = tables[0]!;
  const b = fs.files().get(path)!;
  const ring = Keyring.open(fs, '/db', KEY, () => true);
  const cipher = openFileHeader(ring, b.subarray(0, 256), FileKind.Table, undefined, path);
  const at = b.length - 56;
  // The same table as format 1 wrote it: the footer's first 32 bytes, sealed in the last 48.
  const footer = cipher.open(at, 5, b.subarray(at), 'footer').subarray(0, 32);
  const old = new Uint8Array(at + 48);
  old.set(b.subarray(0, at));
  old.set(cipher.seal(at, 5, footer), at);
  fs.tamper(path, old);
  const m = readManifest(fs, '/db', ring);
  m.levels = m.levels.map((l) => l.map((t) => (`/db/t-${String(t.id).padStart(16, '0')}.sst` === path ? { ...t, size: old.length } : t)));
  writeManifest(fs, '/db', ring, m);
  assert.throws(() => LsmEngine.open('/db', { ...OPTS, fs }), (e: unknown) => isTrineError(e, 'STORAGE_CORRUPT') && /table of format 1/.test((e as Error).message));
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
  // Either open refuses the log, or the log ends before the damaged record and says so; no
  // altered entry is served.
  let re: LogStore;
  try { re = LogStore.open('/log', { masterKey: KEY, fs }); } catch (e) {
    assert.ok(isTrineError(e, 'STORAGE_CORRUPT'), String(e));
    return;
  }
  assert.ok(re.recovery.droppedBytes > 0);
  for (const e of re.entries(re.firstIndex(), re.lastIndex() + 1)) assert.is(new TextDecoder().decode(e.data), `entry ${e.index}`.padEnd(40, '-'));
});

test.run();
