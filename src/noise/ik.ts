/**
 * The Noise IK handshake, Noise_IK_25519_ChaChaPoly_BLAKE2s (spec sections 5.3 and 7.5):
 *
 *     <- s
 *     ...
 *     -> e, es, s, ss
 *     <- e, ee, se
 *
 * Pure objects over bytes: the ephemeral private key is passed in by the caller (randomness is
 * injected), and nothing here touches a clock or a socket. A failed read returns undefined and
 * leaves the handshake unusable, so a forged message cannot be retried against the same state.
 */
import { x25519, x25519PublicKey } from '../crypto/index.ts';
import type { CipherState } from './cipher-state.ts';
import { SymmetricState } from './symmetric-state.ts';

export const PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_BLAKE2s';
export const DH_LEN = 32;
export const TAG_LEN = 16;
/** Message 1 without payload: e (32) + encrypted s (32 + 16) + the payload's tag (16). */
export const MESSAGE1_OVERHEAD = DH_LEN + DH_LEN + TAG_LEN + TAG_LEN;
/** Message 2 without payload: e (32) + the payload's tag (16). */
export const MESSAGE2_OVERHEAD = DH_LEN + TAG_LEN;

/** The result of a completed handshake: one cipher state per direction. */
export interface Transport {
  readonly send: CipherState;
  readonly recv: CipherState;
  /** The handshake hash h, unique to this session (usable for channel binding). */
  readonly handshakeHash: Uint8Array;
}

function dh(priv: Uint8Array, pub: Uint8Array): Uint8Array | undefined {
  try {
    return x25519(priv, pub);
  } catch {
    // A low-order or malformed public key: treated as a failed authentication, never as a crash.
    return undefined;
  }
}

export interface InitiatorOptions {
  /** Our static private key. */
  readonly staticPrivate: Uint8Array;
  /** The responder's static public key, known in advance (that is what makes this IK). */
  readonly remoteStatic: Uint8Array;
  readonly prologue?: Uint8Array;
}

export class IkInitiator {
  private readonly ss: SymmetricState;
  private readonly s: Uint8Array;
  private readonly sPub: Uint8Array;
  private readonly rs: Uint8Array;
  private e: Uint8Array | undefined;
  private step: 'write1' | 'read2' | 'done' | 'failed' = 'write1';

  constructor(opts: InitiatorOptions) {
    this.ss = new SymmetricState(PROTOCOL_NAME);
    this.s = opts.staticPrivate;
    this.sPub = x25519PublicKey(opts.staticPrivate);
    this.rs = opts.remoteStatic;
    this.ss.mixHash(opts.prologue ?? new Uint8Array(0));
    this.ss.mixHash(this.rs);
  }

  /** -> e, es, s, ss, payload. `ephemeralPrivate` is 32 fresh random bytes supplied by the caller. */
  writeMessage1(payload: Uint8Array, ephemeralPrivate: Uint8Array): Uint8Array | undefined {
    if (this.step !== 'write1') throw new Error('IK initiator: message 1 was already written');
    this.e = ephemeralPrivate;
    const ePub = x25519PublicKey(ephemeralPrivate);
    this.ss.mixHash(ePub);
    const es = dh(this.e, this.rs);
    if (!es) { this.step = 'failed'; return undefined; }
    this.ss.mixKey(es);
    const encS = this.ss.encryptAndHash(this.sPub);
    const ssKey = dh(this.s, this.rs);
    if (!ssKey) { this.step = 'failed'; return undefined; }
    this.ss.mixKey(ssKey);
    const encP = this.ss.encryptAndHash(payload);
    const out = new Uint8Array(ePub.length + encS.length + encP.length);
    out.set(ePub, 0);
    out.set(encS, ePub.length);
    out.set(encP, ePub.length + encS.length);
    this.step = 'read2';
    return out;
  }

  /**
   * <- e, ee, se, payload. Returns the payload and the transport, or undefined if the message is
   * not authentic. A failed read works on a copy and leaves this initiator ready for the real
   * answer, so a forged message 2 cannot spoil a handshake in progress.
   */
  readMessage2(message: Uint8Array): { payload: Uint8Array; transport: Transport } | undefined {
    if (this.step !== 'read2' || message.length < MESSAGE2_OVERHEAD) return undefined;
    const ss = this.ss.clone();
    const re = message.subarray(0, DH_LEN);
    ss.mixHash(re);
    const ee = dh(this.e!, re);
    const se = ee && dh(this.s, re);
    if (!ee || !se) return undefined;
    ss.mixKey(ee);
    ss.mixKey(se);
    const payload = ss.decryptAndHash(message.subarray(DH_LEN));
    if (!payload) return undefined;
    const [c1, c2] = ss.split();
    this.step = 'done';
    return { payload, transport: { send: c1, recv: c2, handshakeHash: ss.h } };
  }
}

export interface ResponderOptions {
  readonly staticPrivate: Uint8Array;
  readonly prologue?: Uint8Array;
}

export class IkResponder {
  private readonly ss: SymmetricState;
  private readonly s: Uint8Array;
  private re: Uint8Array | undefined;
  private rs: Uint8Array | undefined;
  private step: 'read1' | 'write2' | 'done' | 'failed' = 'read1';

  constructor(opts: ResponderOptions) {
    this.ss = new SymmetricState(PROTOCOL_NAME);
    this.s = opts.staticPrivate;
    this.ss.mixHash(opts.prologue ?? new Uint8Array(0));
    this.ss.mixHash(x25519PublicKey(opts.staticPrivate));
  }

  /**
   * Reads message 1. On success the initiator's static key is known and authenticated (it proved
   * possession through ss); the caller decides whether to accept it before writing message 2.
   */
  readMessage1(message: Uint8Array): { remoteStatic: Uint8Array; payload: Uint8Array } | undefined {
    if (this.step !== 'read1' || message.length < MESSAGE1_OVERHEAD) { this.step = 'failed'; return undefined; }
    this.re = message.slice(0, DH_LEN);
    this.ss.mixHash(this.re);
    const es = dh(this.s, this.re);
    if (!es) { this.step = 'failed'; return undefined; }
    this.ss.mixKey(es);
    const rs = this.ss.decryptAndHash(message.subarray(DH_LEN, DH_LEN + DH_LEN + TAG_LEN));
    if (!rs) { this.step = 'failed'; return undefined; }
    this.rs = rs;
    const ssKey = dh(this.s, rs);
    if (!ssKey) { this.step = 'failed'; return undefined; }
    this.ss.mixKey(ssKey);
    const payload = this.ss.decryptAndHash(message.subarray(DH_LEN + DH_LEN + TAG_LEN));
    if (!payload) { this.step = 'failed'; return undefined; }
    this.step = 'write2';
    return { remoteStatic: rs, payload };
  }

  /** <- e, ee, se, payload. `ephemeralPrivate` is 32 fresh random bytes supplied by the caller. */
  writeMessage2(payload: Uint8Array, ephemeralPrivate: Uint8Array): { message: Uint8Array; transport: Transport } | undefined {
    if (this.step !== 'write2') throw new Error('IK responder: message 1 has not been read successfully');
    const ePub = x25519PublicKey(ephemeralPrivate);
    this.ss.mixHash(ePub);
    const ee = dh(ephemeralPrivate, this.re!);
    const se = ee && dh(ephemeralPrivate, this.rs!);
    if (!ee || !se) { this.step = 'failed'; return undefined; }
    this.ss.mixKey(ee);
    this.ss.mixKey(se);
    const encP = this.ss.encryptAndHash(payload);
    const message = new Uint8Array(ePub.length + encP.length);
    message.set(ePub, 0);
    message.set(encP, ePub.length);
    const [c1, c2] = this.ss.split();
    this.step = 'done';
    return { message, transport: { send: c2, recv: c1, handshakeHash: this.ss.h } };
  }
}
