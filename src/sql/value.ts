/**
 * SQL values with SQLite's semantics. Storage classes map to JS types one-to-one so a value's class
 * never needs a tag: NULL = null, INTEGER = bigint (always, so 64-bit integers are exact and 1 and
 * 1.0 stay distinct), REAL = number, TEXT = string, BLOB = Uint8Array.
 */
import { sqlError } from './errors.ts';

export type Value = null | bigint | number | string | Uint8Array;

export const INT64_MIN = -9223372036854775808n;
export const INT64_MAX = 9223372036854775807n;

export type Affinity = 'BLOB' | 'TEXT' | 'NUMERIC' | 'INTEGER' | 'REAL';
export type Collation = 'BINARY' | 'NOCASE' | 'RTRIM';

export function typeName(v: Value): 'null' | 'integer' | 'real' | 'text' | 'blob' {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'bigint': return 'integer';
    case 'number': return 'real';
    case 'string': return 'text';
    default: return 'blob';
  }
}

/** Column affinity from a declared type, by SQLite's five rules in order. */
export function affinityOf(declared: string): Affinity {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

export function checkCollation(name: string): Collation {
  const n = name.toUpperCase();
  if (n === 'BINARY' || n === 'NOCASE' || n === 'RTRIM') return n;
  throw sqlError(`no such collation sequence: ${name}`);
}

// ---- text <-> number ----

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export function utf8(s: string): Uint8Array { return encoder.encode(s); }
export function fromUtf8(b: Uint8Array): string { return decoder.decode(b); }

/**
 * Parses the longest numeric prefix of `s` as SQLite's sqlite3AtoF does. Returns the value, and
 * whether the whole string (bar surrounding spaces) was consumed. Integers that fit 64 bits stay
 * integers; anything with a fraction, exponent or too many digits is REAL.
 */
export function parseNumericPrefix(s: string): { v: bigint | number; whole: boolean; empty: boolean } {
  // SQLite reads text as a C string here: a NUL ends it.
  const z = s.indexOf('\0');
  if (z >= 0) s = s.slice(0, z);
  const n = s.length;
  let i = 0;
  while (i < n && isSpace(s.charCodeAt(i))) i++;
  const start = i;
  if (i < n && (s[i] === '+' || s[i] === '-')) i++;
  const digStart = i;
  while (i < n && isDig(s.charCodeAt(i))) i++;
  let intDigits = i - digStart;
  let isReal = false;
  let fracDigits = 0;
  if (i < n && s[i] === '.') {
    const j = i + 1;
    let k = j;
    while (k < n && isDig(s.charCodeAt(k))) k++;
    fracDigits = k - j;
    if (intDigits > 0 || fracDigits > 0) { i = k; isReal = true; }
  }
  if (intDigits === 0 && fracDigits === 0) {
    return { v: 0n, whole: false, empty: true };
  }
  if (i < n && (s[i] === 'e' || s[i] === 'E')) {
    let k = i + 1;
    if (k < n && (s[k] === '+' || s[k] === '-')) k++;
    if (k < n && isDig(s.charCodeAt(k))) {
      while (k < n && isDig(s.charCodeAt(k))) k++;
      i = k;
      isReal = true;
    }
  }
  const text = s.slice(start, i);
  let end = i;
  while (end < n && isSpace(s.charCodeAt(end))) end++;
  const whole = end === n;
  if (!isReal) {
    const b = BigInt(text);
    if (b >= INT64_MIN && b <= INT64_MAX) return { v: b, whole, empty: false };
    return { v: Number(text), whole, empty: false };
  }
  void intDigits;
  return { v: Number(text), whole, empty: false };
}

function isSpace(c: number): boolean { return c === 32 || (c >= 9 && c <= 13); }
function isDig(c: number): boolean { return c >= 48 && c <= 57; }

/** The numeric value of a literal or text when the whole text is a number, else null. */
export function textToNumeric(s: string): bigint | number | null {
  const r = parseNumericPrefix(s);
  if (r.empty || !r.whole) return null;
  return r.v;
}

/** REAL to INTEGER when the real holds an integer exactly within 64 bits (SQLite's IntegerAffinity). */
export function realToIntIfExact(r: number): bigint | number {
  if (Number.isInteger(r) && r > -9223372036854775808 && r < 9223372036854775808) return BigInt(r);
  return r;
}

/** SQLite's REAL rendering: 15 significant digits when they round-trip, else 17; always a '.' or 'e'. */
export function realToText(r: number): string {
  if (Number.isNaN(r)) return '';
  if (r === Infinity) return 'Inf';
  if (r === -Infinity) return '-Inf';
  if (r === 0) return '0.0';
  let p = r.toPrecision(15);
  if (Number(p) !== r) p = r.toPrecision(17);
  // Split into sign, digits and decimal exponent, then lay out as %!g with precision 17 would.
  let neg = false;
  if (p[0] === '-') { neg = true; p = p.slice(1); }
  let exp: number;
  let mant: string;
  const ei = p.indexOf('e');
  if (ei >= 0) { exp = Number(p.slice(ei + 1)); mant = p.slice(0, ei); } else { mant = p; exp = 0; }
  let digits = mant.replace('.', '');
  const dot = mant.indexOf('.');
  const intLen = dot < 0 ? mant.length : dot;
  // Normalise to d.ddd x 10^e
  let lead = 0;
  while (lead < digits.length - 1 && digits[lead] === '0') lead++;
  exp += intLen - 1 - lead;
  digits = digits.slice(lead).replace(/0+$/, '');
  if (digits === '') digits = '0';
  let out: string;
  if (exp < -4 || exp >= 17) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : `${digits}.0`;
    const ae = Math.abs(exp);
    out = `${m}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  } else if (exp < 0) {
    out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length > exp + 1) {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  } else {
    out = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  }
  return neg ? `-${out}` : out;
}

/** The TEXT form of a value (for concatenation, TEXT affinity, string functions). */
export function toText(v: Value): string | null {
  if (v === null) return null;
  switch (typeof v) {
    case 'string': return v;
    case 'bigint': return v.toString();
    case 'number': return realToText(v);
    default: return fromUtf8(v);
  }
}

/** Numeric value for arithmetic: text and blobs by their longest numeric prefix (0 when none). */
export function toNumber(v: Value): bigint | number | null {
  if (v === null) return null;
  switch (typeof v) {
    case 'bigint': case 'number': return v;
    case 'string': return arithmeticValue(v);
    default: return arithmeticValue(fromUtf8(v));
  }
}

/**
 * Text read for arithmetic as SQLite's computeNumericType reads it: the longest numeric prefix,
 * except that an integer ended by a NUL (spaces aside) is REAL: SQLite's real parser takes the
 * NUL for the end of the string, its integer parser for extra text (`('5' || X'00') * 1` is 5.0).
 */
function arithmeticValue(s: string): bigint | number {
  const r = parseNumericPrefix(s);
  return typeof r.v === 'bigint' && r.whole && !r.empty && s.includes('\0') ? Number(r.v) : r.v;
}

/** CAST(v AS INTEGER). */
export function toInteger(v: Value): bigint | null {
  if (v === null) return null;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return realToInt64(v);
  const s = typeof v === 'string' ? v : fromUtf8(v);
  const r = parseNumericPrefix(s);
  if (typeof r.v === 'bigint') return r.v;
  // A REAL-looking prefix: SQLite takes the digits before its point or exponent, saturating at
  // the 64-bit limits; none ('.5e1') is 0.
  const m = /^\s*[+-]?\d+/.exec(s);
  if (!m) return 0n;
  const b = BigInt(m[0].trim());
  return b > INT64_MAX ? INT64_MAX : b < INT64_MIN ? INT64_MIN : b;
}

/** Truncation toward zero with saturation, as SQLite's doubleToInt64. */
export function realToInt64(r: number): bigint {
  if (Number.isNaN(r)) return 0n;
  if (r <= -9223372036854775808) return INT64_MIN;
  if (r >= 9223372036854775807) return INT64_MAX;
  return BigInt(Math.trunc(r));
}

/** CAST(v AS REAL). */
export function toReal(v: Value): number | null {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  const r = parseNumericPrefix(typeof v === 'string' ? v : fromUtf8(v));
  return Number(r.v);
}

/** CAST(v AS NUMERIC). */
export function toNumericCast(v: Value): bigint | number | null {
  if (v === null) return null;
  if (typeof v === 'bigint' || typeof v === 'number') return v;
  const r = parseNumericPrefix(typeof v === 'string' ? v : fromUtf8(v));
  // A REAL result becomes INTEGER only when exact and within +-2^51 (sqlite3RealSameAsInt).
  if (typeof r.v === 'number') {
    if (Number.isInteger(r.v) && r.v >= -2251799813685248 && r.v < 2251799813685248) return BigInt(r.v);
    return r.v;
  }
  return r.v;
}

/** Applies a column affinity to a value about to be stored (or compared). */
export function applyAffinity(v: Value, aff: Affinity): Value {
  if (v === null) return v;
  switch (aff) {
    case 'BLOB': return v;
    case 'TEXT':
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'number') return realToText(v);
      return v;
    case 'REAL':
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'string') {
        const n = textToNumeric(v);
        if (n !== null) return Number(n);
      }
      return v;
    case 'NUMERIC':
    case 'INTEGER':
      if (typeof v === 'number') return realToIntIfExact(v);
      if (typeof v === 'string') {
        const n = textToNumeric(v);
        if (n === null) return v;
        // An integer ended by a NUL goes through REAL: SQLite's integer parser takes the NUL for
        // extra text (see arithmeticValue), so 9007199254740993 || X'00' stores 9007199254740992.
        if (typeof n === 'bigint' && v.includes('\0')) return realToIntIfExact(Number(n));
        return typeof n === 'number' ? realToIntIfExact(n) : n;
      }
      return v;
  }
}

// ---- comparison ----

function classRank(v: Value): number {
  if (v === null) return 0;
  switch (typeof v) {
    case 'bigint': case 'number': return 1;
    case 'string': return 2;
    default: return 3;
  }
}

/** Compares two numbers where either may be an exact 64-bit integer. */
export function compareNumeric(a: bigint | number, b: bigint | number): number {
  if (typeof a === 'bigint') {
    if (typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
    return -compareRealInt(b, a);
  }
  if (typeof b === 'number') {
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
    if (Number.isNaN(b)) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return compareRealInt(a, b);
}

function compareRealInt(r: number, i: bigint): number {
  if (Number.isNaN(r)) return -1;
  if (r < -9223372036854775808) return -1;
  if (r >= 9223372036854775808) return 1;
  const t = Math.trunc(r);
  const bt = BigInt(t);
  if (bt < i) return -1;
  if (bt > i) return 1;
  return r > t ? 1 : r < t ? -1 : 0;
}

/** Binary order of two strings as their UTF-8 bytes would sort (JS compares UTF-16 units). */
export function compareBinary(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (astral code points) sort after U+E000..U+FFFF in UTF-8.
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

function foldAscii(s: string): string {
  // Only ASCII letters fold in NOCASE, as in SQLite.
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

export function rtrimSpaces(s: string): string {
  let e = s.length;
  while (e > 0 && s.charCodeAt(e - 1) === 32) e--;
  return e === s.length ? s : s.slice(0, e);
}

export function compareText(a: string, b: string, coll: Collation): number {
  switch (coll) {
    case 'BINARY': return compareBinary(a, b);
    case 'NOCASE': return compareBinary(foldAscii(a), foldAscii(b));
    case 'RTRIM': return compareBinary(rtrimSpaces(a), rtrimSpaces(b));
  }
}

export function compareBlobs(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** SQLite's total order over values: NULL < numbers < TEXT (by collation) < BLOB. */
export function compareValues(a: Value, b: Value, coll: Collation = 'BINARY'): number {
  const ra = classRank(a), rb = classRank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0: return 0;
    case 1: return compareNumeric(a as bigint | number, b as bigint | number);
    case 2: return compareText(a as string, b as string, coll);
    default: return compareBlobs(a as Uint8Array, b as Uint8Array);
  }
}

/** Key of a text under a collation: equal keys <=> equal under that collation. */
export function collationKey(s: string, coll: Collation): string {
  return coll === 'BINARY' ? s : coll === 'NOCASE' ? foldAscii(s) : rtrimSpaces(s);
}

// ---- truth and arithmetic ----

/** SQL truth: null for NULL, else whether the numeric value is non-zero. */
export function truth(v: Value): boolean | null {
  if (v === null) return null;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'number') return v !== 0;
  const n = toNumber(v)!;
  return typeof n === 'bigint' ? n !== 0n : n !== 0;
}

export function boolValue(b: boolean | null): Value {
  return b === null ? null : b ? 1n : 0n;
}

function fit(r: bigint, fallback: () => number): bigint | number {
  return r >= INT64_MIN && r <= INT64_MAX ? r : fallback();
}

export function add(a: Value, b: Value): Value {
  const x = toNumber(a), y = toNumber(b);
  if (x === null || y === null) return null;
  if (typeof x === 'bigint' && typeof y === 'bigint') return fit(x + y, () => Number(x) + Number(y));
  return nanToNull(Number(x) + Number(y));
}

export function sub(a: Value, b: Value): Value {
  const x = toNumber(a), y = toNumber(b);
  if (x === null || y === null) return null;
  if (typeof x === 'bigint' && typeof y === 'bigint') return fit(x - y, () => Number(x) - Number(y));
  return nanToNull(Number(x) - Number(y));
}

export function mul(a: Value, b: Value): Value {
  const x = toNumber(a), y = toNumber(b);
  if (x === null || y === null) return null;
  if (typeof x === 'bigint' && typeof y === 'bigint') return fit(x * y, () => Number(x) * Number(y));
  return nanToNull(Number(x) * Number(y));
}

export function div(a: Value, b: Value): Value {
  const x = toNumber(a), y = toNumber(b);
  if (x === null || y === null) return null;
  if (typeof x === 'bigint' && typeof y === 'bigint') {
    if (y === 0n) return null;
    if (x === INT64_MIN && y === -1n) return Number(x) / -1;
    return x / y;
  }
  const d = Number(y);
  if (d === 0) return null;
  return nanToNull(Number(x) / d);
}

export function rem(a: Value, b: Value): Value {
  const x = toNumber(a), y = toNumber(b);
  if (x === null || y === null) return null;
  if (typeof x === 'bigint' && typeof y === 'bigint') {
    if (y === 0n) return null;
    if (y === -1n) return 0n;
    return x % y;
  }
  // SQLite takes the integer value of each original operand (text by its integer prefix, REAL
  // truncated) and returns the remainder as REAL.
  const ix = toInteger(a)!, iy = toInteger(b)!;
  if (iy === 0n) return null;
  return Number(iy === -1n ? 0n : ix % iy);
}

function nanToNull(r: number): number | null {
  return Number.isNaN(r) ? null : r;
}

/** Integer operand for bitwise operators. */
function toBitInt(v: Value): bigint | null {
  // SQLite's integer value of text is its integer prefix ('1e3' is 1), as CAST AS INTEGER.
  return toInteger(v);
}

export function bitop(op: string, a: Value, b: Value): Value {
  const x = toBitInt(a), y = toBitInt(b);
  if (x === null || y === null) return null;
  switch (op) {
    case '&': return x & y;
    case '|': return x | y;
    case '<<': return shift(x, y);
    default: return shift(x, -y);
  }
}

function shift(x: bigint, by: bigint): bigint {
  if (by >= 64n) return 0n;
  if (by <= -64n) return x < 0n ? -1n : 0n;
  if (by >= 0n) return BigInt.asIntN(64, x << by);
  return x >> -by;
}

export function negate(v: Value): Value {
  const x = toNumber(v);
  if (x === null) return null;
  if (typeof x === 'bigint') return x === INT64_MIN ? -Number(x) : -x;
  return -x;
}

export function bitnot(v: Value): Value {
  const x = toBitInt(v);
  return x === null ? null : ~x;
}

export function concat(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  return toText(a)! + toText(b)!;
}

/** Blob bytes of a value (text as UTF-8, numbers as their text). */
export function toBlob(v: Value): Uint8Array | null {
  if (v === null) return null;
  if (v instanceof Uint8Array) return v;
  return utf8(toText(v)!);
}

/** A JS value supplied as a parameter, as an SQL value. */
export function fromJs(v: unknown): Value {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX) throw sqlError('parameter out of the 64-bit integer range; pass it as text');
      return v;
    case 'number': return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? BigInt(v) : v;
    case 'string': return v;
    case 'boolean': return v ? 1n : 0n;
    default:
      if (v instanceof Uint8Array) return v;
      throw sqlError(`cannot bind a value of type ${typeof v}; use null, number, bigint, string, boolean or Uint8Array`);
  }
}
