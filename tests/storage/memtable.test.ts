/**
 * The memtable against a model: every version of every key, read at random snapshots, through
 * gets, cursors left open across later writes (and arena growth), and packed for a flush.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toHex } from '../../src/crypto/index.ts';
import { Memtable, packedGroups, PackedReader, type PackedMemtable } from '../../src/storage/memtable.ts';
import { prng } from '../../src/storage/sim-fs.ts';

/** Per key (hex), its versions newest first: [seq, value hex or null for a deletion]. */
type Model = Map<string, [number, string | null][]>;

function keyOf(rng: () => number): Uint8Array {
  const r = rng();
  if (r < 0.03) return new Uint8Array(0);
  if (r < 0.05) return Uint8Array.from({ length: 70_000 + Math.floor(rng() * 3) }, (_, j) => (j * 13) & 0xff);
  const i = Math.floor(rng() * 50);
  return Uint8Array.from({ length: 1 + (i % 9) }, (_, j) => (j < 6 ? [0, 1, 255][(i >> j) % 3]! : i));
}

function valueOf(rng: () => number, tag: number): Uint8Array {
  const r = rng();
  if (r < 0.1) return new Uint8Array(0);
  if (r < 0.12) return Uint8Array.from({ length: 40_000 + Math.floor(rng() * 40_000) }, (_, j) => (j ^ tag) & 0xff);
  return Uint8Array.of(tag & 0xff, tag >> 8);
}

/** The version of `versions` visible at `snap`. */
const visibleAt = (versions: [number, string | null][], snap: number) => versions.find(([s]) => s <= snap);

/** Hex strings sort as their bytes do under memcmp. */
const sortedKeys = (m: Model) => [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function checkPacked(p: PackedMemtable, model: Model, what: string): void {
  const got: string[] = [];
  for (const g of packedGroups(p)) got.push(g.map((e) => `${toHex(e.key)}@${e.seq}${e.del ? ' del' : `=${toHex(e.value)}`}`).join(' '));
  const want = sortedKeys(model).map((k) => model.get(k)!.map(([s, v]) => `${k}@${s}${v === null ? ' del' : `=${v}`}`).join(' '));
  assert.equal(got, want, what);
}

test('versions, snapshots, open cursors and packs match a model through same-batch rewrites and arena growth', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const rng = prng(seed);
    const m = new Memtable();
    const model: Model = new Map();
    /** Open cursors: snapshot, direction, the last key returned, and views handed out with their content. */
    const cursors: { c: ReturnType<Memtable['cursor']>; snap: number; reverse: boolean; last: string }[] = [];
    const handed: [Uint8Array, string][] = [];
    let seq = 0, tag = 0;
    for (let b = 0; b < 90; b++) {
      seq++;
      const n = 1 + Math.floor(rng() * 12);
      for (let i = 0; i < n; i++) {
        const key = keyOf(rng), k = toHex(key);
        const value = rng() < 0.25 ? undefined : valueOf(rng, ++tag);
        m.put(key, seq, value);
        const vs = model.get(k) ?? [];
        const v = value === undefined ? null : toHex(value);
        // A later write in the same batch replaces the earlier one.
        if (vs.length > 0 && vs[0]![0] === seq) vs[0]![1] = v; else vs.unshift([seq, v]);
        model.set(k, vs);
      }
      // Gets at random snapshots, every key.
      const snap = Math.floor(rng() * (seq + 1));
      for (const [k, vs] of model) {
        const f = m.get(Buffer.from(k, 'hex'), snap), want = visibleAt(vs, snap);
        const got = f === undefined ? '-' : f.del ? 'del' : toHex(f.value);
        assert.is(got, want === undefined ? '-' : want[1] ?? 'del', `seed ${seed} batch ${b} get ${k.slice(0, 20)} at ${snap}`);
        if (f && !f.del && rng() < 0.05) handed.push([f.value, toHex(f.value)]);
      }
      // Open cursors step once per batch; each step returns the next key past its last one that
      // has a version at its snapshot (keys inserted meanwhile included).
      if (rng() < 0.3) {
        const reverse = rng() < 0.5, s = Math.floor(rng() * (seq + 1));
        const c = m.cursor(undefined, false, reverse, s);
        cursors.push({ c, snap: s, reverse, last: '' });
        if (!c.valid) cursors.pop(); else { cursors.at(-1)!.last = toHex(c.key); handed.push([c.value, toHex(c.value)], [c.key, toHex(c.key)]); }
      }
      for (let j = cursors.length - 1; j >= 0; j--) {
        const x = cursors[j]!;
        const keys = sortedKeys(model).filter((k) => visibleAt(model.get(k)!, x.snap) !== undefined);
        const lastAt = keys.indexOf(x.last);
        assert.ok(lastAt >= 0, `seed ${seed}: a cursor's key is gone`);
        const next = keys[x.reverse ? lastAt - 1 : lastAt + 1];
        x.c.next();
        assert.is(x.c.valid ? toHex(x.c.key) : undefined, next, `seed ${seed} batch ${b} cursor at ${x.snap}${x.reverse ? ' reverse' : ''}`);
        if (!x.c.valid) { cursors.splice(j, 1); continue; }
        const want = visibleAt(model.get(next!)!, x.snap)!;
        assert.is(`${x.c.seq}${x.c.del ? ' del' : `=${toHex(x.c.value)}`}`, `${want[0]}${want[1] === null ? ' del' : `=${want[1]}`}`, `seed ${seed} batch ${b} cursor value`);
        handed.push([x.c.value, toHex(x.c.value)], [x.c.key, toHex(x.c.key)]);
        x.last = next!;
      }
      if (b % 30 === 29) {
        checkPacked(m.pack(false), model, `seed ${seed} batch ${b} pack in place`);
        const p = m.pack(true);
        checkPacked(p, model, `seed ${seed} batch ${b} packed copy`);
      }
    }
    for (const [v, was] of handed) assert.is(toHex(v), was, `seed ${seed}: a view handed out changed`);
  }
});

test('a packed memtable from elsewhere is checked: entries, versions and bytes outside it are refused', () => {
  const m = new Memtable();
  m.put(Uint8Array.of(1, 2), 1, Uint8Array.of(9));
  m.put(Uint8Array.of(1, 2), 2, undefined);
  m.put(Uint8Array.of(3), 2, Uint8Array.of(7, 7));
  const good = m.pack(true);
  const read = (p: PackedMemtable) => { const r = new PackedReader(p); while (r.next()); };
  read(good);
  const bad: [string, (p: { arena: Uint8Array; order: Int32Array; entries: Int32Array; versions: Float64Array }) => void][] = [
    ['entry past the end', (p) => { p.order[0] = 5; }],
    ['negative entry', (p) => { p.order[1] = -1; }],
    ['key past the arena', (p) => { p.entries[1] = 1000; }],
    ['negative key length', (p) => { p.entries[1] = -1; }],
    ['version past the end', (p) => { p.entries[2] = 9; }],
    ['fractional version', (p) => { p.entries[2] = 0; p.versions[3] = 0.5; }],
    ['version cycle', (p) => { p.versions[3] = 1; p.versions[7] = 0; }],
    ['value past the arena', (p) => { p.versions[1] = 2; p.versions[2] = 1e6; }],
    ['fractional value offset', (p) => { p.versions[1] = 0.5; }],
  ];
  for (const [what, spoil] of bad) {
    const p = { arena: good.arena.slice(), order: good.order.slice(), entries: good.entries.slice(), versions: good.versions.slice() };
    spoil(p);
    assert.throws(() => read(p), /packed memtable/, what);
  }
});

test.run();
