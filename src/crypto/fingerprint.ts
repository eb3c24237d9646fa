import { toBase64 } from './bytes.ts';
import { sha256 } from './suite.ts';

/**
 * The fingerprint people compare: `SHA256:` + unpadded base64 of SHA-256 over the 32-byte public
 * key, printed the way `ssh-keygen -l` prints SSH's.
 */
export function fingerprint(publicKey: Uint8Array): string {
  return `SHA256:${toBase64(sha256(publicKey), false)}`;
}

/** True when `s` looks like a fingerprint this module produces. */
export function isFingerprint(s: string): boolean {
  return /^SHA256:[A-Za-z0-9+/]{43}$/.test(s);
}
