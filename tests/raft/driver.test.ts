/**
 * The Raft driver on real timers, real files (the encrypted LogStore) and an in-process transport:
 * founding a cluster, writes through leader and followers, failover after the leader stops,
 * restart from disk, log compaction and snapshot catch-up, and durability of acknowledged writes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftDriver } from '../../src/raft/driver.ts';
import type { NodeId } from '../../src/raft/types.ts';
import { Hub, KvMachine } from '../../tools/raft-net-cluster.ts';

const KEY = new Uint8Array(32).fill(42);
const enc = new TextEncoder();

const base = mkdtempSync(join(tmpdir(), 'trine-raft-driver-'));
let clusterNo = 0;

interface Member { id: NodeId; dir: string; sm: KvMachine; d: RaftDriver }

async function start(hub: Hub, dir: string, id: NodeId, initial: NodeId[] | 'join' | undefined, raft = {}): Promise<Member> {
  const sm = new KvMachine(join(dir, `sm-${id}.json`));
  const d = await RaftDriver.open({ id, dir: join(dir, `raft-${id}`), masterKey: KEY, transport: hub.transport(id), stateMachine: sm, initial, raft });
  return { id, dir, sm, d };
}

async function until<T>(what: string, f: () => T | undefined | false, limitMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const leaderOf = (ms: Member[]) => ms.find((m) => m.d.status().role === 'leader');

async function write(ms: Member[], k: string, v: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const m = leaderOf(ms) ?? ms[attempt % ms.length]!;
    try {
      return await m.d.propose(enc.encode(`${k}=${v}`));
    } catch (e: any) {
      if (attempt > 200 || !['RAFT_NO_LEADER', 'RAFT_TIMEOUT', 'RAFT_LEADER_CHANGED'].includes(e.code)) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

test('three nodes found a cluster, elect one leader, and apply writes from leader and followers in one order', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++clusterNo}`);
  const ms = await Promise.all([1, 2, 3].map((id) => start(hub, dir, id, [1, 2, 3])));
  const leader = await until('a leader', () => leaderOf(ms));
  assert.equal([...leader.d.status().conf.voters], [1, 2, 3]);
  const follower = ms.find((m) => m !== leader)!;
  // Through the leader and through a follower (which forwards); clients retry on leader changes.
  const viaLeader = async (k: string) => { for (;;) { try { return await (leaderOf(ms) ?? leader).d.propose(enc.encode(k)); } catch (e: any) { if (e.code !== 'RAFT_LEADER_CHANGED' && e.code !== 'RAFT_NO_LEADER') throw e; await new Promise((r) => setTimeout(r, 20)); } } };
  const viaFollower = async (k: string) => { for (;;) { try { return await follower.d.propose(enc.encode(k)); } catch (e: any) { if (e.code !== 'RAFT_LEADER_CHANGED' && e.code !== 'RAFT_NO_LEADER') throw e; await new Promise((r) => setTimeout(r, 20)); } } };
  const i1 = await viaLeader('a=1');
  const i2 = await viaFollower('b=2');
  assert.ok(i2 > i1);
  await until('all applied', () => ms.every((m) => m.sm.data.get('b') === '2'));
  for (const m of ms) assert.equal(m.sm.applyLog, leader.sm.applyLog, `node ${m.id} applied another order`);
  await leader.d.readBarrier();
  await follower.d.readBarrier();
  assert.is(follower.sm.data.get('a'), '1');
  await Promise.all(ms.map((m) => m.d.close()));
});

test('after the leader stops, the other two elect a new leader that accepts writes, losing nothing acknowledged', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++clusterNo}`);
  const ms = await Promise.all([1, 2, 3].map((id) => start(hub, dir, id, [1, 2, 3])));
  const acked: string[] = [];
  for (let i = 0; i < 20; i++) { await write(ms, `k${i}`, `${i}`); acked.push(`k${i}`); }
  const old = await until('a leader', () => leaderOf(ms));
  hub.down.add(old.id);
  await old.d.close();
  const rest = ms.filter((m) => m !== old);
  const t0 = Date.now();
  await write(rest, 'after', 'failover');
  const failoverMs = Date.now() - t0;
  console.log(`    failover: new leader accepted a write ${failoverMs} ms after the old one stopped`);
  for (const m of rest) {
    await until(`node ${m.id} applied`, () => m.sm.data.get('after') === 'failover');
    for (const k of acked) assert.ok(m.sm.data.has(k), `node ${m.id} lost ${k}`);
  }
  await Promise.all(rest.map((m) => m.d.close()));
});

test('a node restarts from its log and state machine file and catches up with what it missed', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++clusterNo}`);
  let ms = await Promise.all([1, 2, 3].map((id) => start(hub, dir, id, [1, 2, 3])));
  for (let i = 0; i < 10; i++) await write(ms, `x${i}`, 'a');
  const victim = ms.find((m) => m.d.status().role !== 'leader')!;
  victim.sm.flush();
  hub.down.add(victim.id);
  await victim.d.close();
  const rest = ms.filter((m) => m !== victim);
  for (let i = 0; i < 10; i++) await write(rest, `y${i}`, 'b');
  hub.down.delete(victim.id);
  const back = await start(hub, dir, victim.id, undefined);
  ms = [...rest, back];
  await until('restarted node caught up', () => back.sm.data.get('y9') === 'b');
  assert.is(back.sm.data.get('x0'), 'a');
  await Promise.all(ms.map((m) => m.d.close()));
});

test('the whole cluster restarts and keeps every acknowledged write (state from log replay)', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++clusterNo}`);
  let ms = await Promise.all([1, 2, 3].map((id) => start(hub, dir, id, [1, 2, 3])));
  for (let i = 0; i < 30; i++) await write(ms, `w${i}`, `${i}`);
  // No state machine flush: everything must come back from the Raft log.
  await Promise.all(ms.map((m) => m.d.close()));
  ms = await Promise.all([1, 2, 3].map((id) => start(hub, dir, id, undefined)));
  await write(ms, 'fresh', 'yes');
  for (const m of ms) {
    await until(`node ${m.id} replayed`, () => m.sm.data.get('fresh') === 'yes');
    for (let i = 0; i < 30; i++) assert.is(m.sm.data.get(`w${i}`), `${i}`);
  }
  await Promise.all(ms.map((m) => m.d.close()));
});

test('compaction drops the log, and a node that fell behind the snapshot catches up through it', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++clusterNo}`);
  const raft = { snapshotThreshold: 20 };
  let ms = await Promise.all([1, 2, 3].map((id) => start(hub, dir, id, [1, 2, 3], raft)));
  await until('a leader', () => leaderOf(ms));
  const lagger = ms.find((m) => m.d.status().role !== 'leader')!;
  hub.down.add(lagger.id);
  await lagger.d.close();
  const rest = ms.filter((m) => m !== lagger);
  for (let i = 0; i < 80; i++) await write(rest, `s${i}`, `${i}`);
  const leader = await until('a leader', () => leaderOf(rest));
  await until('leader compacted', () => leader.d.status().snapIndex > 20);
  hub.down.delete(lagger.id);
  const back = await start(hub, dir, lagger.id, undefined, raft);
  ms = [...rest, back];
  await until('lagger caught up via snapshot', () => back.sm.data.get('s79') === '79');
  for (let i = 0; i < 80; i++) assert.is(back.sm.data.get(`s${i}`), `${i}`);
  // And it restarts cleanly from the installed snapshot.
  await back.d.close();
  const again = await start(hub, dir, lagger.id, undefined, raft);
  await write([...rest, again], 'post', 'snap');
  await until('restarted after snapshot', () => again.sm.data.get('post') === 'snap');
  assert.is(again.sm.data.get('s5'), '5');
  await Promise.all([...rest, again].map((m) => m.d.close()));
});

test('a node with no state refuses to start without being told to found or join a cluster', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++clusterNo}`);
  try {
    await start(hub, dir, 1, undefined);
    assert.unreachable();
  } catch (e: any) {
    assert.is(e.code, 'RAFT_NOT_INITIALISED');
  }
});

test.run();
