/**
 * The authorised users list: who may connect and with which role. One line per user:
 * `<name> <role> trine-x25519 <base64 key> [comment]`. Format: docs/FORMATS.md, "Authorized users".
 * The server replicates this list through Raft; this module only parses and prints it.
 */
import { equalBytes, fromBase64, toBase64 } from './bytes.ts';
import { TrineError } from './errors.ts';
import { KEY_TYPE } from './keys.ts';

export const ROLES = ['admin', 'readwrite', 'readonly'] as const;
export type Role = (typeof ROLES)[number];

export interface AuthorizedUser {
  readonly name: string;
  readonly role: Role;
  readonly publicKey: Uint8Array;
  readonly comment: string;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** Validates a user name: a letter or underscore, then letters, digits, `_`, `.`, `-`; 64 at most. */
export function checkUserName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new TrineError('USER_BAD_NAME', `"${name}" is not a valid user name: use 1-64 letters, digits, "_", "." or "-", starting with a letter or "_"`);
  }
}

/** Parses the list; throws USERS_MALFORMED naming the line for any bad or duplicate entry. */
export function parseAuthorizedUsers(text: string, where = 'authorized_users'): AuthorizedUser[] {
  const users: AuthorizedUser[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    const bad = (why: string) => new TrineError('USERS_MALFORMED', `${where}:${i + 1}: ${why}; fix or delete that line`);
    const parts = t.split(/\s+/);
    if (parts.length < 4) throw bad(`expected "<name> <role> ${KEY_TYPE} <base64 key> [comment]"`);
    const [name, role, type, keyField] = parts as [string, string, string, string];
    if (!NAME_RE.test(name)) throw bad(`"${name}" is not a valid user name`);
    if (!isRole(role)) throw bad(`unknown role "${role}" (use ${ROLES.join(', ')})`);
    if (type !== KEY_TYPE) throw bad(`unknown key type "${type}"`);
    const publicKey = fromBase64(keyField);
    if (!publicKey || publicKey.length !== 32) throw bad('the key is not 32 bytes of base64');
    if (users.some((u) => u.name === name)) throw bad(`user "${name}" is listed twice`);
    if (users.some((u) => equalBytes(u.publicKey, publicKey))) throw bad('this key already belongs to another user');
    users.push({ name, role, publicKey, comment: parts.slice(4).join(' ') });
  });
  return users;
}

export function formatAuthorizedUser(u: AuthorizedUser): string {
  return `${u.name} ${u.role} ${KEY_TYPE} ${toBase64(u.publicKey)}${u.comment ? ` ${u.comment}` : ''}`;
}

export function formatAuthorizedUsers(users: readonly AuthorizedUser[]): string {
  return users.map((u) => `${formatAuthorizedUser(u)}\n`).join('');
}

/** The user who holds `publicKey`, if any. */
export function findUserByKey(users: readonly AuthorizedUser[], publicKey: Uint8Array): AuthorizedUser | undefined {
  return users.find((u) => equalBytes(u.publicKey, publicKey));
}
