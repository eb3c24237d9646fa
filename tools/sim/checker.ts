import type { ConfState, Entry, NodeId, SnapshotMeta } from '../../src/raft/types.ts';

/** An invariant broke: the message says which, the simulator adds the seed and replay command. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

interface Known {
  readonly entry: Entry;
  /** Term of the entry before it in the log that first held it. */
  readonly prevTerm: number;
}

/**
 * Global, cluster-wide safety checks, fed by every node as it persists, commits and applies. Each
 * check costs O(1) per entry, so it can run after every simulated event.
 *
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) pair always names the same entry with the same predecessor
 *   term, so by induction two logs that share an (index, term) share the whole prefix;
 * - leader completeness: a new leader holds every entry committed so far;
 * - state machine safety: every node applies, in order, a prefix of one history;
 * - durability: a committed entry is on a quorum of disks when the leader counts it, and no disk
 *   ever truncates it;
 * - linearizable reads: a read index covers every commit known before the read was asked.
 */
export class Checker {
  private known = new Map<string, Known>();
  /** history[i]: the committed entry at index i (sparse below snapshots nobody applied). */
  readonly history: (Entry | undefined)[] = [];
  maxCommit = 0;
  private leaders = new Map<number, NodeId>();
  /** Per (client:seq) key: the index at which its effect was applied. */
  private effects = new Map<string, number>();
  checks = 0;

  private fail(what: string): never {
    throw new InvariantError(what);
  }

  /** A node made `entries` durable; `prevTerm` is the term of the entry before the first one. */
  persisted(node: NodeId, entries: readonly Entry[], prevTerm: number): void {
    let pt = prevTerm;
    for (const e of entries) {
      const key = `${e.index}.${e.term}`;
      const k = this.known.get(key);
      if (k === undefined) this.known.set(key, { entry: e, prevTerm: pt });
      else if (k.prevTerm !== pt || !sameEntry(k.entry, e)) {
        this.fail(`log matching: node ${node} holds a different entry or predecessor at index ${e.index} term ${e.term}`);
      }
      pt = e.term;
      this.checks++;
    }
  }

  /** A node's disk dropped `entries` (overwritten by a leader or lost in a crash). */
  truncated(node: NodeId, entries: readonly Entry[]): void {
    for (const e of entries) {
      const h = this.history[e.index];
      if (h !== undefined && h.term === e.term) this.fail(`committed entry ${e.index} (term ${e.term}) truncated from node ${node}'s disk`);
    }
  }

  /**
   * committedAt[t]: the highest index some node learned committed while in term t. A node learns
   * a commit from the leader of its term (or a later one), so an index in committedAt[t] was
   * committed by a leader of term <= t, and every leader of a term > t must hold it.
   */
  private committedAt: number[] = [];

  /** The highest committed index that a leader of `term` must hold. */
  mustHold(term: number): number {
    let m = 0;
    for (let t = Math.min(term - 1, this.committedAt.length - 1); t >= 0; t--) if ((this.committedAt[t] ?? 0) > m) m = this.committedAt[t];
    return m;
  }

  /** A node in `term` learned that `entries` (contiguous) are committed. */
  committed(node: NodeId, entries: readonly Entry[], term = 0): void {
    if (entries.length > 0 && (this.committedAt[term] ?? 0) < entries[entries.length - 1].index) this.committedAt[term] = entries[entries.length - 1].index;
    for (const e of entries) {
      const h = this.history[e.index];
      if (h === undefined) this.history[e.index] = e;
      else if (h.term !== e.term || !sameEntry(h, e)) this.fail(`node ${node} committed a different entry at index ${e.index} (term ${e.term}, history has term ${h.term})`);
      if (e.index > this.maxCommit) this.maxCommit = e.index;
      this.checks++;
    }
  }

  /** A node committed `index` as leader: a quorum of `voters` must hold it durably. */
  quorumDurable(leader: NodeId, index: number, term: number, voters: readonly NodeId[], holds: (id: NodeId) => boolean): void {
    let n = 0;
    for (const v of voters) if (holds(v)) n++;
    if (n < Math.floor(voters.length / 2) + 1) this.fail(`leader ${leader} committed ${index} (term ${term}) held by only ${n} of voters ${voters.join(',')}`);
  }

  /** A node installed a snapshot: it must describe a committed point. */
  snapshot(node: NodeId, meta: SnapshotMeta): void {
    const h = this.history[meta.index];
    if (h !== undefined && h.term !== meta.term) this.fail(`node ${node} installed snapshot at ${meta.index} term ${meta.term}, history has term ${h.term}`);
    if (meta.index > this.maxCommit) this.fail(`node ${node} installed snapshot at ${meta.index} beyond any commit (${this.maxCommit})`);
  }

  /** A node applied `e` right after `prevApplied`. */
  applied(node: NodeId, e: Entry, prevApplied: number): void {
    if (e.index !== prevApplied + 1) this.fail(`node ${node} applied ${e.index} right after ${prevApplied}`);
    const h = this.history[e.index];
    if (h === undefined || h.term !== e.term || !sameEntry(h, e)) this.fail(`node ${node} applied entry ${e.index} (term ${e.term}) that is not the committed one`);
  }

  /** The state machine applied the effect of request `key` at `index` (not as a duplicate). */
  effect(node: NodeId, key: string, index: number): void {
    const at = this.effects.get(key);
    if (at === undefined) this.effects.set(key, index);
    else if (at !== index) this.fail(`request ${key} took effect twice (indexes ${at} and ${index}, seen by node ${node})`);
  }

  effectIndex(key: string): number | undefined {
    return this.effects.get(key);
  }

  /**
   * Node `id` leads `term`; `termAt(i)` is its log's term at i (-1 if absent, 0 if compacted). It
   * must hold every entry committed in an earlier term (leader completeness).
   */
  leader(id: NodeId, term: number, termAt: (i: number) => number): void {
    const need = this.mustHold(term);
    if (need > 0) {
      const t = termAt(need);
      const h = this.history[need];
      if (t !== 0 && (h === undefined || t !== h.term)) this.fail(`leader completeness: node ${id}, leader of term ${term}, lacks committed entry ${need}`);
    }
    const other = this.leaders.get(term);
    if (other === undefined) {
      this.leaders.set(term, id);
    } else if (other !== id) {
      this.fail(`election safety: nodes ${other} and ${id} both lead term ${term}`);
    }
  }

  readAnswered(node: NodeId, ctx: number, index: number, commitAtRequest: number): void {
    if (index < commitAtRequest) this.fail(`stale read: node ${node} read ${ctx} at index ${index}, but ${commitAtRequest} was committed before it was asked`);
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaders.get(term);
  }
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a === b) return true;
  if (a.index !== b.index || a.term !== b.term || a.type !== b.type || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

export type { ConfState };
