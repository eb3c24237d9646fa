/**
 * Transport benchmark, not a test: Trine's transport against plain TCP (node:net) carrying the same
 * length-framed messages on loopback, plus the raw ceiling of unencrypted 1200-byte datagrams.
 * The server side runs in a child process so each side has its own event loop.
 *
 *   node --import tsx tools/bench/net.ts [--seconds 2] [--datagram 1200] [--repeat 1] [--only raw,bulk,rr1,rr32]
 *
 * Prints MB/s for bulk (one stream, 64 KiB messages), requests/s for 1 KiB request/response with
 * 1 and 32 in flight, and the ratios Trine/TCP. Every phase is bounded by --seconds.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fromHex, randomBytes, toHex, x25519PublicKey } from '../../src/crypto/index.ts';
import { LOOPBACK_DATAGRAM_BYTES } from '../../src/net/limits.ts';
import { connect, listen, type TrineStream } from '../../src/net/udp.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: number) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const SECONDS = opt('--seconds', 2);
/** Each figure is the best of this many runs: the machine may be shared, and interference only ever slows a run. */
const REPEAT = opt('--repeat', 1);
async function best(f: () => Promise<number>): Promise<number> {
  let b = 0;
  for (let i = 0; i < REPEAT; i++) b = Math.max(b, await f());
  return b;
}
const DATAGRAM = opt('--datagram', 1200);
/** `--only bulk,rr1,rr32` runs just those phases (for profiling one of them); the rest print as skipped. */
const ONLY = (() => { const i = args.indexOf('--only'); return i >= 0 ? new Set(args[i + 1]!.split(',')) : undefined; })();
const want = (phase: string) => !ONLY || ONLY.has(phase);
async function phase(name: string, f: () => Promise<number>): Promise<number> {
  return want(name) ? best(f) : NaN;
}
const BULK = 64 * 1024;
const WINDOWS = process.env['BENCH_WINDOW'] ? { streamWindowBytes: Number(process.env['BENCH_WINDOW']), connectionWindowBytes: 4 * Number(process.env['BENCH_WINDOW']), streamReadQueueBytes: Number(process.env['BENCH_WINDOW']) } : {};
const REQ = 1024;
const KIND_BULK = 1, KIND_END = 2, KIND_REQ = 3, KIND_COUNT = 4;

function message(kind: number, size: number): Uint8Array {
  const m = new Uint8Array(size);
  m[0] = kind;
  return m;
}

// ------------------------------------------------------------------ server process

async function serve(): Promise<void> {
  const staticKey = randomBytes(32);
  // TCP: 4-byte big-endian length, then the message (the same framing Trine streams use).
  const tcp = net.createServer((sock) => {
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let count = 0;
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let p = 0;
      const out: Buffer[] = [];
      while (buf.length - p >= 4) {
        const len = buf.readUInt32BE(p);
        if (buf.length - p - 4 < len) break;
        const kind = buf[p + 4];
        if (kind === KIND_BULK) count += len;
        else if (kind === KIND_END) { const r = Buffer.alloc(12); r.writeUInt32BE(8, 0); r.writeDoubleBE(count, 4); out.push(r); count = 0; }
        else if (kind === KIND_REQ) out.push(buf.subarray(p, p + 4 + len));
        p += 4 + len;
      }
      buf = buf.subarray(p);
      if (out.length) sock.write(Buffer.concat(out));
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const trine = await listen({ address: '127.0.0.1', port: 0, staticKey, authorize: () => 'bench', limits: { maxDatagramBytes: DATAGRAM, ...WINDOWS } });
  void (async () => {
    for await (const conn of trine) {
      void (async () => {
        for await (const st of conn.streams()) void serveStream(st);
      })();
    }
  })();
  const raw = dgram.createSocket('udp4');
  let rawBytes = 0;
  raw.on('message', (m, r) => {
    if (m.length === 1) { const b = Buffer.alloc(8); b.writeDoubleBE(rawBytes); raw.send(b, r.port, r.address); rawBytes = 0; }
    else rawBytes += m.length;
  });
  await new Promise<void>((r) => raw.bind(0, '127.0.0.1', r));
  try { raw.setRecvBufferSize(8 * 1024 * 1024); } catch { /* best effort */ }
  process.stdout.write(JSON.stringify({ tcp: (tcp.address() as net.AddressInfo).port, trine: trine.address().port, raw: raw.address().port, key: toHex(x25519PublicKey(staticKey)) }) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

async function serveStream(st: TrineStream): Promise<void> {
  let count = 0;
  for await (const m of st) {
    if (m[0] === KIND_BULK) count += m.length;
    else if (m[0] === KIND_END) { const r = new Uint8Array(9); r[0] = KIND_COUNT; new DataView(r.buffer).setFloat64(1, count); count = 0; await st.send(r); }
    else if (m[0] === KIND_REQ) await st.send(m);
  }
}

// ------------------------------------------------------------------ client side

interface Framed {
  send(m: Uint8Array): Promise<void> | void;
  next(): Promise<Uint8Array>;
}

function tcpFramed(sock: net.Socket): Framed {
  let buf = Buffer.alloc(0);
  const ready: Uint8Array[] = [];
  const waiters: ((m: Uint8Array) => void)[] = [];
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    let p = 0;
    while (buf.length - p >= 4) {
      const len = buf.readUInt32BE(p);
      if (buf.length - p - 4 < len) break;
      const m = new Uint8Array(buf.subarray(p + 4, p + 4 + len));
      const w = waiters.shift();
      if (w) w(m); else ready.push(m);
      p += 4 + len;
    }
    buf = buf.subarray(p);
  });
  return {
    send(m) {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(m.length);
      sock.write(h);
      if (!sock.write(m)) return new Promise<void>((r) => sock.once('drain', () => r()));
      return undefined;
    },
    next() {
      const m = ready.shift();
      return m ? Promise.resolve(m) : new Promise((r) => waiters.push(r));
    },
  };
}

function trineFramed(st: TrineStream): Framed {
  return {
    send: (m) => st.send(m),
    async next() { const m = await st.next(); if (!m) throw new Error('stream ended'); return m; },
  };
}

async function bulk(f: Framed): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 16; i++) { const p = f.send(message(KIND_BULK, BULK)); if (p) await p; }
  }
  await f.send(message(KIND_END, 16));
  const reply = await f.next();
  const bytes = new DataView(reply.buffer, reply.byteOffset).getFloat64(reply.length === 9 ? 1 : 0);
  return bytes / ((performance.now() - t0) / 1000) / 1e6;
}

async function reqResp(f: Framed, inFlight: number): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  let done = 0, sent = 0;
  for (let i = 0; i < inFlight; i++) { await f.send(message(KIND_REQ, REQ)); sent++; }
  while (performance.now() < end) {
    await f.next();
    done++;
    await f.send(message(KIND_REQ, REQ));
    sent++;
  }
  while (done < sent) { await f.next(); done++; }
  return done / ((performance.now() - t0) / 1000);
}

async function rawCeiling(port: number, size: number): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  try { sock.setSendBufferSize(8 * 1024 * 1024); } catch { /* best effort */ }
  const payload = Buffer.alloc(size);
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  // Bounded outstanding sends so the sender measures the path rather than its own queue.
  let outstanding = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (outstanding < 64 && performance.now() < end) { outstanding++; sock.send(payload, port, '127.0.0.1', () => { outstanding--; }); }
      if (performance.now() < end) setImmediate(pump); else resolve();
    };
    pump();
  });
  await new Promise((r) => setTimeout(r, 50));
  const got = await new Promise<number>((resolve) => {
    sock.once('message', (m) => resolve(m.readDoubleBE(0)));
    sock.send(Buffer.alloc(1), port, '127.0.0.1');
  });
  sock.close();
  return got / ((performance.now() - t0) / 1000) / 1e6;
}

async function main(): Promise<void> {
  if (args.includes('--serve')) return serve();
  const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--serve', '--datagram', String(DATAGRAM)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const info = JSON.parse(await new Promise<string>((r) => createInterface({ input: child.stdout! }).once('line', r))) as { tcp: number; trine: number; raw: number; key: string };
  try {
    const rawMBs = await phase('raw', () => rawCeiling(info.raw, DATAGRAM));
    const rawLoopMBs = await phase('raw', () => rawCeiling(info.raw, LOOPBACK_DATAGRAM_BYTES));

    const sock = net.connect(info.tcp, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const tf = tcpFramed(sock);
    const tcpBulk = await phase('bulk', () => bulk(tf));
    const tcpRr1 = await phase('rr1', () => reqResp(tf, 1));
    const tcpRr32 = await phase('rr32', () => reqResp(tf, 32));
    sock.destroy();

    const conn = await connect({ address: '127.0.0.1', port: info.trine, serverKey: fromHex(info.key), staticKey: randomBytes(32), limits: { maxDatagramBytes: DATAGRAM, ...WINDOWS } });
    const nf = trineFramed(conn.openStream());
    const trineBulk = await phase('bulk', () => bulk(nf));
    const rr = trineFramed(conn.openStream());
    const trineRr1 = await phase('rr1', () => reqResp(rr, 1));
    const trineRr32 = await phase('rr32', () => reqResp(rr, 32));
    const lost = conn.raw.packetsLost;
    await conn.close(0, '', { immediate: true });

    const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)}%`;
    console.log(`loopback, ${SECONDS}s per phase, best of ${REPEAT}, node ${process.version}, load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)} on ${(await import('node:os')).cpus().length} cores`);
    console.log(`raw dgram, unencrypted: ${rawMBs.toFixed(0)} MB/s at ${DATAGRAM} B, ${rawLoopMBs.toFixed(0)} MB/s at ${LOOPBACK_DATAGRAM_BYTES} B (Trine's loopback datagram size)`);
    console.log(`bulk, 64 KiB messages:   TCP ${tcpBulk.toFixed(0)} MB/s   Trine ${trineBulk.toFixed(0)} MB/s   Trine/TCP ${pct(trineBulk, tcpBulk)}   Trine/raw ${pct(trineBulk, rawMBs)}`);
    console.log(`req/resp 1 KiB, 1 in flight:   TCP ${tcpRr1.toFixed(0)}/s   Trine ${trineRr1.toFixed(0)}/s   Trine/TCP ${pct(trineRr1, tcpRr1)}`);
    console.log(`req/resp 1 KiB, 32 in flight:  TCP ${tcpRr32.toFixed(0)}/s   Trine ${trineRr32.toFixed(0)}/s   Trine/TCP ${pct(trineRr32, tcpRr32)}`);
    console.log(`Trine packets declared lost during the run: ${lost}`);
  } finally {
    // Ask the server to exit on its own (so profilers can write out), then make sure it is gone.
    child.stdin!.end();
    const killer = setTimeout(() => child.kill(), 3000);
    await new Promise((r) => child.once('exit', r));
    clearTimeout(killer);
  }
  process.exit(0);
}

await main();
