/** Built-in scalar and aggregate functions, LIKE/GLOB matching and printf. */
import { randomBytes } from 'node:crypto';
import { dateFn, datetimeFn, juliandayFn, strftimeFn, timeFn, unixepochFn } from './datetime.ts';
import { sqlError } from './errors.ts';
import {
  INT64_MIN, add, compareValues, textToNumeric, fromUtf8, realToText, toBlob, toInteger, toNumber, toReal, toText, typeName, utf8,
  type Collation, type Value, INT64_MAX,
} from './value.ts';

/** What a function may ask of the statement running it. */
export interface FnContext {
  changes(): bigint;
  totalChanges(): bigint;
  lastInsertRowid(): bigint;
  /** Wall-clock time in Unix milliseconds, fixed for the whole statement as SQLite does. */
  now(): number;
}

export interface ScalarFn {
  /** Allowed argument counts; -1 = any. */
  nargs: number[];
  fn: (args: Value[], ctx: FnContext, coll: Collation) => Value;
  /** Deterministic functions may be folded and used in indexes. */
  deterministic: boolean;
}

const any = [-1];

function textArg(v: Value): string | null { return toText(v); }

/** Text as SQLite's C-string based functions see it: up to the first NUL. */
function cstr(s: string): string {
  const z = s.indexOf('\0');
  return z < 0 ? s : s.slice(0, z);
}

function hexOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s.toUpperCase();
}

/** SQL literal of a value, as quote() writes it. */
export function quoteValue(v: Value): string {
  if (v === null) return 'NULL';
  switch (typeof v) {
    case 'bigint': return v.toString();
    // SQLite writes an infinity as a literal that reads back as one.
    case 'number': return Number.isFinite(v) ? realToText(v).replace(/\.0$/, '.0') : `${v < 0 ? '-' : ''}9.0e+999`;
    case 'string': return `'${cstr(v).replace(/'/g, "''")}'`;
    default: return `X'${hexOf(v)}'`;
  }
}

function charLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) i++;
    n++;
  }
  return n;
}

/** Code points of a string (substr and friends count characters, not UTF-16 units). */
function codePoints(s: string): string[] {
  return Array.from(s);
}

function beforeNul(s: string): string {
  const z = s.indexOf('\0');
  return z < 0 ? s : s.slice(0, z);
}

function substr(args: Value[]): Value {
  const [x, a, b] = args;
  if (x === null || a === null || (args.length > 2 && b === null)) return null;
  const isBlob = x instanceof Uint8Array;
  // SQLite reads a blob through a pointer that is null for an empty blob, and then answers NULL.
  if (isBlob && x.length === 0) return null;
  // SQLite measures text up to the first NUL (it walks a C string).
  const text = isBlob ? '' : beforeNul(toText(x!)!);
  const units: ArrayLike<unknown> = isBlob ? x : codePoints(text);
  const len = BigInt(units.length);
  // SQLite's substrFunc arithmetic, in bigint so extreme arguments behave exactly.
  let p1 = toInteger(a!)!;
  let p2 = args.length > 2 ? toInteger(b!)! : 1000000000n;
  let negP2 = false;
  if (p2 < 0n) { p2 = -p2; negP2 = true; }
  if (p1 < 0n) {
    p1 += len;
    if (p1 < 0n) { p2 += p1; if (p2 < 0n) p2 = 0n; p1 = 0n; }
  } else if (p1 > 0n) p1--;
  else if (p2 > 0n) p2--;
  if (negP2) { p1 -= p2; if (p1 < 0n) { p2 += p1; p1 = 0n; } }
  if (p1 + p2 > len) { p2 = len - p1; if (p2 < 0n) p2 = 0n; }
  const start = Number(p1), end = Number(p1 + p2);
  if (isBlob) return (x as Uint8Array).slice(start, end);
  return (units as string[]).slice(start, end).join('');
}

function trimFn(which: 'both' | 'left' | 'right') {
  return (args: Value[]): Value => {
    if (args[0] === null || (args.length > 1 && args[1] === null)) return null;
    const s = toText(args[0]!)!;
    // The set of characters is read as a C string: it ends at the first NUL.
    const chars = args.length > 1 ? new Set(codePoints(beforeNul(toText(args[1]!)!))) : new Set([' ']);
    const cps = codePoints(s);
    let a = 0, b = cps.length;
    if (which !== 'right') while (a < b && chars.has(cps[a]!)) a++;
    if (which !== 'left') while (b > a && chars.has(cps[b - 1]!)) b--;
    return cps.slice(a, b).join('');
  };
}

function roundFn(args: Value[]): Value {
  if (args[0] === null) return null;
  let n = args.length > 1 ? (args[1] === null ? null : Number(toInteger(args[1]!))) : 0;
  if (n === null) return null;
  if (n > 30) n = 30;
  if (n < 0) n = 0;
  const x = toReal(args[0]!)!;
  if (!Number.isFinite(x) || Math.abs(x) >= 4503599627370496) return x;
  // toFixed rounds the exact binary value half away from zero, as SQLite's printf does.
  return Number(x.toFixed(n));
}

function absFn(args: Value[]): Value {
  const v = args[0]!;
  if (v === null) return null;
  if (typeof v === 'bigint') {
    if (v === INT64_MIN) throw sqlError('integer overflow');
    return v < 0n ? -v : v;
  }
  if (typeof v === 'number') return Math.abs(v);
  const n = toNumber(v)!;
  return Math.abs(Number(n));
}

function minmax(sign: number) {
  return (args: Value[], _ctx: FnContext, coll: Collation): Value => {
    let best: Value = args[0]!;
    if (best === null) return null;
    for (let i = 1; i < args.length; i++) {
      const v = args[i]!;
      if (v === null) return null;
      // Ties: min() takes the later argument, max() keeps the earlier (SQLite's minmaxFunc).
      const c = compareValues(v, best, coll);
      if (sign > 0 ? c > 0 : c <= 0) best = v;
    }
    return best;
  };
}

function instrFn(args: Value[]): Value {
  const [a, b] = args;
  if (a === null || b === null) return null;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    outer: for (let i = 0; i + b.length <= a.length; i++) {
      for (let j = 0; j < b.length; j++) if (a[i + j] !== b[j]) continue outer;
      return BigInt(i + 1);
    }
    return 0n;
  }
  const s = toText(a!)!, t = toText(b!)!;
  const i = s.indexOf(t);
  return i < 0 ? 0n : BigInt(charLength(s.slice(0, i)) + 1);
}

function replaceFn(args: Value[]): Value {
  const [a, b, c] = args;
  if (a === null || b === null || c === null) return null;
  const s = toText(a!)!, from = toText(b!)!, to = toText(c!)!;
  if (from === '') return s;
  return s.split(from).join(to);
}

function charFn(args: Value[]): Value {
  let s = '';
  for (const a of args) {
    if (a === null) continue;
    const n = Number(toInteger(a));
    s += String.fromCodePoint(n >= 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? n : 0xfffd);
  }
  return s;
}

function unicodeFn(args: Value[]): Value {
  const a = args[0]!;
  if (a === null) return null;
  const s = toText(a)!;
  // A leading NUL ends the C string SQLite reads: no character.
  if (s === '' || s.charCodeAt(0) === 0) return null;
  return BigInt(s.codePointAt(0)!);
}

function hexFn(args: Value[]): Value {
  const a = args[0]!;
  if (a === null) return '';
  return hexOf(toBlob(a)!);
}

function unhexFn(args: Value[]): Value {
  if (args[0] === null) return null;
  const ignore = args.length > 1 ? (args[1] === null ? null : toText(args[1]!)!) : '';
  if (ignore === null) return null;
  const s = toText(args[0]!)!;
  const out: number[] = [];
  let i = 0;
  while (i < s.length) {
    if (ignore.includes(s[i]!)) { i++; continue; }
    const h = s.slice(i, i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(h)) return null;
    out.push(parseInt(h, 16));
    i += 2;
  }
  return new Uint8Array(out);
}

function lengthFn(args: Value[]): Value {
  const a = args[0]!;
  if (a === null) return null;
  if (a instanceof Uint8Array) return BigInt(a.length);
  if (typeof a === 'string') {
    // SQLite stops at the first NUL character.
    const z = a.indexOf('\0');
    return BigInt(charLength(z < 0 ? a : a.slice(0, z)));
  }
  return BigInt(charLength(toText(a)!));
}

function randomFn(): Value {
  const b = randomBytes(8);
  return b.readBigInt64BE(0);
}

function zeroblobFn(args: Value[]): Value {
  const n = Number(toInteger(args[0]!) ?? 0n);
  return new Uint8Array(Math.max(0, n));
}

function randomblobFn(args: Value[]): Value {
  const n = Math.max(1, Number(toInteger(args[0]!) ?? 1n));
  return new Uint8Array(randomBytes(n));
}

function signFn(args: Value[]): Value {
  const a = args[0]!;
  if (a === null) return null;
  const n = typeof a === 'bigint' || typeof a === 'number' ? a : null;
  if (n === null) {
    if (typeof a === 'string') {
      const t = toNumber(a);
      if (typeof t === 'number' && Number.isNaN(t)) return null;
      // SQLite parses the number from a C string, so it ends at the first NUL.
      const tr = beforeNul(a).trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(tr)) return null;
      const v = Number(tr);
      return BigInt(Math.sign(v));
    }
    return null;
  }
  if (typeof n === 'bigint') return n > 0n ? 1n : n < 0n ? -1n : 0n;
  return BigInt(Math.sign(n));
}

function mathFn(f: (x: number) => number) {
  return (args: Value[]): Value => {
    const a = args[0]!;
    if (a === null) return null;
    if (typeof a === 'string' && !/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(a)) return null;
    const r = f(Number(toNumber(a)));
    return Number.isNaN(r) ? null : r;
  };
}

export const SCALARS: Record<string, ScalarFn> = {
  abs: { nargs: [1], fn: absFn, deterministic: true },
  changes: { nargs: [0], fn: (_a, c) => c.changes(), deterministic: false },
  total_changes: { nargs: [0], fn: (_a, c) => c.totalChanges(), deterministic: false },
  last_insert_rowid: { nargs: [0], fn: (_a, c) => c.lastInsertRowid(), deterministic: false },
  char: { nargs: any, fn: charFn, deterministic: true },
  coalesce: { nargs: any, fn: (a) => { for (const v of a) if (v !== null) return v; return null; }, deterministic: true },
  ifnull: { nargs: [2], fn: (a) => (a[0] !== null ? a[0]! : a[1]!), deterministic: true },
  nullif: { nargs: [2], fn: (a, _c, coll) => (compareValues(a[0]!, a[1]!, coll) === 0 && a[0] !== null && a[1] !== null ? null : a[0]!), deterministic: true },
  iif: { nargs: [3], fn: () => null, deterministic: true }, // compiled lazily in expr.ts
  hex: { nargs: [1], fn: hexFn, deterministic: true },
  unhex: { nargs: [1, 2], fn: unhexFn, deterministic: true },
  instr: { nargs: [2], fn: instrFn, deterministic: true },
  length: { nargs: [1], fn: lengthFn, deterministic: true },
  octet_length: { nargs: [1], fn: (a) => (a[0] === null ? null : BigInt(toBlob(a[0]!)!.length)), deterministic: true },
  lower: { nargs: [1], fn: (a) => (a[0] === null ? null : toText(a[0]!)!.replace(/[A-Z]+/g, (m) => m.toLowerCase())), deterministic: true },
  upper: { nargs: [1], fn: (a) => (a[0] === null ? null : toText(a[0]!)!.replace(/[a-z]+/g, (m) => m.toUpperCase())), deterministic: true },
  ltrim: { nargs: [1, 2], fn: trimFn('left'), deterministic: true },
  rtrim: { nargs: [1, 2], fn: trimFn('right'), deterministic: true },
  trim: { nargs: [1, 2], fn: trimFn('both'), deterministic: true },
  max: { nargs: [-2], fn: minmax(1), deterministic: true },
  min: { nargs: [-2], fn: minmax(-1), deterministic: true },
  printf: { nargs: any, fn: (a) => printf(a), deterministic: true },
  format: { nargs: any, fn: (a) => printf(a), deterministic: true },
  quote: { nargs: [1], fn: (a) => quoteValue(a[0]!), deterministic: true },
  random: { nargs: [0], fn: randomFn, deterministic: false },
  randomblob: { nargs: [1], fn: randomblobFn, deterministic: false },
  replace: { nargs: [3], fn: replaceFn, deterministic: true },
  round: { nargs: [1, 2], fn: roundFn, deterministic: true },
  sign: { nargs: [1], fn: signFn, deterministic: true },
  substr: { nargs: [2, 3], fn: substr, deterministic: true },
  substring: { nargs: [2, 3], fn: substr, deterministic: true },
  typeof: { nargs: [1], fn: (a) => typeName(a[0]!), deterministic: true },
  unicode: { nargs: [1], fn: unicodeFn, deterministic: true },
  zeroblob: { nargs: [1], fn: zeroblobFn, deterministic: true },
  likely: { nargs: [1], fn: (a) => a[0]!, deterministic: true },
  unlikely: { nargs: [1], fn: (a) => a[0]!, deterministic: true },
  likelihood: { nargs: [2], fn: (a) => a[0]!, deterministic: true },
  like: { nargs: [2, 3], fn: (a) => {
    if (a[0] instanceof Uint8Array || a[1] instanceof Uint8Array) return 0n;
    if (a[0] === null || a[1] === null || (a.length > 2 && a[2] === null)) return null;
    return likeMatch(toText(a[0]!)!, toText(a[1]!)!, a.length > 2 ? toText(a[2]!)! : undefined) ? 1n : 0n;
  }, deterministic: true },
  glob: { nargs: [2], fn: (a) => {
    if (a[0] instanceof Uint8Array || a[1] instanceof Uint8Array) return 0n;
    if (a[0] === null || a[1] === null) return null;
    return globMatch(toText(a[0]!)!, toText(a[1]!)!) ? 1n : 0n;
  }, deterministic: true },
  sqlite_version: { nargs: [0], fn: () => '3.53.2', deterministic: true },
  date: { nargs: any, fn: (a, c) => dateFn(a, c.now()), deterministic: false },
  time: { nargs: any, fn: (a, c) => timeFn(a, c.now()), deterministic: false },
  datetime: { nargs: any, fn: (a, c) => datetimeFn(a, c.now()), deterministic: false },
  julianday: { nargs: any, fn: (a, c) => juliandayFn(a, c.now()), deterministic: false },
  unixepoch: { nargs: any, fn: (a, c) => unixepochFn(a, c.now()), deterministic: false },
  strftime: { nargs: [-2], fn: (a, c) => strftimeFn(a, c.now()), deterministic: false },
  current_date: { nargs: [0], fn: (_a, c) => dateFn([], c.now()), deterministic: false },
  current_time: { nargs: [0], fn: (_a, c) => timeFn([], c.now()), deterministic: false },
  current_timestamp: { nargs: [0], fn: (_a, c) => datetimeFn([], c.now()), deterministic: false },
  ceil: { nargs: [1], fn: (a) => (typeof a[0] === 'bigint' ? a[0] : mathFn(Math.ceil)(a)), deterministic: true },
  ceiling: { nargs: [1], fn: (a) => (typeof a[0] === 'bigint' ? a[0] : mathFn(Math.ceil)(a)), deterministic: true },
  floor: { nargs: [1], fn: (a) => (typeof a[0] === 'bigint' ? a[0] : mathFn(Math.floor)(a)), deterministic: true },
  sqrt: { nargs: [1], fn: mathFn(Math.sqrt), deterministic: true },
  exp: { nargs: [1], fn: mathFn(Math.exp), deterministic: true },
  ln: { nargs: [1], fn: mathFn((x) => (x > 0 ? Math.log(x) : NaN)), deterministic: true },
  log10: { nargs: [1], fn: mathFn((x) => (x > 0 ? Math.log10(x) : NaN)), deterministic: true },
  log2: { nargs: [1], fn: mathFn((x) => (x > 0 ? Math.log2(x) : NaN)), deterministic: true },
  pow: { nargs: [2], fn: (a) => (a[0] === null || a[1] === null ? null : Math.pow(Number(toNumber(a[0]!)), Number(toNumber(a[1]!)))), deterministic: true },
  power: { nargs: [2], fn: (a) => (a[0] === null || a[1] === null ? null : Math.pow(Number(toNumber(a[0]!)), Number(toNumber(a[1]!)))), deterministic: true },
  pi: { nargs: [0], fn: () => Math.PI, deterministic: true },
};

// ---- LIKE and GLOB ----

/**
 * Runs a pattern matcher with memoisation over (pattern position, text position), so patterns such
 * as `%a%a%a%b` stay polynomial. `step(i, j, go)` decides pattern position i < plen against text
 * position j, calling `go` for the rest; the end of the pattern matches only the end of the text.
 */
function memoMatch(plen: number, tlen: number, step: (i: number, j: number, go: (i: number, j: number) => boolean) => boolean): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (tlen + 1) + j;
    const m = memo.get(key);
    if (m !== undefined) return m;
    const r = i === plen ? j === tlen : step(i, j, go);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** SQLite LIKE: case-insensitive for ASCII, `%` and `_` wildcards, optional escape character. */
export function likeMatch(pattern: string, text: string, esc: string | undefined): boolean {
  const p = codePoints(pattern), t = codePoints(text);
  const fold = (c: string): string => (c.length === 1 && c >= 'A' && c <= 'Z' ? c.toLowerCase() : c);
  return memoMatch(p.length, t.length, (i, j, go) => {
    const c = p[i]!;
    if (esc !== undefined && c === esc) return i + 1 < p.length && j < t.length && fold(p[i + 1]!) === fold(t[j]!) && go(i + 2, j + 1);
    if (c === '%') return go(i + 1, j) || (j < t.length && go(i, j + 1));
    if (c === '_') return j < t.length && go(i + 1, j + 1);
    return j < t.length && fold(c) === fold(t[j]!) && go(i + 1, j + 1);
  });
}

/** SQLite GLOB: case-sensitive, `*`, `?`, `[...]` classes with `^` negation and ranges. */
export function globMatch(pattern: string, text: string): boolean {
  const p = codePoints(pattern), t = codePoints(text);
  return memoMatch(p.length, t.length, (i, j, go) => {
    const c = p[i]!;
    if (c === '*') return go(i + 1, j) || (j < t.length && go(i, j + 1));
    if (c === '?') return j < t.length && go(i + 1, j + 1);
    if (c !== '[') return j < t.length && c === t[j] && go(i + 1, j + 1);
    let k = i + 1;
    let neg = false;
    if (p[k] === '^') { neg = true; k++; }
    let matched = false;
    let first = true;
    while (k < p.length && (p[k] !== ']' || first)) {
      first = false;
      if (p[k + 1] === '-' && k + 2 < p.length && p[k + 2] !== ']') {
        if (j < t.length && t[j]! >= p[k]! && t[j]! <= p[k + 2]!) matched = true;
        k += 3;
      } else {
        if (j < t.length && t[j] === p[k]) matched = true;
        k++;
      }
    }
    if (k >= p.length) return false;
    return j < t.length && matched !== neg && go(k + 1, j + 1);
  });
}

// ---- printf ----

function fmtInt(v: Value): bigint {
  if (v === null || v === undefined) return 0n;
  return toInteger(v) ?? 0n;
}

function groupThousands(s: string): string {
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** SQLite's printf(): C conversions plus %q, %Q, %w and the `!` and `,` flags. */
export function printf(args: Value[]): Value {
  if (args.length === 0 || args[0] === null) return null;
  const fmt = toText(args[0]!)!;
  let ai = 1;
  const next = (): Value => (ai < args.length ? args[ai++]! : null);
  let out = '';
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i]!;
    if (ch !== '%') { out += ch; continue; }
    i++;
    let minus = false, plus = false, space = false, zero = false, alt = false, bang = false, comma = false;
    for (; i < fmt.length; i++) {
      const f = fmt[i];
      if (f === '-') minus = true; else if (f === '+') plus = true; else if (f === ' ') space = true;
      else if (f === '0') zero = true; else if (f === '#') alt = true; else if (f === '!') bang = true;
      else if (f === ',') comma = true; else break;
    }
    let width = 0;
    if (fmt[i] === '*') { width = Number(fmtInt(next())); if (width < 0) { minus = true; width = -width; } i++; }
    else while (i < fmt.length && fmt[i]! >= '0' && fmt[i]! <= '9') width = width * 10 + Number(fmt[i++]);
    let prec: number | undefined;
    if (fmt[i] === '.') {
      i++;
      prec = 0;
      if (fmt[i] === '*') { prec = Number(fmtInt(next())); i++; }
      else while (i < fmt.length && fmt[i]! >= '0' && fmt[i]! <= '9') prec = prec * 10 + Number(fmt[i++]);
    }
    while (fmt[i] === 'l' || fmt[i] === 'h') i++;
    const conv = fmt[i];
    if (conv === undefined) break;
    let body = '';
    let numeric = false;
    let sign = '';
    switch (conv) {
      case '%': out += '%'; continue;
      case 'd': case 'i': case 'u': {
        numeric = true;
        let v = fmtInt(next());
        if (conv === 'u' && v < 0n) v = BigInt.asUintN(64, v);
        if (v < 0n) { sign = '-'; v = -v; } else if (plus) sign = '+'; else if (space) sign = ' ';
        body = v.toString();
        if (prec !== undefined && body.length < prec) body = '0'.repeat(prec - body.length) + body;
        if (comma) body = groupThousands(body);
        break;
      }
      case 'x': case 'X': case 'o': {
        numeric = true;
        const v = BigInt.asUintN(64, fmtInt(next()));
        body = v.toString(conv === 'o' ? 8 : 16);
        if (conv === 'X') body = body.toUpperCase();
        if (prec !== undefined && body.length < prec) body = '0'.repeat(prec - body.length) + body;
        if (alt && v !== 0n) body = (conv === 'o' ? '0' : conv === 'x' ? '0x' : '0X') + body;
        break;
      }
      case 'f': case 'e': case 'E': case 'g': case 'G': {
        numeric = true;
        const a = next();
        let x = a === null ? 0 : toReal(a)!;
        if (x < 0 || Object.is(x, -0)) { sign = '-'; x = -x; } else if (plus) sign = '+'; else if (space) sign = ' ';
        const p = prec ?? 6;
        if (!Number.isFinite(x)) { body = Number.isNaN(x) ? 'NaN' : 'Inf'; break; }
        if (conv === 'f') body = x.toFixed(Math.min(p, 100));
        else if (conv === 'e' || conv === 'E') body = cExp(x, p, conv === 'E');
        else {
          const P = p === 0 ? 1 : p;
          const exp = x === 0 ? 0 : Math.floor(Math.log10(Number(x.toExponential(P - 1).split('e')[0]) === 10 ? x * 10 : x));
          const e2 = x === 0 ? 0 : Number(x.toExponential(P - 1).split('e')[1]);
          void exp;
          if (e2 < -4 || e2 >= P) {
            body = cExp(x, P - 1, conv === 'G');
            if (!alt && !bang) body = body.replace(/\.?0+(e|E)/, '$1');
          } else {
            body = x.toFixed(Math.max(0, P - 1 - e2));
            if (!alt && !bang && body.includes('.')) body = body.replace(/\.?0+$/, '');
          }
          if (bang && !body.includes('.') && !/[eE]/.test(body)) body += '.0';
          else if (bang && !body.includes('.')) body = body.replace(/([eE])/, '.0$1');
        }
        if (comma) { const [ip, fp] = body.split('.'); body = groupThousands(ip!) + (fp !== undefined ? `.${fp}` : ''); }
        break;
      }
      case 'c': {
        const a = next();
        const s = a === null ? '' : toText(a)!;
        const c = s ? codePoints(s)[0]! : '';
        body = c.repeat(prec !== undefined && prec > 0 ? prec : 1);
        if (prec === 0) body = c;
        break;
      }
      case 's': case 'z': {
        const a = next();
        body = a === null ? '' : cstr(toText(a)!);
        if (prec !== undefined) body = codePoints(body).slice(0, prec).join('');
        break;
      }
      case 'q': case 'Q': case 'w': {
        const a = next();
        if (a === null) body = conv === 'Q' ? 'NULL' : conv === 'q' ? '(NULL)' : '';
        else {
          let s = toText(a)!;
          if (prec !== undefined) s = codePoints(s).slice(0, prec).join('');
          const qch = conv === 'w' ? '"' : "'";
          s = s.split(qch).join(qch + qch);
          body = conv === 'Q' ? `'${s}'` : s;
        }
        break;
      }
      default:
        // An unknown conversion ends the output, as in SQLite.
        return out;
    }
    const full = sign + body;
    if (full.length >= width) { out += full; continue; }
    if (minus) out += full + ' '.repeat(width - full.length);
    else if (zero && numeric) out += sign + '0'.repeat(width - full.length) + body;
    else out += ' '.repeat(width - full.length) + full;
  }
  return out;
}

function cExp(x: number, p: number, upper: boolean): string {
  const s = x.toExponential(Math.min(p, 100));
  const [m, e] = s.split('e');
  const n = Number(e);
  const r = `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  return upper ? r.toUpperCase() : r;
}

// ---- aggregates ----

export interface Accumulator {
  step(args: Value[]): void;
  final(): Value;
}

export type AggFactory = (coll: Collation) => Accumulator;

/**
 * sum(), total() and avg() as SQLite computes them: exact 64-bit integer sums until a non-integer
 * input or an overflow, then Kahan-Babuska-Neumaier compensated summation (same steps, same
 * rounding, so results match SQLite to the last bit).
 */
class SumAcc implements Accumulator {
  private isum = 0n;
  private rsum = 0;
  private rerr = 0;
  private approx = false;
  private ovrfl = false;
  private cnt = 0;
  constructor(private readonly kind: 'sum' | 'total' | 'avg') {}
  private kbn(r: number): void {
    const s = this.rsum;
    const t = s + r;
    if (Math.abs(s) > Math.abs(r)) this.rerr += (s - t) + r;
    else this.rerr += (r - t) + s;
    this.rsum = t;
  }
  private kbnInt(v: bigint): void {
    if (v <= -4503599627370496n || v >= 4503599627370496n) {
      const sm = v % 16384n;
      this.kbn(Number(v - sm));
      this.kbn(Number(sm));
    } else this.kbn(Number(v));
  }
  private init(v: bigint): void {
    if (v <= -4503599627370496n || v >= 4503599627370496n) {
      const sm = v % 16384n;
      this.rsum = Number(v - sm);
      this.rerr = Number(sm);
    } else { this.rsum = Number(v); this.rerr = 0; }
  }
  step(args: Value[]): void {
    let v = args[0]!;
    if (v === null) return;
    this.cnt++;
    // Text that reads as an integer counts as one (sqlite3_value_numeric_type).
    if (typeof v === 'string') { const n = textToNumeric(v); if (typeof n === 'bigint') v = n; }
    if (!this.approx) {
      if (typeof v !== 'bigint') {
        this.init(this.isum);
        this.approx = true;
        this.kbn(Number(toNumber(v)!));
      } else {
        const x = this.isum + v;
        if (x >= INT64_MIN && x <= INT64_MAX) this.isum = x;
        else {
          this.ovrfl = true;
          this.init(this.isum);
          this.approx = true;
          this.kbnInt(v);
        }
      }
    } else if (typeof v === 'bigint') this.kbnInt(v);
    else { this.ovrfl = false; this.kbn(Number(toNumber(v)!)); }
  }
  private real(): number {
    return Number.isFinite(this.rerr) ? this.rsum + this.rerr : this.rsum;
  }
  final(): Value {
    if (this.kind === 'total') return this.approx ? this.real() : Number(this.isum);
    if (this.cnt === 0) return null;
    if (this.kind === 'avg') return (this.approx ? this.real() : Number(this.isum)) / this.cnt;
    if (this.approx) {
      if (this.ovrfl) throw sqlError('integer overflow');
      return this.real();
    }
    return this.isum;
  }
}

class CountAcc implements Accumulator {
  n = 0n;
  constructor(private readonly star: boolean) {}
  step(args: Value[]): void { if (this.star || args[0] !== null) this.n++; }
  final(): Value { return this.n; }
}

export class MinMaxAcc implements Accumulator {
  best: Value = null;
  has = false;
  /** Set when the last step replaced the value: bare columns then follow this row (SQLite). */
  hit = false;
  constructor(private readonly sign: number, private readonly coll: Collation) {}
  step(args: Value[]): void {
    const v = args[0]!;
    if (v === null) return;
    if (!this.has || compareValues(v, this.best, this.coll) * this.sign > 0) { this.best = v; this.has = true; this.hit = true; }
  }
  final(): Value { return this.best; }
}

class GroupConcatAcc implements Accumulator {
  parts: string[] = [];
  seps: string[] = [];
  blob = false;
  constructor(private readonly defSep: string | undefined) {}
  step(args: Value[]): void {
    const v = args[0]!;
    if (v === null) return;
    if (this.parts.length) {
      const sep = args.length > 1 ? (args[1] === null ? '' : toText(args[1]!)!) : (this.defSep ?? ',');
      this.seps.push(sep);
    }
    this.parts.push(toText(v)!);
  }
  final(): Value {
    if (this.parts.length === 0) return null;
    let s = this.parts[0]!;
    for (let i = 1; i < this.parts.length; i++) s += this.seps[i - 1]! + this.parts[i]!;
    return s;
  }
}

/** Aggregate functions by name and allowed argument count. */
export const AGGREGATES: Record<string, { nargs: number[]; make: (coll: Collation, star: boolean) => Accumulator }> = {
  count: { nargs: [0, 1], make: (_c, star) => new CountAcc(star) },
  sum: { nargs: [1], make: () => new SumAcc('sum') },
  total: { nargs: [1], make: () => new SumAcc('total') },
  avg: { nargs: [1], make: () => new SumAcc('avg') },
  min: { nargs: [1], make: (c) => new MinMaxAcc(-1, c) },
  max: { nargs: [1], make: (c) => new MinMaxAcc(1, c) },
  group_concat: { nargs: [1, 2], make: () => new GroupConcatAcc(undefined) },
  string_agg: { nargs: [2], make: () => new GroupConcatAcc(undefined) },
};

export { add as addValues, fromUtf8, utf8 };
