export { CipherState, encodeNonce, MAX_NONCE } from './cipher-state.ts';
export { SymmetricState, HASH_LEN } from './symmetric-state.ts';
export { IkInitiator, IkResponder, PROTOCOL_NAME, DH_LEN, TAG_LEN, MESSAGE1_OVERHEAD, MESSAGE2_OVERHEAD } from './ik.ts';
export type { Transport, InitiatorOptions, ResponderOptions } from './ik.ts';
