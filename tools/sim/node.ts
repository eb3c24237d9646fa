import { RaftNode, type RaftOptions } from '../../src/raft/raft.ts';
import { ClientSessions } from '../../src/raft/sessions.ts';
import type { Entry, HardState, Message, NodeId, ReadState, Snapshot } from '../../src/raft/types.ts';
import type { Checker } from './checker.ts';
import type { Prng } from './prng.ts';

/** What survives a crash: only what the node made durable. */
export interface Disk {
  hs: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot. */
  entries: Entry[];
}

/** A request in the simulated workload: client id, per-client sequence number, payload byte. */
export function encodeRequest(client: number, seq: number, payload: number): Uint8Array {
  const b = new Uint8Array(6);
  b[0] = client;
  b[1] = seq >>> 24;
  b[2] = seq >>> 16;
  b[3] = seq >>> 8;
  b[4] = seq;
  b[5] = payload;
  return b;
}

export function decodeRequest(b: Uint8Array): { client: number; seq: number; payload: number } {
  return { client: b[0], seq: ((b[1] << 24) | (b[2] << 16) | (b[3] << 8) | b[4]) >>> 0, payload: b[5] };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * The simulated application: a rolling hash of every request it applied, deduplicated through the
 * client-session table (so retries take effect at most once). Volatile: rebuilt after a restart from
 * the snapshot and the log, as the real server rebuilds from its storage.
 */
export class StateMachine {
  index = 0;
  hash = 0x811c9dc5;
  effects = 0;
  sessions = new ClientSessions<number>();

  /** Applies `e`; returns the request key when it took effect (not a duplicate). */
  apply(e: Entry): string | null {
    this.index = e.index;
    if (e.type !== 'normal' || e.data.length !== 6) return null;
    const r = decodeRequest(e.data);
    const key = `${r.client}:${r.seq}`;
    const d = this.sessions.begin(String(r.client), r.seq, e.index);
    if (d.kind !== 'apply') return null;
    let h = this.hash;
    for (let i = 0; i < e.data.length; i++) h = Math.imul(h ^ e.data[i], 0x01000193);
    this.hash = h >>> 0;
    this.effects++;
    this.sessions.finish(String(r.client), r.seq, e.index, e.index);
    return key;
  }

  snapshot(): Uint8Array {
    return utf8.encode(JSON.stringify({ index: this.index, hash: this.hash, effects: this.effects, sessions: this.sessions.toJSON() }));
  }

  static restore(data: Uint8Array): StateMachine {
    const v = JSON.parse(fromUtf8.decode(data));
    const sm = new StateMachine();
    sm.index = v.index;
    sm.hash = v.hash;
    sm.effects = v.effects;
    sm.sessions = ClientSessions.fromJSON(v.sessions);
    return sm;
  }
}

export interface NodeEnv {
  readonly checker: Checker;
  /** Deliver (or queue) an outgoing message. */
  send(m: Message): void;
  /** Does node `id`'s disk hold entry (index, term)? */
  holds(id: NodeId, index: number, term: number): boolean;
  /** A read state surfaced on this node (before it is applied). */
  readAnswered(node: NodeId, rs: ReadState): void;
}

/**
 * One simulated server: a Raft core plus the minimal driver around it (an in-memory disk that
 * survives crashes, the state machine that does not). It follows the Ready contract exactly:
 * persist, then send, then apply, then advance.
 */
export class SimNode {
  readonly id: NodeId;
  readonly opts: RaftOptions;
  readonly disk: Disk;
  raft: RaftNode | null = null;
  sm = new StateMachine();
  /** Crash at the next Ready, persisting only a random prefix of its entries (a torn, unsynced write). */
  crashAtNextReady = false;
  /** Read states waiting for the state machine to reach their index. */
  pendingReads: ReadState[] = [];
  /** Reads whose index this node has applied: ctx -> index. */
  readonly doneReads = new Map<number, number>();
  private votersBefore: readonly NodeId[] = [];
  private readonly env: NodeEnv;
  private readonly rng: Prng;

  constructor(id: NodeId, opts: RaftOptions, disk: Disk, env: NodeEnv, rng: Prng) {
    this.id = id;
    this.opts = opts;
    this.disk = disk;
    this.env = env;
    this.rng = rng;
  }

  get up(): boolean {
    return this.raft !== null;
  }

  start(): void {
    const d = this.disk;
    // Bootstrap entries reach the disk without a Ready; a restart re-reads what was committed.
    const si = d.snapshot?.meta.index ?? 0;
    this.env.checker.persisted(this.id, d.entries, d.snapshot?.meta.term ?? 0);
    this.env.checker.committed(this.id, d.entries.slice(0, Math.max(0, d.hs.commit - si)), d.hs.term);
    this.raft = new RaftNode(this.opts, { hardState: d.hs, snapshot: d.snapshot, entries: d.entries.slice() });
    this.sm = d.snapshot !== null ? StateMachine.restore(d.snapshot.data) : new StateMachine();
    this.votersBefore = this.raft.conf.voters;
    this.pendingReads = [];
    this.process();
  }

  crash(): void {
    this.raft = null;
    this.crashAtNextReady = false;
    this.pendingReads = [];
  }

  holds(index: number, term: number): boolean {
    const d = this.disk;
    const si = d.snapshot?.meta.index ?? 0;
    if (index <= si) return index < si || d.snapshot!.meta.term === term;
    const e = d.entries[index - si - 1];
    return e !== undefined && e.term === term;
  }

  step(m: Message): void {
    if (this.raft === null) return;
    this.raft.step(m);
    this.process();
  }

  tick(): void {
    if (this.raft === null) return;
    this.raft.tick();
    this.process();
  }

  /** Drain every Ready. */
  process(): void {
    const raft = this.raft;
    if (raft === null) return;
    while (raft.hasReady()) {
      const rd = raft.ready();
      if (this.crashAtNextReady) {
        if (rd.snapshot === null && rd.entries.length > 0) this.persistEntries(rd.entries.slice(0, this.rng.int(0, rd.entries.length)));
        this.crash();
        return;
      }
      const d = this.disk;
      const checker = this.env.checker;
      if (rd.snapshot !== null) {
        checker.snapshot(this.id, rd.snapshot.meta);
        checker.truncated(this.id, d.entries.filter((e) => e.index > rd.snapshot!.meta.index));
        d.snapshot = rd.snapshot;
        d.entries = [];
      }
      if (rd.entries.length > 0) this.persistEntries(rd.entries);
      if (rd.hardState !== null) {
        const old = d.hs.commit;
        d.hs = rd.hardState;
        if (d.hs.commit > old) this.noteCommit(old, d.hs.commit);
      }
      for (const m of rd.messages) this.env.send(m);
      if (rd.snapshot !== null) this.sm = StateMachine.restore(rd.snapshot.data);
      for (const e of rd.committed) {
        checker.applied(this.id, e, this.sm.index);
        const key = this.sm.apply(e);
        if (key !== null) checker.effect(this.id, key, e.index);
      }
      for (const rs of rd.readStates) {
        this.env.readAnswered(this.id, rs);
        this.pendingReads.push(rs);
      }
      raft.advance(rd);
      if (this.pendingReads.length > 0) {
        this.pendingReads = this.pendingReads.filter((rs) => {
          if (rs.index > this.sm.index) return true;
          this.doneReads.set(rs.ctx, rs.index);
          return false;
        });
      }
      if (raft.snapshotDue()) {
        raft.compact(this.sm.index, this.sm.snapshot());
        const snap = raft.latestSnapshot()!;
        const si = d.snapshot?.meta.index ?? 0;
        d.entries = d.entries.slice(snap.meta.index - si);
        d.snapshot = snap;
      }
      this.votersBefore = raft.conf.voters;
    }
  }

  private persistEntries(es: readonly Entry[]): void {
    if (es.length === 0) return;
    const d = this.disk;
    const si = d.snapshot?.meta.index ?? 0;
    const st = d.snapshot?.meta.term ?? 0;
    const cut = es[0].index - si - 1;
    if (cut < 0 || cut > d.entries.length) throw new Error(`node ${this.id}: Ready entries start at ${es[0].index}, disk holds ${si}+${d.entries.length}`);
    const dropped = d.entries.slice(cut).filter((e) => {
      const n = es[e.index - es[0].index];
      return n === undefined || n.term !== e.term;
    });
    this.env.checker.truncated(this.id, dropped);
    this.env.checker.persisted(this.id, es, cut === 0 ? st : d.entries[cut - 1].term);
    d.entries.length = cut;
    for (const e of es) d.entries.push(e);
  }

  private noteCommit(old: number, commit: number): void {
    const d = this.disk;
    const si = d.snapshot?.meta.index ?? 0;
    const from = Math.max(old + 1, si + 1);
    if (from <= commit) this.env.checker.committed(this.id, d.entries.slice(from - si - 1, commit - si), d.hs.term);
    const raft = this.raft!;
    if (raft.role === 'leader') {
      const term = d.entries[commit - si - 1]?.term ?? d.snapshot!.meta.term;
      const holds = (v: NodeId) => this.env.holds(v, commit, term);
      const q = (vs: readonly NodeId[]) => vs.filter(holds).length >= Math.floor(vs.length / 2) + 1;
      if (!q(this.votersBefore) && !q(raft.conf.voters)) this.env.checker.quorumDurable(this.id, commit, term, raft.conf.voters, holds);
    }
  }
}
