/** The SQL engine's public API. */
export { Database, Session, type ExecResult, type ExecOptions, type Params, type DatabaseOptions, type JsValue, type Committer, type ReadSet } from './database.ts';
export { SqlError } from './errors.ts';
