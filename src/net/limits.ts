/**
 * Every limit of the transport, in one place. Times are milliseconds, sizes bytes. The protocol
 * core reads them through `Limits` so tests (and a caller with unusual needs) can override a few.
 */

/** Protocol version carried in the high nibble of every packet's first byte. */
export const PROTOCOL_VERSION = 1;

/** Largest UDP payload we send. 1200 passes any IPv6 path and nearly every IPv4 one (QUIC's floor). */
export const MAX_DATAGRAM_BYTES = 1200;
/**
 * Datagram size on the loopback interface, whose MTU is 64 KiB and which never fragments. Per-packet
 * costs (an AEAD context, a syscall, an ACK every second packet) dominate bulk transfer even at
 * 32 KiB: the receiver is the bottleneck, and 65000 bytes (under the 65536-byte MTU less IPv6 and
 * UDP headers, 48 bytes) roughly doubled bulk throughput over 32 KiB in the loopback benchmark.
 */
export const LOOPBACK_DATAGRAM_BYTES = 65000;
/** Largest datagram we accept (loopback and LAN clusters may raise MAX_DATAGRAM_BYTES up to this). */
export const MAX_RECEIVE_DATAGRAM_BYTES = 65527;
/** KEY_REQUEST packets are padded to this size so the reply is always smaller than the request. */
export const KEY_REQUEST_BYTES = 1200;

/** Initial per-stream receive window (what the peer may send beyond what we have consumed). */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
/** Initial per-connection receive window, over all streams. */
export const CONNECTION_WINDOW_BYTES = 8 * 1024 * 1024;
/**
 * Windows grow (doubling) up to these when credit is used up within two round trips, so a fast
 * path is not limited to one initial window per round trip; a reader that does not read never
 * returns credit, so its windows do not grow.
 */
export const MAX_STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
export const MAX_CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;
/** Complete messages held for a reader that has not taken them, per stream, before reassembly stops. */
export const STREAM_READ_QUEUE_BYTES = 1024 * 1024;
/** Largest message one `send` may carry. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Bytes queued for sending on a stream above which the driver makes `send` wait. */
export const STREAM_SEND_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Messages up to this size are copied next to their length header; larger ones are referenced, not copied. */
export const SMALL_MESSAGE_BYTES = 16 * 1024;
/** Streams a peer may have open towards us at once. */
export const MAX_STREAMS = 1024;
/** Out-of-order segments buffered per stream (each bounded by the window anyway). */
export const MAX_STREAM_SEGMENTS = 4096;

/** Packets we remember behind the highest received packet number; older ones are dropped as replays. */
export const REPLAY_WINDOW_PACKETS = 8192;
/** ACK ranges carried in one ACK frame (the newest ones). */
export const MAX_ACK_RANGES = 64;
/** Ack-eliciting packets received before an ACK is sent at once instead of after MAX_ACK_DELAY_MS. */
export const ACK_ELICITING_THRESHOLD = 2;
/** How long we may delay an ACK (advertised to the peer for its PTO computation). */
export const MAX_ACK_DELAY_MS = 5;

/** RFC 9002 constants. */
export const INITIAL_RTT_MS = 333;
export const PACKET_THRESHOLD = 3;
export const TIME_THRESHOLD = 9 / 8;
export const TIMER_GRANULARITY_MS = 1;
export const PERSISTENT_CONGESTION_THRESHOLD = 3;
/** NewReno: initial window in datagrams, minimum window in datagrams, loss reduction factor. */
export const INITIAL_WINDOW_PACKETS = 10;
export const MINIMUM_WINDOW_PACKETS = 2;
export const LOSS_REDUCTION_FACTOR = 0.5;
/**
 * HyStart++ (RFC 9406, without its conservative phase): slow start ends when a round's minimum RTT
 * exceeds the previous round's by an eighth, clamped to [MIN, MAX] ms, after enough samples. It
 * stops slow start filling queues (socket buffers, router queues) before any packet is lost.
 */
export const HYSTART_MIN_RTT_SAMPLES = 8;
export const HYSTART_MIN_RTT_THRESH_MS = 4;
export const HYSTART_MAX_RTT_THRESH_MS = 16;
/** Pacing rate is this multiple of cwnd/srtt (RFC 9002 section 7.7). */
export const PACING_GAIN = 1.25;
/** The pacer allows a burst of this long at the pacing rate (timers cannot fire more finely). */
export const PACING_BURST_MS = 2;
/** Probe packets sent when a PTO fires. */
export const PTO_PROBE_PACKETS = 2;
/** Sent packets tracked per connection; the congestion window keeps us far below in practice. */
export const MAX_SENT_PACKETS = 100_000;

/** First handshake retransmission; doubles each time up to HANDSHAKE_RETRY_MAX_MS. */
export const HANDSHAKE_RETRY_INITIAL_MS = 1000;
export const HANDSHAKE_RETRY_MAX_MS = 8000;
/** A connect() that has not completed after this long fails with NET_TIMEOUT. */
export const HANDSHAKE_TIMEOUT_MS = 30_000;
/** A server-side connection whose client never confirmed the handshake is forgotten after this. */
export const UNCONFIRMED_TIMEOUT_MS = 15_000;

/** A connection with no packet received for this long is closed (NET_IDLE_TIMEOUT). */
export const IDLE_TIMEOUT_MS = 30_000;
/** A PING is sent when nothing was sent for this long, so NAT bindings and the peer's idle timer stay fresh. */
export const KEEPALIVE_INTERVAL_MS = 10_000;
/** After close, the connection lingers this many PTOs to answer stray packets with CLOSE again. */
export const CLOSE_LINGER_PTOS = 3;
/** Longest close reason carried on the wire. */
export const MAX_CLOSE_REASON_BYTES = 256;

/** A server answers at most this multiple of the bytes received from an address it has not validated. */
export const AMPLIFICATION_FACTOR = 3;
/** Handshakes in flight (unconfirmed server connections) above which the server demands a cookie. */
export const HANDSHAKE_LOAD_PENDING = 256;
/** Initiations processed per second above which the server demands a cookie. */
export const HANDSHAKE_LOAD_PER_SECOND = 1000;
/** The server's cookie secret is replaced this often; a cookie is honoured for two periods. */
export const COOKIE_SECRET_LIFETIME_MS = 120_000;
/** A client keeps a received cookie this long. */
export const COOKIE_LIFETIME_MS = 110_000;
/** Initiation timestamps remembered per authorised peer key (replay protection), at most this many keys. */
export const MAX_TRACKED_PEER_KEYS = 65_536;
/** Stateless answers (cookie replies, refusals, key responses) queued before more are dropped. */
export const STATELESS_QUEUE_LIMIT = 1024;
/** Driver: datagrams sent per event-loop turn before yielding to incoming packets. */
export const SEND_BATCH_DATAGRAMS = 32;
/** Driver: UDP socket buffer sizes requested from the OS. */
export const SOCKET_BUFFER_BYTES = 8 * 1024 * 1024;
/** Connections one endpoint holds. */
export const MAX_CONNECTIONS = 65_536;

/** Overridable subset, for tests and special deployments. */
export interface Limits {
  maxDatagramBytes: number;
  streamWindowBytes: number;
  connectionWindowBytes: number;
  maxStreamWindowBytes: number;
  maxConnectionWindowBytes: number;
  streamReadQueueBytes: number;
  idleTimeoutMs: number;
  keepaliveIntervalMs: number;
  handshakeTimeoutMs: number;
  handshakeLoadPending: number;
  handshakeLoadPerSecond: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxDatagramBytes: MAX_DATAGRAM_BYTES,
  streamWindowBytes: STREAM_WINDOW_BYTES,
  connectionWindowBytes: CONNECTION_WINDOW_BYTES,
  maxStreamWindowBytes: MAX_STREAM_WINDOW_BYTES,
  maxConnectionWindowBytes: MAX_CONNECTION_WINDOW_BYTES,
  streamReadQueueBytes: STREAM_READ_QUEUE_BYTES,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  keepaliveIntervalMs: KEEPALIVE_INTERVAL_MS,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  handshakeLoadPending: HANDSHAKE_LOAD_PENDING,
  handshakeLoadPerSecond: HANDSHAKE_LOAD_PER_SECOND,
};
