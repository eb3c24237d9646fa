/** Snapshots and iterators are stable while writes, flushes and compactions go on; streams and ingest. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTrineError, utf8 } from '../../src/crypto/index.ts';
import { LsmEngine } from '../../src/storage/engine.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';

const KEY = new Uint8Array(32).fill(13);
const OPTS = { masterKey: KEY, memtableBytes: 4000, tableBytes: 3000, l0Trigger: 2, l1Bytes: 6000 };
const k = (i: number) => utf8(`row${String(i).padStart(5, '0')}`);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const tick = () => new Promise((r) => setImmediate(r));

function fill(db: LsmEngine, n: number, tag: string): void {
  for (let i = 0; i < n; i++) db.write([{ type: 'put', key: k(i), value: utf8(`${tag}-${i}`) }]);
}

test('a snapshot iterates the same rows while writes, deletes, flushes and compactions go on', async () => {
  const fs = new SimFs();
  const db = LsmEngine.open('/db', { ...OPTS, fs });
  fill(db, 600, 'old');
  await db.flush();
  const snap = db.snapshot();
  const want = Array.from({ length: 600 }, (_, i) => `${text(k(i))}=old-${i}`);
  for (const reverse of [false, true]) {
    const got: string[] = [];
    const now = db.snapshot();
    const plainWant = [...now.scan({ reverse })].map((e) => `${text(e.key)}=${text(e.value)}`);
    now.release();
    const plain = db.scan({ reverse }); // a plain iterator is a point-in-time view too
    const plainGot: string[] = [];
    const rng = prng(reverse ? 2 : 1);
    const it = snap.scan({ reverse });
    for (const e of it) {
      got.push(`${text(e.key)}=${text(e.value)}`);
      const p = plain.next();
      if (!p.done) plainGot.push(`${text(p.value.key)}=${text(p.value.value)}`);
      // Overwrite and delete rows ahead of and behind the cursor, and let compaction run.
      const j = Math.floor(rng() * 600);
      if (rng() < 0.5) db.write([{ type: 'put', key: k(j), value: utf8(`new-${j}`.padEnd(80, '+')) }]);
      else db.write([{ type: 'del', key: k(j) }]);
      if (got.length % 97 === 0) await db.flush();
      if (got.length % 251 === 0) await db.compact();
      await tick();
    }
    for (let p = plain.next(); !p.done; p = plain.next()) plainGot.push(`${text(p.value.key)}=${text(p.value.value)}`);
    assert.equal(got, reverse ? [...want].reverse() : want);
    assert.equal(plainGot, plainWant, 'a plain iterator is a point-in-time view too');
    assert.ok(db.stats().compactions > 0, 'compactions ran during the scan');
  }
  assert.is(text(snap.get(k(5))!), 'old-5');
  snap.release();
  assert.throws(() => snap.get(k(5)), (e: unknown) => isTrineError(e, 'STORAGE_SNAPSHOT_RELEASED'));
  await db.close();
});

test('files replaced by compaction are deleted once the iterators reading them end, started or not', async () => {
  const fs = new SimFs();
  const db = LsmEngine.open('/db', { ...OPTS, fs });
  fill(db, 500, 'a');
  await db.flush();
  await db.settle();
  const tablesBefore = () => fs.list('/db').filter((n) => n.endsWith('.sst'));
  const first = tablesBefore();
  const unstarted = db.scan();
  const partial = db.scan();
  partial.next();
  const exhausted = [...db.scan()];
  assert.is(exhausted.length, 500);
  fill(db, 500, 'b');
  await db.compact();
  for (const name of first) assert.ok(fs.list('/db').includes(name), `${name} deleted while iterators still read it`);
  assert.is([...partial].length, 499, 'the open iterator still reads the old tables');
  unstarted.return!();
  for (const name of first) assert.not.ok(fs.list('/db').includes(name), `${name} kept after its iterators ended`);
  await db.close();
});

test('a snapshot streams out and ingests into another store; the stream is checked', async () => {
  const a = LsmEngine.open('/a', { ...OPTS, fs: new SimFs() });
  fill(a, 3000, 'v');
  for (let i = 0; i < 3000; i += 5) a.write([{ type: 'del', key: k(i) }], { appliedIndex: 77 });
  await a.flush();
  const snap = a.snapshot();
  const stream = snap.stream();
  // Writes after the snapshot do not reach the stream.
  a.write([{ type: 'put', key: k(1), value: utf8('later') }]);
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  snap.release();
  // Re-cut the stream at arbitrary points, as a transport would.
  const all = Buffer.concat(chunks);
  const recut: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += 777) recut.push(all.subarray(i, i + 777));
  const fsB = new SimFs();
  const b = LsmEngine.open('/b', { ...OPTS, fs: fsB });
  fill(b, 100, 'stale');
  const old = b.snapshot();
  const r = await b.ingest(recut);
  assert.is(r.entries, 2400);
  assert.is(r.appliedIndex, 77);
  assert.is(b.appliedIndex, 77);
  assert.throws(() => old.get(k(1)), (e: unknown) => isTrineError(e, 'STORAGE_SNAPSHOT_INVALID'));
  const rows = [...b.scan()];
  assert.is(rows.length, 2400);
  assert.is(text(b.get(k(1))!), 'v-1');
  assert.is(b.get(k(5)), undefined);
  await b.close();
  const re = LsmEngine.open('/b', { ...OPTS, fs: fsB });
  assert.is([...re.scan()].length, 2400);
  assert.is(re.appliedIndex, 77);
  // A damaged stream is refused and the store keeps its state.
  const bad = Buffer.from(all);
  bad[bad.length - 40]! ^= 1;
  await re.ingest([bad]).then(() => assert.unreachable('altered stream accepted'), (e) => assert.ok(isTrineError(e, 'STORAGE_CORRUPT'), String(e)));
  await re.ingest([all.subarray(0, all.length - 10)]).then(() => assert.unreachable('cut stream accepted'), (e) => assert.ok(isTrineError(e, 'STORAGE_CORRUPT'), String(e)));
  assert.is([...re.scan()].length, 2400);
  await re.close();
});

test('a backup file restores the state; it is encrypted, and a cut or altered file is refused', async () => {
  const fs = new SimFs();
  const a = LsmEngine.open('/a', { ...OPTS, fs });
  fill(a, 1500, 'secret-backup-row');
  a.write([], { appliedIndex: 42 });
  const bytes = await a.writeBackup('/a/backup.snap');
  assert.ok(bytes > 1500 * 20);
  const file = fs.files().get('/a/backup.snap')!;
  assert.not.ok(Buffer.from(file).includes('secret-backup'), 'backup holds plaintext');
  const b = LsmEngine.open('/a2', { ...OPTS, fs });
  // The same master key (as one node's own backups have) opens it.
  fs.tamper('/a2/backup.snap', file);
  const r = await b.restoreBackup('/a2/backup.snap');
  assert.equal(r, { entries: 1500, appliedIndex: 42 });
  assert.is(text(b.get(k(1499))!), 'secret-backup-row-1499');
  for (const bad of [file.subarray(0, file.length - 3), file.subarray(0, file.length - 20), (() => { const x = file.slice(); x[400]! ^= 4; return x; })()]) {
    fs.tamper('/a2/bad.snap', bad);
    await b.restoreBackup('/a2/bad.snap').then(() => assert.unreachable('bad backup restored'), (e) => assert.ok(isTrineError(e, 'STORAGE_CORRUPT'), String(e)));
  }
  assert.is([...b.scan()].length, 1500);
});

test('the durable applied index follows flushes; stats report levels, cache and amplification', async () => {
  const fs = new SimFs();
  let db = LsmEngine.open('/db', { ...OPTS, fs });
  db.write([{ type: 'put', key: k(1), value: utf8('x') }], { appliedIndex: 5 });
  assert.is(db.appliedIndex, 0);
  await db.flush();
  assert.is(db.appliedIndex, 5);
  db.write([], { appliedIndex: 9 }); // an entry without writes still advances the index
  await db.flush();
  assert.is(db.appliedIndex, 9);
  db.write([{ type: 'put', key: k(2), value: utf8('y') }], { appliedIndex: 10 });
  await db.close({ flush: false });
  db = LsmEngine.open('/db', { ...OPTS, fs });
  assert.is(db.appliedIndex, 9, 'unflushed writes are for the Raft log to replay');
  assert.is(db.get(k(2)), undefined);
  fill(db, 2000, 'z');
  await db.compact();
  for (let i = 0; i < 2000; i += 10) db.get(k(i));
  const s = db.stats();
  assert.ok(s.levels.some((l) => l.files > 0));
  assert.ok(s.tableBytes > 0 && s.writeAmplification > 0 && s.readAmplification > 0);
  assert.ok(s.cache.hits + s.cache.misses > 0 && s.cache.hitRate >= 0 && s.cache.hitRate <= 1);
  await db.close();
});

test.run();
