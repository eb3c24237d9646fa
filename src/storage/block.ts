/**
 * Table data blocks: entries sorted by (key ascending, sequence descending) with keys
 * prefix-compressed against the previous entry, and a restart point (a whole key) every
 * RESTART_INTERVAL entries. Blocks are decoded whole into arrays and cached that way, so both
 * directions of iteration and binary search run on plain arrays.
 */
import { ByteWriter, corrupt } from './codec.ts';
import { compareBytes, lowerBound } from './kv.ts';
import { RESTART_INTERVAL } from './limits.ts';

export class BlockBuilder {
  private readonly w = new ByteWriter(8192);
  private restarts: number[] = [];
  private last: Uint8Array = new Uint8Array(0);
  count = 0;

  add(key: Uint8Array, seq: number, del: boolean, value: Uint8Array): void {
    let shared = 0;
    if (this.count % RESTART_INTERVAL === 0) {
      this.restarts.push(this.w.len);
    } else {
      const n = Math.min(key.length, this.last.length);
      while (shared < n && key[shared] === this.last[shared]) shared++;
    }
    const w = this.w;
    w.ensure(41 + key.length + value.length);
    w.varintUnchecked(shared);
    w.varintUnchecked(key.length - shared);
    w.varintUnchecked(value.length);
    w.varintUnchecked(seq);
    w.buf[w.len++] = del ? 1 : 0;
    for (let i = shared; i < key.length; i++) w.buf[w.len++] = key[i]!;
    w.buf.set(value, w.len);
    w.len += value.length;
    this.last = key;
    this.count++;
  }

  /** Plaintext bytes the block would take if finished now. */
  size(): number {
    return this.w.len + 4 * this.restarts.length + 4;
  }

  finish(): Uint8Array {
    for (const r of this.restarts) this.w.u32(r);
    this.w.u32(this.restarts.length);
    const out = this.w.finish();
    this.w.reset();
    this.restarts = [];
    this.count = 0;
    this.last = new Uint8Array(0);
    return out;
  }
}

/**
 * A decoded block: keys rebuilt whole into one arena, everything else in typed arrays over the
 * plaintext. Nothing is allocated per entry, so a point read decodes a block without garbage.
 */
export class DecodedBlock {
  constructor(
    readonly n: number,
    private readonly arena: Uint8Array,
    /** Key i is arena[keyOff[i] .. keyOff[i + 1]). */
    private readonly keyOff: Int32Array,
    readonly seqs: Float64Array,
    readonly dels: Uint8Array,
    private readonly plain: Uint8Array,
    private readonly valOff: Int32Array,
    private readonly valLen: Int32Array,
  ) {}

  /** Memory of the arrays (the plaintext they point into is the block's). */
  get bytes(): number {
    return this.seqs.buffer.byteLength + DECODED_OVERHEAD;
  }

  key(i: number): Uint8Array {
    return this.arena.subarray(this.keyOff[i]!, this.keyOff[i + 1]!);
  }

  value(i: number): Uint8Array {
    const o = this.valOff[i]!;
    return this.plain.subarray(o, o + this.valLen[i]!);
  }

  /** memcmp of key i against `key`. */
  compare(i: number, key: Uint8Array): number {
    const a = this.arena;
    let p = this.keyOff[i]!;
    const la = this.keyOff[i + 1]! - p;
    const n = la < key.length ? la : key.length;
    for (let j = 0; j < n; j++, p++) {
      const d = a[p]! - key[j]!;
      if (d !== 0) return d;
    }
    return la - key.length;
  }

  /** True when entries i and j have the same key. */
  sameKey(i: number, j: number): boolean {
    const a = this.arena, o = this.keyOff;
    const pi = o[i]!, pj = o[j]!, len = o[i + 1]! - pi;
    if (len !== o[j + 1]! - pj) return false;
    for (let k = 0; k < len; k++) if (a[pi + k] !== a[pj + k]) return false;
    return true;
  }

  /** First entry whose key is >= key. */
  lowerBound(key: Uint8Array): number {
    let lo = 0, hi = this.n;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (this.compare(mid, key) < 0) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** First entry whose key is > key. */
  upperBound(key: Uint8Array): number {
    let lo = 0, hi = this.n;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (this.compare(mid, key) <= 0) lo = mid + 1; else hi = mid; }
    return lo;
  }
}

/**
 * A block as cached: its plaintext, searched in place through the restart points for point reads
 * (no decoding, no garbage), and decoded whole only when a cursor walks it.
 */
export class Block {
  private dec: DecodedBlock | undefined;
  private readonly nr: number;
  private readonly end: number;
  private readonly dv: DataView;
  constructor(private readonly plain: Uint8Array, private readonly what: string) {
    if (plain.length < 4) throw corrupt(`${what} is too short`);
    this.dv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    this.nr = this.dv.getUint32(plain.length - 4, true);
    this.end = plain.length - 4 - 4 * this.nr;
    if (this.end < 0 || (this.nr === 0 && this.end > 0)) throw corrupt(`${what} has a bad restart count`);
  }

  /** Memory held (plaintext, plus the decoded arrays once a cursor asked for them), for the cache byte limit. */
  get bytes(): number {
    return this.plain.length + BLOCK_OVERHEAD + (this.dec ? this.dec.bytes : 0);
  }

  get isDecoded(): boolean {
    return this.dec !== undefined;
  }

  get decoded(): DecodedBlock {
    return (this.dec ??= decodeBlock(this.plain, this.what));
  }

  /** memcmp of the key stored whole at restart `r` against `key`. */
  private compareRestart(r: number, key: Uint8Array): number {
    const p = this.plain, end = this.end, what = this.what;
    vpos = this.dv.getUint32(end + 4 * r, true);
    if (readVarint(p, end, what) !== 0) throw corrupt(`${what} has a restart with a shared prefix`);
    const klen = readVarint(p, end, what);
    readVarint(p, end, what); readVarint(p, end, what);
    const o = vpos + 1;
    if (o + klen > end) throw corrupt(`${what} ends inside an entry`);
    const n = klen < key.length ? klen : key.length;
    for (let j = 0; j < n; j++) { const d = p[o + j]! - key[j]!; if (d !== 0) return d; }
    return klen - key.length;
  }

  /** The newest version of `key` at or below `snap` in this block, if any. */
  find(key: Uint8Array, snap: number): { del: boolean; value: Uint8Array } | undefined {
    if (this.dec) {
      const b = this.dec;
      for (let i = b.lowerBound(key); i < b.n && b.compare(i, key) === 0; i++) if (b.seqs[i]! <= snap) return { del: b.dels[i] === 1, value: b.value(i) };
      return undefined;
    }
    if (this.nr === 0) return undefined;
    // Start at the last restart whose key is below `key`: the newest version comes after it.
    let lo = 0, hi = this.nr - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.compareRestart(mid, key) < 0) lo = mid; else hi = mid - 1;
    }
    const p = this.plain, end = this.end, what = this.what, klen = key.length;
    vpos = this.dv.getUint32(end + 4 * lo, true);
    // Walk the entries without rebuilding keys: `eq` is how many leading bytes of the current key
    // equal `key`'s (keys ascend, so once an entry sorts above `key` none further can match).
    let eq = 0, curLen = 0;
    while (vpos < end) {
      const shared = readVarint(p, end, what), unshared = readVarint(p, end, what), vlen = readVarint(p, end, what);
      const seq = readVarint(p, end, what);
      const del = p[vpos++]!;
      const ks = vpos;
      if (ks + unshared + vlen > end || shared > curLen) throw corrupt(`${what} has a bad entry`);
      vpos += unshared + vlen;
      curLen = shared + unshared;
      // C[0..shared) is the previous key's prefix, whose first `eq` bytes equal `key`'s.
      let c: number;
      if (shared > eq) {
        // C equals the previous key past `eq`, where that key sorted below `key`.
        c = -1;
      } else {
        // C[0..shared) equals key[0..shared): compare from `shared` on.
        const n = curLen < klen ? curLen : klen;
        let j = shared;
        c = 0;
        for (; j < n; j++) { const d = p[ks + j - shared]! - key[j]!; if (d !== 0) { c = d; break; } }
        eq = j;
        if (c === 0) c = curLen - klen;
      }
      if (c > 0) return undefined;
      if (c === 0 && seq <= snap) return { del: del === 1, value: p.subarray(ks + unshared, ks + unshared + vlen) };
    }
    return undefined;
  }
}

/** Read position of `readVarint` (module state, not an object per call: block reads and decodes are synchronous). */
let vpos = 0;

function readVarint(p: Uint8Array, end: number, what: string): number {
  if (vpos >= end) throw corrupt(`${what} ends inside an entry`);
  const b = p[vpos++]!;
  if (b < 0x80) return b;
  let v = b & 0x7f, mul = 0x80;
  for (let i = 1; i < 8; i++) {
    if (vpos >= end) throw corrupt(`${what} ends inside an entry`);
    const c = p[vpos++]!;
    v += (c & 0x7f) * mul;
    if (c < 0x80) return v;
    mul *= 0x80;
  }
  throw corrupt(`${what} holds an overlong varint`);
}

/** Approximate bytes of the objects around a cached block and around its decoded arrays. */
const BLOCK_OVERHEAD = 200;
const DECODED_OVERHEAD = 400;

export function decodeBlock(p: Uint8Array, what: string): DecodedBlock {
  if (p.length < 4) throw corrupt(`${what} is too short`);
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const nr = dv.getUint32(p.length - 4, true);
  const end = p.length - 4 - 4 * nr;
  if (end < 0) throw corrupt(`${what} has a bad restart count`);
  // Pass 1 sizes everything, so pass 2 fills one allocation (typed arrays are costly to allocate).
  vpos = 0;
  let n = 0, keyBytes = 0;
  while (vpos < end) {
    const shared = readVarint(p, end, what), unshared = readVarint(p, end, what), vlen = readVarint(p, end, what);
    readVarint(p, end, what);
    vpos += 1 + unshared + vlen;
    if (vpos > end) throw corrupt(`${what} ends inside an entry`);
    keyBytes += shared + unshared;
    n++;
  }
  const buf = new ArrayBuffer(n * 8 + (n + 1) * 4 + n * 8 + n + keyBytes);
  let o = 0;
  const seqs = new Float64Array(buf, o, n); o += n * 8;
  const keyOff = new Int32Array(buf, o, n + 1); o += (n + 1) * 4;
  const valOff = new Int32Array(buf, o, n); o += n * 4;
  const valLen = new Int32Array(buf, o, n); o += n * 4;
  const dels = new Uint8Array(buf, o, n); o += n;
  const arena = new Uint8Array(buf, o, keyBytes);
  let alen = 0, prevStart = 0, prevLen = 0, ri = 0;
  vpos = 0;
  for (let i = 0; i < n; i++) {
    const start = vpos;
    const shared = readVarint(p, end, what), unshared = readVarint(p, end, what), vlen = readVarint(p, end, what);
    const seq = readVarint(p, end, what);
    const del = p[vpos++]!;
    const isRestart = ri < nr && dv.getUint32(end + 4 * ri, true) === start;
    if (isRestart) ri++;
    if (shared > prevLen || (isRestart && shared !== 0) || (i === 0 && !isRestart) || del > 1) throw corrupt(`${what} has a bad entry at ${start}`);
    const klen = shared + unshared;
    arena.copyWithin(alen, prevStart, prevStart + shared);
    arena.set(p.subarray(vpos, vpos + unshared), alen + shared);
    vpos += unshared;
    // Entries must ascend by key, and by descending sequence within a key.
    if (i > 0) {
      let c = 0;
      const m = prevLen < klen ? prevLen : klen;
      for (let j = shared; j < m && c === 0; j++) c = arena[prevStart + j]! - arena[alen + j]!;
      if (c === 0) c = prevLen - klen;
      if (c > 0 || (c === 0 && seqs[i - 1]! <= seq)) throw corrupt(`${what} is out of order`);
    }
    keyOff[i] = alen;
    seqs[i] = seq;
    dels[i] = del;
    valOff[i] = vpos;
    valLen[i] = vlen;
    vpos += vlen;
    prevStart = alen; prevLen = klen;
    alen += klen;
  }
  if (ri !== nr) throw corrupt(`${what} has restart points that match no entry`);
  keyOff[n] = alen;
  return new DecodedBlock(n, arena, keyOff, seqs, dels, p, valOff, valLen);
}

export { lowerBound };

/** First index in `keys` whose key is > `key`. */
export function upperBound(keys: readonly Uint8Array[], key: Uint8Array): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
