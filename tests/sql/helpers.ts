/** Shared helpers for the SQL unit tests (not a test file). */
import * as assert from 'uvu/assert';
import Sqlite from 'better-sqlite3';
import { Database, SqlError, type Session } from '../../src/sql/index.ts';
import { MemoryKv } from '../../src/storage/memory-kv.ts';

export function fresh(): { db: Database; s: Session; kv: MemoryKv } {
  const kv = new MemoryKv();
  const db = new Database(kv, { now: () => Date.UTC(2024, 0, 15, 12, 30, 45) });
  return { db, s: db.session(), kv };
}

/** Rows of the last statement of `sql`. */
export function rows(s: Session, sql: string, params: unknown[] | Record<string, unknown> = []): unknown[][] {
  return s.execute(sql, params).rows;
}

/** The single value of a one-row, one-column query. */
export function one(s: Session, sql: string, params: unknown[] = []): unknown {
  const r = s.execute(sql, params, { safeIntegers: true }).rows;
  assert.is(r.length, 1, `expected one row from ${sql}`);
  return r[0]![0];
}

/** Asserts that `sql` fails with exactly `message` (position suffix ignored) and returns the error. */
export function fails(s: Session, sql: string, message: string | RegExp, params: unknown[] = []): SqlError {
  try {
    s.execute(sql, params);
  } catch (e) {
    assert.instance(e, SqlError, `expected an SqlError from ${sql}, got ${String(e)}`);
    const m = (e as Error).message.replace(/ \(line \d+, column \d+\)$/, '');
    if (typeof message === 'string') assert.is(m, message);
    else assert.match(m, message);
    return e as SqlError;
  }
  throw new assert.Assertion({ message: `expected ${sql} to fail with ${String(message)}`, operator: 'fails', expects: message, actual: 'success', generated: false });
}

function show(v: unknown): string {
  return typeof v === 'bigint' ? `${v}` : JSON.stringify(v);
}

/** A failed immediate foreign key as `bothWithForeignKeys` reports it. */
export const FK_FAILED = 'SQLITE_CONSTRAINT_FOREIGNKEY: FOREIGN KEY constraint failed';

/**
 * Runs `script` (after `PRAGMA foreign_keys = ON`) on Trine and on SQLite (better-sqlite3) and
 * asserts that every statement's outcome, error message and code agree; returns Trine's outcomes
 * (`ok <rows>` or `<code>: <message>`), which the caller states too, so a test fails when both
 * engines change together.
 */
export function bothWithForeignKeys(script: string[]): string[] {
  const { s } = fresh();
  const lite = new Sqlite(':memory:');
  lite.defaultSafeIntegers(true);
  const ours: string[] = [];
  const theirs: string[] = [];
  for (const sql of ['PRAGMA foreign_keys = ON', ...script]) {
    try {
      const r = s.execute(sql, [], { safeIntegers: true });
      ours.push(`ok ${r.rows.map((row) => row.map(show).join('|')).join(' ')}`);
    } catch (e) {
      if (!(e instanceof SqlError)) throw e;
      ours.push(`${e.code}: ${e.message}`);
    }
    try {
      const st = lite.prepare(sql);
      const rows = st.reader ? (st.raw(true).all() as unknown[][]) : (st.run(), []);
      theirs.push(`ok ${rows.map((row) => row.map(show).join('|')).join(' ')}`);
    } catch (e) {
      theirs.push(`${(e as { code: string }).code}: ${(e as Error).message}`);
    }
  }
  lite.close();
  assert.equal(ours, theirs);
  return ours.slice(1);
}
