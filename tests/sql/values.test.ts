import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeRecord, encodeRecord, groupKey, indexKey, treePrefix } from '../../src/sql/codec.ts';
import {
  add, affinityOf, applyAffinity, compareValues, div, mul, realToText, rem, sub, textToNumeric, toInteger, type Value,
} from '../../src/sql/value.ts';
import { compareBytes } from '../../src/storage/kv.ts';
import { mulberry32 } from './gen.ts';
import { fresh, one } from './helpers.ts';

test('affinity follows the five rules of the declared type', () => {
  assert.equal(['INT', 'BIGINT', 'VARCHAR(5)', 'CLOB', 'TEXT', '', 'BLOB', 'REAL', 'DOUBLE', 'FLOAT', 'DECIMAL(10,5)', 'BOOLEAN', 'POINT'].map(affinityOf),
    ['INTEGER', 'INTEGER', 'TEXT', 'TEXT', 'TEXT', 'BLOB', 'BLOB', 'REAL', 'REAL', 'REAL', 'NUMERIC', 'NUMERIC', 'INTEGER']);
});

test('applying affinity converts as SQLite stores values', () => {
  assert.is(applyAffinity('12', 'INTEGER'), 12n);
  assert.is(applyAffinity('3.0e+5', 'NUMERIC'), 300000n);
  assert.is(applyAffinity('1.5', 'NUMERIC'), 1.5);
  assert.is(applyAffinity(' 7 ', 'INTEGER'), 7n);
  assert.is(applyAffinity('12abc', 'INTEGER'), '12abc');
  assert.is(applyAffinity(5n, 'REAL'), 5);
  assert.is(applyAffinity(2.0, 'INTEGER'), 2n);
  assert.is(applyAffinity(5n, 'TEXT'), '5');
  assert.is(applyAffinity(0.5, 'TEXT'), '0.5');
  assert.is(applyAffinity('x', 'BLOB'), 'x');
  assert.is(applyAffinity('99999999999999999999', 'INTEGER'), 1e20);
});

test('values order NULL < numbers < text < blob, numbers compared exactly across int and real', () => {
  const ordered: Value[] = [null, -9223372036854775808n, -1.5, 0n, 0.5, 1n, 9007199254740992n, 9007199254740993n, 9007199254740994, 9223372036854775807n, 1e19, '', 'A', 'a', 'b', new Uint8Array([0]), new Uint8Array([1])];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      const c = Math.sign(compareValues(ordered[i]!, ordered[j]!));
      assert.is(c, Math.sign(i - j), `${String(ordered[i])} vs ${String(ordered[j])}`);
    }
  }
  assert.is(compareValues(1n, 1.0), 0);
  assert.is(compareValues('abc', 'ABC', 'NOCASE'), 0);
  assert.is(compareValues('abc  ', 'abc', 'RTRIM'), 0);
  assert.ok(compareValues('abc ', 'abc', 'BINARY') > 0);
  // UTF-8 order: U+FFFD sorts before an astral code point, unlike UTF-16 order.
  assert.ok(compareValues('\uFFFD', '\u{1F600}') < 0);
});

test('integer arithmetic is exact in 64 bits and overflows to REAL', () => {
  assert.is(add(9223372036854775806n, 1n), 9223372036854775807n);
  assert.is(add(9223372036854775807n, 1n), 9223372036854775808);
  assert.is(sub(-9223372036854775808n, 1n), -9223372036854775809);
  assert.is(mul(4294967296n, 4294967296n), 18446744073709551616);
  assert.is(div(7n, 2n), 3n);
  assert.is(div(-7n, 2n), -3n);
  assert.is(div(1n, 0n), null);
  assert.is(rem(-7n, 3n), -1n);
  assert.is(rem(5.5, 2n), 1);
  assert.is(add('12abc', 1n), 13n);
  assert.is(add('1e3x', 0n), 1000);
  // The integer value of text is the digits before its point or exponent, none being 0 (SQLite's
  // CAST AS INTEGER, and what % takes of a text operand that is not an integer).
  for (const [t, i] of [['1e3', 1n], ['12.7e1', 12n], ['.5e1', 0n], ['-.5e1', 0n], ['.5e1x', 0n], [' 9e18', 9n]] as const) assert.is(toInteger(t), i, t);
  assert.is(rem(1n, '.5e1'), null);
  assert.is(rem(7n, '1e1'), 0);
});

test('REAL renders as SQLite renders it', () => {
  const cases: [number, string][] = [[0.1, '0.1'], [0.1 + 0.2, '0.30000000000000004'], [1e20, '1.0e+20'], [1e15, '1000000000000000.0'], [1e16, '10000000000000000.0'], [1e17, '1.0e+17'], [123, '123.0'], [1.5e-7, '1.5e-07'], [0.0001, '0.0001'], [-0, '0.0'], [Infinity, 'Inf'], [-1.5e300, '-1.5e+300'], [100 / 7, '14.285714285714286']];
  for (const [v, s] of cases) assert.is(realToText(v), s);
});

test('text to number: whole-string literals only', () => {
  assert.is(textToNumeric('42'), 42n);
  assert.is(textToNumeric(' -3.5 '), -3.5);
  assert.is(textToNumeric('1e3'), 1000);
  assert.is(textToNumeric('9223372036854775808'), 9223372036854775808);
  assert.is(textToNumeric('12abc'), null);
  assert.is(textToNumeric(''), null);
  assert.is(textToNumeric('0x10'), null);
});

test('records round-trip every storage class', () => {
  const vals: Value[] = [null, 0n, -1n, 127n, 128n, -129n, 2n ** 40n, -(2n ** 47n), 2n ** 62n, -9223372036854775808n, 9223372036854775807n, 1.5, -0.25, 1e300, '', 'héllo', 'a\u0000b', '\u{1F600}', new Uint8Array([0, 255, 7]), new Uint8Array(0)];
  const back = decodeRecord(encodeRecord(vals));
  assert.equal(back, vals);
});

test('key encoding preserves SQLite order under memcmp (seeded property)', () => {
  const seed = Number(process.env.SQL_KEY_SEED ?? 7);
  const r = mulberry32(seed);
  const gen = (): Value => {
    switch (Math.floor(r() * 6)) {
      case 0: return null;
      case 1: return BigInt(Math.floor((r() - 0.5) * 2 ** 20)) * (r() < 0.2 ? 2n ** 40n : 1n);
      case 2: return (r() - 0.5) * 10 ** Math.floor(r() * 30 - 10);
      case 3: return r() < 0.5 ? 9007199254740993n + BigInt(Math.floor(r() * 5)) : 9007199254740992 + Math.floor(r() * 3) * 2;
      case 4: return Array.from({ length: Math.floor(r() * 4) }, () => String.fromCharCode(Math.floor(r() * 3) === 0 ? 0 : 97 + Math.floor(r() * 3))).join('');
      default: return new Uint8Array(Array.from({ length: Math.floor(r() * 3) }, () => Math.floor(r() * 3)));
    }
  };
  const prefix = treePrefix(9);
  for (let i = 0; i < 3000; i++) {
    const a = [gen(), gen()], b = [gen(), gen()];
    let want = compareValues(a[0]!, b[0]!);
    if (want === 0) want = compareValues(a[1]!, b[1]!);
    const ka = indexKey(prefix, a, ['BINARY', 'BINARY'], [false, false], 1n);
    const kb = indexKey(prefix, b, ['BINARY', 'BINARY'], [false, false], 1n);
    assert.is(Math.sign(compareBytes(ka, kb)), Math.sign(want), `seed ${seed} (SQL_KEY_SEED=${seed}): ${String(a)} vs ${String(b)}`);
    const da = indexKey(prefix, a, ['BINARY', 'BINARY'], [true, true], 1n);
    const db = indexKey(prefix, b, ['BINARY', 'BINARY'], [true, true], 1n);
    assert.is(Math.sign(compareBytes(da, db)), -Math.sign(want), `DESC, seed ${seed}`);
  }
  // Equal values under a collation share a key.
  assert.is(groupKey(['ABC'], ['NOCASE']), groupKey(['abc'], ['NOCASE']));
  assert.is(groupKey(['a  '], ['RTRIM']), groupKey(['a'], ['RTRIM']));
  assert.is(groupKey([1n]), groupKey([1.0]));
});

test('typeof, CAST and storage through a table follow affinity', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t (i INTEGER, r REAL, x TEXT, n NUMERIC, b BLOB)');
  s.execute("INSERT INTO t VALUES ('5', 5, 5, '5.0', '5')");
  assert.equal(s.execute('SELECT typeof(i), typeof(r), typeof(x), typeof(n), typeof(b) FROM t').rows, [['integer', 'real', 'text', 'integer', 'text']]);
  assert.is(one(s, "SELECT CAST('12abc' AS INTEGER)"), 12n);
  assert.is(one(s, "SELECT CAST(3.9 AS INTEGER)"), 3n);
  assert.is(one(s, "SELECT CAST('  2.5xyz' AS REAL)"), 2.5);
  assert.is(one(s, 'SELECT CAST(1.0 AS TEXT)'), '1.0');
  assert.is(one(s, "SELECT typeof(CAST('abc' AS BLOB))"), 'blob');
  assert.is(one(s, 'SELECT 9223372036854775807 + 1'), 9223372036854775808);
  assert.is(one(s, "SELECT 'a' < x'00'"), 1n);
  assert.is(one(s, "SELECT 'abc' = 'ABC' COLLATE NOCASE"), 1n);
});

test('arithmetic reads an integer a NUL ends as REAL, as SQLite does; other prefixes, casts and bit operations keep integers', () => {
  const { s } = fresh();
  const got = (e: string) => { const r = s.execute(`SELECT ${e}, typeof(${e})`, [], { safeIntegers: true }).rows[0]!; return `${String(r[0])} ${String(r[1])}`; };
  // Each expected value is better-sqlite3's answer.
  assert.is(got("('5' || X'00') * 1"), '5 real');
  assert.is(got("(' -5 ' || X'00' || 'abc') + 0"), '-5 real');
  assert.is(got("('5' || X'00') % 2"), '1 real');
  assert.is(got("-('5' || X'00')"), '-5 real');
  assert.is(got("('9223372036854775807' || X'00') * 1"), '9223372036854776000 real');
  assert.is(got("('5abc' || X'00') * 1"), '5 integer');
  assert.is(got("('0x5' || X'00') * 1"), '0 integer');
  assert.is(got("('5abc') * 1"), '5 integer');
  assert.is(got("CAST('5' || X'00' AS INTEGER)"), '5 integer');
  assert.is(got("('5' || X'00') & 1"), '1 integer');
});

test('INTEGER and NUMERIC affinity read an integer a NUL ends through REAL, as SQLite does (differential seed 140015)', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t(a INTEGER, b NUMERIC, c TEXT)');
  s.execute("INSERT INTO t VALUES ('9007199254740993' || X'00', '-9007199254740993' || X'00', '9007199254740993' || X'00')");
  s.execute("INSERT INTO t VALUES ('9007199254740993', '12' || X'00', NULL)");
  const rows = s.execute('SELECT a, typeof(a), b, typeof(b) FROM t ORDER BY rowid', [], { safeIntegers: true }).rows.map((r) => r.map(String).join(' '));
  // better-sqlite3's answers.
  assert.equal(rows, ['9007199254740992 integer -9007199254740992 integer', '9007199254740993 integer 12 integer']);
  assert.is(String(s.execute("SELECT count(*) FROM t WHERE a = '9007199254740993' || X'00'", [], { safeIntegers: true }).rows[0]![0]), '1');
});

test.run();
