/**
 * The server half of udp.test.ts, run as a separate process: listens on loopback, prints
 * {"port", "key"} on stdout, accepts only the client key given in argv[2], receives 1 MiB on a
 * stream, checks it, sends 1 MiB back, and exits when the client closes.
 */
import { fromHex, randomBytes, toHex, x25519PublicKey, equalBytes } from '../../src/crypto/index.ts';
import { listen } from '../../src/net/udp.ts';
import { makeMessage, sameBytes } from './harness.ts';

const clientKey = fromHex(process.argv[2]!);
const staticKey = randomBytes(32);
const server = await listen({ address: '127.0.0.1', port: 0, staticKey, authorize: (k) => (equalBytes(k, clientKey) ? 'test-client' : undefined) });
process.stdout.write(JSON.stringify({ port: server.address().port, key: toHex(x25519PublicKey(staticKey)) }) + '\n');

const conn = (await server.accept())!;
const stream = (await conn.accept())!;
let n = 0;
for await (const m of stream) {
  if (!sameBytes(m, makeMessage(stream.id, n, 65536))) { console.error(`server: message ${n} corrupted`); process.exit(2); }
  n++;
}
if (n !== 16) { console.error(`server: got ${n} messages`); process.exit(3); }
for (let i = 0; i < 16; i++) await stream.send(makeMessage(stream.id + 1000, i, 65536));
stream.close();
await conn.closed();
await server.close();
process.stderr.write(`server: identity ${String(conn.identity)}, received ${n} messages\n`);
