/**
 * Packet layouts (docs/PROTOCOL.md describes every byte). The first byte of every packet is
 * (PROTOCOL_VERSION << 4) | type. Integers are big-endian.
 *
 *   INITIATION    type | sender cid (8) | Noise IK message 1 | mac1 (16) | mac2 (16)
 *   RESPONSE      type | sender cid (8) | receiver cid (8) | Noise IK message 2
 *   COOKIE_REPLY  type | receiver cid (8) | nonce (24) | XChaCha20-Poly1305(cookie (16)) (32)
 *   DATA          type | receiver cid (8) | packet number (8) | ChaCha20-Poly1305(frames)
 *   KEY_REQUEST   type | nonce (16) | zero padding to KEY_REQUEST_BYTES
 *   KEY_RESPONSE  type | nonce (16) | server static public key (32)
 */
import { blake2s, concatBytes, equalBytes, hmacBlake2s, utf8 } from '../crypto/index.ts';
import { PROTOCOL_VERSION } from './limits.ts';

export const PacketType = {
  INITIATION: 1,
  RESPONSE: 2,
  COOKIE_REPLY: 3,
  DATA: 4,
  KEY_REQUEST: 5,
  KEY_RESPONSE: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export const CID_BYTES = 8;
export const MAC_BYTES = 16;
export const COOKIE_BYTES = 16;
export const COOKIE_NONCE_BYTES = 24;
export const KEY_NONCE_BYTES = 16;
export const TIMESTAMP_BYTES = 12;
/** DATA header: type + receiver cid + packet number; it is the AEAD's associated data. */
export const DATA_HEADER_BYTES = 1 + CID_BYTES + 8;
export const AEAD_TAG_BYTES = 16;

/** Bound into the Noise prologue, so a handshake for another protocol or version cannot complete. */
export const NOISE_PROLOGUE = utf8(`trine transport v${PROTOCOL_VERSION}`);

/** Handshake payload: transport parameters each side announces. */
export interface TransportParams {
  /** Initial per-stream window the sender of these params grants. */
  readonly streamWindow: number;
  /** Initial connection window the sender grants. */
  readonly connectionWindow: number;
  /** The sender's idle timeout; the connection uses the smaller of the two. */
  readonly idleTimeoutMs: number;
}
export const PARAMS_BYTES = 12;

export function typeByte(t: PacketType): number {
  return (PROTOCOL_VERSION << 4) | t;
}

/** The packet type, or undefined when the version nibble is not ours or the type is unknown. */
export function packetType(b: Uint8Array): PacketType | undefined {
  if (b.length === 0) return undefined;
  const v = b[0]!;
  if (v >>> 4 !== PROTOCOL_VERSION) return undefined;
  const t = v & 0x0f;
  return t >= 1 && t <= 6 ? (t as PacketType) : undefined;
}

export function mac1Key(serverPublic: Uint8Array): Uint8Array {
  return blake2s(concatBytes(utf8('mac1----'), serverPublic));
}

export function cookieKey(serverPublic: Uint8Array): Uint8Array {
  return blake2s(concatBytes(utf8('cookie--'), serverPublic));
}

export function mac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmacBlake2s(key, data).subarray(0, MAC_BYTES);
}

export function macMatches(key: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean {
  return equalBytes(mac(key, data), tag);
}

/**
 * TAI64N timestamp (as WireGuard sends): 8 bytes of 2^62 + seconds, 4 bytes of nanoseconds,
 * big-endian, so timestamps compare as byte strings.
 */
export function tai64n(nowMs: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_BYTES);
  const secs = Math.floor(nowMs / 1000);
  const nanos = Math.min(999_999_999, Math.floor((nowMs - secs * 1000) * 1e6));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x40000000 + Math.floor(secs / 0x100000000));
  dv.setUint32(4, secs >>> 0);
  dv.setUint32(8, nanos);
  return out;
}

/** Lexicographic compare of equal-length byte strings: <0, 0, >0. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** The smallest timestamp strictly greater than `ts` (one more nanosecond). */
export function nextTimestamp(ts: Uint8Array): Uint8Array {
  const out = ts.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) { out[i]!++; break; }
    out[i] = 0;
  }
  return out;
}

export function readCid(b: Uint8Array, at: number): bigint {
  return new DataView(b.buffer, b.byteOffset + at, CID_BYTES).getBigUint64(0);
}

export function writeCid(b: Uint8Array, at: number, cid: bigint): void {
  new DataView(b.buffer, b.byteOffset + at, CID_BYTES).setBigUint64(0, cid);
}

