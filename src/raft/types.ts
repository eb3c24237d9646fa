/**
 * The values that cross the boundary of the pure Raft core: log entries, messages, hard state,
 * snapshots and the Ready batch. The core never encodes them to bytes; the driver does.
 */

/** A node id: a positive integer, never reused after the node is removed. 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

/**
 * `normal` carries application data; `noop` is the empty entry a new leader appends so that it can
 * commit something of its own term; `config` carries an encoded ConfChange (see config.ts).
 */
export type EntryType = 'normal' | 'noop' | 'config';

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be durable before any message of the same Ready is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** Cluster membership. `removed` remembers every id that left, so it can never join again. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly removed: readonly NodeId[];
}

export interface SnapshotMeta {
  /** Index and term of the last entry the snapshot covers. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly conf: ConfState;
  /** Length of `data` in bytes (lets a receiver know when the last chunk arrived). */
  readonly size: number;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface VoteRequest extends Envelope {
  readonly type: 'prevote' | 'vote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Set by a leadership transfer: the receiver votes even while it still hears from a leader. */
  readonly force: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: 'prevoteResp' | 'voteResp';
  readonly reject: boolean;
}

export interface AppendRequest extends Envelope {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendResponse extends Envelope {
  readonly type: 'appendResp';
  readonly reject: boolean;
  /** On success: the follower's last index matching the leader. On reject: the rejected prevIndex. */
  readonly index: number;
  /** On reject, for fast back-off: the follower's term at prevIndex (0 if its log is shorter)... */
  readonly hintTerm: number;
  /** ...and the first index of that term in its log, or its last index + 1 if shorter. */
  readonly hintIndex: number;
}

export interface HeartbeatRequest extends Envelope {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** Read round being confirmed (0 if none); echoed in the response. */
  readonly round: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeatResp';
  readonly round: number;
}

export interface SnapshotChunk extends Envelope {
  readonly type: 'snapshot';
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly data: Uint8Array;
}

export interface SnapshotResponse extends Envelope {
  readonly type: 'snapshotResp';
  readonly snapIndex: number;
  /** Next byte offset the follower wants. */
  readonly offset: number;
  /** The follower now holds everything up to snapIndex. */
  readonly done: boolean;
}

/** Sent by a leader transferring leadership: "campaign now, skipping pre-vote". */
export interface TimeoutNow extends Envelope {
  readonly type: 'timeoutNow';
}

/** A proposal forwarded from a follower to its leader. */
export interface Propose extends Envelope {
  readonly type: 'propose';
  readonly data: readonly Uint8Array[];
}

/** A follower asking its leader for a read index. */
export interface ReadIndexRequest extends Envelope {
  readonly type: 'readIndex';
  readonly ctx: number;
}

export interface ReadIndexResponse extends Envelope {
  readonly type: 'readIndexResp';
  readonly ctx: number;
  readonly index: number;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow
  | Propose
  | ReadIndexRequest
  | ReadIndexResponse;

/**
 * A confirmed read: once the local state machine has applied `index`, a read for `ctx` sees every
 * write acknowledged before the read was requested.
 */
export interface ReadState {
  readonly ctx: number;
  readonly index: number;
}

/**
 * One batch of work for the driver. Handle it in this order, then call `advance(ready)`, and do not
 * call any other method of the node in between:
 * 1. if `snapshot`: persist it and replace the whole stored log with it;
 * 2. persist `entries` (delete stored entries from `entries[0].index` on, then append) and
 *    `hardState`, and make both durable (fsync);
 * 3. send `messages` (only now: votes and acks promise durability);
 * 4. if `snapshot`: restore the state machine from it; then apply `committed` in order;
 * 5. hand `readStates` to the waiting readers (each waits until applied >= its index).
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
}
