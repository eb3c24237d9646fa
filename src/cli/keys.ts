import { homedir, hostname, userInfo } from 'node:os';
import { join, dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import process from 'node:process';
import { generateKeyPair, writeKeyFiles, readPublicKey, formatPublicKey } from '../crypto/keys.ts';
import { fingerprint } from '../crypto/fingerprint.ts';
import { TrineError } from '../crypto/errors.ts';
import { askHidden } from './prompt.ts';

/** Default location of the user's identity key. */
export function defaultKeyPath(): string {
  return join(homedir(), '.trine', 'id_trine');
}

function defaultComment(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `trine@${hostname()}`;
  }
}

/** A new passphrase: from TRINE_PASSPHRASE, or asked twice on the terminal. */
export async function newPassphrase(): Promise<string> {
  const env = process.env['TRINE_PASSPHRASE'];
  if (env !== undefined) {
    if (env === '') throw new TrineError('KEY_EMPTY_PASSPHRASE', 'TRINE_PASSPHRASE is empty; set a passphrase or drop --passphrase');
    return env;
  }
  const a = await askHidden('Enter passphrase: ');
  if (a === '') throw new TrineError('KEY_EMPTY_PASSPHRASE', 'an empty passphrase protects nothing; drop --passphrase for an unprotected key');
  const b = await askHidden('Enter same passphrase again: ');
  if (a !== b) throw new TrineError('KEY_PASSPHRASE_MISMATCH', 'the two passphrases differ; run the command again');
  return a;
}

export async function keygenCommand(opts: { file?: string; comment?: string; passphrase?: boolean; force?: boolean }): Promise<void> {
  const path = opts.file ?? defaultKeyPath();
  if (!opts.file) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const comment = opts.comment ?? defaultComment();
  const passphrase = opts.passphrase ? await newPassphrase() : undefined;
  const pair = generateKeyPair(comment);
  await writeKeyFiles(path, pair, { passphrase, overwrite: !!opts.force });
  console.log(`Your private key is in ${path}${passphrase ? ' (protected by your passphrase)' : ''}`);
  console.log(`Your public key is in ${path}.pub:`);
  console.log(`  ${formatPublicKey(pair.publicKey, comment)}`);
  console.log(`Fingerprint: ${fingerprint(pair.publicKey)} ${comment}`);
}

export async function fingerprintCommand(file: string): Promise<void> {
  const { publicKey, comment } = await readPublicKey(file);
  console.log(`${fingerprint(publicKey)}${comment ? ` ${comment}` : ''} (x25519)`);
}
