import { test } from 'uvu';
import { Buffer } from 'node:buffer';
import * as assert from 'uvu/assert';
import { encodeMessage, decodeMessage, encodeHardState, decodeHardState, encodeEntryPayload, decodeEntryPayload } from '../../src/raft/wire.ts';
import type { Message } from '../../src/raft/types.ts';

const conf = { voters: [1, 2, 3], learners: [4], removed: [5, 6] };
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const samples: Message[] = [
  { type: 'prevote', from: 1, to: 2, term: 7, lastIndex: 100, lastTerm: 6, force: false },
  { type: 'vote', from: 1, to: 3, term: 2 ** 40, lastIndex: 2 ** 45, lastTerm: 9, force: true },
  { type: 'prevoteResp', from: 2, to: 1, term: 7, reject: true },
  { type: 'voteResp', from: 3, to: 1, term: 8, reject: false },
  { type: 'append', from: 1, to: 2, term: 8, prevIndex: 99, prevTerm: 7, commit: 98, entries: [
    { index: 100, term: 8, type: 'noop', data: new Uint8Array(0) },
    { index: 101, term: 8, type: 'normal', data: bytes(300) },
    { index: 102, term: 8, type: 'config', data: bytes(5, 9) },
  ] },
  { type: 'append', from: 1, to: 2, term: 8, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] },
  { type: 'appendResp', from: 2, to: 1, term: 8, reject: true, index: 99, hintTerm: 6, hintIndex: 80 },
  { type: 'heartbeat', from: 1, to: 2, term: 8, commit: 102, round: 17 },
  { type: 'heartbeatResp', from: 2, to: 1, term: 8, round: 17 },
  { type: 'snapshot', from: 1, to: 4, term: 8, meta: { index: 500, term: 7, conf, size: 70000 }, offset: 65536, data: bytes(4464) },
  { type: 'snapshotResp', from: 4, to: 1, term: 8, snapIndex: 500, offset: 70000, done: true },
  { type: 'timeoutNow', from: 1, to: 2, term: 8 },
  { type: 'propose', from: 2, to: 1, term: 8, data: [bytes(10), new Uint8Array(0), bytes(1000, 3)] },
  { type: 'readIndex', from: 3, to: 1, term: 8, ctx: 12345 },
  { type: 'readIndexResp', from: 1, to: 3, term: 8, ctx: 12345, index: 102 },
];

test('every message type round-trips through the wire encoding', () => {
  for (const m of samples) assert.equal(decodeMessage(encodeMessage(m)), m, m.type);
});

test('every truncation of every message is refused with RAFT_BAD_MESSAGE', () => {
  for (const m of samples) {
    const b = encodeMessage(m);
    for (let n = 0; n < b.length; n += Math.max(1, Math.floor(b.length / 200))) {
      assert.throws(() => decodeMessage(b.subarray(0, n)), (e: any) => e.code === 'RAFT_BAD_MESSAGE', `${m.type} cut at ${n}`);
    }
  }
});

test('trailing bytes, unknown versions and unknown types are refused', () => {
  const b = encodeMessage(samples[0]!);
  const longer = new Uint8Array(b.length + 1); longer.set(b);
  assert.throws(() => decodeMessage(longer), (e: any) => e.code === 'RAFT_BAD_MESSAGE');
  const v = b.slice(); v[0] = 99;
  assert.throws(() => decodeMessage(v), /wire version 99/);
  const t = b.slice(); t[1] = 200;
  assert.throws(() => decodeMessage(t), /unknown message type 200/);
});

test('random bytes never crash the decoder: they decode or raise RAFT_BAD_MESSAGE (seeded)', () => {
  let s = 0x9e3779b9;
  const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (let i = 0; i < 20000; i++) {
    const b = Uint8Array.from({ length: rnd() % 64 }, () => rnd() & 0xff);
    if (b.length > 1 && rnd() % 2) { b[0] = 1; b[1] = rnd() % 14; }
    try { decodeMessage(b); } catch (e: any) { assert.is(e.code, 'RAFT_BAD_MESSAGE', `input ${Buffer.from(b).toString('hex')}`); }
  }
});

test('hard state and entry payloads round-trip', () => {
  const h = { term: 2 ** 33, vote: 3, commit: 123456 };
  assert.equal(decodeHardState(encodeHardState(h)), h);
  const e = { index: 5, term: 2, type: 'config' as const, data: bytes(17) };
  assert.equal(decodeEntryPayload(5, 2, encodeEntryPayload(e)), e);
  assert.throws(() => decodeEntryPayload(5, 2, Uint8Array.of(9)), (x: any) => x.code === 'RAFT_BAD_ENTRY');
});

test.run();
