/** The real driver over node:dgram on loopback, with the server in another process. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fromHex, isTrineError, randomBytes, toHex, x25519PublicKey } from '../../src/crypto/index.ts';
import { connect, fetchServerKey, listen } from '../../src/net/udp.ts';
import { makeMessage, sameBytes } from './harness.ts';

test('two processes over loopback: handshake, then 1 MiB each way', async () => {
  const staticKey = randomBytes(32);
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/net/udp-peer.ts', toHex(x25519PublicKey(staticKey))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => reject(new Error('server process exited early')));
    });
    const { port, key } = JSON.parse(line) as { port: number; key: string };
    assert.equal(await fetchServerKey('127.0.0.1', port), fromHex(key), 'KEY_REQUEST answers with the key the server printed');
    const conn = await connect({ address: '127.0.0.1', port, serverKey: fromHex(key), staticKey });
    const stream = conn.openStream();
    for (let i = 0; i < 16; i++) await stream.send(makeMessage(stream.id, i, 65536));
    stream.close();
    let n = 0;
    for await (const m of stream) {
      assert.ok(sameBytes(m, makeMessage(stream.id + 1000, n, 65536)), `reply ${n}`);
      n++;
    }
    assert.is(n, 16);
    await conn.close();
    assert.is(await exited, 0, 'the server process checked everything it received');
  } finally {
    child.kill();
  }
});

test('connect with a wrong server key times out with NET_TIMEOUT; an unknown client key gets NET_REFUSED', async () => {
  const serverKey = randomBytes(32);
  const allowed = randomBytes(32);
  const server = await listen({ address: '127.0.0.1', port: 0, staticKey: serverKey, authorize: (k) => (toHex(k) === toHex(x25519PublicKey(allowed)) ? 'ok' : undefined) });
  const { port } = server.address();
  let err: unknown;
  try {
    await connect({ address: '127.0.0.1', port, serverKey: x25519PublicKey(randomBytes(32)), staticKey: allowed, limits: { handshakeTimeoutMs: 1500 } });
  } catch (e) { err = e; }
  assert.ok(isTrineError(err, 'NET_TIMEOUT'), String(err));
  err = undefined;
  try {
    await connect({ address: '127.0.0.1', port, serverKey: x25519PublicKey(serverKey), staticKey: randomBytes(32) });
  } catch (e) { err = e; }
  assert.ok(isTrineError(err, 'NET_REFUSED'), String(err));
  const ok = await connect({ address: '127.0.0.1', port, serverKey: x25519PublicKey(serverKey), staticKey: allowed });
  const accepted = (await server.accept())!;
  assert.is(accepted.identity, 'ok');
  await ok.close(0x123, 'done', { immediate: true });
  await accepted.closed();
  assert.is(accepted.closedWith?.code, 0x123);
  assert.ok(isTrineError(accepted.closedWith?.error, 'NET_CLOSED_BY_PEER'));
  await server.close();
});

test('driver API: server-opened streams, several streams at once, back-pressured send, close codes', async () => {
  const serverKey = randomBytes(32), clientKey = randomBytes(32);
  const server = await listen({ address: '127.0.0.1', port: 0, staticKey: serverKey, authorize: () => 'peer' });
  const conn = await connect({ address: '127.0.0.1', port: server.address().port, serverKey: x25519PublicKey(serverKey), staticKey: clientKey });
  const sconn = (await server.accept())!;
  assert.equal(sconn.peerKey, x25519PublicKey(clientKey));
  // The server opens a stream; the client accepts it.
  const push = sconn.openStream();
  await push.send(new TextEncoder().encode('hello from the server'));
  push.close();
  const incoming = (await conn.accept())!;
  assert.is(incoming.id % 2, 1, 'server-opened ids are odd');
  const msgs: string[] = [];
  for await (const m of incoming) msgs.push(new TextDecoder().decode(m));
  assert.equal(msgs, ['hello from the server']);
  // Five client streams interleaved, 3 MiB each, so send() must wait for acknowledgements.
  const streams = Array.from({ length: 5 }, () => conn.openStream());
  const sending = Promise.all(streams.map(async (st) => {
    for (let i = 0; i < 48; i++) await st.send(makeMessage(st.id, i, 65536));
    st.close();
  }));
  const counts = new Map<number, number>();
  for (let k = 0; k < 5; k++) {
    const st = (await sconn.accept())!;
    void (async () => {
      let i = 0;
      for await (const m of st) { assert.ok(sameBytes(m, makeMessage(st.id, i, 65536))); i++; }
      counts.set(st.id, i);
    })();
  }
  await sending;
  while (counts.size < 5) await new Promise((r) => setTimeout(r, 10));
  for (const st of streams) assert.is(counts.get(st.id), 48);
  await sconn.close(0x200, 'server done');
  await conn.closed();
  assert.is(conn.closedWith?.code, 0x200);
  assert.is(conn.closedWith?.reason, 'server done');
  await server.close();
});

test.run();
