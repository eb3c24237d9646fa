// Minimal types for the parts of better-sqlite3 the SQL tests and benchmark use (the package ships
// none and @types/better-sqlite3 is not installed).
declare module 'better-sqlite3' {
  namespace Sqlite {
    interface RunResult { changes: number; lastInsertRowid: number | bigint }
    interface Statement {
      readonly reader: boolean;
      raw(on?: boolean): this;
      pluck(on?: boolean): this;
      all(...params: unknown[]): unknown[];
      get(...params: unknown[]): unknown;
      run(...params: unknown[]): RunResult;
      columns(): { name: string }[];
    }
    interface Database {
      prepare(sql: string): Statement;
      exec(sql: string): this;
      close(): void;
      defaultSafeIntegers(on?: boolean): this;
      transaction<F extends (...args: never[]) => unknown>(fn: F): F;
      pragma(sql: string): unknown;
    }
  }
  const Sqlite: { new (filename: string, options?: Record<string, unknown>): Sqlite.Database };
  export default Sqlite;
}
