/**
 * An endpoint: one UDP socket's worth of connections, as a pure state machine (the shape of
 * quinn-proto's Endpoint). The driver feeds it datagrams with `handleDatagram(now, from, bytes)`,
 * sends what `poll(now)` returns, and calls `handleTimeout(now)` at `nextTimeout()`.
 * Addresses are opaque strings chosen by the driver (e.g. "127.0.0.1:7000").
 *
 * What the server does with an INITIATION, cheapest check first, so that junk costs nothing:
 * exact length -> mac1 (proves the sender knows our public key) -> under load, mac2 (proves the
 * sender receives at its address; otherwise a COOKIE_REPLY) -> Noise message 1 (two DH) ->
 * authorize(peer key) (refused keys get an authenticated refusal) -> timestamp newer than the
 * last one seen from that key (replays are dropped) -> new connection and RESPONSE.
 * Nothing that fails a check gets an answer.
 */
import { equalBytes, hmacBlake2s, toHex, utf8, x25519PublicKey, xaeadSeal } from '../crypto/index.ts';
import { IkResponder } from '../noise/index.ts';
import { Reader, Writer } from './codec.ts';
import { Connection, type ConnectionHost, INITIATION_BYTES, readParams, writeParams } from './connection.ts';
import {
  COOKIE_SECRET_LIFETIME_MS, DEFAULT_LIMITS, KEY_REQUEST_BYTES, type Limits, MAX_CONNECTIONS, MAX_RECEIVE_DATAGRAM_BYTES,
  MAX_TRACKED_PEER_KEYS, STATELESS_QUEUE_LIMIT,
} from './limits.ts';
import {
  CID_BYTES, compareBytes, COOKIE_BYTES, COOKIE_NONCE_BYTES, cookieKey, DATA_HEADER_BYTES, KEY_NONCE_BYTES, mac, mac1Key, MAC_BYTES,
  macMatches, NOISE_PROLOGUE, packetType, PacketType, readCid, TIMESTAMP_BYTES, typeByte, writeCid,
} from './packet.ts';

/** Decides whether a client key may connect: return an identity (any value but undefined) to accept. */
export type Authorize = (peerKey: Uint8Array) => unknown;

export interface EndpointOptions {
  /** Our static X25519 private key. */
  readonly staticPrivate: Uint8Array;
  /** Source of randomness (ephemeral keys, connection ids, cookie secrets). */
  readonly random: (n: number) => Uint8Array;
  /** Present on a server: who may connect. Without it, incoming initiations are ignored. */
  readonly authorize?: Authorize;
  readonly limits?: Partial<Limits>;
  /** Path MTU knowledge from the driver: the datagram size for an address (default limits.maxDatagramBytes). */
  readonly datagramBytesFor?: (address: string) => number;
}

export interface Transmit {
  readonly address: string;
  readonly data: Uint8Array;
}

export type EndpointEvent =
  /** Server: a client completed and confirmed a handshake. */
  | { readonly type: 'connection'; readonly connection: Connection }
  /** Client: a KEY_RESPONSE answered our KEY_REQUEST (unauthenticated: for trust on first use only). */
  | { readonly type: 'server-key'; readonly address: string; readonly key: Uint8Array };

/** Counters that tests and monitoring read. */
export interface EndpointStats {
  datagramsIn: number;
  dropped: number;
  cookieReplies: number;
  refusals: number;
  replaysRefused: number;
}

const EMPTY_LIST: Connection[] = [];

export class Endpoint implements ConnectionHost {
  readonly limits: Readonly<Limits>;
  readonly random: (n: number) => Uint8Array;
  readonly publicKey: Uint8Array;
  private readonly staticPrivate: Uint8Array;
  private readonly authorize: Authorize | undefined;
  private readonly sizeFor: ((address: string) => number) | undefined;
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;

  private readonly connections = new Map<bigint, Connection>();
  private readonly dirty = new Set<Connection>();
  private readonly eventful = new Set<Connection>();
  private readonly stateless: Transmit[] = [];
  private readonly events: EndpointEvent[] = [];
  private readonly lastTimestamp = new Map<string, Uint8Array>();
  private readonly keyRequests = new Map<string, string>();
  private pending = 0;
  private rateWindowStart = -Infinity;
  private rateCount = 0;
  private cookieSecret: Uint8Array;
  private previousCookieSecret: Uint8Array;
  private cookieSecretTime = -Infinity;
  /** Set by tests to force cookie mode; normally load decides. */
  forceUnderLoad = false;
  readonly stats: EndpointStats = { datagramsIn: 0, dropped: 0, cookieReplies: 0, refusals: 0, replaysRefused: 0 };

  constructor(opts: EndpointOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.random = opts.random;
    this.staticPrivate = opts.staticPrivate;
    this.publicKey = x25519PublicKey(opts.staticPrivate);
    this.authorize = opts.authorize;
    this.sizeFor = opts.datagramBytesFor;
    this.mac1Key = mac1Key(this.publicKey);
    this.cookieKey = cookieKey(this.publicKey);
    this.cookieSecret = this.random(32);
    this.previousCookieSecret = this.cookieSecret;
  }

  // ConnectionHost
  datagramBytesFor(address: string): number {
    return Math.min(MAX_RECEIVE_DATAGRAM_BYTES, Math.max(this.limits.maxDatagramBytes, this.sizeFor?.(address) ?? 0));
  }

  wake(conn: Connection): void {
    this.dirty.add(conn);
  }

  eventsPending(conn: Connection): void {
    this.eventful.add(conn);
  }

  /** Connections that queued events since the last call (the driver drains their events). */
  takeEventful(): Connection[] {
    if (this.eventful.size === 0) return EMPTY_LIST;
    const out = [...this.eventful];
    this.eventful.clear();
    return out;
  }

  confirmed(conn: Connection): void {
    this.pending--;
    this.events.push({ type: 'connection', connection: conn });
  }

  /** Opens a client connection to `address`, whose server must hold `serverKey`. */
  connect(now: number, address: string, serverKey: Uint8Array): Connection {
    const conn = Connection.client(this, address, this.newCid(), { staticPrivate: this.staticPrivate, serverKey }, now);
    this.connections.set(conn.localCid, conn);
    return conn;
  }

  /** Asks `address` for its static public key (trust on first use). The answer arrives as a 'server-key' event. */
  requestKey(address: string): void {
    const nonce = this.random(KEY_NONCE_BYTES);
    this.keyRequests.set(toHex(nonce), address);
    const pkt = new Uint8Array(KEY_REQUEST_BYTES);
    pkt[0] = typeByte(PacketType.KEY_REQUEST);
    pkt.set(nonce, 1);
    this.queueStateless(address, pkt);
  }

  private newCid(): bigint {
    for (;;) {
      const cid = readCid(this.random(CID_BYTES), 0);
      if (cid !== 0n && !this.connections.has(cid)) return cid;
    }
  }

  private queueStateless(address: string, data: Uint8Array): void {
    if (this.stateless.length < STATELESS_QUEUE_LIMIT) this.stateless.push({ address, data });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** One received datagram. Never throws on bad input; anything unauthenticated is dropped. */
  handleDatagram(now: number, from: string, data: Uint8Array): void {
    this.stats.datagramsIn++;
    const t = packetType(data);
    if (t === undefined || data.length > MAX_RECEIVE_DATAGRAM_BYTES) { this.stats.dropped++; return; }
    switch (t) {
      case PacketType.DATA: {
        if (data.length < DATA_HEADER_BYTES) break;
        const conn = this.connections.get(readCid(data, 1));
        if (!conn) break;
        conn.onData(now, data, from);
        this.afterConnection(conn);
        return;
      }
      case PacketType.INITIATION:
        this.onInitiation(now, from, data);
        return;
      case PacketType.RESPONSE: {
        if (data.length < 1 + 2 * CID_BYTES) break;
        const conn = this.connections.get(readCid(data, 1 + CID_BYTES));
        if (!conn || conn.role !== 'client') break;
        conn.onResponse(now, data);
        this.afterConnection(conn);
        return;
      }
      case PacketType.COOKIE_REPLY: {
        if (data.length !== 1 + CID_BYTES + COOKIE_NONCE_BYTES + COOKIE_BYTES + 16) break;
        const conn = this.connections.get(readCid(data, 1));
        if (!conn || conn.role !== 'client') break;
        conn.onCookieReply(now, data);
        return;
      }
      case PacketType.KEY_REQUEST:
        // Only a server answers, and only to a full-size request, so the answer is always smaller.
        if (!this.authorize || data.length !== KEY_REQUEST_BYTES) break;
        {
          const out = new Uint8Array(1 + KEY_NONCE_BYTES + 32);
          out[0] = typeByte(PacketType.KEY_RESPONSE);
          out.set(data.subarray(1, 1 + KEY_NONCE_BYTES), 1);
          out.set(this.publicKey, 1 + KEY_NONCE_BYTES);
          this.queueStateless(from, out);
        }
        return;
      case PacketType.KEY_RESPONSE: {
        if (data.length !== 1 + KEY_NONCE_BYTES + 32) break;
        const nonce = toHex(data.subarray(1, 1 + KEY_NONCE_BYTES));
        const address = this.keyRequests.get(nonce);
        if (address === undefined) break;
        this.keyRequests.delete(nonce);
        this.events.push({ type: 'server-key', address, key: data.slice(1 + KEY_NONCE_BYTES) });
        return;
      }
    }
    this.stats.dropped++;
  }

  private afterConnection(conn: Connection): void {
    if (conn.state === 'closed') this.remove(conn);
  }

  private remove(conn: Connection): void {
    if (this.connections.get(conn.localCid) === conn) {
      this.connections.delete(conn.localCid);
      if (conn.role === 'server' && !conn.confirmedByPeer) this.pending--;
    }
  }

  private underLoad(now: number): boolean {
    if (this.forceUnderLoad) return true;
    if (now - this.rateWindowStart >= 1000) { this.rateWindowStart = now; this.rateCount = 0; }
    return this.pending >= this.limits.handshakeLoadPending || this.rateCount >= this.limits.handshakeLoadPerSecond;
  }

  private cookieFor(secret: Uint8Array, address: string): Uint8Array {
    return hmacBlake2s(secret, utf8(address)).subarray(0, COOKIE_BYTES);
  }

  private rotateCookieSecret(now: number): void {
    if (now - this.cookieSecretTime < COOKIE_SECRET_LIFETIME_MS) return;
    this.previousCookieSecret = this.cookieSecret;
    this.cookieSecret = this.random(32);
    this.cookieSecretTime = now;
  }

  private onInitiation(now: number, from: string, pkt: Uint8Array): void {
    if (!this.authorize || pkt.length !== INITIATION_BYTES) { this.stats.dropped++; return; }
    const mac1At = INITIATION_BYTES - 2 * MAC_BYTES;
    const mac2At = mac1At + MAC_BYTES;
    if (!macMatches(this.mac1Key, pkt.subarray(0, mac1At), pkt.subarray(mac1At, mac2At))) { this.stats.dropped++; return; }
    this.rotateCookieSecret(now);
    if (this.underLoad(now)) {
      const body = pkt.subarray(0, mac2At), tag = pkt.subarray(mac2At);
      const ok = equalBytes(mac(this.cookieFor(this.cookieSecret, from), body), tag)
        || equalBytes(mac(this.cookieFor(this.previousCookieSecret, from), body), tag);
      if (!ok) {
        const nonce = this.random(COOKIE_NONCE_BYTES);
        const sealed = xaeadSeal(this.cookieKey, nonce, this.cookieFor(this.cookieSecret, from), pkt.subarray(mac1At, mac2At));
        const out = new Uint8Array(1 + CID_BYTES + COOKIE_NONCE_BYTES + sealed.length);
        out[0] = typeByte(PacketType.COOKIE_REPLY);
        out.set(pkt.subarray(1, 1 + CID_BYTES), 1);
        out.set(nonce, 1 + CID_BYTES);
        out.set(sealed, 1 + CID_BYTES + COOKIE_NONCE_BYTES);
        this.stats.cookieReplies++;
        this.queueStateless(from, out);
        return;
      }
    }
    this.rateCount++;
    const responder = new IkResponder({ staticPrivate: this.staticPrivate, prologue: NOISE_PROLOGUE });
    const r1 = responder.readMessage1(pkt.subarray(1 + CID_BYTES, mac1At));
    if (!r1) { this.stats.dropped++; return; }
    const senderCid = readCid(pkt, 1);
    let params;
    let ts: Uint8Array;
    try {
      const rd = new Reader(r1.payload);
      ts = rd.bytes(TIMESTAMP_BYTES).slice();
      params = readParams(rd);
    } catch {
      this.stats.dropped++;
      return;
    }
    let identity: unknown;
    try {
      identity = this.authorize(r1.remoteStatic);
    } catch {
      identity = undefined;
    }
    if (identity === undefined) {
      const w2 = responder.writeMessage2(Uint8Array.of(1), this.random(32));
      if (w2) this.queueStateless(from, this.responsePacket(0n, senderCid, w2.message));
      this.stats.refusals++;
      return;
    }
    const keyHex = toHex(r1.remoteStatic);
    const last = this.lastTimestamp.get(keyHex);
    if (last && compareBytes(ts, last) <= 0) { this.stats.replaysRefused++; return; }
    if (this.connections.size >= MAX_CONNECTIONS) { this.stats.dropped++; return; }
    this.lastTimestamp.delete(keyHex);
    this.lastTimestamp.set(keyHex, ts);
    if (this.lastTimestamp.size > MAX_TRACKED_PEER_KEYS) this.lastTimestamp.delete(this.lastTimestamp.keys().next().value as string);

    const localCid = this.newCid();
    const payload = new Writer(16).u8(0);
    writeParams(payload, { streamWindow: this.limits.streamWindowBytes, connectionWindow: this.limits.connectionWindowBytes, idleTimeoutMs: this.limits.idleTimeoutMs });
    const w2 = responder.writeMessage2(payload.finish(), this.random(32));
    if (!w2) { this.stats.dropped++; return; }
    const response = this.responsePacket(localCid, senderCid, w2.message);
    const conn = Connection.server(this, from, localCid, senderCid, r1.remoteStatic, identity, w2.transport, params, response, pkt.length, now);
    this.connections.set(localCid, conn);
    this.pending++;
    this.dirty.add(conn);
  }

  private responsePacket(senderCid: bigint, receiverCid: bigint, message: Uint8Array): Uint8Array {
    const out = new Uint8Array(1 + 2 * CID_BYTES + message.length);
    out[0] = typeByte(PacketType.RESPONSE);
    writeCid(out, 1, senderCid);
    writeCid(out, 1 + CID_BYTES, receiverCid);
    out.set(message, 1 + 2 * CID_BYTES);
    return out;
  }

  /** The next datagram to send, or undefined when there is nothing to send now. */
  poll(now: number): Transmit | undefined {
    const s = this.stateless.shift();
    if (s) return s;
    for (const conn of this.dirty) {
      const data = conn.poll(now);
      if (data) {
        // Move it to the back so busy connections take turns.
        this.dirty.delete(conn);
        this.dirty.add(conn);
        return { address: conn.address, data };
      }
      this.dirty.delete(conn);
      if (conn.state === 'closed') this.remove(conn);
    }
    return undefined;
  }

  /** Events of the endpoint itself; connection events are polled on each connection. */
  pollEvent(): EndpointEvent | undefined {
    return this.events.shift();
  }

  nextTimeout(): number {
    let t = Infinity;
    for (const c of this.connections.values()) {
      const ct = c.nextTimeout();
      if (ct < t) t = ct;
    }
    return t;
  }

  handleTimeout(now: number): void {
    for (const c of this.connections.values()) {
      if (c.nextTimeout() <= now) {
        c.onTimeout(now);
        this.dirty.add(c);
      }
    }
  }

  /** All live connections (for tests and the driver). */
  allConnections(): IterableIterator<Connection> {
    return this.connections.values();
  }
}
