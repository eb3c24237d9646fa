/**
 * The cipher suite Trine uses everywhere: ChaCha20-Poly1305 and XChaCha20-Poly1305 AEAD, X25519,
 * BLAKE2s with HMAC and Noise's HKDF, SHA-256 and scrypt.
 *
 * Each runtime-dependent primitive is taken from node:crypto when this runtime implements it and
 * passes a known-answer test, and from @noble otherwise. The choice is made once, at import.
 * TRINE_CRYPTO=noble forces the pure-JS backend (tests use it to cover both).
 */
import * as nodeCrypto from 'node:crypto';
import process from 'node:process';
import { hchacha } from '@noble/ciphers/chacha.js';
import { scrypt as nobleScrypt } from '@noble/hashes/scrypt.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { type CryptoBackend, KEY_BYTES, NONCE_BYTES, XNONCE_BYTES } from './backend.ts';
import { nativeBackend } from './native.ts';
import { nobleBackend } from './noble.ts';
import { equalBytes, fromHex } from './bytes.ts';
import { TrineError } from './errors.ts';

// Known answers, from RFC 8439 section 2.8.2, RFC 7748 section 5.2 and the BLAKE2 reference.
const KAT = {
  aeadKey: fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
  aeadNonce: fromHex('070000004041424344454647'),
  aeadAd: fromHex('50515253c0c1c2c3c4c5c6c7'),
  aeadPt: new TextEncoder().encode('Ladies and Gentlemen of the class of \'99: If I could offer you only one tip for the future, sunscreen would be it.'),
  aeadTag: fromHex('1ae10b594f09e26a7e902ecbd0600691'),
  xScalar: fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
  xU: fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
  xOut: fromHex('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'),
  b2sAbc: fromHex('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982'),
};

function works(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

function choose(): { backend: CryptoBackend; report: Record<string, 'native' | 'noble'> } {
  const forced = process.env['TRINE_CRYPTO'];
  const n = nativeBackend;
  const useNative = forced !== 'noble';
  const aead = useNative && works(() => {
    const sealed = n.chachaSeal(KAT.aeadKey, KAT.aeadNonce, KAT.aeadPt, KAT.aeadAd);
    const opened = n.chachaOpen(KAT.aeadKey, KAT.aeadNonce, sealed, KAT.aeadAd);
    return equalBytes(sealed.subarray(sealed.length - 16), KAT.aeadTag) && !!opened && equalBytes(opened, KAT.aeadPt);
  });
  const dh = useNative && works(() => equalBytes(n.x25519(KAT.xScalar, KAT.xU), KAT.xOut)
    && equalBytes(n.x25519Public(KAT.xScalar), nobleBackend.x25519Public(KAT.xScalar)));
  const hash = useNative && works(() => equalBytes(n.blake2s(new TextEncoder().encode('abc')), KAT.b2sAbc)
    && equalBytes(n.hmacBlake2s(KAT.aeadKey, KAT.aeadPt), nobleBackend.hmacBlake2s(KAT.aeadKey, KAT.aeadPt)));
  const pick = (ok: boolean) => (ok ? n : nobleBackend);
  const backend: CryptoBackend = {
    name: aead && dh && hash ? 'native' : 'noble',
    chachaSeal: pick(aead).chachaSeal,
    chachaOpen: pick(aead).chachaOpen,
    chachaSealInto: pick(aead).chachaSealInto,
    chachaOpenInto: pick(aead).chachaOpenInto,
    x25519: pick(dh).x25519,
    x25519Public: pick(dh).x25519Public,
    blake2s: pick(hash).blake2s,
    hmacBlake2s: pick(hash).hmacBlake2s,
  };
  return { backend, report: { aead: aead ? 'native' : 'noble', x25519: dh ? 'native' : 'noble', blake2s: hash ? 'native' : 'noble' } };
}

const chosen = choose();

/** The backend in use; `backendReport` says which implementation serves each primitive. */
export const backend: CryptoBackend = chosen.backend;
export const backendReport: Readonly<Record<string, 'native' | 'noble'>> = chosen.report;

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new TrineError('CRYPTO_BAD_KEY', `an AEAD key must be ${KEY_BYTES} bytes, got ${key.length}`);
}

/** ChaCha20-Poly1305 seal: ciphertext || tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
  checkKey(key);
  if (nonce.length !== NONCE_BYTES) throw new TrineError('CRYPTO_BAD_NONCE', `a ChaCha20-Poly1305 nonce must be ${NONCE_BYTES} bytes`);
  return backend.chachaSeal(key, nonce, plaintext, ad);
}

/** ChaCha20-Poly1305 open; undefined when the tag does not verify. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array | undefined {
  checkKey(key);
  if (nonce.length !== NONCE_BYTES) throw new TrineError('CRYPTO_BAD_NONCE', `a ChaCha20-Poly1305 nonce must be ${NONCE_BYTES} bytes`);
  return backend.chachaOpen(key, nonce, sealed, ad);
}

/** aeadSeal writing ciphertext || tag into `out` (plaintext.length + 16 bytes, not overlapping the plaintext). */
export function aeadSealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, out: Uint8Array): void {
  checkKey(key);
  if (nonce.length !== NONCE_BYTES) throw new TrineError('CRYPTO_BAD_NONCE', `a ChaCha20-Poly1305 nonce must be ${NONCE_BYTES} bytes`);
  backend.chachaSealInto(key, nonce, plaintext, ad, out);
}

/** aeadOpen writing the plaintext into `out` (sealed.length - 16 bytes); false when the tag does not verify. */
export function aeadOpenInto(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array, out: Uint8Array): boolean {
  checkKey(key);
  if (nonce.length !== NONCE_BYTES) throw new TrineError('CRYPTO_BAD_NONCE', `a ChaCha20-Poly1305 nonce must be ${NONCE_BYTES} bytes`);
  return backend.chachaOpenInto(key, nonce, sealed, ad, out);
}

const EMPTY = new Uint8Array(0);
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function u32le(b: Uint8Array): Uint32Array {
  const out = new Uint32Array(b.length / 4);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint32(4 * i, true);
  return out;
}

/** HChaCha20 (XChaCha draft, section 2.2): derives a subkey from a key and the first 16 nonce bytes. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const o = new Uint32Array(8);
  hchacha(SIGMA, u32le(key), u32le(nonce16), o);
  const out = new Uint8Array(32);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) dv.setUint32(4 * i, o[i]!, true);
  return out;
}

function xParams(key: Uint8Array, nonce: Uint8Array): [Uint8Array, Uint8Array] {
  checkKey(key);
  if (nonce.length !== XNONCE_BYTES) throw new TrineError('CRYPTO_BAD_NONCE', `an XChaCha20-Poly1305 nonce must be ${XNONCE_BYTES} bytes`);
  const sub = hchacha20(key, nonce.subarray(0, 16));
  const n12 = new Uint8Array(12);
  n12.set(nonce.subarray(16, 24), 4);
  return [sub, n12];
}

/** XChaCha20-Poly1305 seal (24-byte random-safe nonce): ciphertext || tag. */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
  const [sub, n12] = xParams(key, nonce);
  return backend.chachaSeal(sub, n12, plaintext, ad);
}

/** XChaCha20-Poly1305 open; undefined when the tag does not verify. */
export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array | undefined {
  const [sub, n12] = xParams(key, nonce);
  return backend.chachaOpen(sub, n12, sealed, ad);
}

/** X25519 Diffie-Hellman. */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (privateKey.length !== 32 || publicKey.length !== 32) throw new TrineError('CRYPTO_BAD_KEY', 'X25519 keys are 32 bytes');
  return backend.x25519(privateKey, publicKey);
}

export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== 32) throw new TrineError('CRYPTO_BAD_KEY', 'an X25519 private key is 32 bytes');
  return backend.x25519Public(privateKey);
}

export function blake2s(data: Uint8Array): Uint8Array {
  return backend.blake2s(data);
}

export function hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array {
  return backend.hmacBlake2s(key, data);
}

/**
 * HKDF as the Noise spec (section 4.3) defines it, over any HMAC: `outputs` (2 or 3) keys derived
 * from `chainingKey` and `input`. It is RFC 5869's extract-then-expand with salt = chainingKey and
 * an empty info, cut at whole hash lengths.
 */
export function hkdfWith(mac: (key: Uint8Array, data: Uint8Array) => Uint8Array, chainingKey: Uint8Array, input: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const temp = mac(chainingKey, input);
  const o1 = mac(temp, Uint8Array.of(1));
  const buf = new Uint8Array(o1.length + 1);
  buf.set(o1, 0); buf[o1.length] = 2;
  const o2 = mac(temp, buf);
  if (outputs === 2) return [o1, o2];
  buf.set(o2, 0); buf[o2.length] = 3;
  return [o1, o2, mac(temp, buf)];
}

/** Noise's HKDF over HMAC-BLAKE2s. */
export function hkdf(chainingKey: Uint8Array, input: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  return hkdfWith(backend.hmacBlake2s, chainingKey, input, outputs);
}

const hasNativeSha256 = works(() => nodeCrypto.createHash('sha256').update('abc').digest('hex').startsWith('ba7816bf'));

export function sha256(data: Uint8Array): Uint8Array {
  if (hasNativeSha256) {
    const d = nodeCrypto.createHash('sha256').update(data).digest();
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  return nobleSha256(data);
}

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** scrypt (RFC 7914) to `length` bytes. */
export function scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams, length = 32): Uint8Array {
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  try {
    const d = nodeCrypto.scryptSync(password, salt, length, { N: params.N, r: params.r, p: params.p, maxmem });
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  } catch {
    // This runtime lacks native scrypt or refused the parameters: the pure-JS one computes the same.
    return nobleScrypt(password, salt, { N: params.N, r: params.r, p: params.p, dkLen: length, maxmem });
  }
}
