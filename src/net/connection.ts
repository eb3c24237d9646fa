/**
 * One connection of the transport, as a pure state machine: authenticated datagrams and the
 * current time go in (`onDatagram`, `onTimeout`), datagrams to send come out (`poll`), and the
 * next instant it needs attention is `nextTimeout()`. No socket, clock or randomness inside.
 *
 * States: handshake (client, IK message 1 sent) -> established -> closing (we sent CLOSE) or
 * draining (peer sent CLOSE) -> closed. A server-side connection starts established but
 * unconfirmed: the application sees it only after the client's first authenticated DATA packet,
 * which also validates the client's address (until then the amplification limit applies).
 */
import { TrineError, utf8, xaeadOpen } from '../crypto/index.ts';
import type { CipherState } from '../noise/index.ts';
import { IkInitiator, MESSAGE1_OVERHEAD } from '../noise/index.ts';
import { DecodeError, Reader, Writer } from './codec.ts';
import {
  closedByPeerError, CloseCode, idleTimeoutError, protocolError, refusedError, timeoutError,
} from './errors.ts';
import { ackSize, type Frame, readFrame, streamHeaderSize, writeAck, writeClose, writeStream, FrameType } from './frames.ts';
import {
  ACK_ELICITING_THRESHOLD, AMPLIFICATION_FACTOR, CLOSE_LINGER_PTOS, COOKIE_LIFETIME_MS, HANDSHAKE_RETRY_INITIAL_MS,
  HANDSHAKE_RETRY_MAX_MS, type Limits, MAX_ACK_DELAY_MS, MAX_ACK_RANGES, MAX_CLOSE_REASON_BYTES, MAX_SENT_PACKETS,
  MAX_STREAMS, PACKET_THRESHOLD, PTO_PROBE_PACKETS, REPLAY_WINDOW_PACKETS, TIME_THRESHOLD, UNCONFIRMED_TIMEOUT_MS,
} from './limits.ts';
import {
  AEAD_TAG_BYTES, CID_BYTES, COOKIE_NONCE_BYTES, cookieKey, DATA_HEADER_BYTES, mac, mac1Key, MAC_BYTES, nextTimestamp,
  NOISE_PROLOGUE, PacketType, PARAMS_BYTES, compareBytes, readCid, tai64n, TIMESTAMP_BYTES, type TransportParams, typeByte, writeCid,
} from './packet.ts';
import { RangeSet } from './range-set.ts';
import { NewReno, Pacer, RttEstimator } from './recovery.ts';
import { RecvStream, SendStream } from './stream.ts';

export type ConnectionEvent =
  /** The handshake completed (client), or the client confirmed it (server). */
  | { readonly type: 'established' }
  /** The peer opened a stream. */
  | { readonly type: 'stream'; readonly id: number }
  /** A stream has at least one complete message to `read`. */
  | { readonly type: 'readable'; readonly id: number }
  /** A stream's send buffer drained below the high-water mark given to `send`. */
  | { readonly type: 'writable'; readonly id: number }
  /** The peer finished a stream and every message on it has been read. */
  | { readonly type: 'finished'; readonly id: number }
  /** The connection ended; `error` is set unless we closed it with NO_ERROR ourselves. */
  | { readonly type: 'closed'; readonly code: number; readonly reason: string; readonly byPeer: boolean; readonly error?: TrineError };

export type ConnectionState = 'handshake' | 'established' | 'closing' | 'draining' | 'closed';

interface SentPacket {
  readonly pn: number;
  readonly time: number;
  readonly size: number;
  readonly ackEliciting: boolean;
  /** Stream frames as flat [id, offset, length, fin(0/1)] quadruples. */
  readonly streams: number[];
  readonly maxData: boolean;
  readonly maxStreamData: number[];
  /** Largest packet number acknowledged by the ACK frame in this packet, or -1. */
  readonly ackLargest: number;
}

/** What the connection needs from its endpoint. */
export interface ConnectionHost {
  readonly limits: Readonly<Limits>;
  readonly random: (n: number) => Uint8Array;
  /** Largest datagram to send to `address` (the path MTU the driver knows of). */
  datagramBytesFor(address: string): number;
  /** The connection has something to send or its timer changed. */
  wake(conn: Connection): void;
  /** The connection queued an event for the application. */
  eventsPending(conn: Connection): void;
  /** A server-side connection was confirmed by the client. */
  confirmed(conn: Connection): void;
}

export interface ClientHandshake {
  readonly staticPrivate: Uint8Array;
  readonly serverKey: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export class Connection {
  state: ConnectionState;
  readonly role: 'client' | 'server';
  address: string;
  readonly localCid: bigint;
  remoteCid = 0n;
  /** The peer's static public key (the server's for a client, the client's for a server). */
  readonly peerKey: Uint8Array;
  /** What `authorize` returned for this peer (server side). */
  identity: unknown;
  /** Server side: true once the client proved it completed the handshake. */
  confirmedByPeer: boolean;

  private readonly host: ConnectionHost;
  private readonly limits: Readonly<Limits>;
  private sendKey: CipherState | undefined;
  private recvKey: CipherState | undefined;
  private readonly mss: number;
  private readonly scratch: Uint8Array;

  // Handshake (client)
  private clientHs: ClientHandshake | undefined;
  /** The latest attempts, newest last: a late RESPONSE to an earlier attempt still completes. */
  private initiators: IkInitiator[] = [];
  private initiationOut: Uint8Array | undefined;
  private lastTimestamp: Uint8Array = new Uint8Array(TIMESTAMP_BYTES);
  private lastMac1: Uint8Array | undefined;
  private cookie: Uint8Array | undefined;
  private cookieTime = -Infinity;
  private handshakeStart = 0;
  private handshakeRetryAt = Infinity;
  private handshakeAttempts = 0;
  /** When the single handshake packet of this side left (for a first RTT sample; NaN after a retry). */
  private handshakeSentAt = NaN;
  // Handshake (server)
  private responseOut: Uint8Array | undefined;
  private readonly createdAt: number;

  // Packet numbers, replay window, acknowledgements
  private nextPn = 0;
  private readonly received = new RangeSet();
  private largestReceived = -1;
  private largestReceivedTime = 0;
  private ackElicitingSinceAck = 0;
  private ackNeeded = false;
  /** A packet arrived since our last ACK: worth piggybacking an ACK on the next packet. */
  private receivedSinceAck = false;
  private ackDeadline = Infinity;
  /** Packets below this were acknowledged by an ACK the peer has acknowledged: no need to ack them again. */
  private ackFloor = 0;

  // Loss recovery
  private sentPns: number[] = [];
  private sent: (SentPacket | undefined)[] = [];
  private sentHead = 0;
  /** Per sent packet: 0 in flight, 1 acknowledged, 2 declared lost (persistent congestion needs the difference). */
  private sentFate: number[] = [];
  /** Send time of the packet that gave the first RTT sample. */
  private firstSampleSentTime = NaN;
  persistentCongestionEvents = 0;
  private ackElicitingInFlight = 0;
  private largestAcked = -1;
  private lossTime = Infinity;
  private ptoCount = 0;
  private timeOfLastAckEliciting = -Infinity;
  private probes = 0;
  readonly rtt = new RttEstimator();
  readonly cc: NewReno;
  private readonly pacer: Pacer;
  private pacingWaitUntil = Infinity;

  // Streams and flow control
  private readonly sendStreams = new Map<number, SendStream>();
  private readonly recvStreams = new Map<number, RecvStream>();
  private readonly sendable = new Set<number>();
  private readonly retired = [new RangeSet(), new RangeSet()];
  private nextStreamId: number;
  private peerStreamCount = 0;
  private localStreamCount = 0;
  private peerParams: TransportParams | undefined;
  private peerMaxData = 0;
  private sentNewTotal = 0;
  private localMaxData: number;
  private connWindow: number;
  private connCreditAt = -Infinity;
  private receivedTotal = 0;
  private consumedTotal = 0;
  private maxDataPending = false;
  private readonly maxStreamDataPending = new Set<number>();
  private readonly writableWatch = new Map<number, number>();

  // Liveness and close
  private idleTimeoutMs: number;
  private lastReceiveTime: number;
  private lastSendTime: number;
  private pingPending = false;
  private closeFrame: Uint8Array | undefined;
  private closeSendPending = false;
  private lastCloseSent = -Infinity;
  private closeDeadline = Infinity;
  private closeWhenDone: { code: number; reason: string } | undefined;

  // Amplification limit (server, until the client's address is validated)
  private validated: boolean;
  private bytesReceivedUnvalidated = 0;
  private bytesSentUnvalidated = 0;

  private readonly events: ConnectionEvent[] = [];
  /** Bytes of datagrams sent and received, for statistics and tests. */
  bytesSent = 0;
  bytesReceived = 0;
  packetsLost = 0;
  /** Authenticated packets accepted, and packets dropped (failed authentication, replay, too old). */
  packetsIn = 0;
  packetsDropped = 0;

  private constructor(host: ConnectionHost, role: 'client' | 'server', address: string, localCid: bigint, peerKey: Uint8Array, now: number) {
    this.host = host;
    this.limits = host.limits;
    this.role = role;
    this.address = address;
    this.localCid = localCid;
    this.peerKey = peerKey;
    this.mss = host.datagramBytesFor(address);
    this.scratch = new Uint8Array(this.mss);
    this.cc = new NewReno(this.mss);
    this.pacer = new Pacer(this.mss);
    this.nextStreamId = role === 'client' ? 0 : 1;
    this.localMaxData = this.limits.connectionWindowBytes;
    this.connWindow = this.limits.connectionWindowBytes;
    this.idleTimeoutMs = this.limits.idleTimeoutMs;
    this.lastReceiveTime = now;
    this.lastSendTime = now;
    this.createdAt = now;
    this.state = role === 'client' ? 'handshake' : 'established';
    this.validated = role === 'client';
    this.confirmedByPeer = role === 'client';
  }

  /** Starts a client connection; the first `poll` yields the initiation. */
  static client(host: ConnectionHost, address: string, localCid: bigint, hs: ClientHandshake, now: number): Connection {
    const c = new Connection(host, 'client', address, localCid, hs.serverKey, now);
    c.clientHs = hs;
    c.handshakeStart = now;
    c.buildInitiation(now);
    return c;
  }

  /** A server connection after a valid, authorised initiation; `response` is the RESPONSE packet to send. */
  static server(
    host: ConnectionHost, address: string, localCid: bigint, remoteCid: bigint, peerKey: Uint8Array, identity: unknown,
    keys: { send: CipherState; recv: CipherState }, peerParams: TransportParams, response: Uint8Array, initiationBytes: number, now: number,
  ): Connection {
    const c = new Connection(host, 'server', address, localCid, peerKey, now);
    c.remoteCid = remoteCid;
    c.identity = identity;
    c.sendKey = keys.send;
    c.recvKey = keys.recv;
    c.applyPeerParams(peerParams);
    c.responseOut = response;
    c.bytesReceivedUnvalidated = initiationBytes;
    return c;
  }

  /** The transport parameters we announce in the handshake. */
  localParams(): TransportParams {
    return { streamWindow: this.limits.streamWindowBytes, connectionWindow: this.limits.connectionWindowBytes, idleTimeoutMs: this.limits.idleTimeoutMs };
  }

  private applyPeerParams(p: TransportParams): void {
    this.peerParams = p;
    this.peerMaxData = p.connectionWindow;
    if (p.idleTimeoutMs > 0) this.idleTimeoutMs = Math.min(this.idleTimeoutMs, p.idleTimeoutMs);
  }

  // ---------------------------------------------------------------- handshake (client)

  private buildInitiation(now: number): void {
    const hs = this.clientHs!;
    const initiator = new IkInitiator({ staticPrivate: hs.staticPrivate, remoteStatic: hs.serverKey, prologue: NOISE_PROLOGUE });
    this.initiators.push(initiator);
    if (this.initiators.length > 3) this.initiators.shift();
    // Timestamps must strictly increase per key, even if the clock stalls or two attempts share a millisecond.
    let ts = tai64n(now);
    if (compareBytes(ts, this.lastTimestamp) <= 0) ts = nextTimestamp(this.lastTimestamp);
    this.lastTimestamp = ts;
    const payload = new Writer(TIMESTAMP_BYTES + PARAMS_BYTES).bytes(ts);
    writeParams(payload, this.localParams());
    const msg = initiator.writeMessage1(payload.finish(), this.host.random(32));
    if (!msg) throw new TrineError('NET_BAD_SERVER_KEY', 'the server key is not a valid X25519 public key; check the key you were given');
    const pkt = new Uint8Array(1 + CID_BYTES + msg.length + 2 * MAC_BYTES);
    pkt[0] = typeByte(PacketType.INITIATION);
    writeCid(pkt, 1, this.localCid);
    pkt.set(msg, 1 + CID_BYTES);
    const m1At = 1 + CID_BYTES + msg.length;
    const m1 = mac(mac1Key(hs.serverKey), pkt.subarray(0, m1At));
    pkt.set(m1, m1At);
    this.lastMac1 = m1.slice();
    if (this.cookie && now - this.cookieTime < COOKIE_LIFETIME_MS) pkt.set(mac(this.cookie, pkt.subarray(0, m1At + MAC_BYTES)), m1At + MAC_BYTES);
    this.initiationOut = pkt;
    this.handshakeAttempts++;
    this.handshakeRetryAt = now + Math.min(HANDSHAKE_RETRY_MAX_MS, HANDSHAKE_RETRY_INITIAL_MS * 2 ** (this.handshakeAttempts - 1));
    this.host.wake(this);
  }

  /** RESPONSE for this client connection (already matched by receiver cid). */
  onResponse(now: number, pkt: Uint8Array): void {
    if (this.state !== 'handshake') return;
    const senderCid = readCid(pkt, 1);
    let r: ReturnType<IkInitiator['readMessage2']>;
    // A failed read leaves each initiator untouched, so a forged RESPONSE cannot spoil the attempt.
    for (let i = this.initiators.length - 1; i >= 0 && !r; i--) r = this.initiators[i]!.readMessage2(pkt.subarray(1 + 2 * CID_BYTES));
    if (!r) return;
    this.initiators = [];
    this.initiationOut = undefined;
    this.handshakeRetryAt = Infinity;
    this.bytesReceived += pkt.length;
    const rd = new Reader(r.payload);
    try {
      const status = rd.u8();
      if (status !== 0) {
        this.terminate(CloseCode.NO_ERROR, 'refused', true, refusedError(this.address));
        return;
      }
      this.applyPeerParams(readParams(rd));
    } catch {
      this.terminate(CloseCode.PROTOCOL_VIOLATION, 'bad response', false, protocolError('the server sent a malformed handshake response'));
      return;
    }
    if (!Number.isNaN(this.handshakeSentAt)) this.rtt.update(now - this.handshakeSentAt, 0, false);
    this.remoteCid = senderCid;
    this.sendKey = r.transport.send;
    this.recvKey = r.transport.recv;
    this.state = 'established';
    this.lastReceiveTime = now;
    // An ack-eliciting packet at once: it confirms the handshake to the server and validates our address.
    this.pingPending = true;
    for (const s of this.sendStreams.values()) s.maxData = this.peerParams!.streamWindow;
    this.emit({ type: 'established' });
    this.host.wake(this);
  }

  /** COOKIE_REPLY for this client connection: the server is under load and wants proof of our address. */
  onCookieReply(now: number, pkt: Uint8Array): void {
    if (this.state !== 'handshake' || !this.lastMac1 || !this.clientHs) return;
    const nonce = pkt.subarray(1 + CID_BYTES, 1 + CID_BYTES + COOKIE_NONCE_BYTES);
    const cookie = xaeadOpen(cookieKey(this.clientHs.serverKey), nonce, pkt.subarray(1 + CID_BYTES + COOKIE_NONCE_BYTES), this.lastMac1);
    if (!cookie) return;
    this.cookie = cookie;
    this.cookieTime = now;
    this.buildInitiation(now);
  }

  // ---------------------------------------------------------------- receiving

  /** A DATA packet addressed to our connection id. Anything that does not authenticate is dropped silently. */
  onData(now: number, pkt: Uint8Array, from: string): void {
    if (this.state === 'closed' || this.state === 'handshake' || !this.recvKey) return;
    if (pkt.length < DATA_HEADER_BYTES + AEAD_TAG_BYTES) { this.packetsDropped++; return; }
    let pn: number;
    try {
      pn = new Reader(pkt, 1 + CID_BYTES).u64();
    } catch {
      this.packetsDropped++;
      return;
    }
    if (pn + REPLAY_WINDOW_PACKETS <= this.largestReceived || this.received.has(pn)) { this.packetsDropped++; return; }
    const plain = this.recvKey.openAt(pn, pkt.subarray(0, DATA_HEADER_BYTES), pkt.subarray(DATA_HEADER_BYTES));
    if (!plain) { this.packetsDropped++; return; }
    this.packetsIn++;
    this.received.add(pn);
    if (pn > this.largestReceived) {
      this.largestReceived = pn;
      this.largestReceivedTime = now;
      this.received.removeBelow(Math.max(0, pn - REPLAY_WINDOW_PACKETS));
      // Only the newest authenticated packet may move the connection to a new address (NAT rebinding).
      if (from !== this.address) this.address = from;
    }
    this.lastReceiveTime = now;
    this.bytesReceived += pkt.length;
    this.receivedSinceAck = true;
    this.validated = true;
    if (!this.confirmedByPeer) {
      this.confirmedByPeer = true;
      // The client's first packet answers our RESPONSE: a first RTT sample, so the first PTO is
      // not the 1 s that the initial RTT estimate implies.
      if (!this.responseOut && !Number.isNaN(this.handshakeSentAt)) this.rtt.update(now - this.handshakeSentAt, 0, false);
      this.responseOut = undefined;
      this.emit({ type: 'established' });
      this.host.confirmed(this);
    }
    if (this.state === 'draining') return;
    if (this.state === 'closing') {
      // Both sides closing at once: the peer's CLOSE ends our repetition.
      if (containsClose(plain)) { this.state = 'draining'; return; }
      // The peer has not seen our CLOSE yet: repeat it, at most once per smoothed RTT.
      if (now - this.lastCloseSent >= this.rtt.smoothed) { this.closeSendPending = true; this.host.wake(this); }
      return;
    }
    let ackEliciting = false;
    const r = new Reader(plain);
    try {
      while (r.remaining() > 0) {
        const f = readFrame(r);
        if (f.type !== 'ack' && f.type !== 'padding' && f.type !== 'close') ackEliciting = true;
        this.onFrame(now, f);
        if ((this.state as ConnectionState) !== 'established') return;
      }
    } catch (e) {
      if (e instanceof DecodeError) {
        this.close(now, CloseCode.PROTOCOL_VIOLATION, 'malformed frame', protocolError('the peer sent a malformed frame'));
        return;
      }
      if (e instanceof TrineError) {
        const code = e.code === 'NET_FLOW_CONTROL' ? CloseCode.FLOW_CONTROL : CloseCode.PROTOCOL_VIOLATION;
        this.close(now, code, e.message, protocolError(e.message));
        return;
      }
      throw e;
    }
    if (ackEliciting) {
      this.ackElicitingSinceAck++;
      // Out-of-order arrival hints at loss: tell the sender at once (RFC 9000 section 13.2.1).
      if (this.ackElicitingSinceAck >= ACK_ELICITING_THRESHOLD || pn !== this.largestReceived || this.received.rangeCount > 1) this.ackNeeded = true;
      else if (this.ackDeadline === Infinity) this.ackDeadline = now + MAX_ACK_DELAY_MS;
    }
    this.host.wake(this);
  }

  private onFrame(now: number, f: Frame): void {
    switch (f.type) {
      case 'padding':
      case 'ping':
        return;
      case 'ack':
        this.onAck(now, f.ranges, f.ackDelayUs / 1000);
        return;
      case 'stream':
        this.onStreamFrame(f.id, f.offset, f.data, f.fin);
        return;
      case 'max_data':
        if (f.max > this.peerMaxData) {
          this.peerMaxData = f.max;
          for (const [id, s] of this.sendStreams) if (s.wantsToSend()) this.sendable.add(id);
        }
        return;
      case 'max_stream_data': {
        const s = this.sendStreams.get(f.id);
        if (s && f.max > s.maxData) {
          s.maxData = f.max;
          if (s.wantsToSend()) this.sendable.add(f.id);
        }
        return;
      }
      case 'close':
        this.state = 'draining';
        this.closeDeadline = now + CLOSE_LINGER_PTOS * this.rtt.pto();
        this.dropStreams();
        this.emit({ type: 'closed', code: f.code, reason: f.reason, byPeer: true, error: closedByPeerError(f.code, f.reason) });
        return;
    }
  }

  private isLocalStream(id: number): boolean {
    return (id & 1) === (this.role === 'client' ? 0 : 1);
  }

  private onStreamFrame(id: number, offset: number, data: Uint8Array, fin: boolean): void {
    let rs = this.recvStreams.get(id);
    if (!rs) {
      if (this.retired[id & 1]!.has(Math.floor(id / 2))) return;
      if (this.isLocalStream(id)) {
        if (!this.sendStreams.has(id)) throw new TrineError('NET_PROTOCOL', 'the peer sent on a stream we never opened');
      } else {
        if (this.peerStreamCount >= MAX_STREAMS) throw new TrineError('NET_PROTOCOL', 'the peer opened too many streams');
        this.peerStreamCount++;
        this.sendStreams.set(id, new SendStream(this.peerParams?.streamWindow ?? 0));
        this.emit({ type: 'stream', id });
      }
      rs = new RecvStream(this.limits.streamWindowBytes);
      this.recvStreams.set(id, rs);
    }
    const grew = rs.receive(offset, data, fin);
    this.receivedTotal += grew;
    if (this.receivedTotal > this.localMaxData) throw new TrineError('NET_FLOW_CONTROL', 'the peer sent beyond the connection window');
    this.pumpStream(id, rs);
  }

  /** Moves contiguous bytes into messages and schedules window updates for what was consumed. */
  private pumpStream(id: number, rs: RecvStream): void {
    const hadMessage = rs.hasMessage();
    const taken = rs.pump(this.limits.streamReadQueueBytes);
    if (taken > 0) {
      this.consumedTotal += taken;
      // Auto-tuning: credit used up within two round trips means the window, not the reader,
      // limits the flow, so the window doubles (up to its maximum).
      const now = this.lastReceiveTime;
      const fast = 2 * this.rtt.smoothed;
      if (rs.maxLocal - rs.contiguous < rs.window / 2 && rs.finalSize === undefined) {
        if (now - rs.lastCreditAt < fast) rs.window = Math.min(2 * rs.window, this.limits.maxStreamWindowBytes);
        rs.lastCreditAt = now;
        rs.maxLocal = rs.contiguous + rs.window;
        this.maxStreamDataPending.add(id);
      }
      if (this.localMaxData - this.consumedTotal < this.connWindow / 2) {
        if (now - this.connCreditAt < fast) this.connWindow = Math.min(2 * this.connWindow, this.limits.maxConnectionWindowBytes);
        this.connCreditAt = now;
        this.localMaxData = this.consumedTotal + this.connWindow;
        this.maxDataPending = true;
      }
    }
    if (!hadMessage && rs.hasMessage()) this.emit({ type: 'readable', id });
    if (rs.finished() && !rs.finishReported) {
      rs.finishReported = true;
      this.emit({ type: 'finished', id });
      this.maybeRetire(id);
    }
  }

  private onAck(now: number, ranges: [number, number][], ackDelayMs: number): void {
    const largest = ranges[0]![1] - 1;
    if (largest >= this.nextPn) throw new TrineError('NET_PROTOCOL', 'the peer acknowledged a packet we never sent');
    let newlyAckedLargest: SentPacket | undefined;
    let anyAckEliciting = false;
    for (const [s, e] of ranges) {
      let i = this.lowerBound(s);
      for (; i < this.sentPns.length && this.sentPns[i]! < e; i++) {
        const p = this.sent[i];
        if (!p) continue;
        this.sent[i] = undefined;
        this.sentFate[i] = 1;
        if (p.pn === largest) newlyAckedLargest = p;
        if (p.ackEliciting) anyAckEliciting = true;
        this.onPacketAcked(p);
      }
    }
    if (largest > this.largestAcked) this.largestAcked = largest;
    if (newlyAckedLargest && anyAckEliciting) {
      if (Number.isNaN(this.firstSampleSentTime)) this.firstSampleSentTime = newlyAckedLargest.time;
      this.rtt.update(now - newlyAckedLargest.time, ackDelayMs, true);
      this.cc.onRttSample(this.rtt.latest, largest, this.nextPn);
    }
    if (newlyAckedLargest || anyAckEliciting) this.ptoCount = 0;
    this.detectLost(now);
    this.compactSent();
  }

  private onPacketAcked(p: SentPacket): void {
    if (p.ackEliciting) { this.ackElicitingInFlight--; this.cc.onAcked(p.size, p.time); }
    // The peer has seen our ACK up to ackLargest: acknowledging those packets again is pointless.
    if (p.ackLargest >= 0) this.ackFloor = Math.max(this.ackFloor, p.ackLargest + 1);
    const st = p.streams;
    for (let k = 0; k < st.length; k += 4) {
      const s = this.sendStreams.get(st[k]!);
      if (!s) continue;
      s.onAcked(st[k + 1]!, st[k + 1]! + st[k + 2]!, st[k + 3] === 1);
      const watch = this.writableWatch.get(st[k]!);
      if (watch !== undefined && s.buffered() <= watch) {
        this.writableWatch.delete(st[k]!);
        this.emit({ type: 'writable', id: st[k]! });
      }
      this.maybeRetire(st[k]!);
    }
  }

  /** Queues the stream data `p` carried for sending again (`streams` holds id, offset, length, fin). */
  private resendStreamData(p: SentPacket): void {
    const st = p.streams;
    for (let k = 0; k < st.length; k += 4) {
      const s = this.sendStreams.get(st[k]!);
      if (!s) continue;
      s.onLost(st[k + 1]!, st[k + 1]! + st[k + 2]!, st[k + 3] === 1);
      if (s.wantsToSend()) this.sendable.add(st[k]!);
    }
  }

  private onPacketLost(p: SentPacket): void {
    this.packetsLost++;
    if (p.ackEliciting) { this.ackElicitingInFlight--; this.cc.onRemoved(p.size); }
    this.resendStreamData(p);
    if (p.maxData) this.maxDataPending = true;
    for (const id of p.maxStreamData) if (this.recvStreams.has(id)) this.maxStreamDataPending.add(id);
  }

  private lowerBound(pn: number): number {
    let lo = this.sentHead, hi = this.sentPns.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sentPns[mid]! < pn) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  /** RFC 9002 section 6.1: packet and time thresholds. */
  private detectLost(now: number): void {
    this.lossTime = Infinity;
    if (this.largestAcked < 0) return;
    const lossDelay = this.rtt.lossDelay(TIME_THRESHOLD);
    let congestion: SentPacket | undefined;
    // Persistent congestion (RFC 9002 section 7.6): ack-eliciting packets lost over a span longer
    // than the persistent congestion duration, with nothing acknowledged in between, all sent
    // after the first RTT sample.
    let runStart: SentPacket | undefined;
    let persistent = false;
    const duration = this.rtt.persistentCongestionDuration();
    for (let i = this.sentHead; i < this.sentPns.length && this.sentPns[i]! < this.largestAcked; i++) {
      const p = this.sent[i];
      if (!p) {
        if (this.sentFate[i] === 1) runStart = undefined;
        continue;
      }
      if (p.time + lossDelay <= now || this.largestAcked >= p.pn + PACKET_THRESHOLD) {
        this.sent[i] = undefined;
        this.sentFate[i] = 2;
        this.onPacketLost(p);
        if (p.ackEliciting && (!congestion || p.time > congestion.time)) congestion = p;
        if (p.ackEliciting && p.time > this.firstSampleSentTime) {
          if (!runStart) runStart = p;
          else if (p.time - runStart.time > duration) persistent = true;
        }
      } else {
        runStart = undefined;
        this.lossTime = Math.min(this.lossTime, p.time + lossDelay);
      }
    }
    if (congestion) this.cc.onCongestionEvent(congestion.time, now);
    if (persistent) {
      this.cc.onPersistentCongestion();
      this.persistentCongestionEvents++;
    }
  }

  private compactSent(): void {
    while (this.sentHead < this.sent.length && !this.sent[this.sentHead]) this.sentHead++;
    if (this.sentHead > 4096 && this.sentHead * 2 > this.sent.length) {
      this.sent = this.sent.slice(this.sentHead);
      this.sentPns = this.sentPns.slice(this.sentHead);
      this.sentFate = this.sentFate.slice(this.sentHead);
      this.sentHead = 0;
    }
  }

  // ---------------------------------------------------------------- application API

  /** Opens a new stream and returns its id. */
  openStream(): number {
    if (this.state === 'closing' || this.state === 'draining' || this.state === 'closed') throw closedOr(this);
    // The peer allows MAX_STREAMS of ours at once (the same constant on both sides).
    if (this.localStreamCount >= MAX_STREAMS) throw new TrineError('NET_TOO_MANY_STREAMS', `at most ${MAX_STREAMS} streams may be open at once; finish some (stream.close() on both sides) first`);
    this.localStreamCount++;
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    this.sendStreams.set(id, new SendStream(this.peerParams?.streamWindow ?? 0));
    this.recvStreams.set(id, new RecvStream(this.limits.streamWindowBytes));
    return id;
  }

  /** Queues a message on a stream. The caller must not modify `message` afterwards. */
  send(id: number, message: Uint8Array): void {
    if (this.state === 'closing' || this.state === 'draining' || this.state === 'closed') throw closedOr(this);
    const s = this.sendStreams.get(id);
    if (!s) throw new TrineError('NET_UNKNOWN_STREAM', `stream ${id} is not open on this connection; open one with openStream() or wait for the peer's`);
    s.enqueueMessage(message);
    this.sendable.add(id);
    this.host.wake(this);
  }

  /** Ends our side of a stream after the messages already queued. */
  finish(id: number): void {
    const s = this.sendStreams.get(id);
    if (!s || s.finRequested) return;
    s.finRequested = true;
    this.sendable.add(id);
    this.host.wake(this);
  }

  /** The datagram size this connection sends. */
  get datagramSize(): number {
    return this.mss;
  }

  /** Bytes queued on a stream and not yet acknowledged. */
  buffered(id: number): number {
    return this.sendStreams.get(id)?.buffered() ?? 0;
  }

  /** Emits a 'writable' event once the stream's buffered bytes fall to `threshold` or below. */
  notifyWhenBufferedBelow(id: number, threshold: number): void {
    const s = this.sendStreams.get(id);
    if (!s) return;
    if (s.buffered() <= threshold) this.emit({ type: 'writable', id });
    else this.writableWatch.set(id, threshold);
  }

  /** Takes the next complete message of a stream, or undefined if none is ready. */
  read(id: number): Uint8Array | undefined {
    const rs = this.recvStreams.get(id);
    if (!rs) return undefined;
    const m = rs.take();
    if (m) {
      this.pumpStream(id, rs);
      if (rs.hasMessage()) this.emit({ type: 'readable', id });
      if (this.maxDataPending || this.maxStreamDataPending.size) this.host.wake(this);
      this.maybeRetire(id);
    }
    return m;
  }

  /** Bytes held for received data on all streams (bounded by the windows; for tests and monitoring). */
  receiveMemory(): number {
    let n = 0;
    for (const rs of this.recvStreams.values()) n += rs.memory();
    return n;
  }

  /** Closes now with `code`; queued data is dropped. */
  close(now: number, code: number = CloseCode.NO_ERROR, reason = '', error?: TrineError): void {
    if (this.state === 'closed' || this.state === 'closing' || this.state === 'draining') return;
    if (this.state === 'handshake' || !this.sendKey) {
      this.terminate(code, reason, false, error);
      return;
    }
    const r = utf8(reason).subarray(0, MAX_CLOSE_REASON_BYTES);
    const w = new Writer(8 + r.length);
    writeClose(w, code, r);
    this.closeFrame = w.finish();
    this.closeSendPending = true;
    this.state = 'closing';
    this.closeDeadline = now + CLOSE_LINGER_PTOS * this.rtt.pto();
    this.dropStreams();
    this.emit({ type: 'closed', code, reason, byPeer: false, ...(error ? { error } : {}) });
    this.host.wake(this);
  }

  /** Closes once every queued message has been acknowledged (or the idle timeout ends it first). */
  closeGracefully(now: number, code: number = CloseCode.NO_ERROR, reason = ''): void {
    if (this.state === 'handshake') { this.close(now, code, reason); return; }
    this.closeWhenDone = { code, reason };
    this.host.wake(this);
  }

  private allSent(): boolean {
    for (const s of this.sendStreams.values()) if (s.ackedPrefix < s.writeOffset || (s.finRequested && !s.finAcked)) return false;
    return true;
  }

  private dropStreams(): void {
    this.sendStreams.clear();
    this.recvStreams.clear();
    this.sendable.clear();
    this.sent = [];
    this.sentPns = [];
    this.sentFate = [];
    this.sentHead = 0;
    this.ackElicitingInFlight = 0;
  }

  private maybeRetire(id: number): void {
    const s = this.sendStreams.get(id), r = this.recvStreams.get(id);
    if (!s || !r || !s.done() || !r.finished()) return;
    this.sendStreams.delete(id);
    this.recvStreams.delete(id);
    this.sendable.delete(id);
    this.retired[id & 1]!.add(Math.floor(id / 2));
    if (this.isLocalStream(id)) this.localStreamCount--;
    else this.peerStreamCount--;
  }

  /** Ends the connection without sending anything. */
  private terminate(code: number, reason: string, byPeer: boolean, error: TrineError | undefined): void {
    if (this.state === 'closed') return;
    const wasVisible = this.role === 'client' || this.confirmedByPeer;
    this.state = 'closed';
    this.dropStreams();
    if (wasVisible) this.emit({ type: 'closed', code, reason, byPeer, ...(error ? { error } : {}) });
    this.host.wake(this);
  }

  private emit(e: ConnectionEvent): void {
    this.events.push(e);
    this.host.eventsPending(this);
  }

  pollEvent(): ConnectionEvent | undefined {
    return this.events.shift();
  }

  hasEvents(): boolean {
    return this.events.length > 0;
  }

  // ---------------------------------------------------------------- timers

  nextTimeout(): number {
    switch (this.state) {
      case 'closed':
        return Infinity;
      case 'closing':
      case 'draining':
        return this.closeDeadline;
      case 'handshake':
        return Math.min(this.handshakeRetryAt, this.handshakeStart + this.limits.handshakeTimeoutMs);
    }
    let t = this.lastReceiveTime + this.effectiveIdleTimeout();
    if (!this.confirmedByPeer) t = Math.min(t, this.createdAt + UNCONFIRMED_TIMEOUT_MS);
    t = Math.min(t, this.ackDeadline, this.lossOrPtoTime(), this.pacingWaitUntil);
    // Once a PING is pending the keepalive timer has done its job (the window may delay the PING).
    if (this.confirmedByPeer && !this.pingPending) t = Math.min(t, this.lastSendTime + this.limits.keepaliveIntervalMs);
    return t;
  }

  private effectiveIdleTimeout(): number {
    return Math.max(this.idleTimeoutMs, 3 * this.rtt.pto());
  }

  private lossOrPtoTime(): number {
    if (this.lossTime !== Infinity) return this.lossTime;
    if (this.ackElicitingInFlight <= 0) return Infinity;
    return this.timeOfLastAckEliciting + this.rtt.pto() * 2 ** Math.min(this.ptoCount, 16);
  }

  onTimeout(now: number): void {
    switch (this.state) {
      case 'closed':
        return;
      case 'closing':
      case 'draining':
        if (now >= this.closeDeadline) { this.state = 'closed'; this.host.wake(this); this.host.eventsPending(this); }
        return;
      case 'handshake':
        if (now >= this.handshakeStart + this.limits.handshakeTimeoutMs) {
          this.terminate(CloseCode.NO_ERROR, 'handshake timeout', false, timeoutError(this.address));
        } else if (now >= this.handshakeRetryAt) {
          this.buildInitiation(now);
        }
        return;
    }
    if (now >= this.lastReceiveTime + this.effectiveIdleTimeout()) {
      this.terminate(CloseCode.NO_ERROR, 'idle timeout', false, idleTimeoutError(this.address));
      return;
    }
    if (!this.confirmedByPeer && now >= this.createdAt + UNCONFIRMED_TIMEOUT_MS) {
      this.terminate(CloseCode.NO_ERROR, 'unconfirmed', false, undefined);
      return;
    }
    if (now >= this.ackDeadline) { this.ackNeeded = true; this.ackDeadline = Infinity; }
    if (now >= this.pacingWaitUntil) this.pacingWaitUntil = Infinity;
    if (this.lossTime !== Infinity && now >= this.lossTime) {
      this.detectLost(now);
      this.compactSent();
    } else if (now >= this.lossOrPtoTime()) {
      this.ptoCount++;
      this.probes = PTO_PROBE_PACKETS;
      this.queueProbeData();
    }
    if (this.confirmedByPeer && now >= this.lastSendTime + this.limits.keepaliveIntervalMs) this.pingPending = true;
    this.host.wake(this);
  }

  /** On PTO, the oldest unacknowledged data goes out again (it may be lost; an ack of either copy settles it). */
  private queueProbeData(): void {
    for (let i = this.sentHead; i < this.sent.length; i++) {
      const p = this.sent[i];
      if (!p || !p.ackEliciting) continue;
      this.resendStreamData(p);
      if (p.streams.length) return;
    }
  }

  // ---------------------------------------------------------------- sending

  private amplificationAllows(bytes: number): boolean {
    return this.validated || this.bytesSentUnvalidated + bytes <= AMPLIFICATION_FACTOR * this.bytesReceivedUnvalidated;
  }

  private countSent(bytes: number, now: number): void {
    this.bytesSent += bytes;
    if (!this.validated) this.bytesSentUnvalidated += bytes;
    this.lastSendTime = now;
  }

  /** Server: an initiation arrived again for this unconfirmed connection's address (counts for amplification). */
  noteUnvalidatedBytes(n: number): void {
    if (!this.validated) this.bytesReceivedUnvalidated += n;
  }

  /** The next datagram to send now, or undefined. Call until undefined, then arm `nextTimeout()`. */
  poll(now: number): Uint8Array | undefined {
    switch (this.state) {
      case 'closed':
      case 'draining':
        return undefined;
      case 'handshake': {
        const p = this.initiationOut;
        this.initiationOut = undefined;
        if (p) {
          this.countSent(p.length, now);
          // Karn: only an unambiguous exchange (one attempt) gives an RTT sample.
          this.handshakeSentAt = this.handshakeAttempts === 1 ? now : NaN;
        }
        return p;
      }
      case 'closing': {
        if (!this.closeSendPending || !this.closeFrame) return undefined;
        this.closeSendPending = false;
        this.lastCloseSent = now;
        return this.seal(now, this.closeFrame, false, [], false, [], -1);
      }
    }
    if (this.responseOut) {
      const r = this.responseOut;
      if (!this.amplificationAllows(r.length)) return undefined;
      this.responseOut = undefined;
      this.countSent(r.length, now);
      this.handshakeSentAt = now;
      return r;
    }
    if (!this.confirmedByPeer) return undefined;
    if (this.closeWhenDone && this.allSent()) {
      const { code, reason } = this.closeWhenDone;
      this.closeWhenDone = undefined;
      this.close(now, code, reason);
      return this.poll(now);
    }
    return this.buildPacket(now);
  }

  private buildPacket(now: number): Uint8Array | undefined {
    const room = this.mss - DATA_HEADER_BYTES - AEAD_TAG_BYTES;
    const wantAck = this.ackNeeded && this.largestReceived >= 0;
    const hasControl = this.pingPending || this.maxDataPending || this.maxStreamDataPending.size > 0;
    const hasStreams = this.sendable.size > 0 && this.anyStreamSendable();
    if (!wantAck && !hasControl && !hasStreams && this.probes === 0) return undefined;

    // Ack-eliciting content needs congestion window and pacing tokens; probes bypass the window.
    let mayElicit = (hasControl || hasStreams || this.probes > 0);
    if (mayElicit && !this.amplificationAllows(this.mss)) mayElicit = false;
    if (mayElicit && this.probes === 0) {
      if (!this.cc.canSend(this.mss)) mayElicit = false;
      else {
        const at = this.pacer.nextSendTime(now, this.mss, this.cc.cwnd, this.rtt.hasSample ? this.rtt.smoothed : 1);
        if (at > now) { mayElicit = false; this.pacingWaitUntil = at; }
      }
    }
    if (!mayElicit && !wantAck) return undefined;

    // The plaintext is built in a reused buffer: sealing copies it into the packet.
    const w = new Writer(this.scratch);
    let ackLargest = -1;
    if (this.largestReceived >= 0 && (wantAck || (mayElicit && this.receivedSinceAck))) {
      const ranges = this.ackRanges();
      if (ranges.length) {
        const delayUs = Math.max(0, Math.round((now - this.largestReceivedTime) * 1000));
        if (ackSize(ranges, delayUs) <= room) {
          writeAck(w, ranges, delayUs);
          ackLargest = this.largestReceived;
        }
      }
      this.ackNeeded = false;
      this.receivedSinceAck = false;
      this.ackDeadline = Infinity;
      this.ackElicitingSinceAck = 0;
    }
    const streams: number[] = [];
    const maxStreamData: number[] = [];
    let maxData = false;
    let ackEliciting = false;
    if (mayElicit) {
      if (this.maxDataPending && w.pos + 9 <= room) {
        w.u8(FrameType.MAX_DATA).varint(this.localMaxData);
        this.maxDataPending = false;
        maxData = true;
        ackEliciting = true;
      }
      for (const id of this.maxStreamDataPending) {
        if (w.pos + 17 > room) break;
        const rs = this.recvStreams.get(id);
        this.maxStreamDataPending.delete(id);
        if (!rs) continue;
        w.u8(FrameType.MAX_STREAM_DATA).varint(id).varint(rs.maxLocal);
        maxStreamData.push(id);
        ackEliciting = true;
      }
      this.fillStreams(w, room, streams);
      if (streams.length) ackEliciting = true;
      if (!ackEliciting && (this.pingPending || this.probes > 0)) {
        w.u8(FrameType.PING);
        ackEliciting = true;
      }
      if (ackEliciting) this.pingPending = false;
    }
    if (w.pos === 0) return undefined;
    if (ackEliciting && this.probes > 0) this.probes--;
    return this.seal(now, w.finish(), ackEliciting, streams, maxData, maxStreamData, ackLargest);
  }

  /** Newest-first ACK ranges, trimmed to the limit and to what the peer may still need. */
  private ackRanges(): [number, number][] {
    const out: [number, number][] = [];
    for (const [s, e] of this.received.rangesDescending()) {
      if (e <= this.ackFloor) break;
      out.push([Math.max(s, this.ackFloor), e]);
      if (out.length >= MAX_ACK_RANGES) break;
    }
    return out;
  }

  /** Round-robin over streams with data, one frame per stream per pass, until the packet is full. */
  private fillStreams(w: Writer, room: number, out: number[]): void {
    let budget = this.sendable.size;
    while (budget-- > 0 && this.sendable.size > 0) {
      const free = room - w.pos;
      if (free < 16) return;
      const id = this.sendable.values().next().value as number;
      this.sendable.delete(id);
      const s = this.sendStreams.get(id);
      if (!s) continue;
      this.writeStreamFrame(w, free, id, s, out);
      // A stream blocked by a window leaves the rotation; MAX_DATA / MAX_STREAM_DATA brings it back.
      if (this.canSendStream(s)) this.sendable.add(id);
      if (!this.anyStreamSendable()) return;
    }
  }

  private anyStreamSendable(): boolean {
    for (const id of this.sendable) {
      const s = this.sendStreams.get(id);
      if (s && this.canSendStream(s)) return true;
    }
    return false;
  }

  private canSendStream(s: SendStream): boolean {
    if (!s.retransmit.isEmpty()) return true;
    if (s.finRequested && (!s.finSent || s.finLost) && s.nextNew === s.writeOffset) return true;
    return s.nextNew < s.writeOffset && s.nextNew < s.maxData && this.sentNewTotal < this.peerMaxData;
  }

  private writeStreamFrame(w: Writer, free: number, id: number, s: SendStream, out: number[]): void {
    const first = s.retransmit.first();
    if (first) {
      const [start, end] = first;
      const hdr = streamHeaderSize(id, start, end - start);
      const n = Math.min(end - start, free - hdr);
      if (n <= 0) return;
      const fin = s.finRequested && start + n === s.writeOffset;
      writeStream(w, id, start, s.read(start, n), fin);
      s.retransmit.remove(start, start + n);
      if (fin) { s.finSent = true; s.finLost = false; }
      out.push(id, start, n, fin ? 1 : 0);
      return;
    }
    const credit = this.peerMaxData - this.sentNewTotal;
    const limit = Math.min(s.writeOffset, s.maxData, s.nextNew + Math.max(0, credit));
    let n = limit - s.nextNew;
    const finPending = s.finRequested && (!s.finSent || s.finLost);
    if (n <= 0 && !(finPending && s.nextNew === s.writeOffset)) return;
    n = Math.max(0, n);
    const hdr = streamHeaderSize(id, s.nextNew, n);
    n = Math.min(n, free - hdr);
    if (n < 0) return;
    const start = s.nextNew;
    const fin = s.finRequested && start + n === s.writeOffset;
    writeStream(w, id, start, n ? s.read(start, n) : EMPTY, fin);
    s.nextNew += n;
    this.sentNewTotal += n;
    if (fin) { s.finSent = true; s.finLost = false; }
    out.push(id, start, n, fin ? 1 : 0);
  }

  private seal(now: number, plain: Uint8Array, ackEliciting: boolean, streams: number[], maxData: boolean, maxStreamData: number[], ackLargest: number): Uint8Array | undefined {
    const pn = this.nextPn++;
    const pkt = new Uint8Array(DATA_HEADER_BYTES + plain.length + AEAD_TAG_BYTES);
    pkt[0] = typeByte(PacketType.DATA);
    const dv = new DataView(pkt.buffer);
    dv.setBigUint64(1, this.remoteCid);
    dv.setUint32(1 + CID_BYTES, Math.floor(pn / 0x100000000));
    dv.setUint32(1 + CID_BYTES + 4, pn >>> 0);
    pkt.set(this.sendKey!.sealAt(pn, pkt.subarray(0, DATA_HEADER_BYTES), plain), DATA_HEADER_BYTES);
    this.countSent(pkt.length, now);
    if (ackEliciting) {
      if (this.sentPns.length - this.sentHead >= MAX_SENT_PACKETS) {
        this.close(now, CloseCode.INTERNAL, 'too many packets in flight', protocolError('the peer stopped acknowledging'));
        return undefined;
      }
      this.sentPns.push(pn);
      this.sentFate.push(0);
      this.sent.push({ pn, time: now, size: pkt.length, ackEliciting, streams, maxData, maxStreamData, ackLargest });
      this.ackElicitingInFlight++;
      this.timeOfLastAckEliciting = now;
      this.cc.onSent(pkt.length);
      this.pacer.onSent(pkt.length);
    }
    return pkt;
  }
}

function containsClose(plain: Uint8Array): boolean {
  try {
    const r = new Reader(plain);
    while (r.remaining() > 0) if (readFrame(r).type === 'close') return true;
  } catch {
    // A malformed packet from a peer we are leaving anyway: ignore it.
  }
  return false;
}

function closedOr(c: Connection): TrineError {
  return new TrineError('NET_CLOSED', c.state === 'handshake' ? 'the connection is not established yet' : 'the connection is closed; open a new one');
}

export function writeParams(w: Writer, p: TransportParams): void {
  w.u32(p.streamWindow).u32(p.connectionWindow).u32(p.idleTimeoutMs);
}

export function readParams(r: Reader): TransportParams {
  return { streamWindow: r.u32(), connectionWindow: r.u32(), idleTimeoutMs: r.u32() };
}

/** Size of an INITIATION packet. */
export const INITIATION_BYTES = 1 + CID_BYTES + MESSAGE1_OVERHEAD + TIMESTAMP_BYTES + PARAMS_BYTES + 2 * MAC_BYTES;
