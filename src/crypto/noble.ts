import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import type { CryptoBackend } from './backend.ts';
import { TrineError } from './errors.ts';

function isZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i]!;
  return d === 0;
}

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  chachaSeal(key, nonce, plaintext, ad) {
    return chacha20poly1305(key, nonce, ad).encrypt(plaintext);
  },
  chachaOpen(key, nonce, sealed, ad) {
    if (sealed.length < 16) return undefined;
    try {
      return chacha20poly1305(key, nonce, ad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  chachaSealInto(key, nonce, plaintext, ad, sealed) {
    if (sealed.length !== plaintext.length + 16) throw new RangeError('chachaSealInto: output must be plaintext length + 16');
    chacha20poly1305(key, nonce, ad).encrypt(plaintext, sealed);
  },
  chachaOpenInto(key, nonce, sealed, ad, plain) {
    if (sealed.length < 16) return false;
    if (plain.length !== sealed.length - 16) throw new RangeError('chachaOpenInto: output must be sealed length - 16');
    try {
      chacha20poly1305(key, nonce, ad).decrypt(sealed, plain);
      return true;
    } catch {
      return false;
    }
  },
  x25519(privateKey, publicKey) {
    let out: Uint8Array;
    try {
      out = x25519.getSharedSecret(privateKey, publicKey);
    } catch (e) {
      throw new TrineError('CRYPTO_LOW_ORDER_KEY', 'the peer sent an invalid X25519 public key; the connection was refused', { cause: e });
    }
    if (isZero(out)) throw new TrineError('CRYPTO_LOW_ORDER_KEY', 'the peer sent an invalid X25519 public key; the connection was refused');
    return out;
  },
  x25519Public(privateKey) {
    return x25519.getPublicKey(privateKey);
  },
  blake2s(data) {
    return blake2s(data);
  },
  hmacBlake2s(key, data) {
    return hmac(blake2s, key, data);
  },
};
