/** Named limits of the SQL layer, in one place (values follow SQLite's defaults where it has one). */

/** Longest SQL text accepted by one `execute` call, in characters (SQLITE_MAX_SQL_LENGTH). */
export const MAX_SQL_LENGTH = 1_000_000_000;
/** Deepest expression / statement nesting before the parser refuses (SQLITE_MAX_EXPR_DEPTH). */
export const MAX_EXPR_DEPTH = 1000;
/** Most columns in a table, index or result (SQLITE_MAX_COLUMN). */
export const MAX_COLUMNS = 2000;
/** Highest `?NNN` parameter number (SQLITE_MAX_VARIABLE_NUMBER). */
export const MAX_VARIABLE_NUMBER = 32766;
/** Longest string or blob value in bytes (SQLITE_MAX_LENGTH). */
export const MAX_VALUE_LENGTH = 1_000_000_000;
/** Parsed statements kept per database, keyed by SQL text. */
export const STATEMENT_CACHE_SIZE = 512;
/** Deepest view / subquery expansion, to stop self-referencing views. */
export const MAX_VIEW_DEPTH = 64;
/** Rows of a recursive trigger of foreign-key actions before we refuse (cascade depth). */
export const MAX_FK_CASCADE_DEPTH = 1000;
