/**
 * The client wire protocol (docs/SERVER.md, "Client protocol"): one stream per session, one
 * transport message per protocol message. Values use the SQL layer's record codec (tag + payload),
 * so a row travels in the same bytes it is stored in.
 */
import { TrineError } from '../crypto/errors.ts';
import { ByteReader, ByteWriter, writeValue } from '../sql/codec.ts';
import type { Value } from '../sql/value.ts';
import { CLIENT_ID_BYTES } from './state-machine.ts';
import { MAX_PARAMS, MAX_SQL_BYTES } from './limits.ts';

export const PROTOCOL_VERSION = 1;

export const enum Msg {
  Hello = 0x01,
  Query = 0x02,
  Welcome = 0x81,
  Result = 0x82,
  Error = 0x83,
  /** First message of a node-to-node stream that carries a forwarded client session. */
  Forward = 0xf0,
}

export type Consistency = 'linearizable' | 'strong' | 'weak' | 'none';
export const CONSISTENCIES: readonly Consistency[] = ['linearizable', 'strong', 'weak', 'none'];

export interface MemberInfo {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly publicKey: Uint8Array;
}

export interface Hello { readonly type: 'hello'; readonly version: number; readonly client: Uint8Array }
export interface ForwardHello { readonly type: 'forward'; readonly version: number; readonly client: Uint8Array; readonly user: string; readonly role: string }
export interface Query {
  readonly type: 'query';
  readonly id: number;
  readonly consistency: Consistency;
  readonly sql: string;
  readonly params: Value[] | Record<string, Value>;
}
export interface Welcome {
  readonly type: 'welcome';
  readonly version: number;
  readonly node: number;
  readonly user: string;
  readonly role: string;
  readonly leader: number;
  readonly members: MemberInfo[];
  /** The node's Raft view when it answered (for `trine status`). */
  readonly raft: { role: string; term: number; commit: number; applied: number };
}
export interface Result {
  readonly type: 'result';
  readonly id: number;
  readonly inTransaction: boolean;
  readonly columns: string[];
  readonly rows: Value[][];
  readonly changes: number;
  readonly lastInsertRowid: bigint;
}
export interface ErrorReply { readonly type: 'error'; readonly id: number; readonly inTransaction: boolean; readonly retryable: boolean; readonly code: string; readonly message: string }

export type ClientMessage = Hello | Query | ForwardHello;
export type ServerMessage = Welcome | Result | ErrorReply;

function protocolError(detail: string): TrineError {
  return new TrineError('PROTOCOL_ERROR', `the peer sent a malformed message (${detail}); client and server must run compatible Trine versions`);
}

function text(r: ByteReader, what: string): string {
  const v = r.value();
  if (typeof v !== 'string') throw protocolError(`${what} is not text`);
  return v;
}

export function encode(m: ClientMessage | ServerMessage): Uint8Array {
  const w = new ByteWriter(128);
  switch (m.type) {
    case 'hello':
      w.byte(Msg.Hello); w.byte(m.version); w.bytes(m.client);
      break;
    case 'forward':
      w.byte(Msg.Forward); w.byte(m.version); w.bytes(m.client); writeValue(w, m.user); writeValue(w, m.role);
      break;
    case 'query': {
      w.byte(Msg.Query); w.varint(m.id); w.byte(CONSISTENCIES.indexOf(m.consistency)); writeValue(w, m.sql);
      if (Array.isArray(m.params)) {
        w.byte(0); w.varint(m.params.length);
        for (const v of m.params) writeValue(w, v);
      } else {
        const entries = Object.entries(m.params);
        w.byte(1); w.varint(entries.length);
        for (const [k, v] of entries) { writeValue(w, k); writeValue(w, v); }
      }
      break;
    }
    case 'welcome':
      w.byte(Msg.Welcome); w.byte(m.version); w.varint(m.node); writeValue(w, m.user); writeValue(w, m.role); w.varint(m.leader);
      w.varint(m.members.length);
      for (const x of m.members) { w.varint(x.id); writeValue(w, x.host); w.varint(x.port); w.bytes(x.publicKey); }
      writeValue(w, m.raft.role); w.varint(m.raft.term); w.varint(m.raft.commit); w.varint(m.raft.applied);
      break;
    case 'result':
      w.byte(Msg.Result); w.varint(m.id); w.byte(m.inTransaction ? 1 : 0);
      w.varint(m.columns.length);
      for (const c of m.columns) writeValue(w, c);
      w.varint(m.rows.length);
      for (const row of m.rows) for (const v of row) writeValue(w, v);
      w.varint(m.changes);
      writeValue(w, m.lastInsertRowid);
      break;
    case 'error':
      w.byte(Msg.Error); w.varint(m.id); w.byte((m.inTransaction ? 1 : 0) | (m.retryable ? 2 : 0)); writeValue(w, m.code); writeValue(w, m.message);
      break;
  }
  return w.result();
}

export function decode(bytes: Uint8Array): ClientMessage | ServerMessage {
  const r = new ByteReader(bytes);
  const byte = () => { if (r.pos >= bytes.length) throw protocolError('message ends early'); return bytes[r.pos++]!; };
  const take = (n: number) => { if (r.pos + n > bytes.length) throw protocolError('message ends early'); const b = bytes.slice(r.pos, r.pos + n); r.pos += n; return b; };
  let out: ClientMessage | ServerMessage;
  try {
    const kind = byte();
    switch (kind) {
      case Msg.Hello: out = { type: 'hello', version: byte(), client: take(CLIENT_ID_BYTES) }; break;
      case Msg.Forward: out = { type: 'forward', version: byte(), client: take(CLIENT_ID_BYTES), user: text(r, 'the user'), role: text(r, 'the role') }; break;
      case Msg.Query: {
        const id = r.varint();
        const c = CONSISTENCIES[byte()];
        if (!c) throw protocolError('unknown consistency level');
        const sql = text(r, 'the SQL');
        if (sql.length > MAX_SQL_BYTES) throw new TrineError('SQL_TOO_LONG', `a request's SQL may hold at most ${MAX_SQL_BYTES} bytes`);
        const named = byte();
        const n = r.varint();
        if (n > MAX_PARAMS) throw new TrineError('SQL_TOO_MANY_PARAMS', `a request may bind at most ${MAX_PARAMS} parameters`);
        let params: Value[] | Record<string, Value>;
        if (named === 0) { params = []; for (let i = 0; i < n; i++) params.push(r.value()); } else if (named === 1) {
          params = {};
          for (let i = 0; i < n; i++) { const k = text(r, 'a parameter name'); params[k] = r.value(); }
        } else throw protocolError('unknown parameter form');
        out = { type: 'query', id, consistency: c, sql, params };
        break;
      }
      case Msg.Welcome: {
        const version = byte(), node = r.varint(), user = text(r, 'the user'), role = text(r, 'the role'), leader = r.varint();
        const n = r.varint();
        const members: MemberInfo[] = [];
        for (let i = 0; i < n; i++) members.push({ id: r.varint(), host: text(r, 'a host'), port: r.varint(), publicKey: take(32) });
        const raft = { role: text(r, 'the Raft role'), term: r.varint(), commit: r.varint(), applied: r.varint() };
        out = { type: 'welcome', version, node, user, role, leader, members, raft };
        break;
      }
      case Msg.Result: {
        const id = r.varint();
        const flags = byte();
        const nc = r.varint();
        const columns: string[] = [];
        for (let i = 0; i < nc; i++) columns.push(text(r, 'a column name'));
        const nr = r.varint();
        const rows: Value[][] = [];
        for (let i = 0; i < nr; i++) { const row: Value[] = new Array(nc); for (let j = 0; j < nc; j++) row[j] = r.value(); rows.push(row); }
        const changes = r.varint();
        const last = r.value();
        if (typeof last !== 'bigint') throw protocolError('lastInsertRowid is not an integer');
        out = { type: 'result', id, inTransaction: (flags & 1) !== 0, columns, rows, changes, lastInsertRowid: last };
        break;
      }
      case Msg.Error: {
        const id = r.varint();
        const flags = byte();
        out = { type: 'error', id, inTransaction: (flags & 1) !== 0, retryable: (flags & 2) !== 0, code: text(r, 'the code'), message: text(r, 'the message') };
        break;
      }
      default: throw protocolError(`unknown message type 0x${kind.toString(16)}`);
    }
  } catch (e) {
    // Ours pass through; the value codec's own errors speak of disk images, so they are rephrased.
    if (e instanceof TrineError && (e.code === 'PROTOCOL_ERROR' || e.code.startsWith('SQL_TOO'))) throw e;
    throw protocolError(e instanceof Error ? e.message : String(e));
  }
  if (r.pos !== bytes.length) throw protocolError('trailing bytes');
  return out;
}

/** Error codes a client may retry with the same request id (the outcome is known not to differ). */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'RAFT_NO_LEADER', 'RAFT_LEADER_CHANGED', 'RAFT_TIMEOUT', 'RAFT_CLOSED', 'RAFT_OVERLOADED',
  'SERVER_NOT_LEADER', 'SERVER_SHUTTING_DOWN', 'TX_CONFLICT',
]);
