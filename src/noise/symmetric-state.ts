/** Noise SymmetricState (spec section 5.2) over BLAKE2s and ChaChaPoly. */
import { blake2s, concatBytes, hkdf, utf8 } from '../crypto/index.ts';
import { CipherState } from './cipher-state.ts';

export const HASH_LEN = 32;

export class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  readonly cipher = new CipherState();

  constructor(protocolName: string) {
    const name = utf8(protocolName);
    if (name.length <= HASH_LEN) {
      this.h = new Uint8Array(HASH_LEN);
      this.h.set(name);
    } else {
      this.h = blake2s(name);
    }
    this.ck = this.h;
  }

  /** An independent copy (to try a message without committing to it). */
  clone(): SymmetricState {
    const c = Object.create(SymmetricState.prototype) as SymmetricState;
    (c as { ck: Uint8Array }).ck = this.ck;
    (c as { h: Uint8Array }).h = this.h;
    (c as { cipher: CipherState }).cipher = this.cipher.clone();
    return c;
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, ikm, 2) as [Uint8Array, Uint8Array];
    this.ck = ck;
    this.cipher.initializeKey(k);
  }

  mixHash(data: Uint8Array): void {
    this.h = blake2s(concatBytes(this.h, data));
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(c);
    return c;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array | undefined {
    const p = this.cipher.decryptWithAd(this.h, ciphertext);
    if (p) this.mixHash(ciphertext);
    return p;
  }

  /** The two transport cipher states: the first for initiator -> responder, the second for the reverse. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.ck, new Uint8Array(0), 2) as [Uint8Array, Uint8Array];
    return [new CipherState(k1), new CipherState(k2)];
  }
}
