/**
 * A state machine image replaced by an older copy of itself: the driver replays what the log still
 * holds, and refuses to start once the log was trimmed past the old image (data would be lost).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftDriver } from '../../src/raft/driver.ts';
import { Hub, KvMachine } from '../../tools/raft-net-cluster.ts';

const KEY = new Uint8Array(32).fill(43);
const enc = new TextEncoder();
const base = mkdtempSync(join(tmpdir(), 'trine-raft-rollback-'));

async function open(dir: string, snapshotThreshold: number) {
  const sm = new KvMachine(join(dir, 'sm.json'));
  const d = await RaftDriver.open({ id: 1, dir: join(dir, 'raft'), masterKey: KEY, transport: new Hub().transport(1), stateMachine: sm, initial: [1], raft: { snapshotThreshold } });
  return { sm, d };
}

async function until(what: string, f: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > 20_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function writes(d: RaftDriver, from: number, to: number): Promise<void> {
  await until('a leader', () => d.status().role === 'leader');
  for (let i = from; i < to; i++) await d.propose(enc.encode(`k${i}=${i}`));
}

test('an older state machine image is caught up from the log while the log still reaches back to it', async () => {
  const dir = join(base, 'kept');
  let n = await open(dir, 1_000_000);
  await writes(n.d, 0, 10);
  n.sm.flush();
  await n.d.close();
  copyFileSync(join(dir, 'sm.json'), join(dir, 'old.json'));
  n = await open(dir, 1_000_000);
  await writes(n.d, 10, 20);
  n.sm.flush();
  await n.d.close();
  copyFileSync(join(dir, 'old.json'), join(dir, 'sm.json'));
  n = await open(dir, 1_000_000);
  await until('replayed', () => n.sm.data.get('k19') === '19');
  for (let i = 0; i < 20; i++) assert.is(n.sm.data.get(`k${i}`), `${i}`);
  await n.d.close();
});

test('an older state machine image behind the trimmed log is refused with RAFT_LOG_GAP', async () => {
  const dir = join(base, 'trimmed');
  let n = await open(dir, 20);
  await writes(n.d, 0, 5);
  n.sm.flush();
  await n.d.close();
  copyFileSync(join(dir, 'sm.json'), join(dir, 'old.json'));
  n = await open(dir, 20);
  await writes(n.d, 5, 80);
  const d = n.d;
  await until('the log compacted past the old image', () => d.status().snapIndex > 20);
  await d.close();
  copyFileSync(join(dir, 'old.json'), join(dir, 'sm.json'));
  try {
    await open(dir, 20);
    assert.unreachable('a node whose data is older than its trimmed log started');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'RAFT_LOG_GAP', String(e));
    assert.match(String((e as Error).message), /restore this node from a backup or re-join it/);
  }
});

test.run();
