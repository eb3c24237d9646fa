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
}

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

/** Decodes a command; throws SERVER_BAD_COMMAND on anything malformed. */
export function decodeCommand(data: Uint8Array): { kind: CommandKind.WriteBatch; ops: WriteOp[] } {
  try {
    const r = new ByteReader(data, 'a replicated command');
    const kind = r.u8();
    if (kind !== CommandKind.WriteBatch) throw badCommand(`unknown kind ${kind}`);
    const n = r.varint();
    const ops: WriteOp[] = [];
    for (let i = 0; i < n; i++) {
      const t = r.u8();
      const key = r.blob();
      if (key.length === 0 || key[0] === SYSTEM_SPACE) throw badCommand('a write to the system key space');
      if (t === OP_PUT) ops.push({ type: 'put', key, value: r.blob() });
      else if (t === OP_DEL) ops.push({ type: 'del', key });
      else throw badCommand(`unknown operation ${t}`);
    }
    if (!r.done) throw badCommand('trailing bytes');
    return { kind, ops };
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

  constructor(readonly engine: LsmEngine) {}

  applied(): AppliedState {
    const b = this.engine.get(BOUNDARY_KEY);
    return b ? decodeBoundary(b) : { index: 0, term: 0, conf: null };
  }

  async apply(entries: readonly Entry[], after: AppliedState): Promise<void> {
    const ops: WriteOp[] = [];
    for (const e of entries) {
      if (e.type !== 'normal') continue;
      try {
        ops.push(...decodeCommand(e.data).ops);
      } catch {
        this.skipped++;
      }
    }
    ops.push({ type: 'put', key: BOUNDARY_KEY, value: encodeBoundary(after) });
    this.engine.write(ops, { appliedIndex: after.index });
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
