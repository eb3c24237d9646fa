/**
 * X25519 identity keys, stored SSH-style: a private key file (mode 0600, optionally sealed with a
 * passphrase through scrypt + XChaCha20-Poly1305) and a one-line public key
 * `trine-x25519 <base64> <comment>`. Byte layout: docs/FORMATS.md, "Private key file".
 */
import { promises as fsp, statSync } from 'node:fs';
import process from 'node:process';
import { concatBytes, equalBytes, fromBase64, toBase64, utf8, fromUtf8 } from './bytes.ts';
import { TrineError } from './errors.ts';
import { randomBytes } from './random.ts';
import { scrypt, sha256, x25519PublicKey, xaeadOpen, xaeadSeal } from './suite.ts';

export const KEY_TYPE = 'trine-x25519';
const MAGIC = utf8('TRINEKEY');
const FORMAT_VERSION = 1;
const KDF_NONE = 0;
const KDF_SCRYPT = 1;
const ARMOR_BEGIN = '-----BEGIN TRINE PRIVATE KEY-----';
const ARMOR_END = '-----END TRINE PRIVATE KEY-----';
/** scrypt cost for passphrase-sealed key files: 2^15 x 8 x 1 takes ~32 MiB and ~0.1 s. */
export const KEYFILE_SCRYPT = { logN: 15, r: 8, p: 1 } as const;
const CHECK_BYTES = 16;
const MAX_COMMENT = 1024;

export interface KeyPair {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly comment: string;
}

/** A fresh X25519 key pair from the OS random source. */
export function generateKeyPair(comment = ''): KeyPair {
  const privateKey = randomBytes(32);
  return { privateKey, publicKey: x25519PublicKey(privateKey), comment };
}

/** The public key as one line: `trine-x25519 <base64> <comment>`. */
export function formatPublicKey(publicKey: Uint8Array, comment = ''): string {
  return `${KEY_TYPE} ${toBase64(publicKey)}${comment ? ` ${comment}` : ''}`;
}

/** Parses a public key line (`trine-x25519 <base64> [comment]`). */
export function parsePublicKey(line: string): { publicKey: Uint8Array; comment: string } {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2 || parts[0] === '') {
    throw new TrineError('KEY_MALFORMED', `not a Trine public key line: expected "${KEY_TYPE} <base64> [comment]"`);
  }
  if (parts[0] !== KEY_TYPE) {
    throw new TrineError('KEY_UNKNOWN_TYPE', `unknown key type "${parts[0]}": Trine keys are ${KEY_TYPE}; create one with \`trine keygen\``);
  }
  const key = fromBase64(parts[1]!);
  if (!key || key.length !== 32) {
    throw new TrineError('KEY_MALFORMED', 'the public key is not 32 bytes of base64; copy the whole line from the .pub file again');
  }
  return { publicKey: key, comment: parts.slice(2).join(' ') };
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/**
 * Serialises a private key file. With a passphrase, the private key is sealed under a key derived
 * by scrypt; the header (everything before the sealed part) is the associated data.
 */
export function encodePrivateKeyFile(pair: KeyPair, passphrase?: string): string {
  const comment = utf8(pair.comment);
  if (comment.length > MAX_COMMENT) throw new TrineError('KEY_COMMENT_TOO_LONG', `a key comment is at most ${MAX_COMMENT} bytes`);
  let body: Uint8Array;
  if (passphrase === undefined || passphrase === '') {
    const header = concatBytes(MAGIC, Uint8Array.of(FORMAT_VERSION, KDF_NONE), u16(comment.length), comment, pair.publicKey);
    const plain = concatBytes(header, pair.privateKey);
    body = concatBytes(plain, sha256(plain).subarray(0, CHECK_BYTES));
  } else {
    const salt = randomBytes(16);
    const nonce = randomBytes(24);
    const { logN, r, p } = KEYFILE_SCRYPT;
    const header = concatBytes(
      MAGIC, Uint8Array.of(FORMAT_VERSION, KDF_SCRYPT, logN, r, p), salt, nonce,
      u16(comment.length), comment, pair.publicKey,
    );
    const k = scrypt(utf8(passphrase), salt, { N: 1 << logN, r, p });
    body = concatBytes(header, xaeadSeal(k, nonce, pair.privateKey, header));
  }
  const b64 = toBase64(body);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `${ARMOR_BEGIN}\n${lines.join('\n')}\n${ARMOR_END}\n`;
}

/** True when the key file text is sealed with a passphrase (without needing the passphrase). */
export function isPrivateKeyFileSealed(text: string): boolean {
  const bytes = dearmor(text);
  return bytes[MAGIC.length + 1] === KDF_SCRYPT;
}

function dearmor(text: string): Uint8Array {
  const t = text.trim();
  if (!t.startsWith(ARMOR_BEGIN)) {
    if (t.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----') || t.startsWith('-----BEGIN ')) {
      throw new TrineError('KEY_UNKNOWN_TYPE', 'this is not a Trine key file (it looks like an SSH or PEM key); create a Trine key with `trine keygen`');
    }
    throw new TrineError('KEY_MALFORMED', 'this is not a Trine private key file; create one with `trine keygen`');
  }
  if (!t.endsWith(ARMOR_END)) {
    throw new TrineError('KEY_TRUNCATED', 'the private key file is truncated (its END line is missing); restore it from a backup');
  }
  const b64 = t.slice(ARMOR_BEGIN.length, t.length - ARMOR_END.length).replace(/\s+/g, '');
  const bytes = fromBase64(b64);
  if (!bytes) throw new TrineError('KEY_MALFORMED', 'the private key file is damaged (its base64 body does not decode); restore it from a backup');
  if (bytes.length < MAGIC.length + 2 || !equalBytes(bytes.subarray(0, MAGIC.length), MAGIC)) {
    throw new TrineError('KEY_MALFORMED', 'the private key file is damaged (bad magic bytes); restore it from a backup');
  }
  return bytes;
}

class Reader {
  off = 0;
  constructor(private readonly b: Uint8Array) {}
  take(n: number): Uint8Array {
    if (this.off + n > this.b.length) {
      throw new TrineError('KEY_TRUNCATED', 'the private key file is truncated; restore it from a backup');
    }
    const out = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  byte(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }
}

/**
 * Parses a private key file. `passphrase` is asked for only when the file is sealed: pass a
 * function so callers prompt lazily.
 */
export function decodePrivateKeyFile(text: string, passphrase?: string | (() => string)): KeyPair {
  const bytes = dearmor(text);
  const r = new Reader(bytes);
  r.take(MAGIC.length);
  const version = r.byte();
  if (version !== FORMAT_VERSION) {
    throw new TrineError('KEY_UNSUPPORTED_VERSION', `key file format version ${version} is not supported by this Trine; upgrade Trine`);
  }
  const kdf = r.byte();
  if (kdf === KDF_NONE) {
    const clen = r.u16();
    const comment = fromUtf8(r.take(clen));
    const publicKey = r.take(32).slice();
    const privateKey = r.take(32).slice();
    const end = r.off;
    const check = r.take(CHECK_BYTES);
    if (r.off !== bytes.length) throw new TrineError('KEY_MALFORMED', 'the private key file has trailing bytes; restore it from a backup');
    if (!equalBytes(sha256(bytes.subarray(0, end)).subarray(0, CHECK_BYTES), check)) {
      throw new TrineError('KEY_CORRUPT', 'the private key file is corrupt (checksum mismatch); restore it from a backup');
    }
    if (!equalBytes(x25519PublicKey(privateKey), publicKey)) {
      throw new TrineError('KEY_CORRUPT', 'the private key file is corrupt (the private and public halves do not match); restore it from a backup');
    }
    return { privateKey, publicKey, comment };
  }
  if (kdf !== KDF_SCRYPT) {
    throw new TrineError('KEY_MALFORMED', `the private key file names an unknown key-derivation function (${kdf}); restore it from a backup`);
  }
  const logN = r.byte(), rr = r.byte(), p = r.byte();
  if (logN < 10 || logN > 22 || rr < 1 || rr > 32 || p < 1 || p > 16) {
    throw new TrineError('KEY_MALFORMED', 'the private key file has out-of-range scrypt parameters; restore it from a backup');
  }
  const salt = r.take(16);
  const nonce = r.take(24);
  const clen = r.u16();
  const comment = fromUtf8(r.take(clen));
  const publicKey = r.take(32).slice();
  const headerEnd = r.off;
  const sealed = r.take(32 + 16);
  if (r.off !== bytes.length) throw new TrineError('KEY_MALFORMED', 'the private key file has trailing bytes; restore it from a backup');
  const pass = typeof passphrase === 'function' ? passphrase() : passphrase;
  if (pass === undefined || pass === '') {
    throw new TrineError('KEY_PASSPHRASE_REQUIRED', 'this private key is protected by a passphrase; enter it when asked or set TRINE_PASSPHRASE');
  }
  const k = scrypt(utf8(pass), salt, { N: 1 << logN, r: rr, p });
  const privateKey = xaeadOpen(k, nonce, sealed, bytes.subarray(0, headerEnd));
  if (!privateKey) {
    throw new TrineError('KEY_BAD_PASSPHRASE', 'wrong passphrase for this private key (or the file was altered); try again');
  }
  if (!equalBytes(x25519PublicKey(privateKey), publicKey)) {
    throw new TrineError('KEY_CORRUPT', 'the private key file is corrupt (the private and public halves do not match); restore it from a backup');
  }
  return { privateKey, publicKey, comment };
}

/**
 * Refuses a private key file that others can read, as ssh does: a leaked identity key is a
 * leaked login. Skipped where POSIX modes do not exist.
 */
export function checkPrivateKeyPermissions(path: string): void {
  if (process.platform === 'win32') return;
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new TrineError(
      'KEY_UNPROTECTED',
      `permissions ${mode} for '${path}' are too open: a private key must not be accessible by others; run \`chmod 600 ${path}\``,
    );
  }
}

/** Writes `pair` to `path` (mode 0600) and `path.pub`. Refuses to overwrite unless `overwrite`. */
export async function writeKeyFiles(path: string, pair: KeyPair, opts: { passphrase?: string; overwrite?: boolean } = {}): Promise<void> {
  const flag = opts.overwrite ? 'w' : 'wx';
  try {
    await fsp.writeFile(path, encodePrivateKeyFile(pair, opts.passphrase), { mode: 0o600, flag });
    await fsp.chmod(path, 0o600);
    await fsp.writeFile(`${path}.pub`, `${formatPublicKey(pair.publicKey, pair.comment)}\n`, { mode: 0o644, flag: opts.overwrite ? 'w' : 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TrineError('KEY_EXISTS', `'${path}' already exists; choose another file with -f or remove the old key first`);
    }
    throw e;
  }
}

/** Reads and checks a private key file (permissions, integrity, passphrase). */
export async function readPrivateKeyFile(path: string, passphrase?: string | (() => string)): Promise<KeyPair> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new TrineError('KEY_NOT_FOUND', `no key file at '${path}'; create one with \`trine keygen -f ${path}\``);
    }
    throw e;
  }
  checkPrivateKeyPermissions(path);
  return decodePrivateKeyFile(text, passphrase);
}

/**
 * Reads a public key from either a `.pub` line or a private key file (whose header carries the
 * public half in the clear, so no passphrase is needed).
 */
export async function readPublicKey(path: string): Promise<{ publicKey: Uint8Array; comment: string }> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TrineError('KEY_NOT_FOUND', `no key file at '${path}'`);
    throw e;
  }
  if (text.trimStart().startsWith('-----BEGIN')) return publicKeyOfPrivateFile(text);
  return parsePublicKey(text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#')) ?? '');
}

function publicKeyOfPrivateFile(text: string): { publicKey: Uint8Array; comment: string } {
  const bytes = dearmor(text);
  const r = new Reader(bytes);
  r.take(MAGIC.length);
  if (r.byte() !== FORMAT_VERSION) throw new TrineError('KEY_UNSUPPORTED_VERSION', 'key file format version is not supported by this Trine; upgrade Trine');
  const kdf = r.byte();
  if (kdf === KDF_SCRYPT) { r.take(3 + 16 + 24); } else if (kdf !== KDF_NONE) throw new TrineError('KEY_MALFORMED', 'the private key file is damaged; restore it from a backup');
  const comment = fromUtf8(r.take(r.u16()));
  return { publicKey: r.take(32).slice(), comment };
}
