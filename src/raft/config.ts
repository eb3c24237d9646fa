import { TrineError } from '../crypto/errors.ts';
import type { ConfState, NodeId } from './types.ts';

/**
 * Membership changes, one node at a time. A config entry takes effect on every node when it is
 * committed (not when appended), and a leader proposes the next change only after the previous one
 * committed and after it committed an entry of its own term: any quorum of the old and of the new
 * voter set then overlap, which is what single-server changes need (thesis, section 4.1).
 */
export type ConfChange =
  | { readonly op: 'bootstrap'; readonly voters: readonly NodeId[] }
  | { readonly op: 'addLearner'; readonly node: NodeId }
  | { readonly op: 'promote'; readonly node: NodeId }
  | { readonly op: 'remove'; readonly node: NodeId };

export const EMPTY_CONF: ConfState = { voters: [], learners: [], removed: [] };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Config entry payload: the ConfChange as UTF-8 JSON (documented in docs/RAFT.md). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return utf8.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(fromUtf8.decode(data)) as ConfChange;
  const ok =
    (v.op === 'bootstrap' && Array.isArray(v.voters)) ||
    ((v.op === 'addLearner' || v.op === 'promote' || v.op === 'remove') && Number.isInteger(v.node) && v.node > 0);
  if (!ok) throw new TrineError('RAFT_BAD_CONF_ENTRY', 'A Raft config entry could not be decoded; the log is corrupt, restore this node from a peer.');
  return v;
}

export function isMember(c: ConfState, id: NodeId): boolean {
  return c.voters.includes(id) || c.learners.includes(id);
}

/** Why `cc` cannot be applied to `c`, or null when it can. Every node evaluates this identically. */
export function confChangeError(c: ConfState, cc: ConfChange): string | null {
  switch (cc.op) {
    case 'bootstrap':
      return c.voters.length === 0 && c.learners.length === 0 ? null : 'the cluster is already bootstrapped';
    case 'addLearner':
      if (isMember(c, cc.node)) return `node ${cc.node} is already a member`;
      if (c.removed.includes(cc.node)) return `node id ${cc.node} was removed before and can never be reused; pick a new id`;
      return null;
    case 'promote':
      return c.learners.includes(cc.node) ? null : `node ${cc.node} is not a learner`;
    case 'remove':
      if (!isMember(c, cc.node)) return `node ${cc.node} is not a member`;
      if (c.voters.length === 1 && c.voters[0] === cc.node) return 'cannot remove the last voter';
      return null;
  }
}

/** The membership after `cc`; an invalid change leaves it unchanged (on every node alike). */
export function applyConfChange(c: ConfState, cc: ConfChange): ConfState {
  if (confChangeError(c, cc) !== null) return c;
  const sorted = (a: NodeId[]) => a.sort((x, y) => x - y);
  switch (cc.op) {
    case 'bootstrap':
      return { voters: sorted([...new Set(cc.voters)]), learners: [], removed: c.removed };
    case 'addLearner':
      return { voters: c.voters, learners: sorted([...c.learners, cc.node]), removed: c.removed };
    case 'promote':
      return { voters: sorted([...c.voters, cc.node]), learners: c.learners.filter((n) => n !== cc.node), removed: c.removed };
    case 'remove':
      return {
        voters: c.voters.filter((n) => n !== cc.node),
        learners: c.learners.filter((n) => n !== cc.node),
        removed: sorted([...c.removed, cc.node]),
      };
  }
}

/** Votes needed out of `voters` voters. */
export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}
