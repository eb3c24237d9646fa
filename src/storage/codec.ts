/** Little-endian integers and varints over growable byte buffers, shared by every file format. */
import { TrineError } from '../crypto/index.ts';

export class ByteWriter {
  buf: Uint8Array;
  len = 0;
  private dv: DataView;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
  }
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
    this.dv = new DataView(nb.buffer);
  }
  u8(v: number): void { this.ensure(1); this.buf[this.len++] = v; }
  u32(v: number): void { this.ensure(4); this.dv.setUint32(this.len, v, true); this.len += 4; }
  /** Integers up to 2^53, stored as 8 bytes little-endian. */
  u64(v: number): void {
    this.ensure(8);
    this.dv.setUint32(this.len, v % 0x100000000, true);
    this.dv.setUint32(this.len + 4, Math.floor(v / 0x100000000), true);
    this.len += 8;
  }
  varint(v: number): void {
    this.ensure(8);
    this.varintUnchecked(v);
  }
  /** A varint without the capacity check: the caller has called `ensure`. */
  varintUnchecked(v: number): void {
    const b = this.buf;
    let l = this.len;
    if (v < 0x80) { b[l++] = v; this.len = l; return; }
    if (v < 0x100000000) {
      while (v >= 0x80) { b[l++] = (v & 0x7f) | 0x80; v >>>= 7; }
    } else {
      while (v >= 0x80) { b[l++] = (v % 0x80) | 0x80; v = Math.floor(v / 0x80); }
    }
    b[l++] = v;
    this.len = l;
  }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; }
  /** Length-prefixed bytes. */
  blob(b: Uint8Array): void { this.varint(b.length); this.bytes(b); }
  reset(): void { this.len = 0; }
  finish(): Uint8Array { return this.buf.slice(0, this.len); }
  view(): Uint8Array { return this.buf.subarray(0, this.len); }
}

export class ByteReader {
  pos = 0;
  private readonly dv: DataView;
  constructor(readonly buf: Uint8Array, private readonly what: string) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw corrupt(`${this.what} ends early`);
  }
  get done(): boolean { return this.pos >= this.buf.length; }
  u8(): number { this.need(1); return this.buf[this.pos++]!; }
  u32(): number { this.need(4); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(): number {
    this.need(8);
    const lo = this.dv.getUint32(this.pos, true), hi = this.dv.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi * 0x100000000 + lo;
  }
  varint(): number {
    let v = 0, mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
    throw corrupt(`${this.what} holds an overlong varint`);
  }
  bytes(n: number): Uint8Array { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  blob(): Uint8Array { return this.bytes(this.varint()); }
}

/** The error every integrity failure raises: data on disk is not what this engine wrote. */
export function corrupt(detail: string): TrineError {
  return new TrineError('STORAGE_CORRUPT', `storage corruption: ${detail}; restore this node from a backup or let it rejoin the cluster from a snapshot`);
}

export function writeU64(b: Uint8Array, off: number, v: number): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  dv.setUint32(off, v % 0x100000000, true);
  dv.setUint32(off + 4, Math.floor(v / 0x100000000), true);
}

export function readU64(b: Uint8Array, off: number): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return dv.getUint32(off + 4, true) * 0x100000000 + dv.getUint32(off, true);
}

/** Byte equality with an early exit (keys are not secrets; crypto's equalBytes is constant-time). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}
