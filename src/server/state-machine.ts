/**
 * The replicated state machine of a node: Raft entries applied, in log order, to the encrypted LSM
 * engine. A normal entry carries one command (today: an atomic write batch of the SQL layer).
 *
 * The Raft boundary (index, term and membership of the last applied entry) is stored under a
 * reserved key in the same engine write as the entries' effects, so the engine's durable state and
 * the boundary can never disagree: after a crash the engine recovers to its last flush, the boundary
 * read back says where, and the driver replays the Raft log from the entry after it.
 *
 * Key space: SQL uses spaces 0x01 (meta) and 0x02 (trees); the node's own records live in space
 * 0x00 (docs/FORMATS.md, "System key space").
 */
import { TrineError } from '../crypto/errors.ts';
import { ByteReader, ByteWriter } from '../storage/codec.ts';
import type { LsmEngine } from '../storage/engine.ts';
import type { WriteOp } from '../storage/kv.ts';
import type { AppliedState, RaftStateMachine } from '../raft/driver.ts';
import { readConfState, writeConfState } from '../raft/wire.ts';
import type { Entry, Snapshot } from '../raft/types.ts';

/** First byte of every key the node itself owns. */
export const SYSTEM_SPACE = 0x00;
/** `0x00 'B'`: the Raft boundary record. */
export const BOUNDARY_KEY = Uint8Array.of(SYSTEM_SPACE, 0x42);

/** Command kinds carried by normal Raft entries. */
export const enum CommandKind {
  /** An atomic batch of puts and deletes (a committed SQL transaction). */
  WriteBatch = 1,
  /** Puts and deletes inside the system key space (members, users): docs/SERVER.md. */
  System = 2,
  /** A client's write batch tagged with its request id, applied at most once (docs/SERVER.md). */
  Request = 3,
}

/** `0x00 'S' <client id>`: the last applied request of a client and its answer. */
export const SESSION_PREFIX = Uint8Array.of(SYSTEM_SPACE, 0x53);
/** Bytes of a client id. */
export const CLIENT_ID_BYTES = 16;

/** What the state machine did with one command (reported to the node after each apply). */
export interface AppliedCommand {
  readonly index: number;
  readonly kind: CommandKind;
  readonly client?: Uint8Array;
  readonly seq?: number;
  /** Request commands: false when the request id had applied before (a retry); nothing was written. */
  readonly fresh: boolean;
  /** Keys the command wrote (empty for a skipped duplicate). */
  readonly keys: readonly Uint8Array[];
}

export type Command =
  | { kind: CommandKind.WriteBatch; ops: WriteOp[] }
  | { kind: CommandKind.System; ops: WriteOp[] }
  | { kind: CommandKind.Request; ops: WriteOp[]; client: Uint8Array; seq: number; answer: Uint8Array };

const OP_PUT = 1;
const OP_DEL = 2;

function badCommand(detail: string): TrineError {
  return new TrineError('SERVER_BAD_COMMAND', `a replicated command could not be decoded (${detail}); every node must run the same Trine version`);
}

/** Encodes a write batch as a Raft command. */
export function encodeWriteBatch(ops: readonly WriteOp[]): Uint8Array {
  let size = 8;
  for (const op of ops) size += op.key.length + (op.type === 'put' ? op.value.length : 0) + 12;
  const w = new ByteWriter(size);
  w.u8(CommandKind.WriteBatch);
  w.varint(ops.length);
  for (const op of ops) {
    if (op.key.length === 0 || op.key[0] === SYSTEM_SPACE) throw new TrineError('SERVER_RESERVED_KEY', 'a write batch may not touch the system key space (keys starting with 0x00)');
    if (op.type === 'put') { w.u8(OP_PUT); w.blob(op.key); w.blob(op.value); } else { w.u8(OP_DEL); w.blob(op.key); }
  }
  return w.finish();
}

/**
 * Encodes puts/deletes of system records. Every key must lie in the system space, and neither the
 * boundary record nor client sessions may be written this way (the state machine owns them).
 */
export function encodeSystemBatch(ops: readonly WriteOp[]): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(CommandKind.System);
  w.varint(ops.length);
  for (const op of ops) {
    if (!isWritableSystemKey(op.key)) throw new TrineError('SERVER_RESERVED_KEY', 'a system batch may only touch system records (keys starting with 0x00, not the boundary or session records)');
    if (op.type === 'put') { w.u8(OP_PUT); w.blob(op.key); w.blob(op.value); } else { w.u8(OP_DEL); w.blob(op.key); }
  }
  return w.finish();
}

/**
 * Encodes a client's write batch under its request id (`client`, `seq`). `answer` is the encoded
 * reply the node gave; it is stored with the session so a retry of an applied request gets it back.
 */
export function encodeRequest(client: Uint8Array, seq: number, ops: readonly WriteOp[], answer: Uint8Array): Uint8Array {
  if (client.length !== CLIENT_ID_BYTES) throw new TrineError('SERVER_BAD_CLIENT_ID', `a client id has ${CLIENT_ID_BYTES} bytes`);
  const inner = encodeWriteBatch(ops);
  const w = new ByteWriter(inner.length + answer.length + 40);
  w.u8(CommandKind.Request);
  w.bytes(client);
  w.varint(seq);
  w.blob(answer);
  w.bytes(inner.subarray(1));
  return w.finish();
}

function isWritableSystemKey(key: Uint8Array): boolean {
  if (key.length < 2 || key[0] !== SYSTEM_SPACE) return false;
  return key[1] !== BOUNDARY_KEY[1] && key[1] !== SESSION_PREFIX[1];
}

function readOps(r: ByteReader, system: boolean): WriteOp[] {
  const n = r.varint();
  const ops: WriteOp[] = [];
  for (let i = 0; i < n; i++) {
    const t = r.u8();
    const key = r.blob();
    if (system ? !isWritableSystemKey(key) : key.length === 0 || key[0] === SYSTEM_SPACE) throw badCommand(system ? 'a system write outside the system records' : 'a write to the system key space');
    if (t === OP_PUT) ops.push({ type: 'put', key, value: r.blob() });
    else if (t === OP_DEL) ops.push({ type: 'del', key });
    else throw badCommand(`unknown operation ${t}`);
  }
  return ops;
}

/** Decodes a command; throws SERVER_BAD_COMMAND on anything malformed. */
export function decodeCommand(data: Uint8Array): Command {
  try {
    const r = new ByteReader(data, 'a replicated command');
    const kind = r.u8();
    let cmd: Command;
    if (kind === CommandKind.WriteBatch) cmd = { kind, ops: readOps(r, false) };
    else if (kind === CommandKind.System) cmd = { kind, ops: readOps(r, true) };
    else if (kind === CommandKind.Request) {
      const client = r.bytes(CLIENT_ID_BYTES).slice();
      const seq = r.varint();
      const answer = r.blob();
      cmd = { kind, client, seq, answer, ops: readOps(r, false) };
    } else throw badCommand(`unknown kind ${kind}`);
    if (!r.done) throw badCommand('trailing bytes');
    return cmd;
  } catch (e) {
    if (e instanceof TrineError && e.code === 'SERVER_BAD_COMMAND') throw e;
    throw badCommand(e instanceof Error ? e.message : String(e));
  }
}

export function encodeBoundary(b: AppliedState): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(1);
  w.u64(b.index);
  w.u64(b.term);
  w.u8(b.conf ? 1 : 0);
  if (b.conf) writeConfState(w, b.conf);
  return w.finish();
}

export function decodeBoundary(bytes: Uint8Array): AppliedState {
  const r = new ByteReader(bytes, 'the Raft boundary record');
  const v = r.u8();
  if (v !== 1) throw new TrineError('SERVER_BAD_BOUNDARY', `the stored Raft boundary has version ${v}; upgrade Trine`);
  const index = r.u64(), term = r.u64();
  const conf = r.u8() === 1 ? readConfState(r) : null;
  return { index, term, conf };
}

/**
 * Applies committed entries to an LsmEngine. A command that cannot be decoded is skipped on every
 * node alike (its effects are nothing) and counted, so one bad entry cannot halt the cluster.
 */
export class EngineStateMachine implements RaftStateMachine {
  /** Commands skipped because they could not be decoded. */
  skipped = 0;

  /** Called after every apply with what each command did (the node's conflict tracking). */
  onApplied: ((cmds: readonly AppliedCommand[]) => void) | undefined;

  constructor(readonly engine: LsmEngine) {}

  applied(): AppliedState {
    const b = this.engine.get(BOUNDARY_KEY);
    return b ? decodeBoundary(b) : { index: 0, term: 0, conf: null };
  }

  async apply(entries: readonly Entry[], after: AppliedState): Promise<void> {
    const ops: WriteOp[] = [];
    const report: AppliedCommand[] = [];
    // Sessions touched earlier in this same batch of entries (not yet in the engine).
    const seen = new Map<string, number>();
    for (const e of entries) {
      if (e.type !== 'normal') continue;
      let cmd: Command;
      try {
        cmd = decodeCommand(e.data);
      } catch {
        this.skipped++;
        continue;
      }
      if (cmd.kind === CommandKind.Request) {
        const sk = sessionKey(cmd.client);
        const id = toHexKey(cmd.client);
        const last = seen.get(id) ?? lastSeq(this.engine.get(sk));
        if (cmd.seq <= last) {
          report.push({ index: e.index, kind: cmd.kind, client: cmd.client, seq: cmd.seq, fresh: false, keys: [] });
          continue;
        }
        seen.set(id, cmd.seq);
        ops.push(...cmd.ops);
        ops.push({ type: 'put', key: sk, value: encodeSession(cmd.seq, cmd.answer) });
        report.push({ index: e.index, kind: cmd.kind, client: cmd.client, seq: cmd.seq, fresh: true, keys: cmd.ops.map((o) => o.key) });
      } else {
        ops.push(...cmd.ops);
        report.push({ index: e.index, kind: cmd.kind, fresh: true, keys: cmd.ops.map((o) => o.key) });
      }
    }
    ops.push({ type: 'put', key: BOUNDARY_KEY, value: encodeBoundary(after) });
    this.engine.write(ops, { appliedIndex: after.index });
    if (report.length) this.onApplied?.(report);
    // Applying faster than the engine can flush would grow memory without bound.
    await this.engine.throttle();
  }

  async snapshot(): Promise<Uint8Array> {
    const snap = this.engine.snapshot();
    try {
      const parts: Uint8Array[] = [];
      let n = 0;
      for await (const chunk of snap.stream()) { parts.push(chunk); n += chunk.length; }
      const out = new Uint8Array(n);
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    } finally {
      snap.release();
    }
  }

  async restore(snapshot: Snapshot): Promise<void> {
    await this.engine.ingest([snapshot.data]);
    const b = this.applied();
    if (b.index !== snapshot.meta.index) {
      throw new TrineError('SERVER_BAD_SNAPSHOT', `a snapshot for index ${snapshot.meta.index} holds state for index ${b.index}; the sender is misbehaving`);
    }
  }

  async flush(): Promise<void> {
    await this.engine.flush();
  }
}

export function sessionKey(client: Uint8Array): Uint8Array {
  const k = new Uint8Array(SESSION_PREFIX.length + client.length);
  k.set(SESSION_PREFIX); k.set(client, SESSION_PREFIX.length);
  return k;
}

/** A session record: version 1, the last applied request number, the answer given to it. */
export function encodeSession(seq: number, answer: Uint8Array): Uint8Array {
  const w = new ByteWriter(answer.length + 16);
  w.u8(1); w.varint(seq); w.blob(answer);
  return w.finish();
}

export function decodeSession(bytes: Uint8Array): { seq: number; answer: Uint8Array } {
  const r = new ByteReader(bytes, 'a client session record');
  const v = r.u8();
  if (v !== 1) throw new TrineError('SERVER_BAD_SESSION', `a client session record has version ${v}; upgrade Trine`);
  const seq = r.varint();
  return { seq, answer: r.blob().slice() };
}

function lastSeq(bytes: Uint8Array | undefined): number {
  return bytes ? decodeSession(bytes).seq : 0;
}

function toHexKey(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
