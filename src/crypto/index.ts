export * from './suite.ts';
export * from './bytes.ts';
export * from './errors.ts';
export { randomBytes } from './random.ts';
export { KEY_BYTES, NONCE_BYTES, XNONCE_BYTES, TAG_BYTES } from './backend.ts';
export * from './keys.ts';
export * from './fingerprint.ts';
export * from './known-hosts.ts';
export * from './authorized-users.ts';
