/**
 * Byte formats of the SQL layer (documented in docs/FORMATS.md, "SQL rows, indexes and metadata"): the record codec that stores a
 * row (and, later, carries values on the wire), and the order-preserving key codec whose byte order
 * (memcmp) equals SQLite's value order, so the key-value store's ordering is the index's ordering.
 */
import { latin1 } from '../storage/kv.ts';
import { sqlError } from './errors.ts';
import { collationKey, type Collation, type Value } from './value.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A growable byte buffer. */
export class ByteWriter {
  buf: Uint8Array;
  len = 0;
  private view: DataView;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  reset(): void { this.len = 0; }
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
  byte(b: number): void { this.ensure(1); this.buf[this.len++] = b; }
  bytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    // Short runs (key prefixes) copy faster by hand than through TypedArray.prototype.set.
    if (n <= 16) { const buf = this.buf; for (let i = 0; i < n; i++) buf[this.len + i] = b[i]!; } else this.buf.set(b, this.len);
    this.len += n;
  }
  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) { this.buf[this.len++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128); }
    this.buf[this.len++] = n;
  }
  f64(x: number): void { this.ensure(8); this.view.setFloat64(this.len, x); this.len += 8; }
  u32(x: number): void { this.ensure(4); this.view.setUint32(this.len, x); this.len += 4; }
  /** UTF-8 of `s`, preceded by its byte length as a varint. */
  text(s: string): void {
    // ASCII fast path: most text is ASCII and TextEncoder's call overhead dominates short strings.
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
    if (ascii) {
      this.varint(n);
      this.ensure(n);
      for (let i = 0; i < n; i++) this.buf[this.len++] = s.charCodeAt(i);
      return;
    }
    const b = encoder.encode(s);
    this.varint(b.length);
    this.bytes(b);
  }
  /** A copy of the written bytes. Not `slice`: its species lookup makes it the slowest way to copy. */
  result(): Uint8Array {
    const n = this.len, buf = this.buf;
    const out = new Uint8Array(n);
    if (n <= 64) for (let i = 0; i < n; i++) out[i] = buf[i]!;
    else out.set(buf.subarray(0, n));
    return out;
  }
}

export { latin1 };

// ---- record codec ----

const TAG_NULL = 0x00;
// 0x01..0x08: INTEGER in that many big-endian two's-complement bytes.
const TAG_REAL = 0x09;
const TAG_TEXT = 0x0a;
const TAG_BLOB = 0x0b;

function intBytes(v: bigint): number {
  if (v >= -128n && v <= 127n) return 1;
  if (v >= -32768n && v <= 32767n) return 2;
  if (v >= -8388608n && v <= 8388607n) return 3;
  if (v >= -2147483648n && v <= 2147483647n) return 4;
  if (v >= -549755813888n && v <= 549755813887n) return 5;
  if (v >= -140737488355328n && v <= 140737488355327n) return 6;
  if (v >= -36028797018963968n && v <= 36028797018963967n) return 7;
  return 8;
}

export function writeValue(w: ByteWriter, v: Value): void {
  if (v === null) { w.byte(TAG_NULL); return; }
  switch (typeof v) {
    case 'bigint': {
      const n = intBytes(v);
      w.ensure(n + 1);
      w.buf[w.len++] = n;
      if (n <= 6) {
        // Safe-integer path: plain number arithmetic is far cheaper than bigint shifts.
        let x = Number(v);
        if (x < 0) x += 2 ** (8 * n);
        for (let i = n - 1; i >= 0; i--) { w.buf[w.len + i] = x % 256; x = Math.floor(x / 256); }
      } else {
        let x = BigInt.asUintN(64, v);
        for (let i = n - 1; i >= 0; i--) { w.buf[w.len + i] = Number(x & 0xffn); x >>= 8n; }
      }
      w.len += n;
      return;
    }
    case 'number': w.byte(TAG_REAL); w.f64(v); return;
    case 'string': w.byte(TAG_TEXT); w.text(v); return;
    default: w.byte(TAG_BLOB); w.varint(v.length); w.bytes(v); return;
  }
}

const shared = new ByteWriter(256);

/** Encodes a record: varint count, then each value as tag + payload. */
export function encodeRecord(values: readonly Value[]): Uint8Array {
  const w = shared;
  w.reset();
  w.varint(values.length);
  for (let i = 0; i < values.length; i++) writeValue(w, values[i]!);
  return w.result();
}

export class ByteReader {
  pos = 0;
  private dv: DataView | undefined;
  constructor(readonly buf: Uint8Array) {}
  /** Made on first use: most records hold no REAL, and a DataView per row is not free. */
  private get view(): DataView {
    return (this.dv ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }
  varint(): number {
    let n = 0, mul = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw corrupt();
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  }
  value(): Value {
    const buf = this.buf;
    if (this.pos >= buf.length) throw corrupt();
    const tag = buf[this.pos++]!;
    if (tag === TAG_NULL) return null;
    if (tag <= 8) {
      if (this.pos + tag > buf.length) throw corrupt();
      if (tag <= 6) {
        let x = 0;
        for (let i = 0; i < tag; i++) x = x * 256 + buf[this.pos + i]!;
        const half = 2 ** (8 * tag - 1);
        if (x >= half) x -= 2 * half;
        this.pos += tag;
        return BigInt(x);
      }
      let x = 0n;
      for (let i = 0; i < tag; i++) x = (x << 8n) | BigInt(buf[this.pos + i]!);
      this.pos += tag;
      return BigInt.asIntN(tag * 8, x);
    }
    if (tag === TAG_REAL) {
      if (this.pos + 8 > buf.length) throw corrupt();
      const r = this.view.getFloat64(this.pos);
      this.pos += 8;
      return r;
    }
    if (tag === TAG_TEXT || tag === TAG_BLOB) {
      const n = this.varint();
      const start = this.pos, end = start + n;
      if (end > buf.length) throw corrupt();
      this.pos = end;
      if (tag === TAG_BLOB) return buf.slice(start, end);
      let ascii = true;
      for (let i = start; i < end; i++) if (buf[i]! > 0x7f) { ascii = false; break; }
      if (ascii && n <= 64) return latin1(buf, start, end);
      return decoder.decode(buf.subarray(start, end));
    }
    throw corrupt();
  }
}

function corrupt(): Error {
  return sqlError('database disk image is malformed: a stored record could not be decoded');
}

export function decodeRecord(bytes: Uint8Array): Value[] {
  const r = new ByteReader(bytes);
  const n = r.varint();
  const out: Value[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = r.value();
  return out;
}

// ---- key codec ----

export const KEY_NULL = 0x05;
export const KEY_NUM = 0x10;
export const KEY_TEXT = 0x20;
export const KEY_BLOB = 0x30;

const f64buf = new DataView(new ArrayBuffer(8));

function writeOrderedDouble(w: ByteWriter, d: number): void {
  if (d === 0) d = 0; // -0 and +0 are one value
  f64buf.setFloat64(0, d);
  w.ensure(8);
  const neg = (f64buf.getUint8(0) & 0x80) !== 0;
  for (let i = 0; i < 8; i++) {
    const b = f64buf.getUint8(i);
    w.buf[w.len++] = neg ? 0xff - b : i === 0 ? b ^ 0x80 : b;
  }
}

/** Largest double not above the integer `v`, and the (small, non-negative) integer remainder. */
function splitInt(v: bigint): [number, number] {
  let d = Number(v);
  if (Number.isSafeInteger(d)) return [d, 0];
  let bd = BigInt(d);
  if (bd > v) {
    // Step down one ulp: doubles here are integers with a power-of-two spacing.
    const down = nextDown(d);
    d = down;
    bd = BigInt(d);
  }
  return [d, Number(v - bd)];
}

function nextDown(d: number): number {
  f64buf.setFloat64(0, d);
  const hi = f64buf.getUint32(0), lo = f64buf.getUint32(4);
  // Positive: decrement the bit pattern; negative: increment its magnitude.
  let big = (BigInt(hi) << 32n) | BigInt(lo);
  big = d > 0 ? big - 1n : big + 1n;
  f64buf.setUint32(0, Number(big >> 32n));
  f64buf.setUint32(4, Number(big & 0xffffffffn));
  return f64buf.getFloat64(0);
}

function writeEscaped(w: ByteWriter, b: Uint8Array | string): void {
  // 0x00 becomes 0x00 0xFF so that the terminator 0x00 0x00 sorts before any continuation.
  if (typeof b === 'string') {
    let ascii = true;
    for (let i = 0; i < b.length; i++) { const c = b.charCodeAt(i); if (c > 0x7f || c === 0) { ascii = false; break; } }
    if (ascii) {
      w.ensure(b.length + 2);
      for (let i = 0; i < b.length; i++) w.buf[w.len++] = b.charCodeAt(i);
      w.buf[w.len++] = 0; w.buf[w.len++] = 0;
      return;
    }
    b = encoder.encode(b);
  }
  w.ensure(b.length * 2 + 2);
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    w.buf[w.len++] = c;
    if (c === 0) w.buf[w.len++] = 0xff;
  }
  w.buf[w.len++] = 0; w.buf[w.len++] = 0;
}

/** Appends one value in memcmp order; `desc` inverts its bytes so the order reverses. */
export function writeKeyValue(w: ByteWriter, v: Value, coll: Collation = 'BINARY', desc = false): void {
  const start = w.len;
  if (v === null) w.byte(KEY_NULL);
  else if (typeof v === 'bigint') {
    w.byte(KEY_NUM);
    const [d, r] = splitInt(v);
    writeOrderedDouble(w, d);
    w.ensure(2);
    w.buf[w.len++] = r >> 8; w.buf[w.len++] = r & 0xff;
  } else if (typeof v === 'number') {
    w.byte(KEY_NUM);
    writeOrderedDouble(w, v);
    w.ensure(2);
    w.buf[w.len++] = 0; w.buf[w.len++] = 0;
  } else if (typeof v === 'string') {
    w.byte(KEY_TEXT);
    writeEscaped(w, coll === 'BINARY' ? v : collationKey(v, coll));
  } else {
    w.byte(KEY_BLOB);
    writeEscaped(w, v);
  }
  if (desc) for (let i = start; i < w.len; i++) w.buf[i] = 0xff - w.buf[i]!;
}

/** 8-byte big-endian rowid with the sign bit flipped, so negative rowids sort first. */
export function writeRowid(w: ByteWriter, rowid: bigint): void {
  w.ensure(8);
  let hi: number, lo: number;
  if (rowid >= -9007199254740991n && rowid <= 9007199254740991n) {
    // Safe-integer path: every bigint operation below would allocate; number arithmetic does not.
    const v = Number(rowid);
    const h = Math.floor(v / 4294967296);
    lo = v - h * 4294967296;
    hi = (h ^ 0x80000000) >>> 0;
  } else {
    const x = BigInt.asUintN(64, rowid) ^ 0x8000000000000000n;
    hi = Number(x >> 32n); lo = Number(x & 0xffffffffn);
  }
  const b = w.buf, p = w.len;
  b[p] = hi >>> 24; b[p + 1] = (hi >>> 16) & 0xff; b[p + 2] = (hi >>> 8) & 0xff; b[p + 3] = hi & 0xff;
  b[p + 4] = lo >>> 24; b[p + 5] = (lo >>> 16) & 0xff; b[p + 6] = (lo >>> 8) & 0xff; b[p + 7] = lo & 0xff;
  w.len += 8;
}

export function readRowid(b: Uint8Array, at: number): bigint {
  const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
  // The high word with the sign bit restored, as a signed 32-bit number.
  const h = (hi ^ 0x80000000) | 0;
  if (h >= -0x200000 && h < 0x200000) return BigInt(h * 4294967296 + lo);
  return BigInt.asIntN(64, ((BigInt(hi) << 32n) | BigInt(lo)) ^ 0x8000000000000000n);
}

// ---- key space layout ----

/** Prefix of every key that belongs to a table or index b-tree (id = rootpage). */
export const SPACE_TREE = 0x02;
/** Prefix of metadata keys (schema cookie, id counter). */
export const SPACE_META = 0x01;

export function treePrefix(id: number): Uint8Array {
  const b = new Uint8Array(5);
  b[0] = SPACE_TREE;
  new DataView(b.buffer).setUint32(1, id);
  return b;
}

/** The first key after every key that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const b = prefix.slice();
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) { b[i]!++; return b.subarray(0, i + 1).slice(); }
  }
  return new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

const keyWriter = new ByteWriter(64);

export function rowKey(prefix: Uint8Array, rowid: bigint): Uint8Array {
  const w = keyWriter;
  w.reset();
  w.bytes(prefix);
  writeRowid(w, rowid);
  return w.result();
}

/** Key prefix of an index entry for `values` (without the rowid suffix). */
export function indexKeyPrefix(prefix: Uint8Array, values: readonly Value[], colls: readonly Collation[], descs: readonly boolean[]): Uint8Array {
  const w = keyWriter;
  w.reset();
  w.bytes(prefix);
  for (let i = 0; i < values.length; i++) writeKeyValue(w, values[i]!, colls[i], descs[i]);
  return w.result();
}

export function indexKey(prefix: Uint8Array, values: readonly Value[], colls: readonly Collation[], descs: readonly boolean[], rowid: bigint): Uint8Array {
  const w = keyWriter;
  w.reset();
  w.bytes(prefix);
  for (let i = 0; i < values.length; i++) writeKeyValue(w, values[i]!, colls[i], descs[i]);
  writeRowid(w, rowid);
  return w.result();
}

/** A string usable as a Map key, equal exactly when the values are equal under the collations. */
export function groupKey(values: readonly Value[], colls?: readonly Collation[]): string {
  const w = keyWriter;
  w.reset();
  for (let i = 0; i < values.length; i++) writeKeyValue(w, values[i]!, colls ? colls[i] : 'BINARY');
  let s = '';
  for (let i = 0; i < w.len; i++) s += String.fromCharCode(w.buf[i]!);
  return s;
}
