/**
 * Attacks on the transport: replays, tampering, truncation, random junk, wrong keys. Each must be
 * dropped without an answer and without harming the connection.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { x25519PublicKey, isTrineError } from '../../src/crypto/index.ts';
import { INITIATION_BYTES } from '../../src/net/connection.ts';
import { KEY_REQUEST_BYTES } from '../../src/net/limits.ts';
import { PacketType, packetType } from '../../src/net/packet.ts';
import { Prng } from '../../src/net/sim-network.ts';
import { CLIENT, drain, establish, SERVER, world, type World } from './harness.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

/** Captures every datagram; counts what the server sends. */
function capture(w: World) {
  const log: { from: string; to: string; data: Uint8Array }[] = [];
  let serverSent = 0;
  w.net.tap = (t) => {
    log.push({ ...t, data: t.data.slice() });
    if (t.from === SERVER) serverSent++;
    return true;
  };
  return { log, serverSent: () => serverSent };
}

/** Sends a message client -> server and back and checks both arrive (the connection still works). */
function roundTrip(w: World, c: ReturnType<typeof establish>[0], s: ReturnType<typeof establish>[1], text: string) {
  const id = c.openStream();
  c.send(id, enc(text));
  let got: Uint8Array | undefined;
  w.net.runUntil(() => got !== undefined, 10_000, () => { drain(w, s); got = s.read(id); });
  assert.is(dec(got), text);
  s.send(id, enc(text + '!'));
  let back: Uint8Array | undefined;
  w.net.runUntil(() => back !== undefined, 10_000, () => { back = c.read(id); });
  assert.is(dec(back), text + '!');
  // Let the last acknowledgements land so counters are quiet before the attack starts.
  w.net.runUntil(() => false, 100);
}

test('a replayed DATA packet is dropped and the connection is unharmed', () => {
  const w = world(101);
  const cap = capture(w);
  const [c, s] = establish(w);
  roundTrip(w, c, s, 'first');
  const data = cap.log.filter((p) => p.from === CLIENT && packetType(p.data) === PacketType.DATA);
  assert.ok(data.length >= 2);
  const before = s.packetsIn, dropped = s.packetsDropped;
  for (const p of data) w.net.inject(CLIENT, SERVER, p.data);
  w.net.runUntil(() => false, 1000);
  assert.is(s.packetsIn, before, 'no replay was accepted');
  assert.is(s.packetsDropped, dropped + data.length);
  roundTrip(w, c, s, 'after replay');
});

test('a replayed initiation is refused without an answer, from any address', () => {
  const w = world(102);
  const cap = capture(w);
  establish(w);
  const init = cap.log.find((p) => packetType(p.data) === PacketType.INITIATION)!;
  const conns = w.server.connectionCount;
  const sentBefore = cap.serverSent();
  const logBefore = cap.log.length;
  w.net.inject(CLIENT, SERVER, init.data);
  w.net.inject('10.9.9.9:1234', SERVER, init.data);
  w.net.runUntil(() => false, 1000);
  assert.is(w.server.connectionCount, conns);
  assert.is(w.server.stats.replaysRefused, 2);
  // Only the live connection's own traffic (acks, keepalives) may appear, never a handshake answer.
  const answers = cap.log.slice(logBefore).filter((p) => p.from === SERVER && packetType(p.data) !== PacketType.DATA);
  assert.is(answers.length, 0);
  assert.ok(cap.serverSent() - sentBefore <= 2);
});

test('a flipped bit anywhere in a DATA packet: dropped, connection unharmed', () => {
  const w = world(103);
  const cap = capture(w);
  const [c, s] = establish(w);
  roundTrip(w, c, s, 'x');
  const pkt = cap.log.filter((p) => p.from === CLIENT && packetType(p.data) === PacketType.DATA).pop()!.data;
  const before = s.packetsIn;
  let injected = 0;
  for (let i = 0; i < pkt.length; i++) {
    for (let bit = 0; bit < 8; bit += 3) {
      const t = pkt.slice();
      t[i]! ^= 1 << bit;
      w.net.inject(CLIENT, SERVER, t);
      injected++;
    }
  }
  w.net.runUntil(() => false, 500);
  assert.is(s.packetsIn, before);
  assert.ok(injected > 100);
  assert.is(s.state, 'established');
  roundTrip(w, c, s, 'still fine');
});

test('a truncated DATA packet of any length is dropped', () => {
  const w = world(104);
  const cap = capture(w);
  const [c, s] = establish(w);
  roundTrip(w, c, s, 'x');
  const pkt = cap.log.filter((p) => p.from === CLIENT && packetType(p.data) === PacketType.DATA).pop()!.data;
  const before = s.packetsIn;
  for (let n = 0; n < pkt.length; n++) w.net.inject(CLIENT, SERVER, pkt.slice(0, n));
  w.net.runUntil(() => false, 500);
  assert.is(s.packetsIn, before);
  roundTrip(w, c, s, 'still fine');
});

test('a flipped bit in an initiation (outside mac2) gets no answer and no connection; truncations neither', () => {
  const w = world(105);
  const cap = capture(w);
  // Capture an initiation without delivering it.
  let init: Uint8Array | undefined;
  w.net.tap = (t) => { if (!init && packetType(t.data) === PacketType.INITIATION) { init = t.data.slice(); return false; } cap.log.push(t); return true; };
  w.client.connect(w.net.now, SERVER, w.serverKey);
  w.net.flush();
  assert.ok(init);
  assert.is(init!.length, INITIATION_BYTES);
  let serverAnswers = 0;
  w.net.tap = (t) => { if (t.from === SERVER) serverAnswers++; return false; };
  // mac2 is checked only when the server is under load, so its 16 bytes are excluded here.
  for (let i = 0; i < INITIATION_BYTES - 16; i++) {
    const t = init!.slice();
    t[i]! ^= 0x04;
    w.server.handleDatagram(w.net.now, CLIENT, t);
  }
  for (let n = 0; n < INITIATION_BYTES; n++) w.server.handleDatagram(w.net.now, CLIENT, init!.slice(0, n));
  w.net.flush();
  assert.is(serverAnswers, 0);
  assert.is(w.server.connectionCount, 0);
});

test('100,000 random datagrams at a listener: no crash, no reply, no connection', () => {
  const seed = Number(process.env['SEED'] ?? 106);
  const w = world(seed);
  const [c, s] = establish(w);
  let serverReplies = 0;
  w.net.tap = (t) => { if (t.from === SERVER) serverReplies++; return true; };
  const rng = new Prng(seed);
  const liveCid = new Uint8Array(8);
  new DataView(liveCid.buffer).setBigUint64(0, s.localCid);
  const inBefore = s.packetsIn;
  const types = [0x11, 0x12, 0x13, 0x14, 0x15, 0x16];
  try {
    for (let i = 0; i < 100_000; i++) {
      const kind = rng.int(4);
      const len = kind === 0 ? rng.int(1500) : kind === 1 ? INITIATION_BYTES : rng.int(200) + 17;
      const d = rng.bytes(len);
      if (kind >= 1 && len > 0) d[0] = types[rng.int(types.length)]!;
      if (kind === 2 && len >= 9) { d[0] = 0x14; d.set(liveCid, 1); }
      if (kind === 3 && rng.int(2) === 0) d.set(rng.bytes(0), 0);
      w.server.handleDatagram(w.net.now, `10.${rng.int(256)}.${rng.int(256)}.1:${rng.int(65536)}`, d);
    }
  } catch (e) {
    console.error(`replay: SEED=${seed} node --import tsx tests/net/security.test.ts`);
    throw e;
  }
  // Junk never gets an answer; the live connection's own traffic is all that leaves the server.
  const before = serverReplies;
  w.net.runUntil(() => false, 100);
  assert.ok(serverReplies - before <= 1, `server answered junk ${serverReplies - before} times`);
  assert.is(s.packetsIn, inBefore);
  assert.is(w.server.connectionCount, 1);
  roundTrip(w, c, s, 'survived');
});

test('an unknown client key is refused with a clear error, and the server keeps nothing', () => {
  const w = world(107, {}, {}, { authorizeClient: false });
  const c = w.client.connect(w.net.now, SERVER, w.serverKey);
  let closed: { error?: unknown } | undefined;
  w.net.runUntil(() => closed !== undefined, 60_000, () => {
    for (const e of drain(w, c)) if (e.type === 'closed') closed = e;
  });
  assert.ok(closed);
  assert.ok(isTrineError(closed!.error, 'NET_REFUSED'), String(closed!.error));
  assert.is(w.server.connectionCount, 0);
  assert.is(w.accepted.length, 0);
  assert.is(w.server.stats.refusals, 1);
});

test('a client with a wrong server key never completes and gets no answer', () => {
  const w = world(108, {}, { handshakeTimeoutMs: 20_000 });
  let serverSent = 0;
  w.net.tap = (t) => { if (t.from === SERVER) serverSent++; return true; };
  const wrong = x25519PublicKey(new Uint8Array(32).fill(7));
  const c = w.client.connect(w.net.now, SERVER, wrong);
  let closed: { error?: unknown } | undefined;
  w.net.runUntil(() => closed !== undefined, 120_000, () => {
    for (const e of drain(w, c)) if (e.type === 'closed') closed = e;
  });
  assert.ok(isTrineError(closed!.error, 'NET_TIMEOUT'), String(closed?.error));
  assert.is(serverSent, 0);
  assert.is(w.server.connectionCount, 0);
});

test('KEY_REQUEST returns the server key, in an answer smaller than the request', () => {
  const w = world(109);
  const sizes: number[] = [];
  w.net.tap = (t) => { sizes.push(t.data.length); return true; };
  w.client.requestKey(SERVER);
  let key: Uint8Array | undefined;
  w.net.runUntil(() => key !== undefined, 5000, () => {
    for (let e = w.client.pollEvent(); e; e = w.client.pollEvent()) if (e.type === 'server-key') key = e.key;
  });
  assert.equal(key, w.serverKey);
  assert.is(sizes[0], KEY_REQUEST_BYTES);
  assert.ok(sizes[1]! < sizes[0]! / 3);
  // A short request is ignored.
  let answers = 0;
  w.net.tap = (t) => { if (t.from === SERVER) answers++; return true; };
  w.server.handleDatagram(w.net.now, CLIENT, Uint8Array.of(0x15, ...new Uint8Array(40)));
  w.net.flush();
  assert.is(answers, 0);
});

test('under handshake load the server answers with a cookie, and a client that proves its address completes', () => {
  const w = world(110);
  w.server.forceUnderLoad = true;
  const [c, s] = establish(w);
  assert.is(w.server.stats.cookieReplies, 1);
  roundTrip(w, c, s, 'with cookie');
});

test('the load threshold switches cookie mode on by itself', () => {
  const w = world(111, {}, { handshakeLoadPending: 0 });
  establish(w);
  assert.ok(w.server.stats.cookieReplies >= 1);
});

test('before the client address is validated the server sends at most 3x what it received', () => {
  const w = world(112, { delayMs: 3 });
  let fromClient = 0, fromServer = 0, validated = false;
  w.net.tap = (t) => {
    if (t.from === CLIENT) {
      if (packetType(t.data) === PacketType.DATA) validated = true;
      if (!validated) fromClient += t.data.length;
    } else if (!validated) fromServer += t.data.length;
    return true;
  };
  establish(w);
  assert.ok(fromServer > 0);
  assert.ok(fromServer <= 3 * fromClient, `${fromServer} > 3 x ${fromClient}`);
});

test('handshake completes across 30% loss with duplication', () => {
  for (let seed = 200; seed < 210; seed++) {
    const w = world(seed, { loss: 0.3, duplicate: 0.1, delayMs: 20, jitterMs: 10 });
    const [c, s] = establish(w, 300_000);
    roundTrip(w, c, s, `seed ${seed}`);
    assert.is(w.accepted.length >= 1, true);
  }
});

test.run();
