/**
 * Noise CipherState for ChaChaPoly (Noise spec, section 5.1): a key and a 64-bit nonce counter.
 * The nonce is encoded as 32 zero bits followed by the counter little-endian (section 12.3).
 */
import { aeadOpen, aeadSeal, TrineError } from '../crypto/index.ts';

const EMPTY = new Uint8Array(0);
/** Nonces are kept as JS numbers; 2^53 messages under one key is far beyond any rekey interval. */
export const MAX_NONCE = Number.MAX_SAFE_INTEGER;

/** Writes the 12-byte ChaChaPoly nonce for counter `n` into `out` (reused to avoid allocation). */
export function encodeNonce(n: number, out: Uint8Array = new Uint8Array(12)): Uint8Array {
  out[0] = 0; out[1] = 0; out[2] = 0; out[3] = 0;
  let lo = n >>> 0;
  let hi = Math.floor(n / 0x100000000) >>> 0;
  for (let i = 0; i < 4; i++) { out[4 + i] = lo & 0xff; lo >>>= 8; }
  for (let i = 0; i < 4; i++) { out[8 + i] = hi & 0xff; hi >>>= 8; }
  return out;
}

// The rekey nonce is 2^64-1, which a JS number cannot hold exactly.
const REKEY_NONCE = Uint8Array.of(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export class CipherState {
  private k: Uint8Array | undefined;
  /** The next nonce used by encryptWithAd/decryptWithAd. */
  n = 0;
  private readonly nonceBuf = new Uint8Array(12);

  constructor(key?: Uint8Array) {
    this.k = key;
  }

  clone(): CipherState {
    const c = new CipherState(this.k);
    c.n = this.n;
    return c;
  }

  hasKey(): boolean {
    return this.k !== undefined;
  }

  initializeKey(key: Uint8Array | undefined): void {
    this.k = key;
    this.n = 0;
  }

  /** Encrypts with the internal counter, then advances it. Without a key the plaintext passes through (spec). */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.k) return plaintext;
    const out = this.sealAt(this.n, ad, plaintext);
    this.n++;
    return out;
  }

  /** Decrypts with the internal counter; undefined on failure, and the counter does not advance then. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    if (!this.k) return ciphertext;
    const out = this.openAt(this.n, ad, ciphertext);
    if (out) this.n++;
    return out;
  }

  /**
   * Seals under an explicit nonce. The transport uses packet numbers as nonces, so packets can be
   * opened out of order; the caller guarantees a nonce is never used twice under one key.
   */
  sealAt(nonce: number, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const k = this.requireKey();
    if (nonce > MAX_NONCE || nonce < 0) throw new TrineError('NOISE_NONCE_EXHAUSTED', 'the session used up its nonces; reconnect to get fresh keys');
    return aeadSeal(k, encodeNonce(nonce, this.nonceBuf), plaintext, ad);
  }

  openAt(nonce: number, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    const k = this.requireKey();
    if (nonce > MAX_NONCE || nonce < 0) return undefined;
    return aeadOpen(k, encodeNonce(nonce, this.nonceBuf), ciphertext, ad);
  }

  /** Replaces the key with a one-way function of itself (spec section 4.2, REKEY). */
  rekey(): void {
    const k = this.requireKey();
    this.k = aeadSeal(k, REKEY_NONCE, new Uint8Array(32), EMPTY).subarray(0, 32);
  }

  private requireKey(): Uint8Array {
    if (!this.k) throw new TrineError('NOISE_NO_KEY', 'this cipher state has no key yet; finish the handshake first');
    return this.k;
  }
}
