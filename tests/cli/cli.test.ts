import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { VERSION } from '../../src/cli/version.ts';

const dir = mkdtempSync(join(tmpdir(), 'trine-cli-'));
function trine(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8', env: { ...process.env, ...env, HOME: dir }, input: '',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('VERSION equals package.json version, and --version prints it', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  assert.is(VERSION, pkg.version);
  const r = trine(['--version']);
  assert.is(r.code, 0);
  assert.match(r.out, VERSION);
});

test('keygen writes a 0600 private key and a .pub line; fingerprint prints SHA256 of it', () => {
  const f = join(dir, 'id');
  const r = trine(['keygen', '-f', f, '-C', 'ops@site']);
  assert.is(r.code, 0, r.err);
  assert.is(statSync(f).mode & 0o777, 0o600);
  const pub = readFileSync(`${f}.pub`, 'utf8');
  assert.match(pub, /^trine-x25519 [A-Za-z0-9+/]{43}= ops@site\n$/);
  const fp = trine(['fingerprint', `${f}.pub`]);
  assert.is(fp.code, 0);
  assert.match(fp.out, /^SHA256:[A-Za-z0-9+/]{43} ops@site \(x25519\)\n$/);
  assert.ok(r.out.includes(fp.out.split(' ')[0]!), 'keygen prints the same fingerprint');
  assert.is(trine(['fingerprint', f]).out, fp.out);
});

test('keygen --passphrase takes TRINE_PASSPHRASE and refuses without a terminal otherwise', () => {
  const f = join(dir, 'sealed');
  const ok = trine(['keygen', '-f', f, '--passphrase'], { TRINE_PASSPHRASE: 'hunter2!' });
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, /protected by your passphrase/);
  const env = { ...process.env };
  delete env['TRINE_PASSPHRASE'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'keygen', '-f', join(dir, 'x'), '--passphrase'], { encoding: 'utf8', env, input: '' });
  assert.is(r.status, 1);
  assert.match(r.stderr, /\[PROMPT_NO_TTY\]/);
});

test('errors print a sentence and a code, with exit status 1', () => {
  const r = trine(['fingerprint', join(dir, 'missing')]);
  assert.is(r.code, 1);
  assert.match(r.err, /^trine: no key file at .* \[KEY_NOT_FOUND\]\n$/);
  const u = trine(['frobnicate']);
  assert.is(u.code, 1);
  assert.match(u.err, /\[CLI_UNKNOWN_COMMAND\]/);
  const again = trine(['keygen', '-f', join(dir, 'id')]);
  assert.match(again.err, /\[KEY_EXISTS\]/);
});

test('the same CLI source runs on Bun and Deno (their npm packages bring the runtimes)', () => {
  const f = join(dir, 'portable');
  assert.is(trine(['keygen', '-f', f, '-C', 'p']).code, 0);
  const expect = trine(['fingerprint', `${f}.pub`]).out;
  for (const [bin, pre] of [['node_modules/.bin/bun', []], ['node_modules/.bin/deno', ['run', '-A']]] as const) {
    const r = spawnSync(bin, [...pre, 'src/cli/main.ts', 'fingerprint', `${f}.pub`], { encoding: 'utf8', env: { ...process.env, HOME: dir } });
    assert.is(r.status, 0, `${bin}: ${r.stderr}`);
    assert.is(r.stdout, expect, bin);
    const v = spawnSync(bin, [...pre, 'src/cli/main.ts', 'version'], { encoding: 'utf8' });
    assert.match(v.stdout, new RegExp(`trine ${VERSION} \\((bun|deno) `));
  }
});

test.run();
