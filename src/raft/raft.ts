import { TrineError } from '../crypto/errors.ts';
import {
  EMPTY_CONF, applyConfChange, confChangeError, decodeConfChange, encodeConfChange, isMember, quorum,
  type ConfChange,
} from './config.ts';
import * as L from './limits.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import {
  NONE,
  type AppendRequest, type AppendResponse, type ConfState, type Entry, type EntryType, type HardState,
  type HeartbeatResponse, type Message, type NodeId, type ReadState, type Ready, type Role, type Snapshot,
  type SnapshotChunk, type SnapshotMeta, type SnapshotResponse, type VoteRequest, type VoteResponse,
} from './types.ts';

export interface RaftOptions {
  readonly id: NodeId;
  /** Uniform in [0, 1). The only source of randomness (election timeouts); seeded in tests. */
  readonly rand: () => number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** `safe`: every read index is confirmed by a heartbeat quorum. `lease`: within a valid lease, not. */
  readonly readMode?: 'safe' | 'lease';
  readonly leaseDriftTicks?: number;
  readonly maxInflight?: number;
  readonly maxEntriesPerAppend?: number;
  readonly maxAppendBytes?: number;
  readonly snapshotChunkBytes?: number;
  readonly snapshotThreshold?: number;
  /** Promote a learner once it has caught up with the commit index (default true). */
  readonly autoPromote?: boolean;
}

/** What a node finds on its disk at start. */
export interface StoredState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
  /** Index the durable state machine has applied already (default: the snapshot's index). */
  readonly applied?: number;
}

/** The state of every founding member of a new cluster: one committed bootstrap config entry. */
export function bootstrapState(voters: readonly NodeId[]): StoredState {
  return {
    hardState: { term: 1, vote: NONE, commit: 1 },
    snapshot: null,
    entries: [{ index: 1, term: 1, type: 'config', data: encodeConfChange({ op: 'bootstrap', voters }) }],
  };
}

/** The state of a node about to join an existing cluster: it learns everything from the leader. */
export function joiningState(): StoredState {
  return { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot: null, entries: [] };
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly snapIndex: number;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
}

interface PendingRead {
  readonly ctx: number;
  readonly from: NodeId;
  readonly index: number;
  readonly round: number;
}

interface IncomingSnapshot {
  readonly meta: SnapshotMeta;
  readonly chunks: Uint8Array[];
  received: number;
}

const EMPTY = new Uint8Array(0);

/**
 * One Raft participant as a pure state machine: `tick()`, `step(message)` and the proposal / read /
 * membership calls go in; a `Ready` batch comes out (see types.ts for the handling order).
 */
export class RaftNode {
  readonly id: NodeId;
  term: number;
  vote: NodeId;
  lead: NodeId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;
  conf: ConfState;
  leadTransferee: NodeId = NONE;

  private readonly rand: () => number;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly readMode: 'safe' | 'lease';
  private readonly leaseDriftTicks: number;
  private readonly maxInflight: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly chunkBytes: number;
  private readonly snapshotThreshold: number;
  private readonly autoPromote: boolean;

  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  /** Ticks since we last heard from a leader (or since start): votes are refused while it is small. */
  private sinceLeader = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  private now = 0;
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  /** Latest local snapshot, sent to followers behind our first index. */
  private snapshot: Snapshot | null;
  /** A snapshot received from the leader, to hand to the driver in the next Ready. */
  private received: Snapshot | null = null;
  private incoming: IncomingSnapshot | null = null;
  /** Membership after each config entry committed since the snapshot, to know the config at any index. */
  private confHistory: { index: number; conf: ConfState }[];
  private pendingConfIndex = 0;
  private needBroadcast = false;
  private prevHs: HardState;

  // Read index state (leader only).
  private readRound = 0;
  private confirmedRound = 0;
  private roundSentAt = new Map<number, number>();
  private ackedRound = new Map<NodeId, number>();
  private reads: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its own term. */
  private earlyReads: { ctx: number; from: NodeId }[] = [];
  private readHeartbeatDue = false;
  private leaseStart = -Infinity;
  /**
   * Set once this leader started a transfer: its timeoutNow may arrive late, after the transfer
   * was abandoned, and a forced campaign ignores the followers' lease, so no more lease reads in
   * this term.
   */
  private leaseForfeited = false;

  constructor(opts: RaftOptions, stored: StoredState) {
    this.id = opts.id;
    if (!(Number.isInteger(this.id) && this.id > 0)) throw new TrineError('RAFT_BAD_ID', `Raft node id ${this.id} is not a positive integer; pick another id.`);
    this.rand = opts.rand;
    this.electionTicks = opts.electionTicks ?? L.ELECTION_TICKS;
    this.heartbeatTicks = opts.heartbeatTicks ?? L.HEARTBEAT_TICKS;
    this.preVote = opts.preVote ?? true;
    this.checkQuorum = opts.checkQuorum ?? true;
    this.readMode = opts.readMode ?? 'safe';
    this.leaseDriftTicks = opts.leaseDriftTicks ?? L.LEASE_DRIFT_TICKS;
    this.maxInflight = opts.maxInflight ?? L.MAX_INFLIGHT_APPENDS;
    this.maxEntries = opts.maxEntriesPerAppend ?? L.MAX_ENTRIES_PER_APPEND;
    this.maxBytes = opts.maxAppendBytes ?? L.MAX_APPEND_BYTES;
    this.chunkBytes = opts.snapshotChunkBytes ?? L.SNAPSHOT_CHUNK_BYTES;
    this.snapshotThreshold = opts.snapshotThreshold ?? L.SNAPSHOT_THRESHOLD_ENTRIES;
    this.autoPromote = opts.autoPromote ?? true;
    if (this.heartbeatTicks >= this.electionTicks) throw new TrineError('RAFT_BAD_TIMEOUTS', 'The heartbeat interval must be shorter than the election timeout; fix the Raft timing options.');

    const hs = stored.hardState;
    const snap = stored.snapshot;
    this.term = hs.term;
    this.vote = hs.vote;
    this.snapshot = snap;
    const snapIndex = snap?.meta.index ?? 0;
    this.log = new RaftLog(snapIndex, snap?.meta.term ?? 0, stored.entries.slice(), hs.commit, stored.applied ?? snapIndex);
    this.conf = snap?.meta.conf ?? EMPTY_CONF;
    this.confHistory = [{ index: snapIndex, conf: this.conf }];
    this.applyConfEntries(snapIndex, this.log.commit);
    this.prevHs = { term: this.term, vote: this.vote, commit: this.log.commit };
    this.resetRandomizedTimeout();
    // Lease reads rely on every node refusing votes for an election timeout after it last heard
    // from the leader; a node that restarts cannot know when that was, so it waits one timeout.
    this.sinceLeader = this.readMode === 'lease' ? 0 : this.electionTicks;
  }

  // ---------------------------------------------------------------- public API

  status(): RaftStatus {
    return {
      id: this.id, role: this.role, term: this.term, vote: this.vote, lead: this.lead, commit: this.log.commit,
      applied: this.log.applied, lastIndex: this.log.lastIndex(), snapIndex: this.log.snapIndex, conf: this.conf,
      leadTransferee: this.leadTransferee,
    };
  }

  /** Leader only: what it knows of each follower (for status displays and tests). */
  progress(): Map<NodeId, { match: number; next: number; state: string; inflight: number; snapIndex: number; snapOffset: number }> {
    const out = new Map<NodeId, { match: number; next: number; state: string; inflight: number; snapIndex: number; snapOffset: number }>();
    for (const [id, pr] of this.prs) {
      out.set(id, { match: pr.match, next: pr.next, state: pr.state, inflight: pr.inflightCount(), snapIndex: pr.snapIndex, snapOffset: pr.snapOffset });
    }
    return out;
  }

  /** Advance logical time by one tick. */
  tick(): void {
    this.now++;
    this.sinceLeader++;
    this.electionElapsed++;
    if (this.role === 'leader') {
      this.sinceLeader = 0;
      if (this.electionElapsed >= this.electionTicks) {
        this.electionElapsed = 0;
        this.leadTransferee = NONE;
        if (this.checkQuorum && !this.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
      }
      if (++this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat();
      }
      return;
    }
    if (this.electionElapsed >= this.randomizedTimeout) {
      this.electionElapsed = 0;
      if (this.promotable()) this.campaign(this.preVote ? 'pre' : 'real');
    }
  }

  /**
   * Propose application data. On the leader the entries are appended; on a follower they are
   * forwarded to the leader it knows. Returns false when there is nowhere to send them (no known
   * leader, or a leadership transfer in progress): the caller retries later. A true result is no
   * promise of commit; the caller learns that from the applied entries (use client request ids).
   */
  propose(data: Uint8Array | readonly Uint8Array[]): boolean {
    const batch = data instanceof Uint8Array ? [data] : data;
    if (batch.length === 0) return true;
    if (batch.length > L.MAX_PROPOSAL_BATCH) throw new TrineError('RAFT_BATCH_TOO_LARGE', `A proposal batch holds ${batch.length} entries, more than ${L.MAX_PROPOSAL_BATCH}; split it.`);
    if (this.role === 'leader') {
      if (this.leadTransferee !== NONE) return false;
      for (const d of batch) this.appendEntry('normal', d);
      return true;
    }
    if (this.lead === NONE || this.role !== 'follower') return false;
    this.send({ type: 'propose', from: this.id, to: this.lead, term: 0, data: batch });
    return true;
  }

  /** Leader only: propose one membership change. Throws a TrineError saying why it cannot. */
  proposeConfChange(cc: ConfChange): void {
    if (this.role !== 'leader') throw new TrineError('RAFT_NOT_LEADER', `Node ${this.id} is not the leader; send the membership change to node ${this.lead || 'that leads'}.`);
    if (this.log.commit < this.pendingConfIndex) throw new TrineError('RAFT_CONF_PENDING', 'Another membership change is still in progress; retry once it has committed.');
    if (cc.op === 'remove' && cc.node === this.id) throw new TrineError('RAFT_REMOVE_LEADER', 'The leader cannot remove itself; transfer leadership to another voter first.');
    if (cc.op === 'bootstrap') throw new TrineError('RAFT_BAD_CONF_CHANGE', 'A running cluster cannot be bootstrapped again.');
    const why = confChangeError(this.conf, cc);
    if (why !== null) throw new TrineError('RAFT_BAD_CONF_CHANGE', `Membership change refused: ${why}.`);
    if (this.leadTransferee !== NONE) throw new TrineError('RAFT_TRANSFERRING', 'A leadership transfer is in progress; retry in a moment.');
    this.appendEntry('config', encodeConfChange(cc));
    this.pendingConfIndex = this.log.lastIndex();
  }

  /** Leader only: hand leadership to voter `to` (e.g. before a graceful shutdown). */
  transferLeadership(to: NodeId): boolean {
    if (this.role !== 'leader' || to === this.id || !this.conf.voters.includes(to)) return false;
    this.leadTransferee = to;
    this.leaseForfeited = true;
    this.electionElapsed = 0;
    const pr = this.prs.get(to);
    if (pr === undefined) return false;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
    else this.sendAppend(to, pr, true);
    return true;
  }

  /**
   * Ask for a linearizable read point. The answer arrives as a ReadState with the same `ctx` in a
   * later Ready (the caller then waits until applied >= index). Works on followers by asking the
   * leader. Returns false when there is no known leader: retry later. A read whose confirmation
   * is lost (leader change, message loss) never answers; the caller times out and retries.
   */
  readIndex(ctx: number): boolean {
    if (this.role === 'leader') {
      this.leaderRead(ctx, this.id);
      return true;
    }
    if (this.lead === NONE || this.role !== 'follower') return false;
    this.send({ type: 'readIndex', from: this.id, to: this.lead, term: this.term, ctx });
    return true;
  }

  /** True once enough applied entries follow the last snapshot that the caller should take one. */
  snapshotDue(): boolean {
    return this.log.applied - this.log.snapIndex >= this.snapshotThreshold;
  }

  /**
   * The caller has durably saved a snapshot of its state machine at applied index `index`: drop
   * the log up to it. The core keeps `data` to send to followers that fall behind.
   */
  compact(index: number, data: Uint8Array): void {
    if (index <= this.log.snapIndex) return;
    if (index > this.log.applied) throw new TrineError('RAFT_COMPACT_AHEAD', `Cannot compact to ${index}: only ${this.log.applied} entries are applied.`);
    const meta: SnapshotMeta = { index, term: this.log.term(index), conf: this.confAt(index), size: data.length };
    this.log.compact(index);
    this.snapshot = { meta, data };
    let k = 0;
    while (k + 1 < this.confHistory.length && this.confHistory[k + 1].index <= index) k++;
    this.confHistory = this.confHistory.slice(k);
  }

  /** The latest local snapshot, if any. */
  latestSnapshot(): Snapshot | null {
    return this.snapshot;
  }

  hasReady(): boolean {
    return (
      this.msgs.length > 0 || this.readStates.length > 0 || this.received !== null || this.needBroadcast ||
      this.readHeartbeatDue || this.log.stable < this.log.lastIndex() || this.log.applied < this.log.commit ||
      this.prevHs.term !== this.term || this.prevHs.vote !== this.vote || this.prevHs.commit !== this.log.commit
    );
  }

  ready(): Ready {
    if (this.needBroadcast) {
      this.needBroadcast = false;
      if (this.role === 'leader') this.broadcastAppend();
    }
    if (this.readHeartbeatDue) {
      this.readHeartbeatDue = false;
      if (this.role === 'leader') this.broadcastHeartbeat();
    }
    const log = this.log;
    const hsChanged = this.prevHs.term !== this.term || this.prevHs.vote !== this.vote || this.prevHs.commit !== log.commit;
    const entries = log.stable < log.lastIndex() ? log.entries.slice(log.stable - log.snapIndex) : [];
    let committed: Entry[] = [];
    if (log.applied < log.commit) {
      committed = log.entries.slice(log.applied - log.snapIndex, log.commit - log.snapIndex);
      log.applied = log.commit;
    }
    const rd: Ready = {
      hardState: hsChanged ? { term: this.term, vote: this.vote, commit: log.commit } : null,
      entries,
      snapshot: this.received,
      messages: this.msgs,
      committed,
      readStates: this.readStates,
    };
    this.received = null;
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  /** The driver has handled `rd` as types.ts describes. */
  advance(rd: Ready): void {
    if (rd.hardState !== null) this.prevHs = rd.hardState;
    if (rd.entries.length > 0) this.log.stable = Math.max(this.log.stable, rd.entries[rd.entries.length - 1].index);
  }

  step(m: Message): void {
    if (m.type === 'propose') {
      // Forwarded once only: a follower that is not the leader drops it rather than bounce it.
      if (this.role === 'leader' && this.leadTransferee === NONE) for (const d of m.data) this.appendEntry('normal', d);
      return;
    }
    if ((m.type === 'prevote' || m.type === 'vote') && this.conf.removed.includes(m.from)) return;
    if (m.term > this.term) {
      if (m.type === 'prevote' || m.type === 'vote') {
        // Check-quorum's companion: while we hear from a live leader, ignore campaigns, so that a
        // partitioned or removed node cannot depose it. A transfer's forced campaign is exempt.
        if (!m.force && this.checkQuorum && this.sinceLeader < this.electionTicks) return;
      }
      if (m.type === 'prevote' || (m.type === 'prevoteResp' && !m.reject)) {
        // A pre-vote never changes terms; a granted pre-vote response carries the future term.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // A deposed leader that cannot hear the new one learns the new term from this, instead of
        // waiting for its check-quorum to fire.
        this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, reject: true, index: 0, hintTerm: 0, hintIndex: 0 });
      } else if (m.type === 'prevote') {
        this.send({ type: 'prevoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === 'prevote' || m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'precandidate':
      case 'candidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, lead: NodeId): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.role = 'follower';
    this.lead = lead;
    this.resetRoleState();
  }

  private becomeCandidate(): void {
    this.term++;
    this.vote = this.id;
    this.role = 'candidate';
    this.lead = NONE;
    this.resetRoleState();
  }

  private becomePreCandidate(): void {
    this.role = 'precandidate';
    this.lead = NONE;
    this.resetRoleState();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.lead = this.id;
    this.resetRoleState();
    const next = this.log.lastIndex() + 1;
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      if (id === this.id) continue;
      this.prs.set(id, new Progress(next, this.maxInflight));
    }
    this.sinceLeader = 0;
    this.appendEntry('noop', EMPTY);
    // A new leader may hold uncommitted config entries of earlier terms; no new change until its
    // own first entry (and so all of them) commits. This is the fix for the single-server change
    // bug (Ongaro, raft-dev 2015): a change must not start on top of an uncommitted older one.
    this.pendingConfIndex = this.log.lastIndex();
    this.needBroadcast = false;
    this.broadcastAppend();
  }

  private resetRoleState(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes.clear();
    this.prs.clear();
    this.leadTransferee = NONE;
    this.reads = [];
    this.earlyReads = [];
    this.ackedRound.clear();
    this.roundSentAt.clear();
    this.readRound = 0;
    this.confirmedRound = 0;
    this.readHeartbeatDue = false;
    this.leaseStart = -Infinity;
    this.leaseForfeited = false;
    this.needBroadcast = false;
  }

  private resetRandomizedTimeout(): void {
    this.randomizedTimeout = this.electionTicks + Math.floor(this.rand() * this.electionTicks);
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  private campaign(kind: 'pre' | 'real' | 'transfer'): void {
    let term: number;
    if (kind === 'pre') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    const type = kind === 'pre' ? 'prevote' : 'vote';
    this.votes.set(this.id, true);
    if (this.tally()) return;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({ type, from: this.id, to: id, term, lastIndex, lastTerm, force: kind === 'transfer' });
    }
  }

  /** Count votes; act on a decided election. True when the election is over. */
  private tally(): boolean {
    let granted = 0;
    let rejected = 0;
    for (const id of this.conf.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = quorum(this.conf.voters.length);
    if (granted >= q) {
      if (this.role === 'precandidate') this.campaign('real');
      else this.becomeLeader();
      return true;
    }
    if (rejected >= q) {
      this.becomeFollower(this.term, NONE);
      return true;
    }
    return false;
  }

  private handleVoteRequest(m: VoteRequest): void {
    const respType = m.type === 'prevote' ? 'prevoteResp' : 'voteResp';
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'prevote' && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'prevoteResp':
      case 'voteResp':
        if ((m.type === 'prevoteResp') !== (this.role === 'precandidate')) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        this.tally();
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.heardFromLeader(m.from);
        this.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, round: m.round });
        return;
      case 'snapshot':
        this.heardFromLeader(m.from);
        this.handleSnapshotChunk(m);
        return;
      case 'timeoutNow':
        if (this.promotable()) this.campaign('transfer');
        return;
      case 'readIndexResp':
        this.readStates.push({ ctx: m.ctx, index: m.index });
        return;
      default:
        return;
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.sinceLeader = 0;
    this.lead = from;
  }

  private stepLeader(m: Message): void {
    if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
      throw new TrineError('RAFT_INVARIANT', `Two leaders in term ${m.term} (${this.id} and ${m.from}). This is a bug.`);
    }
    if (m.type === 'readIndex') {
      this.leaderRead(m.ctx, m.from);
      return;
    }
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appendResp':
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        // Lost appends would keep a full window full forever: free one slot per heartbeat; the
        // next append then either succeeds or is rejected, which restarts from a probe.
        if (pr.state === 'replicate' && pr.paused()) pr.freeFirstInflight();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, pr, true);
        this.handleReadAck(m);
        return;
      case 'snapshotResp':
        pr.recentActive = true;
        this.handleSnapshotResponse(m, pr);
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- replication

  private appendEntry(type: EntryType, data: Uint8Array): void {
    const index = this.log.lastIndex() + 1;
    this.log.append({ index, term: this.term, type, data });
    this.maybeCommit();
    this.needBroadcast = true;
  }

  private broadcastAppend(): void {
    for (const [id, pr] of this.prs) this.sendAppend(id, pr, true);
  }

  /** Send as many appends as the window allows. Returns whether anything was sent. */
  private sendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    let sent = false;
    while (!pr.paused()) {
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === -1) {
        this.sendSnapshot(to, pr);
        return true;
      }
      const entries = this.log.slice(pr.next, this.maxEntries, this.maxBytes);
      if (entries.length === 0 && (!sendIfEmpty || sent)) break;
      this.send({ type: 'append', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.commit });
      sent = true;
      if (pr.state === 'replicate' && entries.length > 0) {
        const last = entries[entries.length - 1].index;
        pr.next = last + 1;
        pr.addInflight(last);
      } else {
        pr.probeSent = true;
      }
      if (entries.length === 0) break;
    }
    return sent;
  }

  private handleAppend(m: AppendRequest): void {
    const log = this.log;
    if (m.prevIndex < log.commit) {
      // Everything up to our commit index matches any leader's log; only merge what follows it.
      const fresh = m.entries.filter((e) => e.index > log.commit);
      const last = fresh.length === 0 ? log.commit : log.merge(log.commit, fresh);
      this.commitTo(Math.min(m.commit, last));
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, reject: false, index: Math.max(last, log.commit), hintTerm: 0, hintIndex: 0 });
      return;
    }
    if (log.matchTerm(m.prevIndex, m.prevTerm)) {
      const last = log.merge(m.prevIndex, m.entries);
      this.commitTo(Math.min(m.commit, last));
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, reject: false, index: last, hintTerm: 0, hintIndex: 0 });
      return;
    }
    let hintTerm = 0;
    let hintIndex = log.lastIndex() + 1;
    if (m.prevIndex <= log.lastIndex()) {
      hintTerm = log.term(m.prevIndex);
      hintIndex = log.firstIndexOfTerm(m.prevIndex);
    }
    this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, reject: true, index: m.prevIndex, hintTerm, hintIndex });
  }

  private handleAppendResponse(m: AppendResponse, pr: Progress): void {
    if (m.reject) {
      // Stale rejections (of appends sent before the last back-off) are ignored.
      if (pr.state === 'replicate' ? m.index <= pr.match : m.index !== pr.next - 1) return;
      if (pr.state === 'snapshot') return;
      let next: number;
      if (m.hintTerm === 0) {
        next = m.hintIndex;
      } else {
        const j = this.log.lastIndexAtOrBelowTerm(m.index, m.hintTerm);
        next = this.log.term(j) === m.hintTerm ? j + 1 : Math.min(m.hintIndex, j + 1);
      }
      pr.becomeProbe();
      pr.next = Math.max(pr.match + 1, Math.min(next, m.index));
      this.sendAppend(m.from, pr, true);
      return;
    }
    const wasPaused = pr.paused();
    if (pr.update(m.index)) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'replicate') pr.freeInflight(m.index);
      if (this.maybeCommit()) this.broadcastAppend();
      // A follower that was paused may not know the commit index yet: tell it even with no entries.
      else this.sendAppend(m.from, pr, wasPaused);
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.send({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term });
      }
      this.maybePromote(m.from, pr);
    } else if (pr.state === 'replicate') {
      pr.freeInflight(m.index);
      this.sendAppend(m.from, pr, false);
    }
  }

  private maybePromote(id: NodeId, pr: Progress): void {
    if (!this.autoPromote || this.role !== 'leader' || !this.conf.learners.includes(id)) return;
    if (pr.match < this.log.commit || this.log.commit < this.pendingConfIndex || this.leadTransferee !== NONE) return;
    this.appendEntry('config', encodeConfChange({ op: 'promote', node: id }));
    this.pendingConfIndex = this.log.lastIndex();
  }

  /** Leader: advance the commit index to what a quorum holds, if that entry is of our term. */
  private maybeCommit(): boolean {
    const voters = this.conf.voters;
    if (voters.length === 0) return false;
    const matches: number[] = [];
    for (const id of voters) {
      if (id === this.id) matches.push(this.log.lastIndex());
      else matches.push(this.prs.get(id)?.match ?? 0);
    }
    matches.sort((a, b) => b - a);
    const q = matches[quorum(voters.length) - 1];
    // Figure 8: an entry of an earlier term is never committed by counting replicas.
    if (q > this.log.commit && this.log.term(q) === this.term) {
      this.commitTo(q);
      return true;
    }
    return false;
  }

  private commitTo(index: number): void {
    const old = this.log.commit;
    if (index <= old) return;
    this.log.commit = index;
    this.applyConfEntries(old, index);
    if (this.role === 'leader' && this.earlyReads.length > 0 && this.log.term(index) === this.term) {
      const early = this.earlyReads;
      this.earlyReads = [];
      for (const r of early) this.leaderRead(r.ctx, r.from);
    }
  }

  private applyConfEntries(from: number, to: number): void {
    let changed = false;
    for (let i = Math.max(from + 1, this.log.firstIndex()); i <= to; i++) {
      const e = this.log.entry(i);
      if (e.type !== 'config') continue;
      this.conf = applyConfChange(this.conf, decodeConfChange(e.data));
      this.confHistory.push({ index: i, conf: this.conf });
      changed = true;
    }
    if (changed) this.onConfChanged();
  }

  private confAt(index: number): ConfState {
    let c = this.confHistory[0].conf;
    for (const h of this.confHistory) if (h.index <= index) c = h.conf;
    return c;
  }

  private onConfChanged(): void {
    if (this.role !== 'leader') {
      if ((this.role === 'candidate' || this.role === 'precandidate') && !this.promotable()) this.becomeFollower(this.term, NONE);
      return;
    }
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of this.prs.keys()) if (!members.has(id)) this.prs.delete(id);
    for (const id of members) {
      if (id === this.id || this.prs.has(id)) continue;
      const pr = new Progress(this.log.lastIndex() + 1, this.maxInflight);
      pr.recentActive = true;
      this.prs.set(id, pr);
    }
    if (this.leadTransferee !== NONE && !this.conf.voters.includes(this.leadTransferee)) this.leadTransferee = NONE;
    if (!this.promotable()) {
      // Removed (or demoted) while leading: let the others learn the commit, then step aside.
      this.broadcastAppend();
      this.becomeFollower(this.term, NONE);
      return;
    }
    // A smaller voter set may have a quorum already.
    if (this.maybeCommit()) this.needBroadcast = true;
    this.needBroadcast = true;
  }

  // ---------------------------------------------------------------- heartbeats, reads, leases

  private broadcastHeartbeat(): void {
    const round = ++this.readRound;
    this.roundSentAt.set(round, this.now);
    for (const [id, pr] of this.prs) {
      if (pr.state === 'snapshot') this.sendSnapshotChunk(id, pr);
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit: Math.min(pr.match, this.log.commit), round });
    }
    if (this.conf.voters.length === 1) this.confirmRound(round);
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.conf.voters) {
      if (id === this.id) {
        active++;
        continue;
      }
      const pr = this.prs.get(id);
      if (pr !== undefined && pr.recentActive) active++;
    }
    for (const pr of this.prs.values()) pr.recentActive = false;
    return active >= quorum(this.conf.voters.length);
  }

  private leaseValid(): boolean {
    return this.readMode === 'lease' && !this.leaseForfeited &&
      this.now < this.leaseStart + this.electionTicks - this.leaseDriftTicks - 1;
  }

  private leaderRead(ctx: number, from: NodeId): void {
    if (this.log.term(this.log.commit) !== this.term) {
      // Our commit index may lag the last leader's until we commit our own first entry.
      if (this.earlyReads.length < L.MAX_PENDING_READS) this.earlyReads.push({ ctx, from });
      return;
    }
    const index = this.log.commit;
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(ctx, from, index);
      return;
    }
    if (this.leaseValid()) {
      this.answerRead(ctx, from, index);
      return;
    }
    if (this.reads.length >= L.MAX_PENDING_READS) return;
    this.reads.push({ ctx, from, index, round: this.readRound + 1 });
    this.readHeartbeatDue = true;
  }

  private answerRead(ctx: number, from: NodeId, index: number): void {
    if (from === this.id) this.readStates.push({ ctx, index });
    else this.send({ type: 'readIndexResp', from: this.id, to: from, term: this.term, ctx, index });
  }

  private handleReadAck(m: HeartbeatResponse): void {
    if (m.round > (this.ackedRound.get(m.from) ?? 0)) this.ackedRound.set(m.from, m.round);
    const rounds: number[] = [];
    for (const id of this.conf.voters) rounds.push(id === this.id ? this.readRound : (this.ackedRound.get(id) ?? 0));
    rounds.sort((a, b) => b - a);
    const confirmed = rounds[quorum(rounds.length) - 1];
    if (confirmed > this.confirmedRound) this.confirmRound(confirmed);
  }

  private confirmRound(round: number): void {
    this.confirmedRound = round;
    const sentAt = this.roundSentAt.get(round);
    if (sentAt !== undefined && sentAt > this.leaseStart) this.leaseStart = sentAt;
    for (const r of this.roundSentAt.keys()) if (r <= round) this.roundSentAt.delete(r);
    let k = 0;
    while (k < this.reads.length && this.reads[k].round <= round) {
      const r = this.reads[k++];
      this.answerRead(r.ctx, r.from, r.index);
    }
    if (k > 0) this.reads = this.reads.slice(k);
  }

  // ---------------------------------------------------------------- snapshots

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snap = this.snapshot;
    if (snap === null) throw new TrineError('RAFT_INVARIANT', `Follower ${to} needs entries below our first index but there is no snapshot. This is a bug.`);
    pr.becomeSnapshot(snap.meta.index);
    this.sendSnapshotChunk(to, pr);
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.snapshot;
    if (snap === null) return;
    if (pr.snapIndex !== snap.meta.index) pr.becomeSnapshot(snap.meta.index);
    const data = snap.data.subarray(pr.snapOffset, pr.snapOffset + this.chunkBytes);
    this.send({ type: 'snapshot', from: this.id, to, term: this.term, meta: snap.meta, offset: pr.snapOffset, data });
  }

  private handleSnapshotResponse(m: SnapshotResponse, pr: Progress): void {
    if (pr.state !== 'snapshot' || m.snapIndex !== pr.snapIndex) return;
    if (m.done) {
      pr.update(m.snapIndex);
      pr.becomeProbe();
      this.sendAppend(m.from, pr, true);
      return;
    }
    if (m.offset !== pr.snapOffset) {
      pr.snapOffset = m.offset;
      this.sendSnapshotChunk(m.from, pr);
    }
  }

  private handleSnapshotChunk(m: SnapshotChunk): void {
    const meta = m.meta;
    const reply = (offset: number, done: boolean) =>
      this.send({ type: 'snapshotResp', from: this.id, to: m.from, term: this.term, snapIndex: meta.index, offset, done });
    if (meta.index <= this.log.commit) {
      reply(meta.size, true);
      return;
    }
    let inc = this.incoming;
    if (inc === null || inc.meta.index !== meta.index || inc.meta.term !== meta.term) {
      if (m.offset !== 0) {
        reply(0, false);
        return;
      }
      inc = this.incoming = { meta, chunks: [], received: 0 };
    }
    if (m.offset !== inc.received) {
      reply(inc.received, false);
      return;
    }
    inc.chunks.push(m.data);
    inc.received += m.data.length;
    if (inc.received < meta.size) {
      reply(inc.received, false);
      return;
    }
    const data = new Uint8Array(meta.size);
    let off = 0;
    for (const c of inc.chunks) {
      data.set(c, off);
      off += c.length;
    }
    this.incoming = null;
    this.installSnapshot({ meta, data });
    reply(meta.size, true);
  }

  private installSnapshot(snap: Snapshot): void {
    const { index, term } = snap.meta;
    if (this.log.matchTerm(index, term)) {
      // We hold that entry already: the entries are as good as the snapshot.
      this.commitTo(index);
      return;
    }
    this.log.restore(index, term);
    this.snapshot = snap;
    this.received = snap;
    this.conf = snap.meta.conf;
    this.confHistory = [{ index, conf: this.conf }];
  }

  // ---------------------------------------------------------------- plumbing

  private send(m: Message): void {
    this.msgs.push(m);
  }
}

export { isMember };
