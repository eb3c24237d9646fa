/**
 * The node's own records in the system key space (0x00), replicated through Raft like the data:
 * the cluster's members (who may speak Raft, and where) and the authorised users (who may open a
 * client session, with which role). Records are small JSON documents so an operator reading a
 * dump can tell what they hold; the format is in docs/SERVER.md.
 */
import { fromBase64, toBase64, equalBytes } from '../crypto/bytes.ts';
import { TrineError } from '../crypto/errors.ts';
import { isRole, checkUserName, type AuthorizedUser, type Role } from '../crypto/authorized-users.ts';
import type { KvReader, WriteOp } from '../storage/kv.ts';
import type { NodeId } from '../raft/types.ts';
import { SYSTEM_SPACE } from './state-machine.ts';

/** `0x00 'M' <u32 id>` -> member record. */
export const MEMBER_PREFIX = Uint8Array.of(SYSTEM_SPACE, 0x4d);
/** `0x00 'U' <utf-8 name>` -> user record. */
export const USER_PREFIX = Uint8Array.of(SYSTEM_SPACE, 0x55);

export interface Member {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
  readonly publicKey: Uint8Array;
}

const enc = new TextEncoder(), dec = new TextDecoder();

function withSuffix(prefix: Uint8Array, suffix: Uint8Array): Uint8Array {
  const k = new Uint8Array(prefix.length + suffix.length);
  k.set(prefix); k.set(suffix, prefix.length);
  return k;
}

function prefixEnd(prefix: Uint8Array): Uint8Array {
  const e = prefix.slice();
  e[e.length - 1]!++;
  return e;
}

export function memberKey(id: NodeId): Uint8Array {
  return withSuffix(MEMBER_PREFIX, Uint8Array.of(id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff));
}

export function userKey(name: string): Uint8Array {
  return withSuffix(USER_PREFIX, enc.encode(name));
}

export function putMember(m: Member): WriteOp {
  const doc = { v: 1, id: m.id, host: m.host, port: m.port, key: toBase64(m.publicKey) };
  return { type: 'put', key: memberKey(m.id), value: enc.encode(JSON.stringify(doc)) };
}

export function putUser(u: AuthorizedUser): WriteOp {
  checkUserName(u.name);
  const doc = { v: 1, role: u.role, key: toBase64(u.publicKey), comment: u.comment };
  return { type: 'put', key: userKey(u.name), value: enc.encode(JSON.stringify(doc)) };
}

function bad(what: string): TrineError {
  return new TrineError('SERVER_BAD_RECORD', `a stored ${what} record cannot be read; every node must run the same Trine version`);
}

export function readMembers(kv: KvReader): Member[] {
  const out: Member[] = [];
  for (const { value } of kv.scan({ gte: MEMBER_PREFIX, lt: prefixEnd(MEMBER_PREFIX) })) {
    const j = JSON.parse(dec.decode(value)) as { v: number; id: number; host: string; port: number; key: string };
    const publicKey = fromBase64(j.key);
    if (j.v !== 1 || !publicKey || publicKey.length !== 32) throw bad('member');
    out.push({ id: j.id, host: j.host, port: j.port, publicKey });
  }
  return out;
}

export function readUsers(kv: KvReader): AuthorizedUser[] {
  const out: AuthorizedUser[] = [];
  for (const { key, value } of kv.scan({ gte: USER_PREFIX, lt: prefixEnd(USER_PREFIX) })) {
    const j = JSON.parse(dec.decode(value)) as { v: number; role: string; key: string; comment: string };
    const publicKey = fromBase64(j.key);
    if (j.v !== 1 || !publicKey || publicKey.length !== 32 || !isRole(j.role)) throw bad('user');
    out.push({ name: dec.decode(key.subarray(USER_PREFIX.length)), role: j.role as Role, publicKey, comment: j.comment ?? '' });
  }
  return out;
}

/** A cache of the records, rebuilt when an applied command touched the system space. */
export class SystemView {
  members: Member[] = [];
  users: AuthorizedUser[] = [];

  constructor(private readonly kv: KvReader) {
    this.reload();
  }

  reload(): void {
    this.members = readMembers(this.kv);
    this.users = readUsers(this.kv);
  }

  member(id: NodeId): Member | undefined {
    return this.members.find((m) => m.id === id);
  }

  memberByKey(key: Uint8Array): Member | undefined {
    return this.members.find((m) => equalBytes(m.publicKey, key));
  }

  userByKey(key: Uint8Array): AuthorizedUser | undefined {
    return this.users.find((u) => equalBytes(u.publicKey, key));
  }
}
