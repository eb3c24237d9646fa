/**
 * Raft over the real storage: three drivers whose state machine is the encrypted LSM engine and
 * whose log is the encrypted LogStore. Replication, restart with log replay over the engine's
 * durable state, and catch-up through an engine snapshot stream.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LsmEngine } from '../../src/storage/engine.ts';
import { RaftDriver } from '../../src/raft/driver.ts';
import type { NodeId } from '../../src/raft/types.ts';
import { Hub } from '../../tools/raft-net-cluster.ts';
import {
  BOUNDARY_KEY, EngineStateMachine, decodeBoundary, decodeCommand, encodeBoundary, encodeWriteBatch,
} from '../../src/server/state-machine.ts';

const KEY = new Uint8Array(32).fill(9);
const enc = new TextEncoder(), dec = new TextDecoder();
const base = mkdtempSync(join(tmpdir(), 'trine-sm-'));
let n = 0;

test('write batches and boundaries round-trip; malformed commands and system keys are refused', () => {
  const ops = [
    { type: 'put' as const, key: Uint8Array.of(2, 1), value: enc.encode('x') },
    { type: 'del' as const, key: Uint8Array.of(2, 2) },
  ];
  const back = decodeCommand(encodeWriteBatch(ops));
  assert.equal(back.ops.map((o) => [o.type, [...o.key]]), [['put', [2, 1]], ['del', [2, 2]]]);
  const b = encodeWriteBatch(ops);
  for (let cut = 0; cut < b.length; cut++) assert.throws(() => decodeCommand(b.subarray(0, cut)), (e: any) => e.code === 'SERVER_BAD_COMMAND');
  assert.throws(() => encodeWriteBatch([{ type: 'del', key: BOUNDARY_KEY }]), (e: any) => e.code === 'SERVER_RESERVED_KEY');
  const bd = { index: 2 ** 40, term: 7, conf: { voters: [1, 2], learners: [3], removed: [4] } };
  assert.equal(decodeBoundary(encodeBoundary(bd)), bd);
  assert.equal(decodeBoundary(encodeBoundary({ index: 0, term: 0, conf: null })), { index: 0, term: 0, conf: null });
});

interface Node { id: NodeId; engine: LsmEngine; sm: EngineStateMachine; d: RaftDriver }

async function boot(hub: Hub, dir: string, id: NodeId, initial?: NodeId[], raft = {}): Promise<Node> {
  const engine = LsmEngine.open(join(dir, `data-${id}`), { masterKey: KEY });
  const sm = new EngineStateMachine(engine);
  const d = await RaftDriver.open({ id, dir: join(dir, `raft-${id}`), masterKey: KEY, transport: hub.transport(id), stateMachine: sm, initial, raft });
  return { id, engine, sm, d };
}

async function stop(hub: Hub, x: Node, flush: boolean) {
  hub.down.add(x.id);
  await x.d.close();
  await x.engine.close({ flush });
  hub.down.delete(x.id);
}

async function put(nodes: Node[], k: string, v: string): Promise<void> {
  const batch = encodeWriteBatch([{ type: 'put', key: enc.encode(`\x02${k}`), value: enc.encode(v) }]);
  for (let attempt = 0; ; attempt++) {
    const leader = nodes.find((x) => x.d.status().role === 'leader') ?? nodes[attempt % nodes.length]!;
    try { await leader.d.propose(batch); return; } catch (e: any) {
      if (attempt > 500 || !['RAFT_NO_LEADER', 'RAFT_TIMEOUT', 'RAFT_LEADER_CHANGED'].includes(e.code)) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

function contents(x: Node): string[] {
  return [...x.engine.scan({ gte: Uint8Array.of(1) })].map((e) => `${dec.decode(e.key)}=${dec.decode(e.value)}`);
}

async function until(what: string, f: () => boolean, limitMs = 20_000) {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('three engines receive the same writes; a restart without a flush replays the Raft log', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++n}`);
  let nodes = await Promise.all([1, 2, 3].map((id) => boot(hub, dir, id, [1, 2, 3])));
  for (let i = 0; i < 50; i++) await put(nodes, `k${String(i).padStart(3, '0')}`, `v${i}`);
  await until('all applied', () => nodes.every((x) => contents(x).length === 50));
  const expect = contents(nodes[0]!);
  for (const x of nodes) assert.equal(contents(x), expect);
  // Crash-like stop: nothing flushed, the engine comes back empty and the log replays.
  const victim = nodes[2]!;
  await stop(hub, victim, false);
  const back = await boot(hub, dir, victim.id);
  nodes = [nodes[0]!, nodes[1]!, back];
  await put(nodes, 'after', 'restart');
  await until('replayed everywhere', () => nodes.every((x) => contents(x).length === 51));
  assert.equal(contents(back), contents(nodes[0]!));
  for (const x of nodes) { await x.d.close(); await x.engine.close(); }
});

test('a node that missed compacted history catches up from an engine snapshot stream and restarts from it', async () => {
  const hub = new Hub();
  const dir = join(base, `c${++n}`);
  const raft = { snapshotThreshold: 16 };
  const nodes = await Promise.all([1, 2, 3].map((id) => boot(hub, dir, id, [1, 2, 3], raft)));
  await until('leader', () => nodes.some((x) => x.d.status().role === 'leader'));
  const lag = nodes.find((x) => x.d.status().role !== 'leader')!;
  await stop(hub, lag, true);
  hub.down.add(lag.id);
  const rest = nodes.filter((x) => x !== lag);
  for (let i = 0; i < 60; i++) await put(rest, `s${String(i).padStart(3, '0')}`, `${i}`);
  await until('compacted', () => rest.some((x) => x.d.status().snapIndex > 16));
  hub.down.delete(lag.id);
  const back = await boot(hub, dir, lag.id, undefined, raft);
  await until('caught up', () => contents(back).length === 60);
  assert.equal(contents(back), contents(rest[0]!));
  assert.ok(back.sm.applied().index >= 60);
  await back.d.close();
  await back.engine.close();
  const again = await boot(hub, dir, lag.id, undefined, raft);
  await put([...rest, again], 'tail', 'end');
  await until('after restart', () => contents(again).length === 61);
  for (const x of [...rest, again]) { await x.d.close(); await x.engine.close(); }
});

test.run();
