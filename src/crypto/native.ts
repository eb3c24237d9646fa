import * as nodeCrypto from 'node:crypto';
import { Buffer } from 'node:buffer';
import type { CryptoBackend } from './backend.ts';
import { TrineError } from './errors.ts';

function buf(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function out(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// Keys enter node:crypto as JWK: OpenSSL 3's DER decoder costs ~1 ms per private key here, JWK
// import ~0.1 ms. A private JWK must carry an `x`; node derives the real public half from `d`, so a
// placeholder is given (the start-up self-test in suite.ts checks the derived key against noble).
const privateKeys = new Map<string, nodeCrypto.KeyObject>();
const PRIVATE_KEY_CACHE = 64;

function privateKeyObject(priv: Uint8Array): nodeCrypto.KeyObject {
  const d = buf(priv).toString('base64url');
  let k = privateKeys.get(d);
  if (!k) {
    k = nodeCrypto.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: d }, format: 'jwk' });
    if (privateKeys.size >= PRIVATE_KEY_CACHE) privateKeys.delete(privateKeys.keys().next().value!);
    privateKeys.set(d, k);
  }
  return k;
}

function publicKeyObject(pub: Uint8Array): nodeCrypto.KeyObject {
  return nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: buf(pub).toString('base64url') }, format: 'jwk' });
}

function blake2sNative(...parts: Uint8Array[]): Uint8Array {
  const h = nodeCrypto.createHash('blake2s256');
  for (const p of parts) h.update(buf(p));
  return out(h.digest());
}

/** RFC 2104 HMAC over BLAKE2s (64-byte block), for runtimes whose createHmac lacks blake2s256 (Bun). */
function hmacByHand(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k0 = new Uint8Array(64);
  k0.set(key.length > 64 ? blake2sNative(key) : key);
  const ipad = k0.map((x) => x ^ 0x36);
  const opad = k0.map((x) => x ^ 0x5c);
  return blake2sNative(opad, blake2sNative(ipad, data));
}

const hmacNative = (() => {
  try {
    nodeCrypto.createHmac('blake2s256', Buffer.alloc(1)).update('x').digest();
    return true;
  } catch {
    return false;
  }
})();

function sealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, sealed: Uint8Array): void {
  const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  // update() has no output parameter: its result is copied once, into the caller's buffer.
  const body = c.update(plaintext);
  const tail = c.final();
  sealed.set(body, 0);
  if (tail.length) sealed.set(tail, body.length);
  sealed.set(c.getAuthTag(), plaintext.length);
}

const lowOrder = () => new TrineError('CRYPTO_LOW_ORDER_KEY', 'the peer sent an invalid X25519 public key; the connection was refused');

export const nativeBackend: CryptoBackend = {
  name: 'native',
  // node:crypto takes Uint8Arrays as they are: wrapping each in a Buffer first cost four objects
  // per packet on the transport's hot path.
  chachaSeal(key, nonce, plaintext, ad) {
    const sealed = new Uint8Array(plaintext.length + 16);
    sealInto(key, nonce, plaintext, ad, sealed);
    return sealed;
  },
  chachaSealInto(key, nonce, plaintext, ad, sealed) {
    if (sealed.length !== plaintext.length + 16) throw new RangeError('chachaSealInto: output must be plaintext length + 16');
    sealInto(key, nonce, plaintext, ad, sealed);
  },
  chachaOpen(key, nonce, sealed, ad) {
    if (sealed.length < 16) return undefined;
    try {
      const d = nodeCrypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      d.setAAD(ad, { plaintextLength: sealed.length - 16 });
      const body = d.update(sealed.subarray(0, sealed.length - 16));
      d.final();
      return out(body);
    } catch {
      return undefined;
    }
  },
  chachaOpenInto(key, nonce, sealed, ad, plain) {
    if (sealed.length < 16) return false;
    if (plain.length !== sealed.length - 16) throw new RangeError('chachaOpenInto: output must be sealed length - 16');
    const body = nativeBackend.chachaOpen(key, nonce, sealed, ad);
    if (!body) return false;
    plain.set(body);
    return true;
  },
  x25519(privateKey, publicKey) {
    let shared: Buffer;
    try {
      shared = nodeCrypto.diffieHellman({
        privateKey: privateKeyObject(privateKey),
        publicKey: publicKeyObject(publicKey),
      });
    } catch (e) {
      throw new TrineError('CRYPTO_LOW_ORDER_KEY', 'the peer sent an invalid X25519 public key; the connection was refused', { cause: e });
    }
    let d = 0;
    for (let i = 0; i < shared.length; i++) d |= shared[i]!;
    if (d === 0) throw lowOrder();
    return out(shared);
  },
  x25519Public(privateKey) {
    const jwk = nodeCrypto.createPublicKey(privateKeyObject(privateKey)).export({ format: 'jwk' });
    return out(Buffer.from(jwk.x as string, 'base64url'));
  },
  blake2s(data) {
    return blake2sNative(data);
  },
  hmacBlake2s(key, data) {
    if (hmacNative) return out(nodeCrypto.createHmac('blake2s256', buf(key)).update(buf(data)).digest());
    return hmacByHand(key, data);
  },
};
