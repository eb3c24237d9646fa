/** Shared set-up for the server and client tests: temporary node directories, free ports, keys. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.ts';
import { KnownHosts } from '../../src/crypto/known-hosts.ts';
import { connect, type TrineClient } from '../../src/client/client.ts';

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `trine-${name}-`));
}

/** Ports that were free a moment ago (bound and released at once). */
export async function freePorts(n: number): Promise<number[]> {
  const socks = await Promise.all(Array.from({ length: n }, () => new Promise<dgram.Socket>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = socks.map((s) => s.address().port);
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

export function adminUser(name = 'admin'): { pair: KeyPair; user: { name: string; role: 'admin'; publicKey: Uint8Array; comment: string } } {
  const pair = generateKeyPair(`${name}@test`);
  return { pair, user: { name, role: 'admin', publicKey: pair.publicKey, comment: `${name}@test` } };
}

export function client(address: string, key: KeyPair, knownHosts = KnownHosts.empty()): Promise<TrineClient> {
  const i = address.lastIndexOf(':');
  return connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), key, knownHosts, acceptNew: true, print: () => undefined });
}

/** Polls `f` until it returns true (bounded: throws after `limitMs`). */
export async function until(f: () => boolean, limitMs = 20_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > limitMs) throw new Error(`${what} not reached within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Asserts that `p` rejects with an error `check` accepts (uvu has no async throws). */
export async function rejects(p: Promise<unknown>, check: (e: any) => boolean, what = 'the expected error'): Promise<void> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  if (err === undefined) throw new Error(`expected ${what}, but the call succeeded`);
  if (!check(err)) throw new Error(`expected ${what}, got ${err instanceof Error ? `${(err as any).code ?? ''} ${err.message}` : String(err)}`);
}
