/**
 * Raft messages between nodes over the secure transport (Noise IK over Trine's UDP protocol).
 *
 * Each node dials every peer it must talk to and keeps one connection and one stream to it; the
 * peer answers over its own connection the other way. Peers are authenticated by their static
 * keys: the dialer names the key it expects (from the cluster configuration) and the listener
 * accepts only keys of known members, so `from` handed to the driver is proven, not claimed.
 *
 * Raft tolerates loss, so this layer never blocks the driver: a message to a peer that cannot be
 * reached, or whose queue is full, is dropped, and a broken connection is re-dialled with backoff.
 */
import { equalBytes } from '../crypto/bytes.ts';
import { connect, type TrineConnection, type TrineStream } from '../net/udp.ts';
import type { RaftTransport } from './driver.ts';
import type { NodeId } from './types.ts';

/** Messages queued for one peer while its connection is being (re)established; beyond, drop. */
export const PEER_QUEUE_MESSAGES = 1024;
/** First and longest wait between dial attempts to an unreachable peer. */
export const REDIAL_MIN_MS = 50;
export const REDIAL_MAX_MS = 2_000;

export interface PeerAddress {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
  /** The peer's static public key. */
  readonly publicKey: Uint8Array;
}

/** Identity the server's `authorize` returns for a connection from a cluster member. */
export interface NodeIdentity {
  readonly kind: 'node';
  readonly id: NodeId;
}

interface Peer {
  addr: PeerAddress;
  conn?: TrineConnection;
  stream?: TrineStream;
  dialing: boolean;
  queue: Uint8Array[];
  backoff: number;
  nextDial: number;
}

export class NetRaftTransport implements RaftTransport {
  private readonly peers = new Map<NodeId, Peer>();
  private handler: ((from: NodeId, m: Uint8Array) => void) | undefined;
  private closed = false;
  private readonly inbound = new Set<TrineConnection>();
  /** Counters for status displays and tests. */
  readonly stats = { sent: 0, dropped: 0, received: 0, dials: 0 };

  constructor(readonly self: NodeId, private readonly staticKey: Uint8Array, peers: readonly PeerAddress[] = []) {
    this.setPeers(peers);
  }

  /** Replaces the peer list (on a membership change). Connections to removed peers are closed. */
  setPeers(peers: readonly PeerAddress[]): void {
    const keep = new Set<NodeId>();
    for (const p of peers) {
      if (p.id === this.self) continue;
      keep.add(p.id);
      const cur = this.peers.get(p.id);
      if (cur && cur.addr.host === p.host && cur.addr.port === p.port && equalBytes(cur.addr.publicKey, p.publicKey)) continue;
      if (cur) this.drop(cur);
      this.peers.set(p.id, { addr: p, dialing: false, queue: [], backoff: REDIAL_MIN_MS, nextDial: 0 });
    }
    for (const [id, p] of this.peers) if (!keep.has(id)) { this.drop(p); this.peers.delete(id); }
  }

  /**
   * Drops the connection to `id` and dials again on the next message. Call it when the peer is
   * seen to have restarted (it connected to us anew): our old connection to it is then dead, and
   * waiting for its idle timeout would cut the peer off for that long.
   */
  resetPeer(id: NodeId): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.broken(p);
    p.backoff = REDIAL_MIN_MS;
    p.nextDial = 0;
  }

  /** Identity of a member's key, for the listener's authorize callback; undefined for others. */
  identify(peerKey: Uint8Array): NodeIdentity | undefined {
    for (const p of this.peers.values()) if (equalBytes(p.addr.publicKey, peerKey)) return { kind: 'node', id: p.addr.id };
    return undefined;
  }

  onMessage(handler: (from: NodeId, m: Uint8Array) => void): void {
    this.handler = handler;
  }

  send(to: NodeId, message: Uint8Array): void {
    if (this.closed) return;
    const p = this.peers.get(to);
    if (!p) { this.stats.dropped++; return; }
    if (p.stream) {
      try {
        void p.stream.send(message).catch(() => this.broken(p));
        this.stats.sent++;
        return;
      } catch {
        this.broken(p);
      }
    }
    if (p.queue.length >= PEER_QUEUE_MESSAGES) { p.queue.shift(); this.stats.dropped++; }
    p.queue.push(message);
    this.dial(p);
  }

  /**
   * Serves an inbound connection that the listener authenticated as node `from`: every message on
   * every stream it opens goes to the driver.
   */
  accept(conn: TrineConnection, from: NodeId): void {
    if (this.closed) { void conn.close(); return; }
    this.inbound.add(conn);
    void (async () => {
      try {
        for await (const stream of conn.streams()) {
          void (async () => {
            try {
              for await (const m of stream) {
                this.stats.received++;
                this.handler?.(from, m);
              }
            } catch { /* the connection ended; the peer re-dials */ }
          })();
        }
      } catch { /* idem */ } finally {
        this.inbound.delete(conn);
      }
    })();
  }

  private dial(p: Peer): void {
    if (p.dialing || this.closed) return;
    const wait = Math.max(0, p.nextDial - Date.now());
    p.dialing = true;
    setTimeout(() => void this.dialNow(p), wait);
  }

  private async dialNow(p: Peer): Promise<void> {
    if (this.closed || this.peers.get(p.addr.id) !== p) { p.dialing = false; return; }
    this.stats.dials++;
    try {
      const conn = await connect({ address: p.addr.host, port: p.addr.port, serverKey: p.addr.publicKey, staticKey: this.staticKey });
      if (this.closed || this.peers.get(p.addr.id) !== p) { void conn.close(); return; }
      p.conn = conn;
      p.stream = conn.openStream();
      p.backoff = REDIAL_MIN_MS;
      const queued = p.queue;
      p.queue = [];
      for (const m of queued) { void p.stream.send(m).catch(() => this.broken(p)); this.stats.sent++; }
      void conn.closed().then(() => this.broken(p));
    } catch {
      p.nextDial = Date.now() + p.backoff;
      p.backoff = Math.min(REDIAL_MAX_MS, p.backoff * 2);
    } finally {
      p.dialing = false;
    }
    if (!p.stream && p.queue.length && !this.closed) this.dial(p);
  }

  private broken(p: Peer): void {
    if (p.conn) void p.conn.close(0, '', { immediate: true }).catch(() => undefined);
    p.conn = undefined;
    p.stream = undefined;
  }

  private drop(p: Peer): void {
    this.broken(p);
    p.queue = [];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) this.drop(p);
    for (const c of this.inbound) void c.close(0, 'node shutting down', { immediate: true }).catch(() => undefined);
    this.inbound.clear();
  }
}
