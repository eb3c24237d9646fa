/** The memtable index against SortedMap: same order, same lookups, iterators that survive inserts. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toHex } from '../../src/crypto/index.ts';
import { compareBytes, type Bytes } from '../../src/storage/kv.ts';
import { KeyIndex } from '../../src/storage/key-index.ts';
import { SortedMap } from '../../src/storage/sorted-map.ts';
import { prng } from '../../src/storage/sim-fs.ts';

/** The index over keys held in an array (entry number = insertion number), with a value per entry. */
class Indexed<V> {
  private readonly keys: Bytes[] = [];
  private readonly vals: V[] = [];
  private readonly idx = new KeyIndex({ compare: (id, key) => compareBytes(this.keys[id]!, key), key: (id) => this.keys[id]! });
  get size(): number { return this.idx.size; }
  putIfAbsent(key: Bytes, v: V): V | undefined {
    const e = this.idx.putIfAbsent(key, this.keys.length);
    if (e >= 0) return this.vals[e];
    this.keys.push(key); this.vals.push(v);
    return undefined;
  }
  get(key: Bytes): V | undefined { const e = this.idx.get(key); return e < 0 ? undefined : this.vals[e]; }
  forEach(f: (key: Bytes, v: V) => void): void {
    const order = new Int32Array(this.idx.size);
    this.idx.ordered(order);
    for (const e of order) f(this.keys[e]!, this.vals[e]!);
  }
  *entries(start: Bytes | undefined, exclusive: boolean, reverse: boolean): Generator<[Bytes, V]> {
    for (const e of this.idx.entries(start, exclusive, reverse)) yield [this.keys[e]!, this.vals[e]!];
  }
}

test('random inserts, lookups and bounded scans in both directions match SortedMap', () => {
  for (let seed = 1; seed <= 5; seed++) {
    const rng = prng(seed);
    // Short keys and shared prefixes exercise the six-byte numeric prefix and its ties.
    const key = () => Uint8Array.from({ length: Math.floor(rng() * 9) }, () => (rng() < 0.6 ? 0 : Math.floor(rng() * 4)));
    const idx = new Indexed<number>();
    const ref = new SortedMap<number>();
    for (let i = 0; i < 3000; i++) {
      const k = key();
      const had = ref.get(k);
      assert.is(idx.putIfAbsent(k, i), had, `seed ${seed} insert ${toHex(k)}`);
      if (had === undefined) ref.set(k, i);
      if (i % 50 === 0) {
        const s = key();
        const exclusive = rng() < 0.5, reverse = rng() < 0.5;
        const want = [...ref.entries(reverse ? (exclusive ? { lt: s, reverse } : { lte: s, reverse }) : exclusive ? { gt: s } : { gte: s })].map(([k]) => toHex(k));
        assert.equal([...idx.entries(s, exclusive, reverse)].map(([k]) => toHex(k)), want, `seed ${seed} scan from ${toHex(s)}`);
        const q = key();
        assert.is(idx.get(q), ref.get(q));
      }
    }
    assert.is(idx.size, ref.size);
  }
});

test('many chunks: random, descending and ascending keys, with forEach and lookups, match SortedMap', () => {
  for (let seed = 1; seed <= 4; seed++) {
    const rng = prng(seed);
    const idx = new Indexed<number>();
    const ref = new SortedMap<number>();
    // Mixed orders split chunks at every position, and new smallest keys move the first chunk's head.
    const mode = seed % 3;
    for (let i = 0; i < 20000; i++) {
      const k = mode === 0 ? Uint8Array.from({ length: Math.floor(rng() * 20) }, () => Math.floor(rng() * 256))
        : Uint8Array.of(0, (mode === 1 ? 20000 - i : i) >> 8, (mode === 1 ? 20000 - i : i) & 255, Math.floor(rng() * 3));
      const had = ref.get(k);
      assert.is(idx.putIfAbsent(k, i), had, `seed ${seed} insert ${toHex(k)}`);
      if (had === undefined) ref.set(k, i);
    }
    const all: string[] = [];
    idx.forEach((k, v) => all.push(`${toHex(k)}=${v}`));
    assert.equal(all, [...ref.entries({})].map(([k, v]) => `${toHex(k)}=${v}`), `seed ${seed}: forEach in order`);
    for (let q = 0; q < 2000; q++) {
      const k = Uint8Array.from({ length: Math.floor(rng() * 5) }, () => Math.floor(rng() * 256));
      assert.is(idx.get(k), ref.get(k));
      const reverse = rng() < 0.5;
      const want = [...ref.entries(reverse ? { lte: k, reverse } : { gte: k })].slice(0, 3).map(([x]) => toHex(x));
      const got: string[] = [];
      for (const [x] of idx.entries(k, false, reverse)) { got.push(toHex(x)); if (got.length === 3) break; }
      assert.equal(got, want, `seed ${seed} scan from ${toHex(k)}`);
    }
    assert.is(idx.size, ref.size);
  }
});

test('an iterator keeps its place while keys are inserted before and after it', () => {
  const idx = new Indexed<number>();
  for (let i = 0; i < 1000; i += 2) idx.putIfAbsent(Uint8Array.of(i >> 8, i & 255), i);
  const seen: number[] = [];
  for (const [, v] of idx.entries(undefined, false, false)) {
    seen.push(v);
    if (v % 10 === 0 && v + 1 < 1000) { idx.putIfAbsent(Uint8Array.of((v + 1) >> 8, (v + 1) & 255), v + 1); idx.putIfAbsent(Uint8Array.of(0, 1), 1); }
  }
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, 'ascending, no repeats');
  assert.ok(seen.includes(11) && seen.includes(991), 'inserts ahead of the cursor are seen');
});

test.run();
