/** Small byte helpers shared by the crypto layer and above. */
import { Buffer } from 'node:buffer';

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Constant-time equality for secrets and tags (length is not secret). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`not a hex string: ${hex.slice(0, 32)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function fromUtf8(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

export function toBase64(b: Uint8Array, padded = true): string {
  const s = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  return padded ? s : s.replace(/=+$/, '');
}

/** Strict base64 decode: returns undefined on any character outside the alphabet or bad padding. */
export function fromBase64(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const unpadded = s.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  const b = Buffer.from(s, 'base64');
  // Re-encoding catches non-canonical trailing bits.
  if (b.toString('base64').replace(/=+$/, '') !== unpadded) return undefined;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Overwrites a secret buffer; a best effort in a garbage-collected runtime. */
export function wipe(b: Uint8Array): void {
  b.fill(0);
}
