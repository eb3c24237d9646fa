/**
 * Both crypto backends against the standards' published vectors: RFC 8439 (ChaCha20-Poly1305),
 * RFC 7748 (X25519), draft-irtf-cfrg-xchacha-03 (HChaCha20, XChaCha20-Poly1305), the BLAKE2
 * reference values, RFC 5869 (HKDF construction), RFC 7914 (scrypt), FIPS 180-2 (SHA-256).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac, createCipheriv } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { nativeBackend } from '../../src/crypto/native.ts';
import { nobleBackend } from '../../src/crypto/noble.ts';
import type { CryptoBackend } from '../../src/crypto/backend.ts';
import { fromHex, toHex, utf8, concatBytes } from '../../src/crypto/bytes.ts';
import { hchacha20, hkdfWith, scrypt, sha256, xaeadOpen, xaeadSeal, backendReport } from '../../src/crypto/suite.ts';

const SUNSCREEN = utf8("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");

function nativeHas(what: 'aead' | 'x25519' | 'blake2s'): boolean {
  try {
    if (what === 'aead') { createCipheriv('chacha20-poly1305', Buffer.alloc(32), Buffer.alloc(12), { authTagLength: 16 }); return true; }
    if (what === 'x25519') { nativeBackend.x25519Public(new Uint8Array(32).fill(9)); return true; }
    nativeBackend.blake2s(new Uint8Array(0));
    return true;
  } catch {
    return false;
  }
}

const backends: [string, CryptoBackend, (w: 'aead' | 'x25519' | 'blake2s') => boolean][] = [
  ['native', nativeBackend, nativeHas],
  ['noble', nobleBackend, () => true],
];

for (const [name, b, has] of backends) {
  const t = (what: 'aead' | 'x25519' | 'blake2s', title: string, fn: () => void) =>
    (has(what) ? test : test.skip)(`${name}: ${title}`, fn);

  t('aead', 'RFC 8439 2.8.2 ChaCha20-Poly1305 seal matches the published ciphertext and tag', () => {
    const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = fromHex('070000004041424344454647');
    const ad = fromHex('50515253c0c1c2c3c4c5c6c7');
    const sealed = b.chachaSeal(key, nonce, SUNSCREEN, ad);
    assert.is(toHex(sealed),
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b'
      + '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc'
      + '3ff4def08e4b7a9de576d26586cec64b6116' + '1ae10b594f09e26a7e902ecbd0600691');
    assert.equal(b.chachaOpen(key, nonce, sealed, ad), SUNSCREEN);
  });

  t('aead', 'RFC 8439 2.8.2 vector through sealInto/openInto: caller buffers at an offset, tampering refused', () => {
    const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = fromHex('070000004041424344454647');
    const ad = fromHex('50515253c0c1c2c3c4c5c6c7');
    const expected = b.chachaSeal(key, nonce, SUNSCREEN, ad);
    // Sealed into the middle of a larger buffer (a packet after its header): the bytes around it stay.
    const packet = new Uint8Array(7 + SUNSCREEN.length + 16 + 3).fill(0xee);
    b.chachaSealInto(key, nonce, SUNSCREEN, ad, packet.subarray(7, 7 + SUNSCREEN.length + 16));
    assert.is(toHex(packet.subarray(7, 7 + SUNSCREEN.length + 16)),
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b'
      + '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc'
      + '3ff4def08e4b7a9de576d26586cec64b6116' + '1ae10b594f09e26a7e902ecbd0600691');
    assert.is(toHex(packet.subarray(7, 7 + expected.length)), toHex(expected));
    assert.ok(packet.subarray(0, 7).every((x) => x === 0xee) && packet.subarray(packet.length - 3).every((x) => x === 0xee));
    const plain = new Uint8Array(SUNSCREEN.length);
    assert.ok(b.chachaOpenInto(key, nonce, expected, ad, plain));
    assert.equal(plain, SUNSCREEN);
    const bad = expected.slice();
    bad[5]! ^= 1;
    assert.not.ok(b.chachaOpenInto(key, nonce, bad, ad, new Uint8Array(SUNSCREEN.length)));
    assert.not.ok(b.chachaOpenInto(key, nonce, expected, fromHex('50515253c0c1c2c3c4c5c6c8'), new Uint8Array(SUNSCREEN.length)));
    assert.throws(() => b.chachaSealInto(key, nonce, SUNSCREEN, ad, new Uint8Array(SUNSCREEN.length)));
  });

  t('aead', 'RFC 8439 A.5 ChaCha20-Poly1305 decryption vector opens to the draft text', () => {
    const key = fromHex('1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0');
    const nonce = fromHex('000000000102030405060708');
    const ad = fromHex('f33388860000000000004e91');
    const ct = fromHex('64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b');
    const tag = fromHex('eead9d67890cbb22392336fea1851f38');
    const pt = b.chachaOpen(key, nonce, concatBytes(ct, tag), ad);
    assert.ok(pt, 'authentic message must open');
    assert.ok(new TextDecoder().decode(pt!).startsWith('Internet-Drafts are draft documents valid for a maximum of six months'));
  });

  t('aead', 'a flipped bit in ciphertext, tag or associated data fails to open', () => {
    const key = new Uint8Array(32).fill(7), nonce = new Uint8Array(12).fill(1), ad = utf8('ad');
    const sealed = b.chachaSeal(key, nonce, SUNSCREEN, ad);
    for (const i of [0, 50, sealed.length - 1]) {
      const bad = sealed.slice(); bad[i]! ^= 1;
      assert.is(b.chachaOpen(key, nonce, bad, ad), undefined);
    }
    assert.is(b.chachaOpen(key, nonce, sealed, utf8('aD')), undefined);
    assert.is(b.chachaOpen(key, nonce, sealed.subarray(0, 10), ad), undefined);
  });

  t('x25519', 'RFC 7748 5.2 scalar multiplication vectors', () => {
    assert.is(toHex(b.x25519(
      fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
      fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'))),
    'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    assert.is(toHex(b.x25519(
      fromHex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
      fromHex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'))),
    '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
  });

  t('x25519', 'RFC 7748 6.1 Diffie-Hellman: public keys and the shared secret', () => {
    const a = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bb = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const A = b.x25519Public(a), B = b.x25519Public(bb);
    assert.is(toHex(A), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    assert.is(toHex(B), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    assert.is(toHex(b.x25519(a, B)), k);
    assert.is(toHex(b.x25519(bb, A)), k);
  });

  t('x25519', 'a low-order public key (all zeros) is refused with a coded error', () => {
    assert.throws(() => b.x25519(new Uint8Array(32).fill(3), new Uint8Array(32)), (e: any) => e.code === 'CRYPTO_LOW_ORDER_KEY');
  });

  t('blake2s', 'BLAKE2s-256 reference digests of "" and "abc"', () => {
    assert.is(toHex(b.blake2s(new Uint8Array(0))), '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9');
    assert.is(toHex(b.blake2s(utf8('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  t('blake2s', 'HMAC-BLAKE2s equals RFC 2104 HMAC computed by hand (64-byte block)', () => {
    for (const keyLen of [0, 16, 32, 64, 100]) {
      const key = new Uint8Array(keyLen).map((_, i) => i * 7 + 1);
      const msg = utf8(`message for key length ${keyLen}`);
      const k0 = new Uint8Array(64);
      k0.set(keyLen > 64 ? b.blake2s(key) : key);
      const ipad = k0.map((x) => x ^ 0x36), opad = k0.map((x) => x ^ 0x5c);
      const expect = b.blake2s(concatBytes(opad, b.blake2s(concatBytes(ipad, msg))));
      assert.is(toHex(b.hmacBlake2s(key, msg)), toHex(expect));
    }
  });
}

test('HChaCha20 matches draft-irtf-cfrg-xchacha-03 2.2.1', () => {
  const key = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const nonce = fromHex('000000090000004a0000000031415927');
  assert.is(toHex(hchacha20(key, nonce)), '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
});

test('XChaCha20-Poly1305 matches draft-irtf-cfrg-xchacha-03 A.3.1 and round-trips', () => {
  const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = fromHex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const ad = fromHex('50515253c0c1c2c3c4c5c6c7');
  const sealed = xaeadSeal(key, nonce, SUNSCREEN, ad);
  assert.is(toHex(sealed),
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39'
    + 'ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9'
    + '21f9664c97637da9768812f615c68b13b52e' + 'c0875924c1c7987947deafd8780acf49');
  assert.equal(xaeadOpen(key, nonce, sealed, ad), SUNSCREEN);
  const bad = sealed.slice(); bad[3]! ^= 0x80;
  assert.is(xaeadOpen(key, nonce, bad, ad), undefined);
});

test('Noise HKDF construction equals RFC 5869 test case 3 (HMAC-SHA256, empty salt and info)', () => {
  const mac = (k: Uint8Array, d: Uint8Array) => new Uint8Array(createHmac('sha256', k).update(d).digest());
  const [o1, o2] = hkdfWith(mac, new Uint8Array(0), new Uint8Array(22).fill(0x0b), 2);
  assert.is(toHex(concatBytes(o1!, o2!)).slice(0, 84),
    '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
});

test('scrypt matches RFC 7914 section 12 (password/NaCl, N=1024 r=8 p=16)', () => {
  const out = scrypt(utf8('password'), utf8('NaCl'), { N: 1024, r: 8, p: 16 }, 64);
  assert.is(toHex(out), 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640');
});

test('SHA-256 of "abc" (FIPS 180-2)', () => {
  assert.is(toHex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('the suite reports a backend for every primitive', () => {
  for (const k of ['aead', 'x25519', 'blake2s']) assert.ok(['native', 'noble'].includes(backendReport[k]!));
});

test.run();
