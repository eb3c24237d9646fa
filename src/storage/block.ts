/**
 * Table data blocks: entries sorted by (key ascending, sequence descending) with keys
 * prefix-compressed against the previous entry, and a restart point (a whole key) every
 * RESTART_INTERVAL entries. Blocks are decoded whole into arrays and cached that way, so both
 * directions of iteration and binary search run on plain arrays.
 */
import { ByteReader, ByteWriter, corrupt } from './codec.ts';
import { compareBytes } from './kv.ts';
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
    this.w.varint(shared);
    this.w.varint(key.length - shared);
    this.w.varint(value.length);
    this.w.varint(seq);
    this.w.u8(del ? 1 : 0);
    this.w.bytes(key.subarray(shared));
    this.w.bytes(value);
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

export interface Block {
  readonly keys: Uint8Array[];
  readonly seqs: number[];
  readonly dels: Uint8Array;
  readonly values: Uint8Array[];
  /** Approximate memory the decoded block holds, for the cache's byte limit. */
  readonly bytes: number;
}

export function decodeBlock(p: Uint8Array, what: string): Block {
  if (p.length < 4) throw corrupt(`${what} is too short`);
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const nr = dv.getUint32(p.length - 4, true);
  const end = p.length - 4 - 4 * nr;
  if (end < 0) throw corrupt(`${what} has a bad restart count`);
  const r = new ByteReader(p.subarray(0, end), what);
  const keys: Uint8Array[] = [], seqs: number[] = [], values: Uint8Array[] = [];
  const delList: number[] = [];
  let last: Uint8Array = new Uint8Array(0);
  let ri = 0;
  while (!r.done) {
    const at = r.pos;
    const shared = r.varint(), unshared = r.varint(), vlen = r.varint(), seq = r.varint(), del = r.u8();
    const isRestart = ri < nr && dv.getUint32(end + 4 * ri, true) === at;
    if (isRestart) ri++;
    if (shared > last.length || (isRestart && shared !== 0)) throw corrupt(`${what} has a bad key prefix`);
    const suffix = r.bytes(unshared);
    let key: Uint8Array;
    if (shared === 0) key = suffix;
    else {
      key = new Uint8Array(shared + unshared);
      key.set(last.subarray(0, shared), 0);
      key.set(suffix, shared);
    }
    const prev = keys.length ? keys[keys.length - 1]! : undefined;
    if (prev) {
      const c = compareBytes(prev, key);
      if (c > 0 || (c === 0 && seqs[seqs.length - 1]! <= seq)) throw corrupt(`${what} is out of order`);
    }
    keys.push(key);
    seqs.push(seq);
    delList.push(del);
    values.push(r.bytes(vlen));
    last = key;
  }
  if (ri !== nr) throw corrupt(`${what} has restart points that match no entry`);
  return { keys, seqs, dels: Uint8Array.from(delList), values, bytes: p.length + keys.length * 64 + 128 };
}

/** First index in `keys` whose key is >= `key`. */
export function lowerBound(keys: readonly Uint8Array[], key: Uint8Array): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

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
