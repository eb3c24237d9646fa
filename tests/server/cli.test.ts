/**
 * The command line end to end, as a new user runs it: `trine init` (creates the user key and the
 * node), `trine start` in a child process, `trine sql` with the fingerprint prompt (TOFU) answered
 * on stdin, `--fingerprint`, a refused changed key, `trine status`, and SIGTERM stopping cleanly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { freePorts, tempDir } from './helpers.ts';

const home = tempDir('cli-home');
const env = { ...process.env, HOME: home, TRINE_PASSPHRASE: '' };
delete (env as Record<string, string | undefined>)['TRINE_PASSPHRASE'];

function trine(args: string[], input = '') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env, input, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function waitFor(child: ChildProcess, pattern: RegExp, limitMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${limitMs} ms; output: ${out}`)), limitMs);
    child.stdout!.on('data', (d) => {
      out += String(d);
      if (pattern.test(out)) { clearTimeout(timer); resolve(out); }
    });
  });
}

test('init, start, sql with TOFU, status, and a clean stop on SIGTERM', async () => {
  const [port] = await freePorts(1);
  const addr = `127.0.0.1:${port}`;
  const init = trine(['init', '--listen', addr]);
  assert.is(init.code, 0, init.err);
  assert.match(init.out, /Initialised node \d+/);
  const fp = /fingerprint: (SHA256:\S+)/.exec(init.out)![1]!;

  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const started = await waitFor(child, /Press Ctrl-C/);
    assert.ok(started.includes(fp), 'start prints the fingerprint init printed');

    // First contact: the prompt shows the fingerprint; "no" refuses, "yes" records the key.
    const no = trine(['sql', addr, '-c', 'SELECT 1'], 'no\n');
    assert.is(no.code, 1);
    assert.ok(no.err.includes(fp), no.err);
    const yes = trine(['sql', addr, '-c', 'CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t (b) VALUES (\'x\'), (\'y\')'], 'yes\n');
    assert.is(yes.code, 0, yes.err);
    assert.match(yes.out, /OK, 2 rows changed/);
    // Known now: no question asked; a script on stdin prints tables.
    const q = trine(['sql', addr], 'SELECT a, b\n  FROM t ORDER BY a;\n');
    assert.is(q.code, 0, q.err);
    assert.equal(q.out.split('\n').filter((l) => l.startsWith('|')), ['| a | b |', '| 1 | x |', '| 2 | y |']);
    const st = trine(['status', addr]);
    assert.is(st.code, 0, st.err);
    assert.match(st.out, /leader, term \d+/);

    // --fingerprint with a fresh known_hosts: the right one connects, a wrong one is refused.
    const kh = join(home, 'other_known_hosts');
    assert.is(trine(['sql', addr, '--known-hosts', kh, '--fingerprint', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '-c', 'SELECT 1']).code, 1);
    assert.is(trine(['sql', addr, '--known-hosts', kh, '--fingerprint', fp, '-c', 'SELECT 1']).code, 0);
    // A changed server key is refused loudly.
    writeFileSync(kh, `${addr} trine-x25519 ${Buffer.alloc(32, 7).toString('base64')}\n`);
    const changed = trine(['sql', addr, '--known-hosts', kh, '--accept-new', '-c', 'SELECT 1']);
    assert.is(changed.code, 1);
    assert.match(changed.err, /HAS CHANGED/);
  } finally {
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.is(await exited, 0);
  }
});

test.run();
