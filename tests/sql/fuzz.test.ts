/**
 * The parser survives random and mutated input: every input either parses or raises an SqlError,
 * never another exception, a hang or a stack overflow. Bounded; SQL_FUZZ_CASES widens it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SqlError } from '../../src/sql/errors.ts';
import { parseAll } from '../../src/sql/parser.ts';
import { fresh } from './helpers.ts';
import { Gen, mulberry32 } from './gen.ts';

const CASES = Number(process.env.SQL_FUZZ_CASES ?? 20000);
const SEED = Number(process.env.SQL_FUZZ_SEED ?? 42);

function survives(sql: string): void {
  try {
    parseAll(sql);
  } catch (e) {
    if (!(e instanceof SqlError)) {
      throw new Error(`non-SQL error ${String(e)} for input ${JSON.stringify(sql)} (replay: SQL_FUZZ_SEED=${SEED} node --import tsx tests/sql/fuzz.test.ts)`);
    }
  }
}

const ALPHABET = ['SELECT', 'FROM', 'WHERE', '(', ')', ',', "'", '"', '`', '[', ']', '?', ':a', '$', '@', '*', '+', '-', '/', '||', '<>', '=', '.', ';', 'NOT', 'IN', 'CASE', 'WHEN', 'END', 'x', '1', '1e', '0x', 'X\'', '--', '/*', '*/', ' ', '\n', 'CREATE', 'TABLE', 'INSERT', 'VALUES', 'ON', 'CONFLICT', 'DO', 'WITH', 'AS', 'BETWEEN', 'AND', 'ESCAPE', '\u00e9', '\u{1F600}', '\0'];

test(`the parser survives ${CASES} random and mutated inputs (seed ${SEED})`, () => {
  const r = mulberry32(SEED);
  const g = new Gen(SEED);
  g.script(5);
  for (let i = 0; i < CASES; i++) {
    let sql: string;
    if (i % 3 === 0) {
      sql = Array.from({ length: 1 + Math.floor(r() * 20) }, () => ALPHABET[Math.floor(r() * ALPHABET.length)]).join(r() < 0.5 ? ' ' : '');
    } else {
      // Mutate a valid statement: delete, duplicate or replace a slice.
      sql = g.pick([g.insert(), g.update(), g.delete(), g.select().sql, g.createTable()]);
      const n = 1 + Math.floor(r() * 3);
      for (let k = 0; k < n; k++) {
        const a = Math.floor(r() * sql.length), b = Math.min(sql.length, a + Math.floor(r() * 8));
        const op = Math.floor(r() * 3);
        if (op === 0) sql = sql.slice(0, a) + sql.slice(b);
        else if (op === 1) sql = sql.slice(0, a) + sql.slice(a, b) + sql.slice(a);
        else sql = sql.slice(0, a) + ALPHABET[Math.floor(r() * ALPHABET.length)] + sql.slice(b);
      }
    }
    survives(sql);
  }
});

test('deeply nested input is refused with an error, not a stack overflow', () => {
  assert.throws(() => parseAll(`SELECT ${'('.repeat(5000)}1${')'.repeat(5000)}`), (e: unknown) => e instanceof SqlError && /too large|depth/.test((e as Error).message));
  assert.throws(() => parseAll(`SELECT ${'-'.repeat(5000)}1`), (e: unknown) => e instanceof SqlError);
  assert.throws(() => parseAll(`SELECT 1${' + 1'.repeat(3000)}`.replace(/\+ 1/g, '+ (1')), (e: unknown) => e instanceof SqlError);
});

test('mutated statements executed against a database fail only with SqlError', () => {
  const { s } = fresh();
  s.execute('CREATE TABLE t0(c0 INTEGER PRIMARY KEY, c1 TEXT, c2 REAL, c3); CREATE TABLE t1(c0, c1 UNIQUE, c2)');
  const g = new Gen(SEED + 1);
  g.tables = [
    { name: 't0', cols: [{ name: 'c0', type: 'INTEGER', nocase: false }, { name: 'c1', type: 'TEXT', nocase: false }, { name: 'c2', type: 'REAL', nocase: false }, { name: 'c3', type: '', nocase: false }], ipk: true },
    { name: 't1', cols: [{ name: 'c0', type: '', nocase: false }, { name: 'c1', type: '', nocase: false }, { name: 'c2', type: '', nocase: false }], ipk: false },
  ];
  const r = mulberry32(SEED + 2);
  for (let i = 0; i < Math.min(CASES, 3000); i++) {
    let sql = g.pick([g.insert(), g.update(), g.delete(), g.select().sql]);
    const a = Math.floor(r() * sql.length);
    sql = sql.slice(0, a) + ALPHABET[Math.floor(r() * ALPHABET.length)] + sql.slice(a + Math.floor(r() * 4));
    try {
      s.execute(sql);
    } catch (e) {
      if (!(e instanceof SqlError)) throw new Error(`non-SQL error ${String(e)} for ${JSON.stringify(sql)} (SQL_FUZZ_SEED=${SEED})`);
    }
  }
});

test.run();
