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
  // Offset 256 is the first record's length prefix, 300 inside its sealed body; the middle one
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

test.run();
