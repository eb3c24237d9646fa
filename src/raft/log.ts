import { TrineError } from '../crypto/errors.ts';
import type { Entry } from './types.ts';

/**
 * The in-memory view of one node's log: a snapshot boundary (index, term) followed by the entries
 * after it. It tracks three cursors: `commit` (known committed), `applied` (handed to the state
 * machine) and `stable` (durable on the driver's disk).
 */
export class RaftLog {
  snapIndex: number;
  snapTerm: number;
  /** entries[i].index === snapIndex + 1 + i */
  entries: Entry[];
  commit: number;
  applied: number;
  stable: number;

  constructor(snapIndex: number, snapTerm: number, entries: Entry[], commit: number, applied: number) {
    this.snapIndex = snapIndex;
    this.snapTerm = snapTerm;
    this.entries = entries;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].index !== snapIndex + 1 + i) throw corrupt(`entry ${i} has index ${entries[i].index}, expected ${snapIndex + 1 + i}`);
    }
    if (commit > this.lastIndex()) throw corrupt(`commit ${commit} is beyond the last entry ${this.lastIndex()}`);
    this.commit = Math.max(commit, snapIndex);
    this.applied = Math.min(Math.max(applied, snapIndex), this.commit);
    this.stable = this.lastIndex();
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.snapTerm : this.entries[this.entries.length - 1].term;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  /** Term of entry `i`, or -1 when it is compacted away or beyond the end. */
  term(i: number): number {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex()) return -1;
    return this.entries[i - this.snapIndex - 1].term;
  }

  entry(i: number): Entry {
    return this.entries[i - this.snapIndex - 1];
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Raft's election restriction: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi] capped by count and bytes (always at least one if any). */
  slice(lo: number, maxCount: number, maxBytes: number): Entry[] {
    const last = this.lastIndex();
    if (lo > last) return [];
    const hi = Math.min(last, lo + maxCount - 1);
    const start = lo - this.snapIndex - 1;
    let bytes = 0;
    let end = start;
    for (let k = start; k <= hi - this.snapIndex - 1; k++) {
      bytes += this.entries[k].data.length;
      if (bytes > maxBytes && k > start) break;
      end = k + 1;
    }
    return this.entries.slice(start, end);
  }

  /** Append after the last entry (leader). */
  append(e: Entry): void {
    if (e.index !== this.lastIndex() + 1) throw corrupt(`append of index ${e.index} after ${this.lastIndex()}`);
    this.entries.push(e);
  }

  /**
   * Follower: merge entries that follow a matching (prevIndex, prevTerm). Entries already present
   * with the same term are kept (a delayed duplicate must not truncate newer entries); from the
   * first conflict on, our suffix is replaced. Returns the index of the last entry of `es`.
   */
  merge(prevIndex: number, es: readonly Entry[]): number {
    let k = 0;
    // Entries at or below the snapshot are committed and therefore already match.
    while (k < es.length && es[k].index <= this.snapIndex) k++;
    for (; k < es.length; k++) {
      const e = es[k];
      const t = this.term(e.index);
      if (t === e.term) continue;
      if (t !== -1) {
        if (e.index <= this.commit) throw corrupt(`leader overwrote committed entry ${e.index}`);
        this.entries.length = e.index - this.snapIndex - 1;
        if (this.stable >= e.index) this.stable = e.index - 1;
      }
      for (; k < es.length; k++) this.entries.push(es[k]);
      break;
    }
    return prevIndex + es.length;
  }

  /** The first index of the run of entries sharing the term of entry `i` (for fast back-off). */
  firstIndexOfTerm(i: number): number {
    const t = this.term(i);
    let j = i;
    while (j - 1 > this.snapIndex && this.term(j - 1) === t) j--;
    return j;
  }

  /** The largest index <= i whose term is <= t (for fast back-off on the leader). */
  lastIndexAtOrBelowTerm(i: number, t: number): number {
    let j = Math.min(i, this.lastIndex());
    while (j > this.snapIndex && this.term(j) > t) j--;
    return j;
  }

  /** Drop entries up to `index` (already in a snapshot). */
  compact(index: number): void {
    if (index <= this.snapIndex) return;
    if (index > this.applied) throw corrupt(`compaction to ${index} beyond applied ${this.applied}`);
    const t = this.term(index);
    this.entries.splice(0, index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = t;
  }

  /** Replace everything with a snapshot received from the leader. */
  restore(index: number, term: number): void {
    this.entries = [];
    this.snapIndex = index;
    this.snapTerm = term;
    this.commit = index;
    this.applied = index;
    this.stable = index;
  }
}

function corrupt(what: string): TrineError {
  return new TrineError('RAFT_INVARIANT', `Raft log invariant broken: ${what}. This is a bug; keep the data directory for analysis.`);
}
