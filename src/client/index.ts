export { connect, TrineClient, type ConnectOptions, type QueryOptions, type QueryResult, type SqlValue, type SqlParams, type Consistency } from './client.ts';
export { TrineDialect, type TrineDialectConfig } from './kysely.ts';
