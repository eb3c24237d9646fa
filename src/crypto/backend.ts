/**
 * The primitives whose speed depends on the runtime. Two implementations pass the same vectors:
 * `native` (node:crypto, where the runtime has chacha20-poly1305 and X25519: Node and Deno) and
 * `noble` (pure JS, everywhere; Bun lacks chacha20-poly1305). One is chosen at start by a
 * self-test (see suite.ts).
 */
export interface CryptoBackend {
  readonly name: 'native' | 'noble';
  /** ChaCha20-Poly1305 (RFC 8439): 32-byte key, 12-byte nonce; returns ciphertext || 16-byte tag. */
  chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** The inverse of chachaSeal; undefined when authentication fails. */
  chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined;
  /**
   * chachaSeal writing ciphertext || tag into `out` (exactly plaintext.length + 16 bytes, not
   * overlapping the plaintext), so a caller that frames the result (a packet header before it)
   * needs no second buffer and no second copy.
   */
  chachaSealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, out: Uint8Array): void;
  /**
   * chachaOpen writing the plaintext into `out` (exactly sealed.length - 16 bytes, not overlapping
   * `sealed`); false when authentication fails, and `out` then holds nothing meaningful.
   */
  chachaOpenInto(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array, out: Uint8Array): boolean;
  /** X25519 scalar multiplication (RFC 7748). Throws on an all-zero (low-order) result. */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** X25519 public key of a 32-byte private key. */
  x25519Public(privateKey: Uint8Array): Uint8Array;
  blake2s(data: Uint8Array): Uint8Array;
  hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array;
}

export const TAG_BYTES = 16;
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const XNONCE_BYTES = 24;
