import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import {
  generateKeyPair, encodePrivateKeyFile, decodePrivateKeyFile, formatPublicKey, parsePublicKey,
  writeKeyFiles, readPrivateKeyFile, readPublicKey, isPrivateKeyFileSealed,
} from '../../src/crypto/keys.ts';
import { fingerprint, isFingerprint } from '../../src/crypto/fingerprint.ts';
import { equalBytes, fromHex } from '../../src/crypto/bytes.ts';
import { x25519PublicKey } from '../../src/crypto/suite.ts';

const dir = mkdtempSync(join(tmpdir(), 'trine-keys-'));
const code = (c: string) => (e: any) => e?.code === c;

test('an unsealed key file round-trips private key, public key and comment', () => {
  const pair = generateKeyPair('alice@laptop');
  const back = decodePrivateKeyFile(encodePrivateKeyFile(pair));
  assert.ok(equalBytes(back.privateKey, pair.privateKey));
  assert.ok(equalBytes(back.publicKey, pair.publicKey));
  assert.is(back.comment, 'alice@laptop');
  assert.ok(equalBytes(x25519PublicKey(back.privateKey), back.publicKey));
});

test('a passphrase-sealed key opens with the passphrase and not without', () => {
  const pair = generateKeyPair('bob');
  const text = encodePrivateKeyFile(pair, 'correct horse');
  assert.ok(isPrivateKeyFileSealed(text));
  assert.ok(!isPrivateKeyFileSealed(encodePrivateKeyFile(pair)));
  assert.ok(equalBytes(decodePrivateKeyFile(text, 'correct horse').privateKey, pair.privateKey));
  assert.throws(() => decodePrivateKeyFile(text, 'wrong horse'), code('KEY_BAD_PASSPHRASE'));
  assert.throws(() => decodePrivateKeyFile(text), code('KEY_PASSPHRASE_REQUIRED'));
  // The private key must not appear in the sealed file.
  const b64 = Buffer.from(pair.privateKey).toString('base64').slice(0, 12);
  assert.not.ok(text.replace(/\n/g, '').includes(b64));
});

test('a truncated key file is reported as truncated, whether sealed or not', () => {
  for (const pass of [undefined, 'pw']) {
    const text = encodePrivateKeyFile(generateKeyPair('c'), pass);
    const lines = text.trim().split('\n');
    const cut = [...lines.slice(0, lines.length - 2), lines[lines.length - 2]!.slice(0, 8), lines[lines.length - 1]].join('\n');
    assert.throws(() => decodePrivateKeyFile(cut, pass), (e: any) => ['KEY_TRUNCATED', 'KEY_MALFORMED', 'KEY_BAD_PASSPHRASE'].includes(e.code));
    assert.throws(() => decodePrivateKeyFile(text.slice(0, text.length - 20), pass), code('KEY_TRUNCATED'));
  }
});

test('every single-byte tamper of a key file body is detected', () => {
  for (const pass of [undefined, 'pw']) {
    const pair = generateKeyPair('d');
    const text = encodePrivateKeyFile(pair, pass);
    const body = Buffer.from(text.split('\n').slice(1, -2).join(''), 'base64');
    // Each sealed attempt costs one scrypt: sample the sealed body, test every byte of the plain one.
    const positions = [...body.keys()].filter((i) => pass === undefined || i % 9 === 0 || i >= body.length - 12);
    for (const i of positions) {
      const bad = Buffer.from(body);
      bad[i]! ^= 0x01;
      const t = `-----BEGIN TRINE PRIVATE KEY-----\n${bad.toString('base64')}\n-----END TRINE PRIVATE KEY-----\n`;
      let ok = false;
      try {
        const k = decodePrivateKeyFile(t, pass);
        // A flip in the comment of a sealed file is caught by the AEAD (header is associated data).
        ok = !equalBytes(k.privateKey, pair.privateKey) || k.comment !== 'd';
        assert.unreachable(`byte ${i} flipped and the file still opened (changed=${ok})`);
      } catch (e: any) {
        if (e.name === 'Assertion') throw e;
        assert.ok(typeof e.code === 'string' && e.code.startsWith('KEY_'), `byte ${i}: ${e.message}`);
      }
    }
  }
});

test('a key file readable by others is refused with the chmod advice', async () => {
  const path = join(dir, 'open_key');
  await writeKeyFiles(path, generateKeyPair('e'));
  assert.is(statSync(path).mode & 0o777, 0o600);
  chmodSync(path, 0o644);
  try {
    await readPrivateKeyFile(path);
    assert.unreachable('a world-readable key must be refused');
  } catch (e: any) {
    assert.is(e.code, 'KEY_UNPROTECTED');
    assert.match(e.message, /chmod 600/);
  }
  chmodSync(path, 0o600);
  const k = await readPrivateKeyFile(path);
  assert.is(k.comment, 'e');
});

test('writeKeyFiles refuses to overwrite an existing key', async () => {
  const path = join(dir, 'twice');
  await writeKeyFiles(path, generateKeyPair());
  try { await writeKeyFiles(path, generateKeyPair()); assert.unreachable(); } catch (e: any) { assert.is(e.code, 'KEY_EXISTS'); }
});

test('public key lines parse, and unknown types and bad keys get coded errors', () => {
  const pair = generateKeyPair('x y z');
  const line = formatPublicKey(pair.publicKey, 'x y z');
  assert.match(line, /^trine-x25519 [A-Za-z0-9+/]{43}= x y z$/);
  const p = parsePublicKey(line);
  assert.ok(equalBytes(p.publicKey, pair.publicKey));
  assert.is(p.comment, 'x y z');
  assert.throws(() => parsePublicKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO me@host'), code('KEY_UNKNOWN_TYPE'));
  assert.throws(() => parsePublicKey('trine-x25519 AAAA'), code('KEY_MALFORMED'));
  assert.throws(() => parsePublicKey('trine-x25519 not*base64'), code('KEY_MALFORMED'));
  assert.throws(() => parsePublicKey(''), code('KEY_MALFORMED'));
  assert.throws(() => decodePrivateKeyFile('-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n'), code('KEY_UNKNOWN_TYPE'));
  assert.throws(() => decodePrivateKeyFile('hello'), code('KEY_MALFORMED'));
});

test('fingerprints are SHA256:<43 base64 chars> of the raw public key, stable for a known key', () => {
  const pub = x25519PublicKey(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const fp = fingerprint(pub);
  assert.ok(isFingerprint(fp), fp);
  const independent = createHash('sha256').update(pub).digest('base64').replace(/=+$/, '');
  assert.is(fp, `SHA256:${independent}`);
});

test('readPublicKey takes a .pub file or the private file (without its passphrase)', async () => {
  const path = join(dir, 'sealed');
  const pair = generateKeyPair('f');
  await writeKeyFiles(path, pair, { passphrase: 'pw' });
  assert.ok(equalBytes((await readPublicKey(`${path}.pub`)).publicKey, pair.publicKey));
  assert.ok(equalBytes((await readPublicKey(path)).publicKey, pair.publicKey));
  assert.is((await readPublicKey(path)).comment, 'f');
  try { await readPublicKey(join(dir, 'nope')); assert.unreachable(); } catch (e: any) { assert.is(e.code, 'KEY_NOT_FOUND'); }
  writeFileSync(join(dir, 'garbage.pub'), 'ecdsa-sha2-nistp256 AAAA x\n');
  try { await readPublicKey(join(dir, 'garbage.pub')); assert.unreachable(); } catch (e: any) { assert.is(e.code, 'KEY_UNKNOWN_TYPE'); }
  assert.ok(readFileSync(path, 'utf8').startsWith('-----BEGIN TRINE PRIVATE KEY-----'));
});

test.run();
