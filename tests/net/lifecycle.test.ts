/** Liveness and teardown: idle timeout, keepalive, close codes, graceful close, back-pressure. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTrineError } from '../../src/crypto/index.ts';
import type { ConnectionEvent } from '../../src/net/connection.ts';
import { CloseCode } from '../../src/net/errors.ts';
import { PacketType, packetType } from '../../src/net/packet.ts';
import { drain, establish, makeMessage, sameBytes, SERVER, world } from './harness.ts';

const MiB = 1024 * 1024;

test('idle timeout: when the link goes dead both sides close with NET_IDLE_TIMEOUT', () => {
  const w = world(301, { delayMs: 5 }, { idleTimeoutMs: 5000, keepaliveIntervalMs: 1000 });
  const [c, s] = establish(w);
  w.net.tap = () => false;
  const start = w.net.now;
  const ev: ConnectionEvent[] = [], sev: ConnectionEvent[] = [];
  w.net.runUntil(() => c.state === 'closed' && s.state === 'closed', 60_000, () => { ev.push(...drain(w, c)); sev.push(...drain(w, s)); });
  const closed = ev.find((e) => e.type === 'closed');
  assert.ok(closed && closed.type === 'closed' && isTrineError(closed.error, 'NET_IDLE_TIMEOUT'));
  assert.ok(sev.some((e) => e.type === 'closed' && isTrineError(e.error, 'NET_IDLE_TIMEOUT')));
  // Simulated time (the seeded network clock), so this checks the protocol, not the machine.
  const elapsed = w.net.now - start;
  assert.ok(elapsed >= 5000 && elapsed < 8000, `closed after ${elapsed} ms`);
});

test('keepalive: an idle but healthy connection stays up far beyond the idle timeout', () => {
  const w = world(302, { delayMs: 5 }, { idleTimeoutMs: 5000, keepaliveIntervalMs: 1500 });
  const [c, s] = establish(w);
  let pings = 0;
  w.net.tap = (t) => { if (packetType(t.data) === PacketType.DATA) pings++; return true; };
  w.net.runUntil(() => false, 120_000, () => { drain(w, c); drain(w, s); });
  assert.is(c.state, 'established');
  assert.is(s.state, 'established');
  assert.ok(pings >= 2 * (120_000 / 1500) * 0.5, `only ${pings} keepalive packets`);
});

test('close with a code and reason reaches the peer as NET_CLOSED_BY_PEER', () => {
  const w = world(303, { delayMs: 5 });
  const [c, s] = establish(w);
  c.close(w.net.now, CloseCode.APPLICATION_BASE + 5, 'shutting down');
  const cev = drain(w, c);
  assert.ok(cev.some((e) => e.type === 'closed' && !e.byPeer && e.code === 0x105));
  let got: ConnectionEvent | undefined;
  w.net.runUntil(() => got !== undefined, 5000, () => { for (const e of drain(w, s)) if (e.type === 'closed') got = e; });
  assert.ok(got && got.type === 'closed');
  if (got.type !== 'closed') return;
  assert.is(got.code, 0x105);
  assert.is(got.reason, 'shutting down');
  assert.ok(got.byPeer);
  assert.ok(isTrineError(got.error, 'NET_CLOSED_BY_PEER'));
  assert.throws(() => c.openStream(), (e: unknown) => isTrineError(e, 'NET_CLOSED'));
  w.net.runUntil(() => c.state === 'closed' && s.state === 'closed', 10_000);
  assert.is(c.state, 'closed');
  assert.is(s.state, 'closed');
});

test('both sides closing at once: a few packets, then both closed', () => {
  const w = world(308, { delayMs: 5 });
  const [c, s] = establish(w);
  let packets = 0;
  w.net.tap = () => { packets++; return true; };
  c.close(w.net.now, CloseCode.NO_ERROR, 'a');
  s.close(w.net.now, CloseCode.NO_ERROR, 'b');
  w.net.runUntil(() => c.state === 'closed' && s.state === 'closed', 10_000, () => { drain(w, c); drain(w, s); });
  assert.is(c.state, 'closed');
  assert.is(s.state, 'closed');
  assert.ok(packets <= 4, `${packets} packets after a simultaneous close`);
});

test('a lost CLOSE is repeated when the peer keeps sending', () => {
  const w = world(304, { delayMs: 5 });
  const [c, s] = establish(w);
  let dropFirst = true;
  w.net.tap = (t) => {
    if (dropFirst && t.from !== SERVER && packetType(t.data) === PacketType.DATA) { dropFirst = false; return false; }
    return true;
  };
  c.close(w.net.now, CloseCode.NO_ERROR, 'bye');
  const id = s.openStream();
  s.send(id, new Uint8Array(10));
  let closed = false;
  w.net.runUntil(() => closed, 10_000, () => { drain(w, c); for (const e of drain(w, s)) if (e.type === 'closed' && e.byPeer) closed = true; });
  assert.ok(closed);
});

test('graceful close delivers everything queued, then closes', () => {
  const w = world(305, { delayMs: 5, loss: 0.05 });
  const [c, s] = establish(w);
  const id = c.openStream();
  for (let i = 0; i < 50; i++) c.send(id, makeMessage(id, i, 20_000));
  c.closeGracefully(w.net.now);
  let n = 0, closed: ConnectionEvent | undefined;
  w.net.runUntil(() => closed !== undefined, 120_000, () => {
    drain(w, c);
    for (let m = s.read(id); m; m = s.read(id)) { assert.ok(sameBytes(m, makeMessage(id, n, 20_000))); n++; }
    for (const e of drain(w, s)) if (e.type === 'closed') closed = e;
  });
  for (let m = s.read(id); m; m = s.read(id)) n++;
  assert.is(n, 50);
  assert.ok(closed && closed.type === 'closed' && closed.code === CloseCode.NO_ERROR);
});

test('flow control: a reader that does not read stops the sender, and memory stays bounded', () => {
  const limits = { streamWindowBytes: 256 * 1024, connectionWindowBytes: 1024 * 1024, streamReadQueueBytes: 256 * 1024, maxStreamWindowBytes: 512 * 1024, maxConnectionWindowBytes: 2 * 1024 * 1024 };
  const w = world(306, { delayMs: 5 }, limits);
  const [c, s] = establish(w);
  const streams = [c.openStream(), c.openStream(), c.openStream()];
  for (const id of streams) for (let i = 0; i < 64; i++) c.send(id, makeMessage(id, i, 64 * 1024));
  // Nobody reads on the server for a long virtual time.
  let peak = 0;
  w.net.runUntil(() => false, 30_000, () => { drain(w, s); peak = Math.max(peak, s.receiveMemory()); });
  const bound = streams.length * (limits.maxStreamWindowBytes + limits.streamReadQueueBytes);
  assert.ok(peak <= bound, `receiver held ${peak} bytes, bound ${bound}`);
  assert.ok(peak <= limits.maxConnectionWindowBytes + streams.length * limits.streamReadQueueBytes);
  const sentBytes = c.bytesSent;
  w.net.runUntil(() => false, 30_000, () => drain(w, s));
  assert.ok(c.bytesSent - sentBytes < 64 * 1024, 'the sender is stalled (only keepalives go out)');
  for (const id of streams) assert.ok(c.buffered(id) > 1 * MiB, 'data is still queued at the sender');
  // Now the reader catches up: everything arrives, in order.
  const counts = new Map<number, number>();
  w.net.runUntil(() => streams.every((id) => counts.get(id) === 64), 300_000, () => {
    drain(w, s);
    for (const id of streams) for (let m = s.read(id); m; m = s.read(id)) {
      const k = counts.get(id) ?? 0;
      assert.ok(sameBytes(m, makeMessage(id, k, 64 * 1024)));
      counts.set(id, k + 1);
    }
  });
  for (const id of streams) assert.is(counts.get(id), 64);
});

test('send after the peer closed throws NET_CLOSED; finished streams are reported', () => {
  const w = world(307, { delayMs: 5 });
  const [c, s] = establish(w);
  const id = c.openStream();
  c.send(id, new Uint8Array(100));
  c.finish(id);
  let finished = false;
  w.net.runUntil(() => finished, 5000, () => {
    for (const e of drain(w, s)) if (e.type === 'finished' && e.id === id) finished = true;
    if (!finished) s.read(id);
  });
  assert.ok(finished);
  s.close(w.net.now, 0, '');
  w.net.runUntil(() => c.state !== 'established', 5000, () => drain(w, c));
  assert.throws(() => c.send(id, new Uint8Array(1)), (e: unknown) => isTrineError(e, 'NET_CLOSED'));
});

test('streams: the open-stream limit is enforced locally, and finished streams free their slots', () => {
  const w = world(309, { delayMs: 2 });
  const [c, s] = establish(w);
  const ids: number[] = [];
  for (let i = 0; i < 1024; i++) ids.push(c.openStream());
  assert.throws(() => c.openStream(), (e: unknown) => isTrineError(e, 'NET_TOO_MANY_STREAMS'));
  // Finish ten streams on both sides; their slots come back.
  for (const id of ids.slice(0, 10)) { c.send(id, new Uint8Array(3)); c.finish(id); }
  const seen = new Set<number>();
  w.net.runUntil(() => seen.size === 10, 10_000, () => {
    for (const e of drain(w, s)) {
      if (e.type === 'stream') { s.finish(e.id); }
      if (e.type === 'readable') while (s.read(e.id)) { /* drain */ }
      if (e.type === 'finished') seen.add(e.id);
    }
    drain(w, c);
  });
  w.net.runUntil(() => false, 1000, () => { drain(w, s); for (const id of ids.slice(0, 10)) c.read(id); drain(w, c); });
  const more = c.openStream();
  assert.ok(more > ids[ids.length - 1]!);
  assert.is(c.state, 'established');
  assert.is(s.state, 'established');
});

test.run();
