/**
 * Errors of the SQL layer. Messages follow SQLite's wording (clients and tests match on them, and
 * Kysely users know them); `code` is SQLite's extended result code name so a client can branch on
 * the kind of failure without parsing the sentence.
 */
import { TrineError } from '../crypto/errors.ts';

export class SqlError extends TrineError {
  /** 1-based line and column of the offending token, for syntax errors. */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** How a constraint failure ends the statement: 'FAIL' keeps earlier rows, 'ROLLBACK' ends the transaction. */
  resolution: 'ABORT' | 'FAIL' | 'ROLLBACK' = 'ABORT';
  /** Rows a failing INSERT, UPDATE or DELETE had changed before it failed (kept only under FAIL). */
  changes = 0;
  constructor(code: string, message: string, pos?: { line: number; column: number }) {
    super(code, message);
    this.name = 'SqlError';
    this.line = pos?.line;
    this.column = pos?.column;
  }
}

/** A generic SQL error (unknown table, wrong argument count, ...): SQLITE_ERROR. */
export function sqlError(message: string): SqlError {
  return new SqlError('SQLITE_ERROR', message);
}

export function constraintError(kind: string, message: string): SqlError {
  return new SqlError(`SQLITE_CONSTRAINT_${kind}`, message);
}
