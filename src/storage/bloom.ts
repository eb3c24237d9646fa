/** A bloom filter over user keys, one per table: skips tables that cannot hold a key. */
import { hashBytes } from './kv.ts';
import { BLOOM_BITS_PER_KEY } from './limits.ts';

/** 32-bit hash of a key: FNV-1a (`hashBytes`) with murmur3's finaliser for avalanche. */
export function keyHash(key: Uint8Array): number {
  let h = hashBytes(key);
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Builds the filter bytes: the bit array followed by one byte holding the probe count. */
export function buildBloom(hashes: readonly number[], bitsPerKey = BLOOM_BITS_PER_KEY): Uint8Array {
  const k = Math.max(1, Math.min(30, Math.round(bitsPerKey * 0.69)));
  // A power of two of bits, so a probe is a mask rather than a division.
  let nbits = 64;
  while (nbits < hashes.length * bitsPerKey && nbits < 2 ** 31) nbits *= 2;
  const bytes = nbits / 8;
  const out = new Uint8Array(bytes + 1);
  const mask = nbits - 1;
  for (let i = 0; i < hashes.length; i++) {
    let h = hashes[i]!;
    // Double hashing: k probes from one hash, as LevelDB does.
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const bit = h & mask;
      out[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  out[bytes] = k;
  return out;
}

export function bloomMayContain(filter: Uint8Array, hash: number): boolean {
  if (filter.length < 2) return true;
  const k = filter[filter.length - 1]!;
  const nbits = (filter.length - 1) * 8;
  if ((nbits & (nbits - 1)) !== 0) return true;
  const mask = nbits - 1;
  let h = hash;
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < k; j++) {
    const bit = h & mask;
    if ((filter[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}
