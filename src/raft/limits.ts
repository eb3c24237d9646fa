/**
 * Every limit and timing constant of the Raft core, in one place. Times are in ticks: the core
 * never reads a clock; the driver calls `tick()` every `TICK_MS` milliseconds.
 */

/** Suggested wall-clock length of one tick for the driver. */
export const TICK_MS = 10;

/**
 * Minimum election timeout (15 ticks = 150 ms). Each node draws its timeout uniformly from
 * [ELECTION_TICKS, 2 * ELECTION_TICKS) after every reset, so two followers rarely time out together.
 * 150 ms is ~100x a LAN round trip plus an fsync, and 5x the heartbeat interval, so up to four
 * consecutive lost heartbeats do not start an election; it keeps the expected failover (detect +
 * pre-vote + vote) far below the 1 s goal.
 */
export const ELECTION_TICKS = 15;

/** Heartbeat interval (3 ticks = 30 ms): a fifth of the minimum election timeout. */
export const HEARTBEAT_TICKS = 3;

/**
 * Lease reads: the assumed worst clock drift between any two nodes over one election timeout, in
 * ticks. The leader serves a lease read only until `ELECTION_TICKS - LEASE_DRIFT_TICKS` ticks after
 * the heartbeat a quorum acknowledged was sent.
 */
export const LEASE_DRIFT_TICKS = 3;

/** Append messages in flight to one follower in the replicate state (the pipelining window). */
export const MAX_INFLIGHT_APPENDS = 64;

/** At most this many entries in one append message (batching). */
export const MAX_ENTRIES_PER_APPEND = 256;

/** At most this many payload bytes in one append message (at least one entry is always sent). */
export const MAX_APPEND_BYTES = 1 << 20;

/** Snapshots are sent in chunks of this many bytes, one chunk in flight per follower. */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

/** `snapshotDue()` turns true once this many applied entries sit in the log after the snapshot. */
export const SNAPSHOT_THRESHOLD_ENTRIES = 10_000;

/** Proposals accepted per `propose` batch (a larger batch is refused, the caller splits it). */
export const MAX_PROPOSAL_BATCH = 1024;

/** Read requests a leader keeps waiting for quorum confirmation before refusing new ones. */
export const MAX_PENDING_READS = 4096;
