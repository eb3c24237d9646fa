import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Block, BlockBuilder, decodeBlock } from '../../src/storage/block.ts';
import { BlockCache } from '../../src/storage/block-cache.ts';
import { compareBytes } from '../../src/storage/kv.ts';
import { prng } from '../../src/storage/sim-fs.ts';

/** Keys over a two-letter alphabet with varied lengths: many shared prefixes, prefixes of each other. */
function randomKey(rnd: () => number): Uint8Array {
  const len = Math.floor(rnd() * 6);
  return Uint8Array.from({ length: len }, () => (rnd() < 0.5 ? 97 : 98));
}

/** The reference answer: a linear search over the entries as written. */
function expected(entries: { key: Uint8Array; seq: number; del: boolean; value: Uint8Array }[], key: Uint8Array, snap: number) {
  for (const e of entries) if (compareBytes(e.key, key) === 0 && e.seq <= snap) return { del: e.del, value: e.value };
  return undefined;
}

test('Block.find in place agrees with a linear search, across restart points and versions', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = prng(seed);
    const distinct = new Map<string, Uint8Array>();
    const n = 1 + Math.floor(rnd() * 60);
    for (let i = 0; i < n; i++) { const k = randomKey(rnd); distinct.set(Array.from(k).join(','), k); }
    const keys = [...distinct.values()].sort(compareBytes);
    const entries: { key: Uint8Array; seq: number; del: boolean; value: Uint8Array }[] = [];
    let seq = 1000;
    for (const key of keys) {
      const versions = 1 + Math.floor(rnd() * 4);
      for (let v = 0; v < versions; v++) entries.push({ key, seq: seq - v * 3, del: rnd() < 0.2, value: Uint8Array.of(seed, entries.length) });
      seq -= 1;
    }
    const b = new BlockBuilder();
    for (const e of entries) b.add(e.key, e.seq, e.del, e.value);
    const plain = b.finish();
    const fresh = () => new Block(plain, `seed ${seed} block`);
    for (let q = 0; q < 80; q++) {
      const key = rnd() < 0.7 && keys.length ? keys[Math.floor(rnd() * keys.length)]! : randomKey(rnd);
      const snap = 980 + Math.floor(rnd() * 30);
      const want = expected(entries, key, snap);
      const inPlace = fresh().find(key, snap);
      const decoded = fresh();
      void decoded.decoded;
      const viaArrays = decoded.find(key, snap);
      const what = `seed ${seed}: key ${Array.from(key)} at snap ${snap}`;
      assert.equal(inPlace && { del: inPlace.del, value: Array.from(inPlace.value) }, want && { del: want.del, value: Array.from(want.value) }, `${what} (in place)`);
      assert.equal(viaArrays && { del: viaArrays.del, value: Array.from(viaArrays.value) }, want && { del: want.del, value: Array.from(want.value) }, `${what} (decoded)`);
    }
    assert.is(decodeBlock(plain, 'x').n, entries.length);
  }
});

test('block cache: charges plaintext, charges again once decoded, evicts least recently used', () => {
  const make = (n: number) => {
    const b = new BlockBuilder();
    for (let i = 0; i < n; i++) b.add(Uint8Array.of(i >> 8, i & 255), 1, false, new Uint8Array(20));
    return new Block(b.finish(), 'test block');
  };
  const one = make(40).bytes;
  const probe = make(40);
  void probe.decoded;
  const grown = probe.bytes;
  // Room for three plain blocks, but not for two plain and one decoded.
  const cache = new BlockCache(Math.max(one * 3, one + grown) + 10);
  assert.ok(one * 2 + grown > cache.limit);
  const blocks = [make(40), make(40), make(40), make(40)];
  for (let i = 0; i < 3; i++) cache.set(i, blocks[i]!);
  assert.is(cache.bytes, one * 3);
  assert.ok(cache.get(0) === blocks[0]);
  // Decoding block 2 makes it bigger: charged again, the least recently used (1) goes.
  void blocks[2]!.decoded;
  assert.is(blocks[2]!.bytes, grown);
  cache.resize(2);
  assert.is(cache.bytes, one + grown);
  assert.is(cache.peek(1), undefined);
  assert.ok(cache.peek(0) === blocks[0]);
  // Recency is now 0, 2: adding 3 pushes out 2.
  cache.set(3, blocks[3]!);
  assert.ok(cache.bytes <= cache.limit, `cache holds ${cache.bytes} bytes over its limit ${cache.limit}`);
  assert.is(cache.peek(2), undefined);
  assert.ok(cache.peek(0) === blocks[0] && cache.get(3) === blocks[3]);
});

test.run();
