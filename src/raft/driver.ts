/**
 * The Raft driver: runs one pure RaftNode against real time, a durable log and a transport.
 *
 * - Entries and the hard state go to the storage layer's encrypted LogStore, which is the
 *   database's only write-ahead log. Every Ready is handled in the order types.ts prescribes:
 *   persist (and fsync), then send, then apply.
 * - The state machine records, atomically with the data it applies, the index, term and membership
 *   of the last entry it applied. That record is the snapshot boundary: on restart the driver
 *   builds the core's snapshot from it, replays the log after it, and discards the log before it.
 *   There is no second copy of the state on disk.
 * - Inputs (ticks, messages, proposals, reads) are queued while a Ready is being handled, because
 *   the core must not be called between `ready()` and `advance()`.
 */
import { TrineError } from '../crypto/errors.ts';
import type { MasterKey } from '../storage/envelope.ts';
import type { FileSystem } from '../storage/fs.ts';
import { LogStore, type LogEntry } from '../storage/log.ts';
import { ByteReader, ByteWriter } from '../storage/codec.ts';
import { type ConfChange, applyConfChange, decodeConfChange } from './config.ts';
import { TICK_MS } from './limits.ts';
import { RaftNode, bootstrapState, joiningState, type RaftOptions, type RaftStatus, type StoredState } from './raft.ts';
import type { ConfState, Entry, HardState, NodeId, Ready, Snapshot } from './types.ts';
import { NONE } from './types.ts';
import {
  decodeEntryPayload, decodeHardState, decodeMessage, encodeEntryPayload, encodeHardState, encodeMessage,
} from './wire.ts';

/** How long a proposal or a read waits for its answer before it fails (the caller may retry). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Proposals waiting for their entry to apply, per node. */
export const MAX_PENDING_PROPOSALS = 65_536;
/** Version byte of the proposal envelope the driver wraps around application data. */
const ENVELOPE_VERSION = 1;
const EMPTY: ConfState = { voters: [], learners: [], removed: [] };

/** Where the last applied entry left the state machine: the snapshot boundary. */
export interface AppliedState {
  readonly index: number;
  readonly term: number;
  /** Membership as of `index` (null before the first config entry). */
  readonly conf: ConfState | null;
}

/**
 * The replicated application. All methods are called from the driver's loop, one at a time.
 */
export interface RaftStateMachine {
  /** The durable boundary: index/term/membership of the last applied entry, as recovered at open. */
  applied(): AppliedState;
  /**
   * Applies committed entries in log order. `normal` entries carry the application's payload;
   * `noop` and `config` entries are passed so the boundary can move past them. `after` is the
   * boundary once all of `entries` are applied; it must be recorded atomically with their effects
   * (it need not be durable before `flush`).
   */
  apply(entries: readonly Entry[], after: AppliedState): void | Promise<void>;
  /** A serialised image of the whole state at the current boundary (sent to lagging followers). */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the whole state with `snapshot` and makes it durable before resolving. */
  restore(snapshot: Snapshot): Promise<void> | void;
  /** Makes every applied entry durable. */
  flush(): Promise<void> | void;
}

/** Carries encoded Raft messages between nodes. `from` must be authenticated by the transport. */
export interface RaftTransport {
  send(to: NodeId, message: Uint8Array): void;
  onMessage(handler: (from: NodeId, message: Uint8Array) => void): void;
  close?(): void;
}

export interface RaftDriverOptions {
  readonly id: NodeId;
  /** Directory of the encrypted Raft log. */
  readonly dir: string;
  readonly masterKey: MasterKey;
  readonly fs?: FileSystem;
  readonly transport: RaftTransport;
  readonly stateMachine: RaftStateMachine;
  /** First start only: found a new cluster with these voters, or join one (`'join'`). */
  readonly initial?: readonly NodeId[] | 'join';
  readonly tickMs?: number;
  readonly random?: () => number;
  /** Passed through to the core (timeouts in ticks, read mode, limits). */
  readonly raft?: Partial<Omit<RaftOptions, 'id' | 'rand'>>;
}

interface Pending {
  resolve: (index: number) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface PendingRead {
  resolve: () => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
  index?: number;
}

/** Wraps application data so the proposing node recognises its own entry when it applies. */
export function wrapProposal(origin: NodeId, seq: number, payload: Uint8Array): Uint8Array {
  const w = new ByteWriter(payload.length + 16);
  w.u8(ENVELOPE_VERSION); w.varint(origin); w.varint(seq); w.bytes(payload);
  return w.finish();
}

export function unwrapProposal(data: Uint8Array): { origin: NodeId; seq: number; payload: Uint8Array } {
  const r = new ByteReader(data, 'a proposal');
  const v = r.u8();
  if (v !== ENVELOPE_VERSION) throw new TrineError('RAFT_BAD_ENTRY', `a log entry has proposal envelope version ${v}; upgrade Trine on this node`);
  const origin = r.varint(), seq = r.varint();
  return { origin, seq, payload: data.subarray(r.pos) };
}

function notLeader(status: RaftStatus): TrineError {
  return new TrineError('RAFT_NO_LEADER', status.lead === NONE
    ? 'the cluster has no leader at the moment (an election is running or a quorum is unreachable); retry shortly'
    : `node ${status.id} cannot reach leader ${status.lead}; retry shortly`);
}

export class RaftDriver {
  readonly id: NodeId;
  private readonly node: RaftNode;
  private readonly log: LogStore;
  private readonly sm: RaftStateMachine;
  private readonly transport: RaftTransport;
  private readonly inbox: (() => void)[] = [];
  private busy = false;
  private closed = false;
  private failed: unknown;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private seq = 0;
  private readonly proposals = new Map<number, Pending>();
  private readSeq = 0;
  private readonly reads = new Map<number, PendingRead>();
  private appliedIndex: number;
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];
  private hard: HardState;
  private lastConf: ConfState | null;
  private lead: NodeId = NONE;
  /** Observers (status displays, tests): called after every handled Ready. */
  onReady: ((rd: Ready) => void) | undefined;

  private constructor(opts: RaftDriverOptions, node: RaftNode, log: LogStore, hard: HardState, applied: AppliedState) {
    this.id = opts.id;
    this.node = node;
    this.log = log;
    this.sm = opts.stateMachine;
    this.transport = opts.transport;
    this.hard = hard;
    this.appliedIndex = applied.index;
    this.lastConf = applied.conf;
  }

  /**
   * Opens the log in `dir`, rebuilds the core from the state machine's boundary and the log after
   * it, and starts ticking. On a first start `initial` says whether to found a cluster or join one.
   */
  static async open(opts: RaftDriverOptions): Promise<RaftDriver> {
    const log = LogStore.open(opts.dir, { masterKey: opts.masterKey, fs: opts.fs });
    try {
      const { stored, hard, applied } = await RaftDriver.recover(log, opts);
      const node = new RaftNode({ ...(opts.raft ?? {}), id: opts.id, rand: opts.random ?? Math.random }, stored);
      const d = new RaftDriver(opts, node, log, hard, applied);
      opts.transport.onMessage((from, bytes) => d.receive(from, bytes));
      d.ticker = setInterval(() => d.enqueue(() => d.node.tick()), opts.tickMs ?? TICK_MS);
      // The ticker alone must not keep a process alive: whoever owns the driver holds sockets or
      // timers of its own, and a test that failed before close() should still exit.
      d.ticker.unref?.();
      d.enqueue(() => undefined);
      return d;
    } catch (e) {
      await log.close().catch(() => undefined);
      throw e;
    }
  }

  private static async recover(log: LogStore, opts: RaftDriverOptions): Promise<{ stored: StoredState; hard: HardState; applied: AppliedState }> {
    const hardBytes = log.hardState();
    const applied = opts.stateMachine.applied();
    if (hardBytes === undefined && log.lastIndex() === 0 && applied.index === 0) {
      // A brand-new node: found a cluster or wait to be added to one.
      if (opts.initial === undefined) {
        throw new TrineError('RAFT_NOT_INITIALISED', `node ${opts.id} has no Raft state in ${opts.dir}; initialise a new cluster or join an existing one first`);
      }
      const stored = opts.initial === 'join' ? joiningState() : bootstrapState(opts.initial);
      if (stored.entries.length) {
        await log.append(stored.entries.map((e) => ({ index: e.index, term: e.term, data: encodeEntryPayload(e) })));
      }
      log.saveHardState(encodeHardState(stored.hardState));
      return { stored, hard: stored.hardState, applied };
    }
    const hs = hardBytes ? decodeHardState(hardBytes) : { term: 0, vote: NONE, commit: 0 };
    if (applied.index > 0) {
      // Entries at or below the boundary live in the state machine now.
      if (log.term(applied.index) !== undefined && log.term(applied.index) !== applied.term) {
        // The log after the boundary belongs to another history (a snapshot replaced it): drop it.
        log.truncateSuffix(applied.index + 1);
      }
      if (log.lastIndex() < applied.index || log.firstIndex() <= applied.index) log.truncatePrefix(applied.index + 1);
    }
    if (log.firstIndex() > applied.index + 1) {
      throw new TrineError('RAFT_LOG_GAP', `the Raft log starts at ${log.firstIndex()} but the state machine has applied only ${applied.index}; the data directory is incomplete, restore this node from a backup or re-join it`);
    }
    const entries = log.entries(applied.index + 1, log.lastIndex() + 1).map((e) => decodeEntryPayload(e.index, e.term, e.data));
    const commit = Math.max(hs.commit, applied.index);
    const hard = { ...hs, commit: Math.min(commit, applied.index + entries.length) };
    let snapshot: Snapshot | null = null;
    if (applied.index > 0) {
      // The state machine sits exactly at its boundary now, so its image is the snapshot a
      // lagging follower will need from us.
      const data = await opts.stateMachine.snapshot();
      snapshot = { meta: { index: applied.index, term: applied.term, conf: applied.conf ?? EMPTY, size: data.length }, data };
    }
    const stored: StoredState = { hardState: hard, snapshot, entries, applied: applied.index };
    return { stored, hard, applied };
  }

  /** The core's view: role, term, leader, commit and applied indexes, membership. */
  status(): RaftStatus {
    return this.node.status();
  }

  /** Leader-only progress of each follower. */
  progress() {
    return this.node.progress();
  }

  /**
   * Replicates `payload` and resolves with its log index once this node has applied it. Works on
   * followers (the core forwards it to the leader). Fails with RAFT_NO_LEADER when no leader is
   * known and with RAFT_TIMEOUT when no answer came in time: the entry may or may not commit, so
   * retried requests must carry an idempotency key the state machine checks.
   */
  propose(payload: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.proposals.size >= MAX_PENDING_PROPOSALS) {
        reject(new TrineError('RAFT_OVERLOADED', `more than ${MAX_PENDING_PROPOSALS} proposals are waiting on node ${this.id}; slow down and retry`));
        return;
      }
      const seq = ++this.seq;
      const timer = setTimeout(() => {
        this.proposals.delete(seq);
        reject(new TrineError('RAFT_TIMEOUT', `no answer for a write within ${REQUEST_TIMEOUT_MS} ms (leader change or lost quorum); it may still apply, retry with the same request id`));
      }, REQUEST_TIMEOUT_MS);
      this.proposals.set(seq, { resolve, reject, timer });
      this.enqueue(() => {
        if (this.proposals.get(seq)?.timer !== timer) return;
        if (!this.node.propose(wrapProposal(this.id, seq, payload))) {
          clearTimeout(timer);
          this.proposals.delete(seq);
          reject(notLeader(this.node.status()));
        }
      });
    });
  }

  /**
   * A linearizable read barrier: resolves once this node has applied everything committed before
   * the call (ReadIndex, confirmed by a quorum heartbeat round; on a follower through the leader).
   */
  readBarrier(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ctx = ++this.readSeq;
      const timer = setTimeout(() => {
        this.reads.delete(ctx);
        reject(new TrineError('RAFT_TIMEOUT', `no read confirmation within ${REQUEST_TIMEOUT_MS} ms (leader change or lost quorum); retry`));
      }, REQUEST_TIMEOUT_MS);
      this.reads.set(ctx, { resolve, reject, timer });
      this.enqueue(() => {
        if (!this.node.readIndex(ctx)) {
          clearTimeout(timer);
          this.reads.delete(ctx);
          reject(notLeader(this.node.status()));
        }
      });
    });
  }

  /** Resolves once this node has applied `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  /** Leader only: one membership change; resolves when it was proposed (it applies later). */
  changeMembership(cc: ConfChange): Promise<void> {
    return this.call(() => this.node.proposeConfChange(cc));
  }

  /** Leader only: hand leadership to `to` (graceful shutdown). Resolves false when not possible. */
  transferLeadership(to: NodeId): Promise<boolean> {
    return this.call(() => this.node.transferLeadership(to));
  }

  private call<T>(f: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      this.enqueue(() => {
        try { resolve(f()); } catch (e) { reject(e); }
      });
    });
  }

  private receive(from: NodeId, bytes: Uint8Array): void {
    let m;
    try {
      m = decodeMessage(bytes);
    } catch {
      return; // A peer speaking another version: dropped, as the network might have.
    }
    // The transport authenticated `from`; a message claiming another sender is dropped.
    if (m.from !== from || m.to !== this.id) return;
    this.enqueue(() => this.node.step(m));
  }

  private enqueue(f: () => void): void {
    if (this.closed) return;
    this.inbox.push(f);
    if (!this.busy) void this.run();
  }

  private async run(): Promise<void> {
    this.busy = true;
    try {
      while (!this.closed && (this.inbox.length || this.node.hasReady())) {
        while (this.inbox.length) this.inbox.shift()!();
        if (this.node.hasReady()) await this.handle(this.node.ready());
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  private async handle(rd: Ready): Promise<void> {
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    let durable: Promise<void> | undefined;
    if (rd.entries.length) {
      const first = rd.entries[0]!.index;
      if (first <= this.log.lastIndex()) this.log.truncateSuffix(first);
      if (first > this.log.lastIndex() + 1) this.log.truncatePrefix(first);
      const les: LogEntry[] = rd.entries.map((e) => ({ index: e.index, term: e.term, data: encodeEntryPayload(e) }));
      durable = this.log.append(les);
    }
    if (rd.hardState) {
      // Term and vote must be durable before any message goes out; commit may lag (it is
      // relearnt from the leader), so a commit-only change does not cost an fsync.
      if (rd.hardState.term !== this.hard.term || rd.hardState.vote !== this.hard.vote) {
        this.log.saveHardState(encodeHardState(rd.hardState));
      }
      this.hard = rd.hardState;
    }
    if (durable) await durable;
    for (const m of rd.messages) this.transport.send(m.to, encodeMessage(m));
    if (rd.committed.length) await this.applyCommitted(rd.committed);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.ctx);
      if (!r) continue;
      this.reads.delete(rs.ctx);
      clearTimeout(r.timer);
      void this.waitApplied(rs.index).then(r.resolve);
    }
    this.node.advance(rd);
    const lead = this.node.status().lead;
    if (lead !== this.lead) {
      // While no leader was known every proposal was refused at once: nothing can be in flight.
      if (this.lead !== NONE) this.leaderChanged();
      this.lead = lead;
    }
    this.onReady?.(rd);
    if (this.node.snapshotDue()) await this.compact();
  }

  /**
   * A proposal forwarded to (or appended by) a leader that is no longer leader may be lost; waiting
   * for the full timeout would stall the caller for seconds, so it fails now with an
   * outcome-unknown error and the caller retries under its request id.
   */
  private leaderChanged(): void {
    const err = new TrineError('RAFT_LEADER_CHANGED', 'the leader changed while this write was in flight; it may or may not have applied, retry with the same request id');
    for (const p of this.proposals.values()) { clearTimeout(p.timer); p.reject(err); }
    this.proposals.clear();
    const rerr = new TrineError('RAFT_LEADER_CHANGED', 'the leader changed before this read was confirmed; retry');
    for (const r of this.reads.values()) { clearTimeout(r.timer); r.reject(rerr); }
    this.reads.clear();
  }

  private async applyCommitted(committed: readonly Entry[]): Promise<void> {
    const last = committed[committed.length - 1]!;
    let conf = this.lastConf;
    const entries: Entry[] = [];
    const mine: { seq: number; index: number }[] = [];
    for (const e of committed) {
      if (e.type === 'config') {
        const cc = decodeConfChange(e.data);
        conf = applyConfChange(conf ?? EMPTY, cc);
        entries.push(e);
      } else if (e.type === 'normal') {
        const p = unwrapProposal(e.data);
        if (p.origin === this.id) mine.push({ seq: p.seq, index: e.index });
        entries.push({ index: e.index, term: e.term, type: 'normal', data: p.payload });
      } else {
        entries.push(e);
      }
    }
    await this.sm.apply(entries, { index: last.index, term: last.term, conf });
    this.lastConf = conf;
    this.appliedIndex = last.index;
    for (const { seq, index } of mine) {
      const p = this.proposals.get(seq);
      if (!p) continue;
      this.proposals.delete(seq);
      clearTimeout(p.timer);
      p.resolve(index);
    }
    if (this.appliedWaiters.length) {
      const ready = this.appliedWaiters.filter((w) => w.index <= this.appliedIndex);
      if (ready.length) {
        for (const w of ready) this.appliedWaiters.splice(this.appliedWaiters.indexOf(w), 1);
        for (const w of ready) w.resolve();
      }
    }
  }

  private async installSnapshot(snap: Snapshot): Promise<void> {
    // The state machine first: once it holds the snapshot durably, the log before and around the
    // snapshot is dead (recovery drops it again should we crash before the cut below).
    await this.sm.restore(snap);
    this.lastConf = snap.meta.conf;
    this.appliedIndex = snap.meta.index;
    this.log.truncatePrefix(snap.meta.index + 1);
    if (this.log.lastIndex() > snap.meta.index) this.log.truncateSuffix(snap.meta.index + 1);
  }

  /** Log compaction: flush the state machine, then drop the log it covers. */
  private async compact(): Promise<void> {
    const index = this.appliedIndex;
    await this.sm.flush();
    const image = await this.sm.snapshot();
    this.node.compact(index, image);
    this.log.truncatePrefix(index + 1);
  }

  private fail(e: unknown): void {
    if (this.failed) return;
    this.failed = e;
    const err = new TrineError('RAFT_FAILED', `the Raft driver of node ${this.id} stopped after an error (${e instanceof Error ? e.message : String(e)}); restart the node`, { cause: e });
    void this.shutdown(err);
  }

  /** Stops ticking, fails what is waiting, and closes the log. */
  async close(): Promise<void> {
    await this.shutdown(new TrineError('RAFT_CLOSED', `node ${this.id} is shutting down; retry on another node`));
  }

  private async shutdown(err: TrineError): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const p of this.proposals.values()) { clearTimeout(p.timer); p.reject(err); }
    this.proposals.clear();
    for (const r of this.reads.values()) { clearTimeout(r.timer); r.reject(err); }
    this.reads.clear();
    this.transport.close?.();
    // Let an in-flight Ready finish its fsync before the files close.
    while (this.busy) await new Promise((r) => setTimeout(r, 1));
    await this.log.close();
  }

  /** The error that stopped the driver, if any. */
  get error(): unknown {
    return this.failed;
  }
}
