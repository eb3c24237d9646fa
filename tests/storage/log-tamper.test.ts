/** Damage inside the log is told apart from a torn tail: the first is refused, the second cut. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTrineError, utf8 } from '../../src/crypto/index.ts';
import { LogStore } from '../../src/storage/log.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';

const KEY = new Uint8Array(32).fill(12);
const text = (i: number) => `entry ${i}`.padEnd(40, '-');

async function tenEntries(): Promise<{ fs: SimFs; path: string; bytes: Uint8Array }> {
  const fs = new SimFs();
  const log = LogStore.open('/log', { masterKey: KEY, fs });
  for (let i = 1; i <= 10; i++) await log.append([{ index: i, term: 1, data: utf8(text(i)) }]);
  await log.close();
  const [path, bytes] = [...fs.files()].find(([p, b]) => p.endsWith('.seg') && b.length > 256)!;
  return { fs, path, bytes };
}

test('a damaged record with intact records after it is refused as corruption, and nothing is changed', async () => {
  const { fs, path, bytes } = await tenEntries();
  // Offset 256 is the link record's length prefix, 300 inside its sealed body; the middle one
  // lies in a later record's body.
  for (const at of [256, 300, Math.floor(bytes.length / 2)]) {
    const b = bytes.slice();
    b[at]! ^= 0x20;
    fs.tamper(path, b);
    try {
      LogStore.open('/log', { masterKey: KEY, fs });
      assert.unreachable(`a log damaged at byte ${at} opened`);
    } catch (e) {
      assert.ok(isTrineError(e, 'STORAGE_CORRUPT'), String(e));
      assert.match(String((e as Error).message), /restore this node/);
    }
    assert.equal(fs.files().get(path), b, 'the refused log is left as it was, for the operator');
  }
});

test('damage in the last record only is what a torn write looks like: cut, and reported', async () => {
  const { fs, path, bytes } = await tenEntries();
  const b = bytes.slice();
  b[b.length - 10]! ^= 0x20;
  fs.tamper(path, b);
  const re = LogStore.open('/log', { masterKey: KEY, fs });
  assert.ok(re.recovery.droppedBytes > 0);
  assert.match(re.recovery.detail ?? '', /unreadable record/);
  assert.is(re.lastIndex(), 9);
  for (const e of re.entries(re.firstIndex(), re.lastIndex() + 1)) assert.is(new TextDecoder().decode(e.data), text(e.index));
  await re.close();
});

/**
 * Five segments of six entries each, and copies of the second segment taken when it held two
 * entries and when it was complete.
 */
async function fiveSegments(): Promise<{ fs: SimFs; segs: string[]; older: Uint8Array }> {
  const fs = new SimFs();
  const log = LogStore.open('/log', { masterKey: KEY, fs, segmentBytes: 700 });
  let older: Uint8Array | undefined;
  for (let i = 1; i <= 30; i++) {
    await log.append([{ index: i, term: 1, data: utf8(text(i)) }]);
    if (i === 8) older = fs.files().get(fs.list('/log').filter((n) => n.endsWith('.seg')).map((n) => `/log/${n}`)[1]!)!;
  }
  await log.close();
  const segs = fs.list('/log').filter((n) => n.endsWith('.seg')).map((n) => `/log/${n}`);
  assert.is(segs.length, 5, 'six entries per segment');
  return { fs, segs, older: older! };
}

/** Opening must fail with STORAGE_CORRUPT naming `file`, and leave every byte as it was. */
function refused(fs: SimFs, file: string, what: RegExp): void {
  const before = fs.files();
  try {
    LogStore.open('/log', { masterKey: KEY, fs });
    assert.unreachable('the altered log opened');
  } catch (e) {
    assert.ok(isTrineError(e, 'STORAGE_CORRUPT'), String(e));
    const msg = String((e as Error).message);
    assert.ok(msg.includes(file.slice(5)), `names ${file}: ${msg}`);
    assert.match(msg, what);
    assert.match(msg, /restore this node from a backup/);
  }
  assert.equal(fs.files(), before, 'the refused log is left as it was, for the operator');
}

test('a closed segment replaced by an older copy of itself is refused, not read as a shorter log', async () => {
  const { fs, segs, older } = await fiveSegments();
  assert.ok(older.length < fs.files().get(segs[1]!)!.length);
  fs.tamper(segs[1]!, older);
  refused(fs, segs[1]!, /older copy/);
});

test('a segment swapped with another, copied over another, or deleted from the middle is refused', async () => {
  for (const alter of ['swap', 'copy', 'delete'] as const) {
    const { fs, segs } = await fiveSegments();
    const [a, b] = [fs.files().get(segs[1]!)!, fs.files().get(segs[2]!)!];
    if (alter === 'swap') { fs.tamper(segs[1]!, b); fs.tamper(segs[2]!, a); refused(fs, segs[1]!, /renamed or replaced/); }
    if (alter === 'copy') { fs.tamper(segs[2]!, a); refused(fs, segs[2]!, /renamed or replaced/); }
    if (alter === 'delete') { fs.remove(segs[2]!); refused(fs, segs[2]!, /missing/); }
  }
});

test('the oldest segment deleted while its entries are still in the log is refused; after a prefix truncation it is not', async () => {
  const { fs, segs } = await fiveSegments();
  fs.remove(segs[0]!);
  refused(fs, segs[1]!, /skips from index 0 to 7/);
  const ok = await fiveSegments();
  const log = LogStore.open('/log', { masterKey: KEY, fs: ok.fs });
  log.truncatePrefix(13);
  await log.close();
  assert.not.ok(ok.fs.list('/log').includes(ok.segs[0]!.slice(5)), 'the first segment was deleted');
  const re = LogStore.open('/log', { masterKey: KEY, fs: ok.fs });
  assert.is(re.firstIndex(), 13);
  assert.is(re.lastIndex(), 30);
  await re.close();
});

/**
 * Thirty entries in records of `per` entries over several segments, then `truncateSuffix(at)` and
 * `then` on a reopened log. Returns the files before the truncation and the segment it cut.
 */
async function truncated(per: number, at: number, then: (log: LogStore, fs: SimFs) => Promise<void> = async () => {}) {
  const fs = new SimFs();
  let log = LogStore.open('/log', { masterKey: KEY, fs, segmentBytes: 700 });
  for (let i = 1; i <= 30; i += per) {
    await log.append(Array.from({ length: per }, (_, k) => ({ index: i + k, term: 1, data: utf8(text(i + k)) })));
  }
  await log.close();
  const before = fs.files();
  log = LogStore.open('/log', { masterKey: KEY, fs, segmentBytes: 700 });
  log.truncateSuffix(at);
  await then(log, fs);
  await log.close();
  const after = fs.files();
  const cutPath = [...after].find(([p, b]) => before.has(p) && b.length < before.get(p)!.length)![0];
  const removed = [...before.keys()].filter((p) => p.endsWith('.seg') && !after.has(p));
  assert.ok(removed.length > 0, 'the truncation removed later segments');
  return { fs, before, cutPath, removed };
}

const readAll = (log: LogStore) => log.entries(log.firstIndex(), log.lastIndex() + 1).map((e) => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`);
const ones = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}/1/${text(i + 1)}`);

test('a segment a suffix truncation cut, put back uncut, is refused: whether entries were kept, appended after or the log reopened', async () => {
  const cases: [string, number, number, ((log: LogStore, fs: SimFs) => Promise<void>)?][] = [
    // One entry per record: the cut falls on a record boundary and keeps nothing, so the uncut
    // copy's entries from 10 on would read as live.
    ['none kept', 1, 10],
    ['some kept', 3, 14],
    ['appended after', 3, 14, (log) => log.append([{ index: 14, term: 2, data: utf8('new 14') }])],
    ['reopened after', 1, 10, async (log, fs) => { await log.close(); await LogStore.open('/log', { masterKey: KEY, fs }).close(); }],
  ];
  for (const [what, per, at, then] of cases) {
    const { fs, before, cutPath, removed } = await truncated(per, at, then);
    const re = LogStore.open('/log', { masterKey: KEY, fs });
    assert.equal(readAll(re).slice(0, at - 1), ones(at - 1), `${what}: the truncation kept entries below ${at}`);
    assert.ok(re.lastIndex() < 30, `${what}: the truncation removed the entries from ${at} on`);
    await re.close();
    fs.tamper(cutPath, before.get(cutPath)!);
    refused(fs, cutPath, /uncut copy put back|put back, or one was altered/);
    // The segments the cut removed, put back with it, are refused the same way.
    for (const p of removed) fs.tamper(p, before.get(p)!);
    refused(fs, cutPath, /uncut copy put back|put back, or one was altered/);
  }
});

test('a crash at any point of a suffix truncation: open finishes the cut or drops the truncation, and the log is exactly one or the other', async () => {
  const base = await truncated(3, 14);
  const seen = new Set<string>();
  for (let k = 1; ; k++) {
    const fs = new SimFs();
    for (const [p, b] of base.before) fs.tamper(p, b);
    const log = LogStore.open('/log', { masterKey: KEY, fs, segmentBytes: 700 });
    fs.crashAt(k, prng(k));
    try {
      log.truncateSuffix(14);
      break;
    } catch (e) {
      if ((e as Error).name !== 'SimCrash') throw e;
    }
    for (let c = 0; c < 4; c++) {
      const after = fs.afterCrash(prng(k * 10 + c));
      let re: LogStore;
      try { re = LogStore.open('/log', { masterKey: KEY, fs: after }); } catch (e) { assert.unreachable(`crash point ${k}, power cut ${c}: ${e}`); return; }
      const got = readAll(re);
      const finished = got.length === 13;
      assert.equal(got, ones(finished ? 13 : 30), `crash point ${k}, power cut ${c}`);
      if (/interrupted a suffix truncation/.test(re.recovery.detail ?? '')) {
        seen.add('finished');
        assert.ok(finished, `crash point ${k}, power cut ${c}: the cut was finished`);
        assert.ok(re.recovery.droppedBytes > 0, JSON.stringify(re.recovery));
        assert.is(after.files().get(base.cutPath)!.length, base.fs.files().get(base.cutPath)!.length, 'cut to the linked length');
        for (const p of base.removed) assert.not.ok(after.files().has(p), `${p} removed`);
      }
      if (/before a suffix truncation reached the disk/.test(re.recovery.detail ?? '')) seen.add('dropped');
      await re.close();
      // Finished or dropped, nothing is left half done: the next open changes nothing more.
      const again = LogStore.open('/log', { masterKey: KEY, fs: after });
      assert.equal(readAll(again), got);
      assert.is(again.recovery.droppedBytes, 0);
      await again.close();
      if (finished) {
        after.tamper(base.cutPath, base.before.get(base.cutPath)!);
        refused(after, base.cutPath, /uncut copy put back/);
      }
    }
  }
  assert.equal([...seen].sort(), ['dropped', 'finished'], 'crashes reached both cases');
});

test('the last segment replaced by an older copy, or the newest segments deleted, is refused once LOGMETA recorded them', async () => {
  const fs = new SimFs();
  const log = LogStore.open('/log', { masterKey: KEY, fs });
  for (let i = 1; i <= 3; i++) await log.append([{ index: i, term: 1, data: utf8(text(i)) }]);
  const path = `/log/${fs.list('/log').filter((n) => n.endsWith('.seg')).pop()!}`;
  const older = fs.files().get(path)!;
  for (let i = 4; i <= 6; i++) await log.append([{ index: i, term: 1, data: utf8(text(i)) }]);
  log.saveHardState(new Uint8Array([1]));
  await log.close();
  fs.tamper(path, older);
  refused(fs, path, /older copy.*LOGMETA|LOGMETA.*older copy/);

  const five = await fiveSegments();
  const re = LogStore.open('/log', { masterKey: KEY, fs: five.fs });
  re.saveHardState(new Uint8Array([2]));
  await re.close();
  const names = five.fs.list('/log').filter((n) => n.endsWith('.seg')).map((n) => `/log/${n}`);
  assert.is(names.length, 6, 'the reopen started a sixth segment');
  five.fs.remove(names[5]!);
  five.fs.remove(names[4]!);
  refused(five.fs, names[4]!, /is missing: LOGMETA recorded it/);
});

test('a damaged log found while a cut-off rekey is pending is refused before any header is rewrapped', async () => {
  const NEXT = new Uint8Array(32).fill(13);
  let pending = 0;
  for (let k = 1; k < 200; k++) {
    const fs = new SimFs();
    const log = LogStore.open('/log', { masterKey: KEY, fs, segmentBytes: 700 });
    for (let i = 1; i <= 20; i++) await log.append([{ index: i, term: 1, data: utf8(text(i)) }]);
    fs.crashAt(k);
    let done = false;
    try { log.rekey(NEXT); done = true; } catch { /* cut off */ }
    if (done) break;
    const disk = fs.afterCrash(() => 0.999);
    // The first segment's middle record is damaged; later records in it are intact.
    const [path, bytes] = [...disk.files()].filter(([p]) => p.endsWith('.seg')).sort()[0]!;
    const b = bytes.slice();
    b[Math.floor(b.length / 2)]! ^= 0x20;
    disk.tamper(path, b);
    const before = new Map([...disk.files()].map(([p, x]) => [p, x.slice()]));
    for (const key of [NEXT, KEY]) {
      try {
        LogStore.open('/log', { masterKey: key, fs: disk });
        assert.unreachable(`crash point ${k}: a damaged log opened`);
      } catch (e) {
        assert.ok(isTrineError(e, 'STORAGE_CORRUPT') || isTrineError(e, 'STORAGE_WRONG_KEY'), `crash point ${k}: ${String(e)}`);
        if (isTrineError(e, 'STORAGE_CORRUPT')) pending++;
      }
      assert.equal(disk.files(), before, `crash point ${k}: nothing on disk changed`);
    }
  }
  assert.ok(pending > 0, 'some crash points left a rekey to finish');
});

test.run();
