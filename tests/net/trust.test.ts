/** Trust on first use: prompts, --fingerprint, --accept-new, and a changed key refused loudly. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint, isTrineError, KnownHosts, randomBytes, x25519PublicKey } from '../../src/crypto/index.ts';
import { connectTrusted, trustServer } from '../../src/net/trust.ts';
import { listen } from '../../src/net/udp.ts';

const dir = mkdtempSync(join(tmpdir(), 'trine-trust-'));
const keyA = x25519PublicKey(randomBytes(32));
const keyB = x25519PublicKey(randomBytes(32));
const fetchA = async () => keyA;
const fetchB = async () => keyB;
const quiet = () => {};
let n = 0;
const file = () => join(dir, `known_hosts_${n++}`);

test('first contact: the person is asked, and a yes records the key', async () => {
  const path = file();
  let asked = '';
  const key = await trustServer('10.0.0.1:7420', { knownHostsPath: path, fetchKey: fetchA, print: quiet, prompt: async (q) => { asked = q; return true; } });
  assert.equal(key, keyA);
  assert.ok(asked.includes(fingerprint(keyA)), 'the question shows the fingerprint');
  assert.is((await KnownHosts.load(path)).check('10.0.0.1:7420', keyA), 'known');
  // Second time: no question.
  const again = await trustServer('10.0.0.1:7420', { knownHostsPath: path, fetchKey: fetchA, print: quiet, prompt: async () => { throw new Error('must not ask'); } });
  assert.equal(again, keyA);
});

test('a no (or no way to ask) refuses with NET_UNKNOWN_SERVER_KEY and records nothing', async () => {
  const path = file();
  let err: unknown;
  try { await trustServer('10.0.0.1:7420', { knownHostsPath: path, fetchKey: fetchA, print: quiet, prompt: async () => false }); } catch (e) { err = e; }
  assert.ok(isTrineError(err, 'NET_UNKNOWN_SERVER_KEY'));
  err = undefined;
  try { await trustServer('10.0.0.1:7420', { knownHostsPath: path, fetchKey: fetchA, print: quiet }); } catch (e) { err = e; }
  assert.ok(isTrineError(err, 'NET_UNKNOWN_SERVER_KEY'));
  assert.ok((err as Error).message.includes('--fingerprint'));
  assert.not.ok(existsSync(path));
});

test('--fingerprint accepts only the matching key', async () => {
  const path = file();
  let err: unknown;
  try { await trustServer('h.example:7420', { knownHostsPath: path, fetchKey: fetchB, print: quiet, fingerprint: fingerprint(keyA) }); } catch (e) { err = e; }
  assert.ok(isTrineError(err, 'NET_UNKNOWN_SERVER_KEY'));
  const key = await trustServer('h.example:7420', { knownHostsPath: path, fetchKey: fetchA, print: quiet, fingerprint: fingerprint(keyA) });
  assert.equal(key, keyA);
  assert.ok(readFileSync(path, 'utf8').includes('h.example:7420'));
});

test('--accept-new records a new key without asking', async () => {
  const path = file();
  const lines: string[] = [];
  await trustServer('[::1]:7420', { knownHostsPath: path, fetchKey: fetchA, print: (l) => lines.push(l), acceptNew: true });
  assert.is((await KnownHosts.load(path)).check('[::1]:7420', keyA), 'known');
  assert.ok(lines.some((l) => l.includes(fingerprint(keyA))));
});

test('a changed key is refused loudly, even with --accept-new, and known_hosts is untouched', async () => {
  const path = file();
  await trustServer('10.0.0.9:7420', { knownHostsPath: path, fetchKey: fetchA, print: quiet, acceptNew: true });
  const before = readFileSync(path, 'utf8');
  let err: unknown;
  try { await trustServer('10.0.0.9:7420', { knownHostsPath: path, fetchKey: fetchB, print: quiet, acceptNew: true, prompt: async () => true }); } catch (e) { err = e; }
  assert.ok(isTrineError(err, 'NET_SERVER_KEY_CHANGED'));
  const msg = (err as Error).message;
  assert.ok(msg.includes('CHANGED') && msg.includes(fingerprint(keyA)) && msg.includes(fingerprint(keyB)), msg);
  assert.is(readFileSync(path, 'utf8'), before);
});

test('against a real listener: the key comes over KEY_REQUEST', async () => {
  const sk = randomBytes(32);
  const server = await listen({ address: '127.0.0.1', port: 0, staticKey: sk, authorize: () => undefined });
  try {
    const key = await trustServer(`127.0.0.1:${server.address().port}`, { knownHosts: KnownHosts.empty(), print: quiet, fingerprint: fingerprint(x25519PublicKey(sk)) });
    assert.equal(key, x25519PublicKey(sk));
  } finally {
    await server.close();
  }
});

test('connectTrusted: first use records the key, the handshake completes, a second connect needs no confirmation', async () => {
  const path = file();
  const sk = randomBytes(32);
  const server = await listen({ address: '127.0.0.1', port: 0, staticKey: sk, authorize: () => 'u' });
  const address = `127.0.0.1:${server.address().port}`;
  try {
    const c1 = await connectTrusted(address, { knownHostsPath: path, print: quiet, prompt: async () => true, staticKey: randomBytes(32) });
    assert.equal(c1.peerKey, x25519PublicKey(sk));
    await c1.close(0, '', { immediate: true });
    const c2 = await connectTrusted(address, { knownHostsPath: path, print: quiet, staticKey: randomBytes(32) });
    await c2.close(0, '', { immediate: true });
  } finally {
    await server.close();
  }
});

test('nothing listening: the key fetch fails with NET_TIMEOUT, and nothing is recorded', async () => {
  const path = file();
  const { createSocket } = await import('node:dgram');
  // A bound socket that never answers, so the port is surely silent.
  const mute = createSocket('udp4');
  await new Promise<void>((r) => mute.bind(0, '127.0.0.1', () => r()));
  let err: unknown;
  try {
    await trustServer(`127.0.0.1:${mute.address().port}`, { knownHostsPath: path, print: quiet, acceptNew: true, fetchKey: (h, p) => import('../../src/net/udp.ts').then((m) => m.fetchServerKey(h, p, 600)) });
  } catch (e) { err = e; }
  mute.close();
  assert.ok(isTrineError(err, 'NET_TIMEOUT'), String(err));
  assert.not.ok(existsSync(path));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
