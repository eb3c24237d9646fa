/**
 * Byte encoding of Raft messages between nodes and of entries in the durable log. Pure functions;
 * the driver uses them. Layout: docs/RAFT.md, "Wire format". Every decode failure is a
 * RAFT_BAD_MESSAGE TrineError (a peer running another version, or a bug): the message is dropped.
 */
import { TrineError } from '../crypto/errors.ts';
import { ByteReader, ByteWriter } from '../storage/codec.ts';
import type { ConfState, Entry, EntryType, HardState, Message, SnapshotMeta } from './types.ts';

/** First byte of every encoded message; bumped on any incompatible change. */
export const WIRE_VERSION = 1;

const MESSAGE_TYPES = [
  'prevote', 'vote', 'prevoteResp', 'voteResp', 'append', 'appendResp', 'heartbeat', 'heartbeatResp',
  'snapshot', 'snapshotResp', 'timeoutNow', 'propose', 'readIndex', 'readIndexResp',
] as const;
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'noop', 'config'];

function bad(detail: string): TrineError {
  return new TrineError('RAFT_BAD_MESSAGE', `a Raft message could not be decoded (${detail}); check that every node runs the same Trine version`);
}

function writeEntry(w: ByteWriter, e: Entry): void {
  w.varint(e.index);
  w.varint(e.term);
  w.u8(ENTRY_TYPES.indexOf(e.type));
  w.blob(e.data);
}

function readEntry(r: ByteReader): Entry {
  const index = r.varint(), term = r.varint(), t = r.u8();
  const type = ENTRY_TYPES[t];
  if (type === undefined) throw bad(`unknown entry type ${t}`);
  return { index, term, type, data: r.blob().slice() };
}

function writeIds(w: ByteWriter, ids: readonly number[]): void {
  w.varint(ids.length);
  for (const id of ids) w.varint(id);
}

function readIds(r: ByteReader): number[] {
  const n = r.varint();
  if (n > 1_000_000) throw bad('id list too long');
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.varint());
  return out;
}

export function writeConfState(w: ByteWriter, c: ConfState): void {
  writeIds(w, c.voters); writeIds(w, c.learners); writeIds(w, c.removed);
}

export function readConfState(r: ByteReader): ConfState {
  return { voters: readIds(r), learners: readIds(r), removed: readIds(r) };
}

function writeMeta(w: ByteWriter, m: SnapshotMeta): void {
  w.varint(m.index); w.varint(m.term); writeConfState(w, m.conf); w.varint(m.size);
}

function readMeta(r: ByteReader): SnapshotMeta {
  return { index: r.varint(), term: r.varint(), conf: readConfState(r), size: r.varint() };
}

export function encodeMessage(m: Message): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(WIRE_VERSION);
  w.u8(MESSAGE_TYPES.indexOf(m.type));
  w.varint(m.from); w.varint(m.to); w.varint(m.term);
  switch (m.type) {
    case 'prevote': case 'vote':
      w.varint(m.lastIndex); w.varint(m.lastTerm); w.u8(m.force ? 1 : 0); break;
    case 'prevoteResp': case 'voteResp':
      w.u8(m.reject ? 1 : 0); break;
    case 'append':
      w.varint(m.prevIndex); w.varint(m.prevTerm); w.varint(m.commit);
      w.varint(m.entries.length);
      for (const e of m.entries) writeEntry(w, e);
      break;
    case 'appendResp':
      w.u8(m.reject ? 1 : 0); w.varint(m.index); w.varint(m.hintTerm); w.varint(m.hintIndex); break;
    case 'heartbeat':
      w.varint(m.commit); w.varint(m.round); break;
    case 'heartbeatResp':
      w.varint(m.round); break;
    case 'snapshot':
      writeMeta(w, m.meta); w.varint(m.offset); w.blob(m.data); break;
    case 'snapshotResp':
      w.varint(m.snapIndex); w.varint(m.offset); w.u8(m.done ? 1 : 0); break;
    case 'timeoutNow':
      break;
    case 'propose':
      w.varint(m.data.length);
      for (const d of m.data) w.blob(d);
      break;
    case 'readIndex':
      w.varint(m.ctx); break;
    case 'readIndexResp':
      w.varint(m.ctx); w.varint(m.index); break;
  }
  return w.finish();
}

export function decodeMessage(bytes: Uint8Array): Message {
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof TrineError && e.code === 'RAFT_BAD_MESSAGE') throw e;
    throw bad(e instanceof Error ? e.message : String(e));
  }
}

function flag(r: ByteReader): boolean {
  const b = r.u8();
  if (b > 1) throw bad(`flag byte ${b}`);
  return b === 1;
}

function decode(bytes: Uint8Array): Message {
  const r = new ByteReader(bytes, 'a Raft message');
  const v = r.u8();
  if (v !== WIRE_VERSION) throw bad(`wire version ${v}, expected ${WIRE_VERSION}`);
  const t = r.u8();
  const type = MESSAGE_TYPES[t];
  if (type === undefined) throw bad(`unknown message type ${t}`);
  const from = r.varint(), to = r.varint(), term = r.varint();
  let m: Message;
  switch (type) {
    case 'prevote': case 'vote':
      m = { type, from, to, term, lastIndex: r.varint(), lastTerm: r.varint(), force: flag(r) }; break;
    case 'prevoteResp': case 'voteResp':
      m = { type, from, to, term, reject: flag(r) }; break;
    case 'append': {
      const prevIndex = r.varint(), prevTerm = r.varint(), commit = r.varint();
      const n = r.varint();
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) entries.push(readEntry(r));
      m = { type, from, to, term, prevIndex, prevTerm, commit, entries }; break;
    }
    case 'appendResp':
      m = { type, from, to, term, reject: flag(r), index: r.varint(), hintTerm: r.varint(), hintIndex: r.varint() }; break;
    case 'heartbeat':
      m = { type, from, to, term, commit: r.varint(), round: r.varint() }; break;
    case 'heartbeatResp':
      m = { type, from, to, term, round: r.varint() }; break;
    case 'snapshot':
      m = { type, from, to, term, meta: readMeta(r), offset: r.varint(), data: r.blob().slice() }; break;
    case 'snapshotResp':
      m = { type, from, to, term, snapIndex: r.varint(), offset: r.varint(), done: flag(r) }; break;
    case 'timeoutNow':
      m = { type, from, to, term }; break;
    case 'propose': {
      const n = r.varint();
      const data: Uint8Array[] = [];
      for (let i = 0; i < n; i++) data.push(r.blob().slice());
      m = { type, from, to, term, data }; break;
    }
    case 'readIndex':
      m = { type, from, to, term, ctx: r.varint() }; break;
    case 'readIndexResp':
      m = { type, from, to, term, ctx: r.varint(), index: r.varint() }; break;
  }
  if (!r.done) throw bad('trailing bytes');
  return m;
}

/** A log entry's payload as stored by the durable log: type byte, then the data. */
export function encodeEntryPayload(e: Entry): Uint8Array {
  const out = new Uint8Array(e.data.length + 1);
  out[0] = ENTRY_TYPES.indexOf(e.type);
  out.set(e.data, 1);
  return out;
}

export function decodeEntryPayload(index: number, term: number, payload: Uint8Array): Entry {
  const type = ENTRY_TYPES[payload[0] ?? 255];
  if (type === undefined) throw new TrineError('RAFT_BAD_ENTRY', `log entry ${index} has an unknown type; the log is corrupt, restore this node from a peer`);
  return { index, term, type, data: payload.subarray(1) };
}

export function encodeHardState(h: HardState): Uint8Array {
  const w = new ByteWriter(24);
  w.u8(1); w.varint(h.term); w.varint(h.vote); w.varint(h.commit);
  return w.finish();
}

export function decodeHardState(b: Uint8Array): HardState {
  const r = new ByteReader(b, 'the Raft hard state');
  if (r.u8() !== 1) throw new TrineError('RAFT_BAD_STATE', 'the stored Raft hard state has an unknown version; upgrade Trine');
  return { term: r.varint(), vote: r.varint(), commit: r.varint() };
}
