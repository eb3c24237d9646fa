/**
 * A Trine node: the encrypted engine, the Raft driver, the SQL engine and one UDP listener, wired
 * together (docs/SERVER.md).
 *
 * Requests of a client session are served one at a time, in order:
 * - A read outside a transaction runs on this node's applied state after the read barrier of the
 *   requested consistency level.
 * - Anything that writes, and every statement of an explicit transaction, runs on the leader. A
 *   follower forwards it over the node-to-node transport and relays the answer.
 * - The leader executes against its execution view (applied state + admitted batches, overlay.ts),
 *   validates the transaction's read set against batches admitted after its snapshot (optimistic,
 *   serializable), admits the batch, proposes it under the request id and answers once it applied.
 *   A retried request id gets the first answer back instead of running again.
 */
import { fingerprint } from '../crypto/fingerprint.ts';
import { toHex } from '../crypto/bytes.ts';
import { TrineError } from '../crypto/errors.ts';
import type { Role } from '../crypto/authorized-users.ts';
import { LsmEngine } from '../storage/engine.ts';
import { binaryKey, inRange, type WriteOp } from '../storage/kv.ts';
import { RaftDriver, type RaftTransport } from '../raft/driver.ts';
import { NetRaftTransport, type PeerAddress } from '../raft/net-transport.ts';
import { NONE, type NodeId } from '../raft/types.ts';
import { connect, listen, type Listener, type TrineConnection, type TrineStream } from '../net/udp.ts';
import { Database, type Session } from '../sql/database.ts';
import type { ReadSet } from '../sql/tx.ts';
import type { Value } from '../sql/value.ts';
import { CommandKind, EngineStateMachine, decodeSession, encodeRequest, encodeSystemBatch, sessionKey, type AppliedCommand } from './state-machine.ts';
import { SystemView, putMember, putUser } from './system.ts';
import { loadNodeDir, splitHostPort, type LoadedNode } from './layout.ts';
import { FORWARD_HANDSHAKE_MS, LEADER_WATCH_MS, LEADER_WAIT_MS, MAX_INFLIGHT_BATCHES, MAX_SESSIONS, MAX_STORED_ANSWER_BYTES, TRANSFER_WAIT_MS } from './limits.ts';
import { OverlayStore } from './overlay.ts';
import {
  Msg, PROTOCOL_VERSION, RETRYABLE_CODES, decode, encode, type ClientMessage, type Query,
} from './protocol.ts';

export type Identity = { kind: 'node'; id: NodeId } | { kind: 'user'; name: string; role: Role };

export interface NodeOpenOptions {
  readonly dir: string;
  readonly passphrase?: string;
  /** Serve clients and peers on the configured address (default true; `trine init` founds without). */
  readonly serve?: boolean;
  /** Where notices go (default: nowhere). */
  readonly log?: (line: string) => void;
  /** Byte limit of the storage block cache (default: a quarter of the machine's memory). */
  readonly cacheBytes?: number;
}

export interface NodeStatus {
  readonly id: NodeId;
  readonly address: string;
  readonly fingerprint: string;
  readonly role: string;
  readonly term: number;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly members: { id: NodeId; address: string; fingerprint: string }[];
  readonly users: number;
}

/** Thrown by the read-only committer: the statement writes, so it must run on the leader. */
class NeedsLeader extends Error {}

interface TxContext {
  /** Leadership epoch the snapshot was taken in. */
  epoch: number;
  /** Highest batch admitted when the snapshot was pinned (all of them are visible to it). */
  seq: number;
  pinned: boolean;
}

interface ClientSession {
  readonly client: Uint8Array;
  readonly user: string;
  readonly role: Role;
  /** Runs local reads on the applied state. */
  readonly local: Session;
  /** Runs the leader-side statements (writes, transactions) on the execution view. */
  readonly leader: Session;
  ctx: TxContext | undefined;
  /** Batches committed by the statement being executed. */
  pending: WriteOp[];
  /** Where this session's open transaction lives, if any. */
  txAt: 'here' | 'remote' | undefined;
  remote: { leader: NodeId; stream: TrineStream } | undefined;
}

/** Hands the driver's messages to NetRaftTransport, and keeps the driver's handler for inbound streams we read ourselves. */
class ServerTransport implements RaftTransport {
  handler: ((from: NodeId, m: Uint8Array) => void) | undefined;
  constructor(readonly net: NetRaftTransport) {}
  send(to: NodeId, m: Uint8Array): void { this.net.send(to, m); }
  onMessage(h: (from: NodeId, m: Uint8Array) => void): void { this.handler = h; this.net.onMessage(h); }
  close(): void { this.net.close(); }
}

function reqKey(client: Uint8Array, seq: number): string {
  return `${toHex(client)}:${seq}`;
}

function asTrineError(e: unknown): TrineError {
  if (e instanceof TrineError) return e;
  return new TrineError('SQL_ERROR', e instanceof Error ? e.message : String(e));
}

/** Statements that may run on any node: they read, unless they turn out to write (then NeedsLeader). */
function localCandidate(sql: string): boolean {
  const m = /^\s*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*([A-Za-z]+)/.exec(sql);
  const kw = m?.[1]?.toUpperCase();
  if (kw !== 'SELECT' && kw !== 'WITH' && kw !== 'VALUES' && kw !== 'EXPLAIN') return false;
  // These depend on the session's history, which lives on the leader side.
  return !/last_insert_rowid|changes\s*\(/i.test(sql);
}

export class TrineNode {
  readonly id: NodeId;
  readonly engine: LsmEngine;
  readonly sm: EngineStateMachine;
  readonly system: SystemView;
  driver!: RaftDriver;
  listener: Listener | undefined;
  private readonly transport: ServerTransport;
  private readonly view: OverlayStore;
  private readonly localDb: Database;
  private readonly leaderDb: Database;
  private executing: ClientSession | undefined;
  private leaderTerm = 0;
  private epoch = 0;
  private barrierEpoch = -1;
  private admitSeq = 0;
  private appliedSeq = 0;
  /** Batches admitted in this epoch, applied or not, for conflict checks (oldest first). */
  private recent: { seq: number; keys: Uint8Array[] }[] = [];
  /** Lowest snapshot sequence still checkable (older ones conflict). */
  private horizon = 0;
  /** Admitted requests not yet applied: request key -> highest admitted seq of that request. */
  private readonly admitted = new Map<string, number>();
  /** Requests being served, by request key: a retry waits for the first attempt's answer. */
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private readonly seqWaiters: { seq: number; epoch: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private founding = false;
  private closing = false;
  private sessions = 0;
  private readonly fwdConns = new Map<NodeId, Promise<TrineConnection>>();
  private readonly conns = new Set<TrineConnection>();
  private readonly inboundByNode = new Map<NodeId, TrineConnection>();
  private readonly log: (line: string) => void;

  private constructor(readonly loaded: LoadedNode, opts: NodeOpenOptions) {
    this.id = loaded.config.id;
    this.log = opts.log ?? (() => undefined);
    this.engine = LsmEngine.open(loaded.paths.data, { masterKey: loaded.masterKey, onWarning: (m) => this.log(m), ...(opts.cacheBytes ? { cacheBytes: opts.cacheBytes } : {}) });
    this.sm = new EngineStateMachine(this.engine);
    this.system = new SystemView(this.engine);
    this.view = new OverlayStore(this.engine);
    this.view.onSnapshot = () => this.pinned();
    this.localDb = new Database(this.engine, { committer: () => { throw new NeedsLeader(); } });
    this.leaderDb = new Database(this.view, { committer: (batch, reads) => this.commit(batch, reads) });
    this.transport = new ServerTransport(new NetRaftTransport(this.id, loaded.key.privateKey, this.peers()));
    this.sm.onApplied = (cmds) => this.applied(cmds);
  }

  /** Opens the node in `dir`: engine, Raft (founding or rejoining its cluster) and, unless told not to, the listener. */
  static async open(opts: NodeOpenOptions): Promise<TrineNode> {
    const loaded = await loadNodeDir(opts.dir, opts.passphrase);
    const node = new TrineNode(loaded, opts);
    try {
      if (opts.serve !== false) {
        const { host, port } = splitHostPort(loaded.config.listen);
        node.listener = await listen({ address: host, port, staticKey: loaded.key.privateKey, authorize: (k) => node.authorize(k) });
        void node.acceptLoop(node.listener);
      }
      node.driver = await RaftDriver.open({
        id: node.id, dir: loaded.paths.raft, masterKey: loaded.masterKey, transport: node.transport, stateMachine: node.sm,
        ...(loaded.bootstrap ? { initial: loaded.bootstrap.voters } : {}),
      });
      node.driver.onReady = () => { node.currentEpoch(); node.maybeFound(); };
      return node;
    } catch (e) {
      await node.listener?.close();
      await node.engine.close({ flush: false }).catch(() => undefined);
      throw e;
    }
  }

  get publicKey(): Uint8Array { return this.loaded.key.publicKey; }
  get address(): string {
    if (!this.listener) return this.loaded.config.listen;
    const { host } = splitHostPort(this.loaded.config.listen);
    return `${host}:${this.listener.address().port}`;
  }

  /** True once the founding records (members, users) are replicated and applied here. */
  get founded(): boolean { return this.system.members.length > 0; }

  status(): NodeStatus {
    const st = this.driver.status();
    return {
      id: this.id, address: this.address, fingerprint: fingerprint(this.publicKey),
      role: st.role, term: st.term, leader: st.lead, commit: st.commit, applied: st.applied,
      members: this.system.members.map((m) => ({ id: m.id, address: `${m.host}:${m.port}`, fingerprint: fingerprint(m.publicKey) })),
      users: this.system.users.length,
    };
  }

  private peers(): PeerAddress[] {
    const members = this.system.members.length ? this.system.members : this.loaded.bootstrap?.members ?? [];
    return members.map((m) => ({ id: m.id, host: m.host, port: m.port, publicKey: m.publicKey }));
  }

  private authorize(key: Uint8Array): Identity | undefined {
    const m = this.system.memberByKey(key) ?? (this.founded ? undefined : this.loaded.bootstrap?.members.find((x) => toHex(x.publicKey) === toHex(key)));
    if (m) return m.id === this.id ? undefined : { kind: 'node', id: m.id };
    const u = this.system.userByKey(key) ?? (this.founded ? undefined : this.loaded.bootstrap?.users.find((x) => toHex(x.publicKey) === toHex(key)));
    if (u) return { kind: 'user', name: u.name, role: u.role };
    return undefined;
  }

  // ---- leadership epochs and the conflict window ----

  /** The leadership epoch: changes whenever this node gains or loses leadership (or the term moves). */
  private currentEpoch(): number {
    const st = this.driver.status();
    const lt = st.role === 'leader' ? st.term : 0;
    if (lt !== this.leaderTerm) {
      this.leaderTerm = lt;
      this.newEpoch();
    }
    return this.epoch;
  }

  private newEpoch(): void {
    this.epoch++;
    // Batches of the old epoch either are in the log (and will apply from it) or are lost; the
    // next leader-side request waits for a fresh read barrier before it executes.
    this.view.batches.length = 0;
    this.recent = [];
    this.admitted.clear();
    this.horizon = this.admitSeq;
    this.appliedSeq = this.admitSeq;
    const err = new TrineError('RAFT_LEADER_CHANGED', 'the leader changed while this transaction waited for an earlier one; retry it');
    for (const w of this.seqWaiters.splice(0)) w.reject(err);
  }

  private isLeader(): boolean {
    return this.driver.status().role === 'leader';
  }

  private pinned(): void {
    const s = this.executing;
    if (!s || !s.ctx || s.ctx.pinned) return;
    s.ctx.seq = this.admitSeq;
    s.ctx.pinned = true;
  }

  /** The leader's committer: validate the read set, admit the batch into the execution view. */
  private commit(batch: WriteOp[], reads: ReadSet): void {
    const s = this.executing;
    if (!s || !s.ctx) throw new TrineError('SERVER_INTERNAL', 'a commit outside a request');
    if (s.role === 'readonly') throw new TrineError('AUTH_READONLY', `user ${s.user} has the readonly role and cannot write; ask an admin for the readwrite role`);
    if (s.ctx.epoch !== this.currentEpoch() || this.leaderTerm === 0) {
      throw new TrineError('TX_CONFLICT', 'the leader changed during this transaction, so it was not committed; retry the transaction');
    }
    if (this.view.batches.length >= MAX_INFLIGHT_BATCHES) {
      throw new TrineError('RAFT_OVERLOADED', `more than ${MAX_INFLIGHT_BATCHES} writes are waiting for replication; retry shortly`);
    }
    const snap = s.ctx.pinned ? s.ctx.seq : this.admitSeq;
    if (snap < this.horizon) throw new TrineError('TX_CONFLICT', 'this transaction ran too long to be checked against concurrent writes; retry it');
    let readKeys: Set<string> | undefined;
    for (const r of this.recent) {
      if (r.seq <= snap) continue;
      for (const k of r.keys) {
        readKeys ??= new Set(reads.keys);
        if (readKeys.has(binaryKey(k)) || reads.ranges.some((range) => inRange(k, range))) {
          throw new TrineError('TX_CONFLICT', 'a concurrent transaction changed data this transaction read (serialization failure); retry the transaction');
        }
      }
    }
    const seq = ++this.admitSeq;
    this.view.batches.push({ seq, ops: batch });
    this.recent.push({ seq, keys: batch.map((o) => o.key) });
    if (this.recent.length > MAX_INFLIGHT_BATCHES) this.horizon = this.recent.shift()!.seq;
    s.pending.push(...batch);
    // Later statements of this transaction read their own writes, so the snapshot moves.
    s.ctx.seq = seq;
    s.ctx.pinned = true;
  }

  private applied(cmds: readonly AppliedCommand[]): void {
    let system = false;
    for (const c of cmds) {
      if (c.kind === CommandKind.System) { system = true; continue; }
      if (c.kind !== CommandKind.Request || !c.client) continue;
      const key = reqKey(c.client, c.seq!);
      const seq = this.admitted.get(key);
      if (seq === undefined) continue;
      this.admitted.delete(key);
      if (!c.fresh) {
        // Our admitted batch was not written (its request id had applied before): what the view
        // showed never happened, so start over.
        this.newEpoch();
        continue;
      }
      if (seq > this.appliedSeq) this.appliedSeq = seq;
      this.view.dropThrough(seq);
    }
    if (this.seqWaiters.length) {
      for (let i = this.seqWaiters.length - 1; i >= 0; i--) {
        const w = this.seqWaiters[i]!;
        if (w.epoch === this.epoch && this.appliedSeq >= w.seq) { this.seqWaiters.splice(i, 1); w.resolve(); }
      }
    }
    if (system) {
      this.system.reload();
      this.transport.net.setPeers(this.peers());
    }
  }

  /** Resolves once every batch up to `seq` of epoch `epoch` applied. */
  private waitSeq(seq: number, epoch: number): Promise<void> {
    if (epoch !== this.epoch) return Promise.reject(new TrineError('RAFT_LEADER_CHANGED', 'the leader changed before the writes this answer depends on were replicated; retry'));
    if (this.appliedSeq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => this.seqWaiters.push({ seq, epoch, resolve, reject }));
  }

  private maybeFound(): void {
    const b = this.loaded.bootstrap;
    if (!b || this.founded || this.founding || this.closing || !this.isLeader()) return;
    this.founding = true;
    const cmd = encodeSystemBatch([...b.members.map(putMember), ...b.users.map(putUser)]);
    this.driver.propose(cmd).then(
      () => this.log(`node ${this.id}: cluster founded with ${b.members.length} member(s) and ${b.users.length} user(s)`),
      () => undefined,
    ).finally(() => { this.founding = false; });
  }

  /** Resolves once the founding records are applied on this node. */
  async waitFounded(limitMs = 30_000): Promise<void> {
    const t0 = Date.now();
    while (!this.founded) {
      if (Date.now() - t0 > limitMs) throw new TrineError('NODE_NOT_FOUNDED', `the cluster was not founded within ${limitMs} ms (no quorum of members is running?)`);
      this.maybeFound();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  // ---- sessions ----

  private async acceptLoop(listener: Listener): Promise<void> {
    for await (const conn of listener) {
      const who = conn.identity as Identity | undefined;
      if (!who || this.closing) { void conn.close(0, 'not accepted', { immediate: true }).catch(() => undefined); continue; }
      this.conns.add(conn);
      void conn.closed().then(() => this.conns.delete(conn));
      void (async () => {
        try {
          for await (const stream of conn.streams()) void this.serveStream(stream, who);
        } catch { /* the connection ended */ }
      })();
    }
  }

  /**
   * A member opened a Raft stream on a new connection while its older one still looks open: it restarted (or lost
   * that connection). Our own connection to it is then most likely dead too, but would only be
   * noticed at the idle timeout, and until then our Raft messages to it vanish; so both are dropped
   * and the transport dials it afresh.
   */
  private peerConnected(id: NodeId, conn: TrineConnection): void {
    const old = this.inboundByNode.get(id);
    if (old === conn) return;
    this.inboundByNode.set(id, conn);
    void conn.closed().then(() => { if (this.inboundByNode.get(id) === conn) this.inboundByNode.delete(id); });
    if (!old) return;
    void old.close(0, 'superseded', { immediate: true }).catch(() => undefined);
    this.transport.net.resetPeer(id);
  }

  private async serveStream(stream: TrineStream, who: Identity): Promise<void> {
    let s: ClientSession | undefined;
    try {
      const first = await stream.next();
      if (!first) return;
      if (who.kind === 'node' && first[0] !== Msg.Forward) {
        // A Raft stream from a peer: every message goes to the driver. (Forwarding connections
        // come and go with leaders, so only Raft connections tell that a peer restarted.)
        this.peerConnected(who.id, stream.connection);
        this.transport.handler?.(who.id, first);
        for await (const m of stream) this.transport.handler?.(who.id, m);
        return;
      }
      const hello = decode(first) as ClientMessage;
      if (this.sessions >= MAX_SESSIONS) throw new TrineError('SERVER_BUSY', `node ${this.id} serves ${MAX_SESSIONS} sessions already; try another node`);
      if (hello.type === 'hello' && who.kind === 'user') {
        s = this.newSession(hello.client, who.name, who.role);
      } else if (hello.type === 'forward' && who.kind === 'node') {
        s = this.newSession(hello.client, hello.user, hello.role as Role);
      } else {
        throw new TrineError('PROTOCOL_ERROR', 'a session must start with a hello');
      }
      this.sessions++;
      if (hello.type === 'hello') await stream.send(encode(this.welcome(s)));
      const forwarded = hello.type === 'forward';
      for await (const m of stream) {
        let q: Query;
        try {
          const msg = decode(m);
          if (msg.type !== 'query') throw new TrineError('PROTOCOL_ERROR', 'expected a query');
          q = msg;
        } catch (e) {
          await stream.send(encode({ type: 'error', id: 0, inTransaction: false, retryable: false, code: asTrineError(e).code, message: asTrineError(e).message }));
          continue;
        }
        await stream.send(await this.handle(s, q, forwarded));
      }
    } catch (e) {
      const err = asTrineError(e);
      await stream.send(encode({ type: 'error', id: 0, inTransaction: false, retryable: false, code: err.code, message: err.message })).catch(() => undefined);
    } finally {
      if (s) {
        this.sessions--;
        s.remote?.stream.close();
        // Ends an open transaction: its snapshot is released with it.
        if (s.leader.inTransaction) { try { s.leader.execute('ROLLBACK'); } catch { /* already gone */ } }
      }
      try { stream.close(); } catch { /* connection gone */ }
    }
  }

  private newSession(client: Uint8Array, user: string, role: Role): ClientSession {
    return { client, user, role, local: this.localDb.session(), leader: this.leaderDb.session(), ctx: undefined, pending: [], txAt: undefined, remote: undefined };
  }

  private welcome(s: ClientSession) {
    const st = this.driver.status();
    return {
      type: 'welcome' as const, version: PROTOCOL_VERSION, node: this.id, user: s.user, role: s.role, leader: st.lead,
      members: this.system.members.map((m) => ({ id: m.id, host: m.host, port: m.port, publicKey: m.publicKey })),
      raft: { role: st.role, term: st.term, commit: st.commit, applied: st.applied },
    };
  }

  private errorAnswer(id: number, e: unknown, inTransaction: boolean): Uint8Array {
    const err = asTrineError(e);
    return encode({ type: 'error', id, inTransaction, retryable: RETRYABLE_CODES.has(err.code), code: err.code, message: err.message });
  }

  private resultAnswer(id: number, inTransaction: boolean, r: { columns: string[]; rows: unknown[][]; changes: number; lastInsertRowid: number | bigint }): Uint8Array {
    return encode({ type: 'result', id, inTransaction, columns: r.columns, rows: r.rows as Value[][], changes: r.changes, lastInsertRowid: BigInt(r.lastInsertRowid) });
  }

  /** Serves one query; never throws (errors become answers). */
  private async handle(s: ClientSession, q: Query, forwarded: boolean): Promise<Uint8Array> {
    try {
      if (this.closing) throw new TrineError('SERVER_SHUTTING_DOWN', `node ${this.id} is shutting down; retry on another node`);
      if (forwarded) return await this.onLeader(s, q);
      if (s.txAt === undefined && localCandidate(q.sql)) {
        const local = await this.tryLocal(s, q);
        if (local) return local;
      }
      if (s.txAt === 'remote' || !this.isLeader()) {
        if (s.txAt === 'here') {
          this.abandonTx(s);
          throw new TrineError('TX_CONFLICT', 'this node lost leadership during the transaction, so it was rolled back; retry the transaction');
        }
        return await this.forward(s, q);
      }
      return await this.onLeader(s, q);
    } catch (e) {
      return this.errorAnswer(q.id, e, s.txAt !== undefined);
    }
  }

  /** A read on the applied state; undefined when the statement turned out to write. */
  private async tryLocal(s: ClientSession, q: Query): Promise<Uint8Array | undefined> {
    switch (q.consistency) {
      case 'none': break;
      case 'weak': if (!this.isLeader()) return undefined; break;
      default: await this.driver.readBarrier();
    }
    try {
      const r = s.local.execute(q.sql, q.params, { safeIntegers: true });
      return this.resultAnswer(q.id, false, r);
    } catch (e) {
      if (e instanceof NeedsLeader) return undefined;
      throw e;
    }
  }

  /** Rolls back the session's leader-side transaction (it can no longer commit). */
  private abandonTx(s: ClientSession): void {
    if (s.leader.inTransaction) { try { s.leader.execute('ROLLBACK'); } catch { /* already ended */ } }
    s.txAt = undefined;
    s.ctx = undefined;
  }

  /** Runs `q` on this node as leader (directly or forwarded by a follower). */
  private async onLeader(s: ClientSession, q: Query): Promise<Uint8Array> {
    const key = reqKey(s.client, q.id);
    const first = this.inflight.get(key);
    if (first) return first;
    const p = this.executeOnLeader(s, q);
    this.inflight.set(key, p);
    try { return await p; } finally { this.inflight.delete(key); }
  }

  private async executeOnLeader(s: ClientSession, q: Query): Promise<Uint8Array> {
    let epoch = this.currentEpoch();
    if (this.leaderTerm === 0) {
      if (s.leader.inTransaction) {
        this.abandonTx(s);
        throw new TrineError('TX_CONFLICT', 'this node lost leadership during the transaction, so it was rolled back; retry the transaction');
      }
      throw new TrineError('SERVER_NOT_LEADER', `node ${this.id} is not the leader (leader: ${this.driver.status().lead || 'unknown'}); retry`);
    }
    if (this.barrierEpoch !== epoch) {
      // Entries of earlier leaders must be applied before anything executes against our state.
      await this.driver.readBarrier();
      if (this.currentEpoch() !== epoch) throw new TrineError('RAFT_LEADER_CHANGED', 'the leader changed; retry');
      this.barrierEpoch = epoch;
    }
    const rec = this.engine.get(sessionKey(s.client));
    if (rec) {
      const done = decodeSession(rec);
      if (q.id === done.seq) return done.answer;
      if (q.id < done.seq) throw new TrineError('SERVER_STALE_REQUEST', `request ${q.id} is older than the last applied request ${done.seq} of this client`);
    }
    if (!s.leader.inTransaction) s.ctx = { epoch, seq: 0, pinned: false };
    if (s.ctx && s.ctx.epoch !== epoch) {
      // The open transaction belongs to an earlier leadership: it can no longer commit.
      this.abandonTx(s);
      throw new TrineError('TX_CONFLICT', 'the leader changed during this transaction, so it was rolled back; retry the transaction');
    }
    s.pending = [];
    this.executing = s;
    let answer: Uint8Array;
    try {
      const r = s.leader.execute(q.sql, q.params, { safeIntegers: true });
      answer = this.resultAnswer(q.id, s.leader.inTransaction, r);
    } catch (e) {
      answer = this.errorAnswer(q.id, e, s.leader.inTransaction);
    } finally {
      this.executing = undefined;
    }
    s.txAt = s.leader.inTransaction ? 'here' : undefined;
    const ctx = s.ctx!;
    if (s.pending.length) {
      const ops = s.pending;
      s.pending = [];
      const seq = this.admitSeq;
      const key = reqKey(s.client, q.id);
      this.admitted.set(key, seq);
      const stored = answer.length <= MAX_STORED_ANSWER_BYTES ? answer : this.resultAnswer(q.id, false, { columns: [], rows: [], changes: 0, lastInsertRowid: 0n });
      try {
        await this.driver.propose(encodeRequest(s.client, q.id, ops, stored));
      } catch (e) {
        this.admitted.delete(key);
        // Not proposed at all: what the view shows would never apply.
        if (e instanceof TrineError && e.code === 'RAFT_OVERLOADED') this.newEpoch();
        this.currentEpoch();
        throw e;
      }
      epoch = this.epoch;
      // Our own entry applied; if it was a duplicate the session holds the first answer.
      const now = this.engine.get(sessionKey(s.client));
      if (now) {
        const done = decodeSession(now);
        if (done.seq === q.id) return done.answer;
      }
      return answer;
    }
    // A read (or a read-only transaction) may have seen admitted batches: answer only once they applied.
    if (ctx.pinned) await this.waitSeq(ctx.seq, ctx.epoch);
    return answer;
  }

  // ---- forwarding ----

  private async leaderId(): Promise<NodeId> {
    const t0 = Date.now();
    for (;;) {
      const lead = this.driver.status().lead;
      if (lead !== NONE) return lead;
      if (Date.now() - t0 > LEADER_WAIT_MS || this.closing) {
        throw new TrineError('RAFT_NO_LEADER', 'the cluster has no leader at the moment (an election is running or a quorum is unreachable); retry shortly');
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private async forward(s: ClientSession, q: Query): Promise<Uint8Array> {
    const lead = await this.leaderId();
    if (lead === this.id) return this.onLeader(s, q);
    if (s.remote && s.remote.leader !== lead) {
      s.remote.stream.close();
      s.remote = undefined;
      if (s.txAt === 'remote') {
        s.txAt = undefined;
        throw new TrineError('TX_CONFLICT', 'the leader changed during this transaction, so it was rolled back; retry the transaction');
      }
    }
    if (!s.remote) {
      try {
        const conn = await this.leaderConnection(lead);
        const stream = conn.openStream();
        await stream.send(encode({ type: 'forward', version: PROTOCOL_VERSION, client: s.client, user: s.user, role: s.role }));
        s.remote = { leader: lead, stream };
      } catch (e) {
        this.fwdConns.delete(lead);
        if (e instanceof TrineError && e.code === 'RAFT_NO_LEADER') throw e;
        throw new TrineError('RAFT_NO_LEADER', `leader ${lead} cannot be reached from node ${this.id} (${e instanceof Error ? e.message : String(e)}); retry shortly`);
      }
    }
    const remote = s.remote;
    let reply: Uint8Array | undefined;
    let watch: ReturnType<typeof setInterval> | undefined;
    try {
      await remote.stream.send(encode(q));
      // A leader that crashed says nothing: stop waiting once the cluster elects another one.
      const moved = new Promise<undefined>((resolve) => {
        watch = setInterval(() => {
          const now = this.driver.status().lead;
          if ((now !== NONE && now !== lead) || this.closing) resolve(undefined);
        }, LEADER_WATCH_MS);
      });
      reply = await Promise.race([remote.stream.next(), moved]);
    } catch {
      reply = undefined;
    } finally {
      if (watch) clearInterval(watch);
    }
    if (!reply) {
      remote.stream.close();
      s.remote = undefined;
      this.fwdConns.delete(lead);
      const wasTx = s.txAt === 'remote';
      s.txAt = undefined;
      throw new TrineError(wasTx ? 'TX_CONFLICT' : 'RAFT_LEADER_CHANGED', `the connection to leader ${lead} broke while it served this request; it may or may not have applied, retry${wasTx ? ' the transaction' : ' with the same request id'}`);
    }
    const m = decode(reply);
    if (m.type === 'result' || m.type === 'error') s.txAt = m.inTransaction ? 'remote' : undefined;
    return reply;
  }

  private leaderConnection(id: NodeId): Promise<TrineConnection> {
    let p = this.fwdConns.get(id);
    if (!p) {
      const m = this.system.member(id);
      if (!m) return Promise.reject(new TrineError('RAFT_NO_LEADER', `leader ${id} is not in the member list yet; retry shortly`));
      p = connect({ address: m.host, port: m.port, serverKey: m.publicKey, staticKey: this.loaded.key.privateKey, limits: { handshakeTimeoutMs: FORWARD_HANDSHAKE_MS } });
      this.fwdConns.set(id, p);
      p.then((c) => { void c.closed().then(() => { if (this.fwdConns.get(id) === p) this.fwdConns.delete(id); }); }, () => { if (this.fwdConns.get(id) === p) this.fwdConns.delete(id); });
    }
    return p;
  }

  // ---- shutdown ----

  /**
   * Stops serving: a leader first hands leadership to the most up-to-date voter so the cluster
   * does not wait for an election timeout, then the driver, the listener and the engine close.
   */
  async close(opts: { transfer?: boolean } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (opts.transfer !== false && this.driver && this.isLeader()) {
      const st = this.driver.status();
      const others = st.conf.voters.filter((v) => v !== this.id);
      if (others.length) {
        const progress = this.driver.progress();
        let best = others[0]!;
        let bestMatch = -1;
        for (const v of others) {
          const p = progress.get(v);
          if (p && p.match > bestMatch) { best = v; bestMatch = p.match; }
        }
        const ok = await this.driver.transferLeadership(best).catch(() => false);
        const t0 = Date.now();
        while (ok && this.isLeader() && Date.now() - t0 < TRANSFER_WAIT_MS) await new Promise((r) => setTimeout(r, 10));
      }
    }
    for (const p of this.fwdConns.values()) void p.then((c) => c.close(0, 'node shutting down', { immediate: true })).catch(() => undefined);
    this.fwdConns.clear();
    await this.driver?.close();
    await this.listener?.close();
    await this.engine.close({ flush: true });
  }
}
