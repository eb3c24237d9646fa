import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { VERSION } from '../../src/cli/version.ts';
import { main } from '../../src/cli/main.ts';
import { parseCacheSize } from '../../src/cli/node-commands.ts';

const dir = mkdtempSync(join(tmpdir(), 'trine-cli-'));

/** Runs the CLI in this process (no start-up cost per call), capturing what it prints. */
async function trine(args: string[], env: Record<string, string | undefined> = {}) {
  let out = '', err = '';
  const ow = process.stdout.write.bind(process.stdout), ew = process.stderr.write.bind(process.stderr);
  const log = console.log;
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) { saved[k] = process.env[k]; if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  (process.stdout as any).write = (s: string) => { out += s; return true; };
  (process.stderr as any).write = (s: string) => { err += s; return true; };
  console.log = (...a: unknown[]) => { out += `${a.join(' ')}\n`; };
  try {
    const code = await main(['node', 'trine', ...args]);
    return { code, out, err };
  } finally {
    (process.stdout as any).write = ow; (process.stderr as any).write = ew; console.log = log;
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  }
}

test('VERSION equals package.json version, and the real command prints it with --version', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  assert.is(VERSION, pkg.version);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--version'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, VERSION);
});

test('keygen writes a 0600 private key and a .pub line; fingerprint prints SHA256 of it', async () => {
  const f = join(dir, 'id');
  const r = await trine(['keygen', '-f', f, '-C', 'ops@site']);
  assert.is(r.code, 0, r.err);
  assert.is(statSync(f).mode & 0o777, 0o600);
  const pub = readFileSync(`${f}.pub`, 'utf8');
  assert.match(pub, /^trine-x25519 [A-Za-z0-9+/]{43}= ops@site\n$/);
  const fp = await trine(['fingerprint', `${f}.pub`]);
  assert.is(fp.code, 0);
  assert.match(fp.out, /^SHA256:[A-Za-z0-9+/]{43} ops@site \(x25519\)\n$/);
  assert.ok(r.out.includes(fp.out.split(' ')[0]!), 'keygen prints the same fingerprint');
  assert.is((await trine(['fingerprint', f])).out, fp.out);
});

test('keygen --passphrase takes TRINE_PASSPHRASE and refuses without a terminal otherwise', async () => {
  const ok = await trine(['keygen', '-f', join(dir, 'sealed'), '--passphrase'], { TRINE_PASSPHRASE: 'hunter2!' });
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, /protected by your passphrase/);
  if (process.stdin.isTTY) return; // run by hand in a terminal: the prompt would wait for a person
  const r = await trine(['keygen', '-f', join(dir, 'x'), '--passphrase'], { TRINE_PASSPHRASE: undefined });
  assert.is(r.code, 1);
  assert.match(r.err, /\[PROMPT_NO_TTY\]/);
});

test('errors print a sentence and a code, with exit status 1', async () => {
  const r = await trine(['fingerprint', join(dir, 'missing')]);
  assert.is(r.code, 1);
  assert.match(r.err, /^trine: no key file at .* \[KEY_NOT_FOUND\]\n$/);
  const u = await trine(['frobnicate']);
  assert.is(u.code, 1);
  assert.match(u.err, /\[CLI_UNKNOWN_COMMAND\]/);
  const again = await trine(['keygen', '-f', join(dir, 'id')]);
  assert.match(again.err, /\[KEY_EXISTS\]/);
});

test('--cache sizes: units, shares of memory, and a clear refusal of anything else', () => {
  const GiB = 2 ** 30;
  assert.is(parseCacheSize('512MiB'), 512 * 2 ** 20);
  assert.is(parseCacheSize('2GiB'), 2 * GiB);
  assert.is(parseCacheSize('2g'), 2 * GiB);
  assert.is(parseCacheSize('1.5 GB'), 1.5e9);
  assert.is(parseCacheSize(' 64M '), 64 * 2 ** 20);
  assert.is(parseCacheSize(67108864), 67108864);
  assert.is(parseCacheSize('25%', 16 * GiB), 4 * GiB);
  for (const bad of ['', 'lots', '12 parsecs', '-1GiB', '100', '0.5MiB', '95%', '1e9']) {
    try {
      parseCacheSize(bad, 16 * GiB);
      assert.unreachable(`accepted --cache ${bad}`);
    } catch (e) {
      assert.is((e as { code?: string }).code, 'CLI_BAD_CACHE_SIZE', `--cache ${bad}`);
      assert.match(String((e as Error).message), /e\.g\. 512MiB/);
    }
  }
});

test('the same CLI source runs on Bun and Deno (their npm packages bring the runtimes)', async () => {
  const f = join(dir, 'portable');
  assert.is((await trine(['keygen', '-f', f, '-C', 'p'])).code, 0);
  const expect = (await trine(['fingerprint', `${f}.pub`])).out;
  for (const [bin, pre] of [['node_modules/.bin/bun', []], ['node_modules/.bin/deno', ['run', '-A']]] as const) {
    const r = spawnSync(bin, [...pre, 'src/cli/main.ts', 'fingerprint', `${f}.pub`], { encoding: 'utf8', env: { ...process.env, HOME: dir } });
    assert.is(r.status, 0, `${bin}: ${r.stderr}`);
    assert.is(r.stdout, expect, bin);
    const v = spawnSync(bin, [...pre, 'src/cli/main.ts', 'version'], { encoding: 'utf8' });
    assert.match(v.stdout, new RegExp(`trine ${VERSION} \\((bun|deno) `));
  }
});

test.run();
