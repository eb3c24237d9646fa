/** Damage inside the log is told apart from a torn tail: the first is refused, the second cut. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTrineError, utf8 } from '../../src/crypto/index.ts';
import { LogStore } from '../../src/storage/log.ts';
import { SimFs } from '../../src/storage/sim-fs.ts';

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

test('a segment cut by a suffix truncation and put back uncut reads as the truncation left the log', async () => {
  const { fs, segs } = await fiveSegments();
  const uncut = fs.files().get(segs[1]!)!;
  const log = LogStore.open('/log', { masterKey: KEY, fs, segmentBytes: 700 });
  log.truncateSuffix(10);
  await log.append([{ index: 10, term: 2, data: utf8('new 10') }, { index: 11, term: 2, data: utf8('new 11') }]);
  await log.close();
  assert.ok(fs.files().get(segs[1]!)!.length < uncut.length, 'the truncation cut the second segment');
  fs.tamper(segs[1]!, uncut);
  const re = LogStore.open('/log', { masterKey: KEY, fs });
  const got = re.entries(1, re.lastIndex() + 1).map((e) => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`);
  assert.equal(got, [...Array.from({ length: 9 }, (_, i) => `${i + 1}/1/${text(i + 1)}`), '10/2/new 10', '11/2/new 11']);
  await re.close();
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

test.run();
