/** Shared setup for transport tests: two endpoints on a seeded simulated network. */
import { x25519PublicKey } from '../../src/crypto/index.ts';
import { Endpoint } from '../../src/net/endpoint.ts';
import type { Connection, ConnectionEvent } from '../../src/net/connection.ts';
import type { Limits } from '../../src/net/limits.ts';
import { Prng, SimNetwork, type LinkConfig } from '../../src/net/sim-network.ts';

export const SERVER = '10.0.0.1:7000';
export const CLIENT = '10.0.0.2:50000';

export interface World {
  net: SimNetwork;
  rng: Prng;
  server: Endpoint;
  client: Endpoint;
  serverKey: Uint8Array;
  clientKey: Uint8Array;
  clientPrivate: Uint8Array;
  serverPrivate: Uint8Array;
  /** Server-side connections in the order they were confirmed. */
  accepted: Connection[];
  authorized: Set<string>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export function world(seed: number, link: LinkConfig = {}, limits: Partial<Limits> = {}, opts: { authorizeClient?: boolean } = {}): World {
  const rng = new Prng(seed);
  const random = (n: number) => rng.bytes(n);
  const serverPrivate = rng.bytes(32), clientPrivate = rng.bytes(32);
  const authorized = new Set<string>();
  const clientKey = x25519PublicKey(clientPrivate);
  if (opts.authorizeClient !== false) authorized.add(hex(clientKey));
  const server = new Endpoint({ staticPrivate: serverPrivate, random, limits, authorize: (k) => (authorized.has(hex(k)) ? { user: 'alice' } : undefined) });
  const client = new Endpoint({ staticPrivate: clientPrivate, random, limits });
  const net = new SimNetwork(seed ^ 0x5eed, link);
  net.add(SERVER, server);
  net.add(CLIENT, client);
  const w: World = { net, rng, server, client, serverKey: x25519PublicKey(serverPrivate), clientKey, clientPrivate, serverPrivate, accepted: [], authorized };
  return w;
}

/** Collects endpoint events into `accepted` (server) and returns connection events drained from `c`. */
export function drain(w: World, c?: Connection): ConnectionEvent[] {
  for (let e = w.server.pollEvent(); e; e = w.server.pollEvent()) if (e.type === 'connection') w.accepted.push(e.connection);
  const out: ConnectionEvent[] = [];
  if (c) for (let e = c.pollEvent(); e; e = c.pollEvent()) out.push(e);
  return out;
}

/** Connects and runs until both sides are established; returns [client, server] connections. */
export function establish(w: World, maxMs = 60_000): [Connection, Connection] {
  const c = w.client.connect(w.net.now, SERVER, w.serverKey);
  let established = false;
  const ok = w.net.runUntil(() => established && w.accepted.length > 0, maxMs, () => {
    for (const e of drain(w, c)) {
      if (e.type === 'established') established = true;
      if (e.type === 'closed') throw new Error(`client closed during handshake: ${e.error?.message ?? e.reason}`);
    }
  });
  if (!ok) throw new Error('handshake did not complete');
  return [c, w.accepted[w.accepted.length - 1]!];
}

/** Deterministic message content: stream id, index and length encoded so corruption or reordering shows. */
export function makeMessage(streamId: number, index: number, len: number): Uint8Array {
  const m = new Uint8Array(len);
  let x = (streamId * 2654435761 + index * 40503 + 1) >>> 0;
  for (let i = 0; i < len; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; m[i] = x >>> 24; }
  if (len >= 8) { new DataView(m.buffer).setUint32(0, streamId); new DataView(m.buffer).setUint32(4, index); }
  return m;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Prints the seed and replay command when a randomised test fails. */
export function withSeed<T>(file: string, seed: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    console.error(`\n  failing seed: ${seed}\n  replay: SEED=${seed} node --import tsx ${file}\n`);
    throw e;
  }
}

export function seedFromEnv(fallback: number): number {
  const s = process.env['SEED'];
  return s ? Number(s) : fallback;
}
