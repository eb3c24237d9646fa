import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLIENT, drain, establish, makeMessage, sameBytes, SERVER, world } from './harness.ts';

test('handshake completes and one message goes each way', () => {
  const w = world(1);
  const [c, s] = establish(w);
  assert.equal(s.identity, { user: 'alice' });
  assert.equal(s.peerKey, w.clientKey);
  const id = c.openStream();
  c.send(id, new TextEncoder().encode('ping?'));
  let got: Uint8Array | undefined;
  w.net.runUntil(() => got !== undefined, 10_000, () => {
    drain(w, s);
    got = s.read(id);
  });
  assert.is(new TextDecoder().decode(got!), 'ping?');
  s.send(id, new TextEncoder().encode('pong!'));
  let back: Uint8Array | undefined;
  w.net.runUntil(() => back !== undefined, 10_000, () => { back = c.read(id); });
  assert.is(new TextDecoder().decode(back!), 'pong!');
});

test('1 MiB in 64 KiB messages arrives intact on a clean link', () => {
  const w = world(2, { delayMs: 5 });
  const [c, s] = establish(w);
  const id = c.openStream();
  for (let i = 0; i < 16; i++) c.send(id, makeMessage(id, i, 65536));
  let n = 0;
  w.net.runUntil(() => n === 16, 60_000, () => {
    for (let m = s.read(id); m; m = s.read(id)) { assert.ok(sameBytes(m, makeMessage(id, n, 65536)), `message ${n}`); n++; }
  });
  assert.is(n, 16);
  void SERVER;
});

test('the handshake gives both sides a first RTT sample', () => {
  const w = world(3, { delayMs: 20 });
  const [c, s] = establish(w);
  assert.ok(c.rtt.hasSample && s.rtt.hasSample);
  assert.ok(Math.abs(c.rtt.smoothed - 40) < 2, `client ${c.rtt.smoothed}`);
  assert.ok(Math.abs(s.rtt.smoothed - 40) < 2, `server ${s.rtt.smoothed}`);
  assert.ok(c.rtt.pto() < 200, 'the first PTO follows the measured RTT, not the 333 ms default');
});

test('NAT rebinding: the client moves to a new address and the server follows it', () => {
  const w = world(4, { delayMs: 5 });
  const [c, s] = establish(w);
  const id = c.openStream();
  w.net.move(CLIENT, '10.0.0.99:40000');
  c.send(id, new TextEncoder().encode('from the new address'));
  let got: Uint8Array | undefined;
  w.net.runUntil(() => got !== undefined, 10_000, () => { drain(w, s); got = s.read(id); });
  assert.is(new TextDecoder().decode(got!), 'from the new address');
  assert.is(s.address, '10.0.0.99:40000');
  s.send(id, new TextEncoder().encode('reply'));
  let back: Uint8Array | undefined;
  w.net.runUntil(() => back !== undefined, 10_000, () => { back = c.read(id); });
  assert.is(new TextDecoder().decode(back!), 'reply');
});

test.run();
