/**
 * The node:dgram driver and the API the rest of Trine uses. All protocol logic lives in the pure
 * Endpoint/Connection; this file only moves datagrams between them and a UDP socket, arms one
 * timer, reads the clock and the OS random generator, and turns events into promises.
 *
 *   const server = await listen({ port, staticKey, authorize: (key) => identity | undefined });
 *   for await (const conn of server) for await (const stream of conn.streams()) ...
 *
 *   const conn = await connect({ address, port, serverKey, staticKey });
 *   const s = conn.openStream();
 *   await s.send(bytes);
 *   for await (const reply of s) ...
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { isIP } from 'node:net';
import { randomBytes, type TrineError } from '../crypto/index.ts';
import type { Connection, ConnectionEvent } from './connection.ts';
import { Endpoint, type Authorize } from './endpoint.ts';
import { closedError, CloseCode, timeoutError } from './errors.ts';
import { type Limits, LOOPBACK_DATAGRAM_BYTES, SEND_BATCH_DATAGRAMS as SEND_BATCH, SOCKET_BUFFER_BYTES, STREAM_SEND_HIGH_WATER_BYTES } from './limits.ts';


/** Milliseconds on a monotonic clock anchored at the Unix epoch (handshake timestamps need wall time). */
function clock(): number {
  return performance.timeOrigin + performance.now();
}

export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Loopback needs no path MTU discovery: its MTU is 64 KiB and it never fragments. */
function loopbackAware(address: string): number {
  const { host } = parseAddress(address);
  return host.startsWith('127.') || host === '::1' || host === 'localhost' ? LOOPBACK_DATAGRAM_BYTES : 0;
}

function parseAddress(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  let host = a.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(a.slice(i + 1)) };
}

/** A waiter that can be resolved or rejected once. */
class Signal {
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  wait(): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
  fire(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }
  fail(e: unknown): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(e);
  }
}

/** Owns a socket and an Endpoint; runs the poll/transmit/timer loop. */
class UdpEndpoint {
  readonly endpoint: Endpoint;
  readonly socket: dgram.Socket;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private scheduled = false;
  private closed = false;
  private reportedError = false;
  readonly conns = new Map<Connection, TrineConnection>();
  onEndpointEvent: ((e: ReturnType<Endpoint['pollEvent']> & object) => void) | undefined;
  /** A client socket is connected to its one server: sends then skip the per-datagram address lookup. */
  connectedTo: string | undefined;

  constructor(endpoint: Endpoint, socket: dgram.Socket) {
    this.endpoint = endpoint;
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      if (this.closed) return;
      try {
        this.endpoint.handleDatagram(clock(), formatAddress(rinfo.address, rinfo.port), new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
      } catch (e) {
        // A bug must not let one datagram bring the process down; the simulator tests let such
        // errors surface instead.
        if (!this.reportedError) { this.reportedError = true; console.error('trine transport: internal error on an incoming datagram (dropped):', e); }
      }
      // Events go to the application now; its promise callbacks run right after this callback,
      // and what they queue leaves in the flush at the end of this loop turn, together with our
      // acknowledgement, instead of one packet for the ACK and another for the reply.
      this.dispatch();
      this.kick();
    });
    // ICMP errors (port unreachable) surface here; the protocol's timers handle the consequences.
    socket.on('error', () => {});
  }

  /** Schedules a flush at the end of this loop turn (coalesced: many calls, one flush). */
  kick(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private dispatch(): void {
    for (let e = this.endpoint.pollEvent(); e; e = this.endpoint.pollEvent()) this.onEndpointEvent?.(e);
    for (const conn of this.endpoint.takeEventful()) {
      const wrapper = this.conns.get(conn);
      if (!wrapper) continue;
      for (let e = conn.pollEvent(); e; e = conn.pollEvent()) wrapper.onEvent(e);
      if (conn.state === 'closed') { this.conns.delete(conn); wrapper.onGone(); }
    }
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closed) return;
    const now = clock();
    if (this.endpoint.nextTimeout() <= now) this.endpoint.handleTimeout(now);
    this.dispatch();
    this.kick();
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    const now = clock();
    if (this.endpoint.nextTimeout() <= now) this.endpoint.handleTimeout(now);
    // A bounded batch per turn, so incoming acknowledgements are read between batches: sending a
    // whole window in one go would delay them, inflate the RTT estimate and stall the flow.
    let sent = 0;
    for (let t = this.endpoint.poll(now); t; t = sent < SEND_BATCH ? this.endpoint.poll(now) : undefined) {
      // A connected client socket talks to its server only (whatever spelling of the address).
      if (this.connectedTo !== undefined) this.socket.send(t.data);
      else {
        const { host, port } = parseAddress(t.address);
        this.socket.send(t.data, port, host);
      }
      sent++;
    }
    this.dispatch();
    if (sent >= SEND_BATCH) this.kick();
    this.arm();
  }

  private arm(): void {
    const at = this.endpoint.nextTimeout();
    // A timer still armed for an earlier instant is left alone: it fires, finds nothing due and
    // re-arms. Every packet sent moves the PTO deadline, so re-arming exactly on each flush cost a
    // clearTimeout and a setTimeout per packet on the request/response path.
    if (at === Infinity) return;
    const delay = at - clock();
    // Below a millisecond (a pacing gap), wait by yielding one loop turn instead of sleeping: a
    // timer sleeps at least 1 ms, and far longer on a busy machine, which would starve the pacer.
    if (delay < 1) { this.kick(); return; }
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.ceil(delay));
    this.timer.unref?.();
  }

  /** Keeps the process alive while connections exist. */
  ref(): void { this.socket.ref(); }
  unref(): void { this.socket.unref(); }

  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    try { this.socket.close(); } catch { /* already closed */ }
  }
}

async function bindSocket(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => { socket.off('error', reject); resolve(); });
  });
  // Large buffers let bursts survive while the event loop is busy encrypting.
  try { socket.setRecvBufferSize(SOCKET_BUFFER_BYTES); socket.setSendBufferSize(SOCKET_BUFFER_BYTES); } catch { /* not all platforms allow it */ }
  return socket;
}

/** A message stream inside a connection. Iterate it for received messages, in order. */
export class TrineStream implements AsyncIterable<Uint8Array> {
  readonly readable = new Signal();
  readonly writable = new Signal();
  peerFinished = false;

  constructor(readonly connection: TrineConnection, readonly id: number) {}

  /**
   * Queues a message. Resolves at once while the stream's send buffer is below its high-water
   * mark, otherwise when it has drained (back-pressure). Do not modify `message` afterwards.
   */
  async send(message: Uint8Array): Promise<void> {
    const c = this.connection;
    c.throwIfClosed();
    c.raw.send(this.id, message);
    c.kick();
    while (c.raw.buffered(this.id) > STREAM_SEND_HIGH_WATER_BYTES) {
      c.throwIfClosed();
      const w = this.writable.wait();
      c.raw.notifyWhenBufferedBelow(this.id, STREAM_SEND_HIGH_WATER_BYTES / 2);
      c.kick();
      await w;
    }
  }

  /** Ends our side of the stream after what was queued. */
  close(): void {
    this.connection.raw.finish(this.id);
    this.connection.kick();
  }

  /** The next message, or undefined when the peer finished the stream. Throws when the connection ended abnormally. */
  async next(): Promise<Uint8Array | undefined> {
    const c = this.connection;
    for (;;) {
      const m = c.raw.read(this.id);
      if (m) { c.kick(); return m; }
      if (this.peerFinished) return undefined;
      if (c.closedWith) {
        if (c.closedWith.error && c.closedWith.code !== CloseCode.NO_ERROR) throw c.closedWith.error;
        return undefined;
      }
      await this.readable.wait();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (let m = await this.next(); m; m = await this.next()) yield m;
  }
}

/** One connection. Server side: `peerKey` and `identity` say who connected. */
export class TrineConnection {
  private readonly streamsById = new Map<number, TrineStream>();
  private readonly incoming: TrineStream[] = [];
  private readonly incomingSignal = new Signal();
  readonly closedSignal = new Signal();
  closedWith: { code: number; reason: string; byPeer: boolean; error?: TrineError } | undefined;
  private readonly established = new Signal();
  private isEstablished = false;

  constructor(readonly raw: Connection, private readonly driver: UdpEndpoint, private readonly ownsDriver: boolean) {}

  get peerKey(): Uint8Array { return this.raw.peerKey; }
  get identity(): unknown { return this.raw.identity; }
  get remoteAddress(): string { return this.raw.address; }

  kick(): void { this.driver.kick(); }

  throwIfClosed(): void {
    if (this.closedWith) throw this.closedWith.error ?? closedError();
  }

  /** @internal */
  waitEstablished(): Promise<void> {
    if (this.isEstablished) return Promise.resolve();
    return this.established.wait();
  }

  private stream(id: number): TrineStream {
    let s = this.streamsById.get(id);
    if (!s) { s = new TrineStream(this, id); this.streamsById.set(id, s); }
    return s;
  }

  openStream(): TrineStream {
    this.throwIfClosed();
    return this.stream(this.raw.openStream());
  }

  /** The next stream the peer opens; undefined once the connection is closed. */
  async accept(): Promise<TrineStream | undefined> {
    for (;;) {
      const s = this.incoming.shift();
      if (s) return s;
      if (this.closedWith) return undefined;
      await this.incomingSignal.wait();
    }
  }

  /** Streams the peer opens, as they open. */
  async *streams(): AsyncIterable<TrineStream> {
    for (let s = await this.accept(); s; s = await this.accept()) yield s;
  }

  /**
   * Closes the connection. By default waits until queued messages are acknowledged (graceful);
   * `{ immediate: true }` drops them. `code` >= CloseCode.APPLICATION_BASE is the application's own.
   */
  async close(code: number = CloseCode.NO_ERROR, reason = '', opts: { immediate?: boolean } = {}): Promise<void> {
    if (this.closedWith) return;
    const now = clock();
    if (opts.immediate) this.raw.close(now, code, reason);
    else this.raw.closeGracefully(now, code, reason);
    this.kick();
    await this.closedSignal.wait().catch(() => {});
  }

  /** Resolves when the connection has ended (by either side, or a timeout). */
  closed(): Promise<void> {
    if (this.closedWith) return Promise.resolve();
    return this.closedSignal.wait().catch(() => {});
  }

  /** @internal */
  onEvent(e: ConnectionEvent): void {
    switch (e.type) {
      case 'established':
        this.isEstablished = true;
        this.established.fire();
        break;
      case 'stream': {
        const s = this.stream(e.id);
        this.incoming.push(s);
        this.incomingSignal.fire();
        break;
      }
      case 'readable':
        this.streamsById.get(e.id)?.readable.fire();
        break;
      case 'finished': {
        const s = this.streamsById.get(e.id);
        if (s) { s.peerFinished = true; s.readable.fire(); }
        break;
      }
      case 'writable':
        this.streamsById.get(e.id)?.writable.fire();
        break;
      case 'closed': {
        this.closedWith = { code: e.code, reason: e.reason, byPeer: e.byPeer, ...(e.error ? { error: e.error } : {}) };
        const err = e.error ?? closedError();
        this.established.fail(err);
        for (const s of this.streamsById.values()) { s.readable.fire(); s.writable.fail(err); }
        this.incomingSignal.fire();
        this.closedSignal.fire();
        break;
      }
    }
  }

  /** @internal The protocol state is gone: release the socket if we own it. */
  onGone(): void {
    if (!this.closedWith) this.onEvent({ type: 'closed', code: CloseCode.NO_ERROR, reason: '', byPeer: false });
    if (this.ownsDriver) this.driver.shutdown();
  }
}

export interface ListenOptions {
  /** Address to bind; default all IPv4 interfaces. */
  readonly address?: string;
  readonly port: number;
  /** Our static X25519 private key. */
  readonly staticKey: Uint8Array;
  /** Returns an identity for an allowed client key, or undefined to refuse it. */
  readonly authorize: Authorize;
  readonly limits?: Partial<Limits>;
}

/** A listening endpoint. Iterate it (or call `accept`) for incoming connections. */
export class Listener implements AsyncIterable<TrineConnection> {
  private readonly queue: TrineConnection[] = [];
  private readonly signal = new Signal();
  private closed = false;

  constructor(private readonly driver: UdpEndpoint) {
    driver.onEndpointEvent = (e) => {
      if (e.type !== 'connection') return;
      const w = new TrineConnection(e.connection, driver, false);
      driver.conns.set(e.connection, w);
      // Established already happened inside the protocol before this event; mark it.
      w.onEvent({ type: 'established' });
      this.queue.push(w);
      this.signal.fire();
    };
  }

  get publicKey(): Uint8Array { return this.driver.endpoint.publicKey; }

  /** The bound address and port (useful with port 0). */
  address(): { address: string; port: number } {
    const a = this.driver.socket.address();
    return { address: a.address, port: a.port };
  }

  /** The endpoint's counters (drops, refusals, cookie replies). */
  get stats() { return this.driver.endpoint.stats; }

  async accept(): Promise<TrineConnection | undefined> {
    for (;;) {
      const c = this.queue.shift();
      if (c) return c;
      if (this.closed) return undefined;
      await this.signal.wait();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TrineConnection> {
    for (let c = await this.accept(); c; c = await this.accept()) yield c;
  }

  /** Closes every connection immediately and releases the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const now = clock();
    for (const c of this.driver.endpoint.allConnections()) c.close(now, CloseCode.NO_ERROR, 'server shutting down');
    this.driver.kick();
    // Give the CLOSE packets one pass through the loop before the socket goes.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    this.signal.fire();
    this.driver.shutdown();
  }
}

export async function listen(opts: ListenOptions): Promise<Listener> {
  const socket = await bindSocket(opts.address ?? '0.0.0.0', opts.port);
  const endpoint = new Endpoint({ staticPrivate: opts.staticKey, random: randomBytes, authorize: opts.authorize, datagramBytesFor: loopbackAware, ...(opts.limits ? { limits: opts.limits } : {}) });
  return new Listener(new UdpEndpoint(endpoint, socket));
}

export interface ConnectOptions {
  readonly address: string;
  readonly port: number;
  /** The server's static public key (from known_hosts or the cluster configuration). */
  readonly serverKey: Uint8Array;
  /** Our static X25519 private key. */
  readonly staticKey: Uint8Array;
  readonly limits?: Partial<Limits>;
}

/**
 * Connects and completes the handshake. Rejects with NET_TIMEOUT (no answer: wrong address,
 * server down, or a server key that is not the server's) or NET_REFUSED (our key is not allowed).
 */
export async function connect(opts: ConnectOptions): Promise<TrineConnection> {
  const socket = await bindSocket(isIP(opts.address) === 6 ? '::' : '0.0.0.0', 0);
  const endpoint = new Endpoint({ staticPrivate: opts.staticKey, random: randomBytes, datagramBytesFor: loopbackAware, ...(opts.limits ? { limits: opts.limits } : {}) });
  const driver = new UdpEndpoint(endpoint, socket);
  const target = formatAddress(opts.address, opts.port);
  // Connected: the kernel filters out datagrams from anyone else, and sends need no address.
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(opts.port, opts.address, () => { socket.off('error', reject); resolve(); });
  }).catch((e: unknown) => { driver.shutdown(); throw e; });
  driver.connectedTo = target;
  const raw = endpoint.connect(clock(), target, opts.serverKey);
  const conn = new TrineConnection(raw, driver, true);
  driver.conns.set(raw, conn);
  driver.kick();
  try {
    await conn.waitEstablished();
  } catch (e) {
    driver.shutdown();
    throw e;
  }
  return conn;
}

/**
 * Asks a server for its static public key (KEY_REQUEST). The answer is not authenticated: use it
 * only to show a fingerprint to a person (trust on first use), never as proof of identity.
 */
export async function fetchServerKey(address: string, port: number, timeoutMs = 5000): Promise<Uint8Array> {
  const socket = await bindSocket(isIP(address) === 6 ? '::' : '0.0.0.0', 0);
  const endpoint = new Endpoint({ staticPrivate: randomBytes(32), random: randomBytes });
  const driver = new UdpEndpoint(endpoint, socket);
  const target = formatAddress(address, port);
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      let attempts = 0;
      const ask = () => { endpoint.requestKey(target); driver.kick(); attempts++; };
      // UDP may lose the request or the answer: ask again a few times within the timeout.
      const retry = setInterval(() => { if (attempts < 5) ask(); }, Math.max(200, timeoutMs / 5));
      const deadline = setTimeout(() => { clearInterval(retry); reject(timeoutError(target)); }, timeoutMs);
      driver.onEndpointEvent = (e) => {
        if (e.type !== 'server-key' || e.address !== target) return;
        clearInterval(retry);
        clearTimeout(deadline);
        resolve(e.key);
      };
      ask();
    });
  } finally {
    driver.shutdown();
  }
}

