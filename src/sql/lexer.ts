/**
 * The SQL tokenizer. Keywords are not a separate kind: SQLite lets most keywords serve as names,
 * so a bare word is an `id` token with its upper-cased spelling in `kw`, and the parser decides.
 */
import { SqlError } from './errors.ts';

export type TokenKind = 'id' | 'str' | 'num' | 'blob' | 'param' | 'op' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** The token's text: the unquoted name for identifiers, the decoded string for strings. */
  readonly text: string;
  /** Upper-cased word for unquoted identifiers (keyword candidates), '' otherwise. */
  readonly kw: string;
  /** Offset of the first character in the SQL text, and one past the last. */
  readonly start: number;
  readonly end: number;
}

function isIdStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}
function isIdChar(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57) || c === 36;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** 1-based line and column of `offset` in `sql`. */
export function position(sql: string, offset: number): { line: number; column: number } {
  let line = 1, col = 1;
  for (let i = 0; i < offset && i < sql.length; i++) {
    if (sql.charCodeAt(i) === 10) { line++; col = 1; } else col++;
  }
  return { line, column: col };
}

function unrecognized(sql: string, start: number, end: number): SqlError {
  const pos = position(sql, start);
  return new SqlError('SQLITE_ERROR', `unrecognized token: "${sql.slice(start, end)}" (line ${pos.line}, column ${pos.column})`, pos);
}

const OPS3 = ['->>'];
const OPS2 = ['||', '<<', '>>', '<=', '>=', '==', '!=', '<>', '->'];
const OPS1 = '*/%+-&|<>=~(),;.';

/** Splits `sql` into tokens, ending with one `eof` token. Throws on text SQLite would not accept. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) { i++; continue; }
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      while (i < n && sql.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const e = sql.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
      continue;
    }
    const start = i;
    if ((c === 120 || c === 88) && sql.charCodeAt(i + 1) === 39) {
      const e = sql.indexOf("'", i + 2);
      if (e < 0) throw unrecognized(sql, start, n);
      const hex = sql.slice(i + 2, e);
      if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw unrecognized(sql, start, e + 1);
      out.push({ kind: 'blob', text: hex, kw: '', start, end: e + 1 });
      i = e + 1;
      continue;
    }
    if (isIdStart(c)) {
      while (i < n && isIdChar(sql.charCodeAt(i))) i++;
      const text = sql.slice(start, i);
      out.push({ kind: 'id', text, kw: text.toUpperCase(), start, end: i });
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      if (c === 48 && (sql.charCodeAt(i + 1) === 120 || sql.charCodeAt(i + 1) === 88)) {
        i += 2;
        while (i < n && /[0-9a-fA-F]/.test(sql[i]!)) i++;
        if (i === start + 2 || (i < n && isIdChar(sql.charCodeAt(i)))) {
          while (i < n && isIdChar(sql.charCodeAt(i))) i++;
          throw unrecognized(sql, start, i);
        }
        out.push({ kind: 'num', text: sql.slice(start, i), kw: '', start, end: i });
        continue;
      }
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
      if (sql.charCodeAt(i) === 46) { i++; while (i < n && isDigit(sql.charCodeAt(i))) i++; }
      const e = sql.charCodeAt(i);
      if (e === 101 || e === 69) {
        let j = i + 1;
        const s = sql.charCodeAt(j);
        if (s === 43 || s === 45) j++;
        if (isDigit(sql.charCodeAt(j))) {
          i = j;
          while (i < n && isDigit(sql.charCodeAt(i))) i++;
        } else {
          throw unrecognized(sql, start, j);
        }
      }
      if (i < n && isIdChar(sql.charCodeAt(i))) {
        while (i < n && isIdChar(sql.charCodeAt(i))) i++;
        throw unrecognized(sql, start, i);
      }
      out.push({ kind: 'num', text: sql.slice(start, i), kw: '', start, end: i });
      continue;
    }
    if (c === 39 || c === 34 || c === 96 || c === 91) {
      const close = c === 91 ? 93 : c;
      let text = '';
      i++;
      let closed = false;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (d === close) {
          if (close !== 93 && sql.charCodeAt(i + 1) === close) { text += sql[i]; i += 2; continue; }
          i++;
          closed = true;
          break;
        }
        const seg = i;
        while (i < n && sql.charCodeAt(i) !== close) i++;
        text += sql.slice(seg, i);
      }
      if (!closed) throw unrecognized(sql, start, n);
      out.push({ kind: c === 39 ? 'str' : 'id', text, kw: '', start, end: i });
      continue;
    }
    if (c === 63) {
      i++;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
      out.push({ kind: 'param', text: sql.slice(start, i), kw: '', start, end: i });
      continue;
    }
    if (c === 58 || c === 64 || c === 36) {
      i++;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (isIdChar(d)) { i++; continue; }
        // `$name` may carry `::` segments and a trailing `(...)` suffix, as Tcl variables do.
        if (c === 36 && d === 58 && sql.charCodeAt(i + 1) === 58) { i += 2; continue; }
        break;
      }
      if (i === start + 1) throw unrecognized(sql, start, i);
      out.push({ kind: 'param', text: sql.slice(start, i), kw: '', start, end: i });
      continue;
    }
    const three = sql.slice(i, i + 3);
    if (OPS3.includes(three)) { out.push({ kind: 'op', text: three, kw: '', start, end: i + 3 }); i += 3; continue; }
    const two = sql.slice(i, i + 2);
    if (OPS2.includes(two)) { out.push({ kind: 'op', text: two, kw: '', start, end: i + 2 }); i += 2; continue; }
    if (OPS1.includes(sql[i]!)) { out.push({ kind: 'op', text: sql[i]!, kw: '', start, end: i + 1 }); i++; continue; }
    throw unrecognized(sql, start, i + 1);
  }
  out.push({ kind: 'eof', text: '', kw: '', start: n, end: n });
  return out;
}
