/** Shared helpers for the SQL unit tests (not a test file). */
import * as assert from 'uvu/assert';
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
