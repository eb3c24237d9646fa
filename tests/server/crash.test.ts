/**
 * Three `trine start` processes founding one cluster; the leader's process is killed with SIGKILL
 * (no goodbye, no flush) while clients write through it and through a follower. The survivors
 * elect a leader, every acknowledged write is there, the clients carry on, and the killed node,
 * restarted, recovers from its log and catches up.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import process from 'node:process';
import { initCluster } from '../../src/server/cluster.ts';
import type { TrineClient } from '../../src/client/client.ts';
import { adminUser, client, freePorts, tempDir } from './helpers.ts';

const admin = adminUser();
const home = tempDir('crash-home');

function start(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--dir', dir], { env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node in ${dir} did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d) => { out += String(d); if (out.includes('Press Ctrl-C')) { clearTimeout(timer); resolve(child); } });
    child.stderr!.on('data', (d) => { out += String(d); });
  });
}

async function leaderId(addr: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const c = await client(addr, admin.pair);
    await c.query('SELECT 1');
    const lead = c.welcome!.leader;
    await c.close();
    if (lead) return lead;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no leader');
}

test('SIGKILL of the leader process: no acknowledged write lost, clients continue, the node rejoins', async () => {
  const ports = await freePorts(3);
  const dirs = await initCluster({ dir: tempDir('crash'), size: 3, ports, admin: admin.user });
  const addr = (i: number) => `127.0.0.1:${ports[i]}`;
  const procs: (ChildProcess | undefined)[] = await Promise.all(dirs.map(start));
  const clients: TrineClient[] = [];
  try {
    const lead = await leaderId(addr(0));
    const li = lead - 1;
    const fi = (li + 1) % 3;
    const cl = await client(addr(li), admin.pair);
    const cf = await client(addr(fi), admin.pair);
    clients.push(cl, cf);
    await cl.query('CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)');
    const acked: number[] = [];
    let stop = false;
    const writers = [cl, cf].map(async (c, j) => {
      for (let i = 0; !stop || i < 5; i++) {
        const key = 1000 * (j + 1) + i;
        await c.query('INSERT INTO kv VALUES (?, ?)', [key, 'w']);
        acked.push(key);
        if (i > 400) break;
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    procs[li]!.kill('SIGKILL');
    procs[li] = undefined;
    const before = acked.length;
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(writers);
    assert.ok(acked.length > before, 'writes continued after the crash');

    const check = await client(addr(fi), admin.pair);
    clients.push(check);
    const rows = (await check.query('SELECT k FROM kv ORDER BY k')).rows.map((x) => x[0] as number);
    for (const a of acked) assert.ok(rows.includes(a), `acknowledged write ${a} lost`);

    // The killed node restarts from its own log and catches up.
    procs[li] = await start(dirs[li]!);
    const back = await client(addr(li), admin.pair);
    clients.push(back);
    const t0 = Date.now();
    let local: number[] = [];
    while (Date.now() - t0 < 20_000) {
      local = (await back.query('SELECT k FROM kv ORDER BY k', [], { consistency: 'none' }).catch(() => ({ rows: [] as unknown[][] }))).rows.map((x) => x[0] as number);
      if (local.length >= rows.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(local.slice(0, rows.length), rows);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(procs.map((p) => p && new Promise<void>((r) => { p.on('exit', () => r()); p.kill('SIGTERM'); })));
  }
});

test.run();
