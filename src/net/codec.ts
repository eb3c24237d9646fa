/**
 * Byte writer and reader for the wire format: big-endian fixed integers and QUIC's variable-length
 * integers (RFC 9000 section 16: the top two bits of the first byte give the length, 1/2/4/8 bytes).
 * Values are JS numbers, so varints are limited to 2^53 - 1 here.
 */

/** Thrown by Reader on truncated or malformed input; callers turn it into a silent drop or a close. */
export class DecodeError extends Error {}

export function varintSize(v: number): number {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x40000000) return 4;
  return 8;
}

export class Writer {
  buf: Uint8Array;
  pos = 0;

  /** A capacity allocates a fresh buffer; a buffer is reused as is (the caller owns its lifetime). */
  constructor(capacityOrBuffer: number | Uint8Array = 256) {
    this.buf = typeof capacityOrBuffer === 'number' ? new Uint8Array(capacityOrBuffer) : capacityOrBuffer;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    const b = this.buf, p = this.pos;
    b[p] = v >>> 24; b[p + 1] = v >>> 16; b[p + 2] = v >>> 8; b[p + 3] = v;
    this.pos += 4;
    return this;
  }

  /** A 64-bit big-endian unsigned integer from a non-negative safe integer. */
  u64(v: number): this {
    this.u32(Math.floor(v / 0x100000000) >>> 0);
    return this.u32(v >>> 0);
  }

  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint out of range: ${v}`);
    if (v < 0x40) return this.u8(v);
    if (v < 0x4000) {
      this.ensure(2);
      this.buf[this.pos++] = 0x40 | (v >>> 8);
      this.buf[this.pos++] = v & 0xff;
      return this;
    }
    if (v < 0x40000000) return this.u32((0x80000000 | v) >>> 0);
    this.u32((0xc0000000 | Math.floor(v / 0x100000000)) >>> 0);
    return this.u32(v >>> 0);
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

export class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new DecodeError('truncated');
    return this.buf[this.pos++]!;
  }

  u32(): number {
    if (this.pos + 4 > this.end) throw new DecodeError('truncated');
    const b = this.buf, p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  u64(): number {
    const hi = this.u32(), lo = this.u32();
    if (hi >= 0x200000) throw new DecodeError('64-bit value beyond 2^53');
    return hi * 0x100000000 + lo;
  }

  varint(): number {
    const first = this.u8();
    const kind = first >>> 6;
    let v = first & 0x3f;
    if (kind === 0) return v;
    if (kind === 1) return (v << 8) | this.u8();
    if (kind === 2) {
      if (this.pos + 3 > this.end) throw new DecodeError('truncated');
      const b = this.buf, p = this.pos;
      this.pos += 3;
      return ((v << 24) | (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!) >>> 0;
    }
    const hi = (v << 24 | this.u8() << 16 | this.u8() << 8 | this.u8()) >>> 0;
    if (hi >= 0x200000) throw new DecodeError('varint beyond 2^53');
    return hi * 0x100000000 + this.u32();
  }

  bytes(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.end) throw new DecodeError('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
