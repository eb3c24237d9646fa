/**
 * Crypto backends side by side: ChaCha20-Poly1305 seal+open MB/s at 64 B, 1200 B and 16 KiB, and
 * X25519 ops/s, for node:crypto ("native", where the runtime has it) and @noble ("noble").
 *
 *   node --import tsx tools/bench/crypto.ts      (or: bun tools/bench/crypto.ts, deno run -A ...)
 *
 * Each figure runs for about MEASURE_MS; the whole run is bounded by the number of figures.
 */
import process from 'node:process';
import { nativeBackend } from '../../src/crypto/native.ts';
import { nobleBackend } from '../../src/crypto/noble.ts';
import type { CryptoBackend } from '../../src/crypto/backend.ts';

const MEASURE_MS = Number(process.env['BENCH_MS'] ?? 600);
const SIZES = [64, 1200, 16384];

function measure(fn: () => void): number {
  // Warm up, then count calls until the time budget is spent; returns calls per second.
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MEASURE_MS) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function aeadMBs(b: CryptoBackend, size: number): number | undefined {
  const key = new Uint8Array(32).fill(1), nonce = new Uint8Array(12), ad = new Uint8Array(16);
  const pt = new Uint8Array(size).fill(7);
  try {
    const sealed = b.chachaSeal(key, nonce, pt, ad);
    if (!b.chachaOpen(key, nonce, sealed, ad)) return undefined;
  } catch {
    return undefined;
  }
  const perSec = measure(() => {
    const s = b.chachaSeal(key, nonce, pt, ad);
    b.chachaOpen(key, nonce, s, ad);
  });
  return (perSec * size) / 1e6; // bytes sealed and opened per second, in MB
}

function x25519Ops(b: CryptoBackend): number | undefined {
  const priv = new Uint8Array(32).fill(5);
  let pub: Uint8Array;
  try { pub = b.x25519Public(new Uint8Array(32).fill(9)); } catch { return undefined; }
  return measure(() => { b.x25519(priv, pub); });
}

const runtime = (globalThis as any).Bun ? `bun ${(globalThis as any).Bun.version}` : (globalThis as any).Deno ? `deno ${(globalThis as any).Deno.version.deno}` : `node ${process.versions.node}`;
console.log(`crypto benchmark on ${runtime} (seal+open per message; ${MEASURE_MS} ms per figure)`);
const fmt = (v: number | undefined, unit: string) => (v === undefined ? 'n/a'.padStart(12) : `${v.toFixed(1)} ${unit}`.padStart(12));
console.log(`${'figure'.padEnd(24)}${'native'.padStart(12)}${'noble'.padStart(12)}${'native/noble'.padStart(14)}`);
const row = (name: string, a: number | undefined, b: number | undefined, unit: string) =>
  console.log(`${name.padEnd(24)}${fmt(a, unit)}${fmt(b, unit)}${(a && b ? `${(a / b).toFixed(2)}x` : 'n/a').padStart(14)}`);
for (const size of SIZES) row(`AEAD ${size} B`, aeadMBs(nativeBackend, size), aeadMBs(nobleBackend, size), 'MB/s');
row('X25519', x25519Ops(nativeBackend), x25519Ops(nobleBackend), 'op/s');
