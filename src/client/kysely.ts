/**
 * A Kysely dialect for Trine. Trine speaks SQLite's dialect, so Kysely's SQLite query compiler,
 * adapter and introspector (sqlite_master, pragma_table_info) are used unchanged; only the driver
 * is ours. One TrineClient is one session, so the driver hands out its single connection to one
 * caller at a time (as Kysely's SQLite driver does).
 */
import {
  CompiledQuery, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler,
  type DatabaseConnection, type DatabaseIntrospector, type Dialect, type DialectAdapter, type Driver, type Kysely,
  type QueryCompiler, type QueryResult,
} from 'kysely';
import { connect, type ConnectOptions, type TrineClient } from './client.ts';
import { TrineError } from '../crypto/errors.ts';

export interface TrineDialectConfig {
  /** A connected client, or a function that connects one (called once, at the first query). */
  readonly client?: TrineClient | (() => Promise<TrineClient>);
  /** Or options to connect with. */
  readonly connect?: ConnectOptions;
}

class TrineConnection implements DatabaseConnection {
  constructor(readonly client: TrineClient) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const r = await this.client.query(compiled.sql, compiled.parameters as unknown[]);
    const rows = r.rows.map((row) => {
      const o: Record<string, unknown> = {};
      r.columns.forEach((c, i) => { o[c] = row[i]; });
      return o as R;
    });
    const kind = compiled.query.kind;
    if (kind === 'InsertQueryNode' || kind === 'UpdateQueryNode' || kind === 'DeleteQueryNode') {
      return { rows, numAffectedRows: BigInt(r.changes), ...(kind === 'InsertQueryNode' ? { insertId: BigInt(r.lastInsertRowid) } : {}) };
    }
    return { rows };
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // Results arrive whole; stream them row by row so callers written for streaming still work.
    const all = await this.executeQuery<R>(compiled);
    for (const row of all.rows) yield { rows: [row] };
  }
}

class TrineDriver implements Driver {
  private client: TrineClient | undefined;
  private conn: TrineConnection | undefined;
  private lock: Promise<void> | undefined;
  private unlock: (() => void) | undefined;

  constructor(private readonly config: TrineDialectConfig) {}

  async init(): Promise<void> {
    const c = this.config.client;
    if (typeof c === 'function') this.client = await c();
    else if (c) this.client = c;
    else if (this.config.connect) this.client = await connect(this.config.connect);
    else throw new TrineError('CLIENT_NO_CONNECTION', 'TrineDialect needs a connection: pass { client } (from connect()) or { connect: { host, port } }');
    this.conn = new TrineConnection(this.client);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    while (this.lock) await this.lock;
    this.lock = new Promise((r) => { this.unlock = r; });
    return this.conn!;
  }

  async releaseConnection(): Promise<void> {
    const u = this.unlock;
    this.lock = undefined;
    this.unlock = undefined;
    u?.();
  }

  async beginTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('BEGIN')); }
  async commitTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('COMMIT')); }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('ROLLBACK')); }

  async destroy(): Promise<void> {
    // A client passed in belongs to the caller; one we connected is ours to close.
    if (!this.config.client) await this.client?.close();
  }
}

export class TrineDialect implements Dialect {
  constructor(private readonly config: TrineDialectConfig) {}
  createAdapter(): DialectAdapter { return new SqliteAdapter(); }
  createDriver(): Driver { return new TrineDriver(this.config); }
  createQueryCompiler(): QueryCompiler { return new SqliteQueryCompiler(); }
  createIntrospector(db: Kysely<any>): DatabaseIntrospector { return new SqliteIntrospector(db); }
}
