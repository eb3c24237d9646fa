/** The transaction's write buffer: commit batches in memcmp order, savepoints, read-your-writes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toHex } from '../../src/crypto/index.ts';
import { Tx } from '../../src/sql/tx.ts';
import { compareBytes } from '../../src/storage/kv.ts';
import { MemoryKv } from '../../src/storage/memory-kv.ts';
import { prng } from '../../src/storage/sim-fs.ts';

const hex = (b: Uint8Array | undefined) => (b === undefined ? '-' : toHex(b));

test('the batch is in memcmp order: keys of any length, shared 5-byte prefixes, high bytes', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rng = prng(seed);
    const tx = new Tx(new MemoryKv());
    const model = new Map<string, Uint8Array | null>();
    // Small batches (up to 16 keys) take their own path.
    const n = seed <= 12 ? seed * 2 : 1 + Math.floor(rng() * 600);
    for (let i = 0; i < n; i++) {
      // Few distinct prefixes (so buckets fill), short keys (merged in apart), bytes up to 255.
      const len = rng() < 0.15 ? Math.floor(rng() * 6) : 5 + Math.floor(rng() * 12);
      const key = Uint8Array.from({ length: len }, (_, j) => (j < 5 && rng() < 0.8 ? [0, 2, 128, 255][Math.floor(rng() * 4)]! : Math.floor(rng() * 256)));
      if (rng() < 0.2) { tx.del(key); model.set(toHex(key), null); } else { const v = Uint8Array.of(i & 255, i >> 8); tx.put(key, v); model.set(toHex(key), v); }
    }
    const got = tx.batch().map((op) => `${toHex(op.key)}${op.type === 'put' ? `=${toHex(op.value)}` : ' del'}`);
    const want = [...model].map(([k, v]) => ({ k: Uint8Array.from(Buffer.from(k, 'hex')), v }))
      .sort((a, b) => compareBytes(a.k, b.k)).map(({ k, v }) => `${toHex(k)}${v ? `=${toHex(v)}` : ' del'}`);
    assert.equal(got, want, `seed ${seed}`);
  }
});

test('rolling back to a savepoint restores every key, also under a range scan', () => {
  const kv = new MemoryKv();
  kv.write([{ type: 'put', key: Uint8Array.of(2, 0, 0, 0, 1, 1), value: Uint8Array.of(1) }]);
  const tx = new Tx(kv);
  const a = Uint8Array.of(2, 0, 0, 0, 1, 1), b = Uint8Array.of(2, 0, 0, 0, 1, 2), c = Uint8Array.of(1);
  tx.put(b, Uint8Array.of(2));
  const m = tx.mark();
  tx.del(a); tx.put(b, Uint8Array.of(3)); tx.put(c, Uint8Array.of(4));
  assert.equal([...tx.scan({})].map((e) => `${hex(e.key)}=${hex(e.value)}`), ['01=04', '020000000102=03']);
  tx.rollbackTo(m);
  assert.is(hex(tx.get(a)), '01');
  assert.is(hex(tx.get(b)), '02');
  assert.is(hex(tx.get(c)), '-');
  assert.equal([...tx.scan({})].map((e) => `${hex(e.key)}=${hex(e.value)}`), ['020000000101=01', '020000000102=02']);
  assert.equal(tx.batch().map((op) => `${hex(op.key)} ${op.type}`), ['020000000102 put']);
});

test('buffers reused by later transactions never change what earlier ones handed out', () => {
  const kv = new MemoryKv();
  const key = (i: number) => Uint8Array.of(2, 0, 0, 0, 9, i >> 8, i & 255);
  // A large commit hands the store views of its arena (owned); a small one copies.
  const big = new Tx(kv);
  for (let i = 0; i < 300; i++) big.put(key(i), Uint8Array.of(i & 255, 1));
  kv.write(big.batch(), { owned: true });
  big.release();
  const small = new Tx(kv);
  small.get(key(1));
  const kept = small.reads;
  small.put(key(1000), Uint8Array.of(7));
  kv.write(small.batch(), { owned: true });
  small.release();
  // A value read from the buffer is a copy.
  const t = new Tx(kv);
  t.put(key(2000), Uint8Array.of(5, 5));
  const read = t.get(key(2000))!;
  t.put(key(2000), Uint8Array.of(6, 6));
  assert.is(hex(read), '0505');
  t.release();
  // Many later transactions reuse the pooled buffers, writing other bytes over the same places.
  for (let n = 0; n < 50; n++) {
    const tx = new Tx(kv);
    for (let i = 0; i < (n % 5) * 10; i++) { tx.get(key(5000 + i)); tx.put(key(5000 + i), Uint8Array.of(0xee, 0xee)); }
    kv.write(tx.batch(), { owned: true });
    tx.release();
  }
  for (let i = 0; i < 300; i++) assert.is(hex(kv.get(key(i))), hex(Uint8Array.of(i & 255, 1)), `key ${i} of the large commit`);
  assert.is(hex(kv.get(key(1000))), '07');
  assert.equal(kept.keys, [String.fromCharCode(...key(1))], 'a read set kept by a committer still names what was read');
});

/** Keys with few distinct values (so writes repeat and come back), some empty, some long. */
function fuzzKey(rng: () => number): Uint8Array {
  const r = rng();
  if (r < 0.03) return new Uint8Array(0);
  if (r < 0.05) return Uint8Array.from({ length: 70_000 + Math.floor(rng() * 3) }, (_, j) => (j * 7) & 0xff);
  const i = Math.floor(rng() * 40);
  return Uint8Array.from({ length: 1 + (i % 8) }, (_, j) => (j < 4 ? [0, 2, 255][(i >> j) % 3]! : i));
}

function fuzzValue(rng: () => number, tag: number): Uint8Array {
  const r = rng();
  if (r < 0.1) return new Uint8Array(0);
  if (r < 0.13) return Uint8Array.from({ length: 66_000 + Math.floor(rng() * 100) }, (_, j) => (j + tag) & 0xff);
  return Uint8Array.of(tag & 0xff, tag >> 8, Math.floor(rng() * 256));
}

const entriesOf = (m: Map<string, string>, range: { gte?: string; lt?: string; reverse?: boolean; limit?: number }) => {
  const out = [...m].filter(([k]) => (range.gte === undefined || k >= range.gte) && (range.lt === undefined || k < range.lt))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
  if (range.reverse) out.reverse();
  return out.slice(0, range.limit ?? Infinity);
};

test('transactions against a model: savepoints, scans, long and empty keys and values, pooled buffers, owned commits', () => {
  for (let seed = 1; seed <= 8; seed++) {
    const rng = prng(seed);
    const kv = new MemoryKv();
    const committed = new Map<string, string>();
    /** Values handed out by gets, with what they held: no later write or reuse may change them. */
    const handed: [Uint8Array, string][] = [];
    let tag = 0;
    for (let t = 0; t < 16; t++) {
      const tx = new Tx(kv);
      let over = new Map<string, string | null>();
      const marks: { at: number; over: Map<string, string | null> }[] = [];
      const view = () => { const m = new Map(committed); for (const [k, v] of over) if (v === null) m.delete(k); else m.set(k, v); return m; };
      // Some transactions are large (past the pool's limits), most small.
      const ops = rng() < 0.1 ? 3000 + Math.floor(rng() * 2000) : Math.floor(rng() * 60);
      for (let o = 0; o < ops; o++) {
        const r = rng();
        if (r < 0.45 || ops > 200) {
          const key = ops > 200 && rng() < 0.9 ? Uint8Array.of(2, 0, 0, 0, 9, o >> 8, o & 255) : fuzzKey(rng);
          if (rng() < 0.2) { tx.del(key); over.set(toHex(key), null); } else { const v = ops > 200 ? Uint8Array.of(++tag & 255, o & 255) : fuzzValue(rng, ++tag); tx.put(key, v); over.set(toHex(key), toHex(v)); }
        } else if (r < 0.6) {
          const key = fuzzKey(rng);
          // INSERT's probe-then-write on the same key object.
          const got = tx.get(key);
          const k = toHex(key), w = over.get(k);
          assert.is(hex(got), (w === undefined ? committed.get(k) : w) ?? '-', `seed ${seed} tx ${t} op ${o} get`);
          if (got) handed.push([got, toHex(got)]);
          if (rng() < 0.5) { const v = fuzzValue(rng, ++tag); tx.put(key, v); over.set(toHex(key), toHex(v)); }
        } else if (r < 0.72) {
          const a = toHex(fuzzKey(rng)), b = toHex(fuzzKey(rng));
          const range = { gte: a < b ? a : b, lt: rng() < 0.3 ? undefined : a < b ? b : a, reverse: rng() < 0.5, limit: rng() < 0.3 ? 1 + Math.floor(rng() * 5) : undefined };
          const kr = { gte: Uint8Array.from(Buffer.from(range.gte, 'hex')), lt: range.lt === undefined ? undefined : Uint8Array.from(Buffer.from(range.lt, 'hex')), reverse: range.reverse, limit: range.limit };
          assert.equal([...tx.scan(kr)].map((e) => `${toHex(e.key)}=${toHex(e.value)}`), entriesOf(view(), range), `seed ${seed} tx ${t} op ${o} scan`);
        } else if (r < 0.82) {
          marks.push({ at: tx.mark(), over: new Map(over) });
        } else if (r < 0.9 && marks.length > 0) {
          const i = Math.floor(rng() * marks.length);
          marks.length = i + 1;
          tx.rollbackTo(marks[i]!.at);
          over = new Map(marks[i]!.over);
        }
      }
      if (rng() < 0.2) {
        tx.release();
      } else {
        const want = view();
        if (tx.dirty) kv.write(tx.batch(), { owned: true });
        tx.release();
        committed.clear();
        for (const [k, v] of want) committed.set(k, v);
      }
      assert.equal([...kv.scan({})].map((e) => `${toHex(e.key)}=${toHex(e.value)}`), entriesOf(committed, {}), `seed ${seed} after tx ${t}`);
      for (const [v, was] of handed) assert.is(toHex(v), was, `seed ${seed}: a value handed out changed`);
    }
  }
});

test.run();
