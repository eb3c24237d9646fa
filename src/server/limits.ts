/** Every limit of the server layer, in one place. */

/** Default UDP port of a node (`trine init` without --listen). */
export const DEFAULT_PORT = 7420;
/** Bytes of one SQL text in a request. */
export const MAX_SQL_BYTES = 1 << 20;
/** Parameters of one request. */
export const MAX_PARAMS = 32_766;
/** An answer larger than this is not stored with the client session for replay (only its size). */
export const MAX_STORED_ANSWER_BYTES = 64 * 1024;
/** Admitted-but-unapplied write batches the leader keeps for conflict checks; beyond, writers wait. */
export const MAX_INFLIGHT_BATCHES = 4096;
/** How long a node waits for a leader to appear before answering RAFT_NO_LEADER. */
export const LEADER_WAIT_MS = 3_000;
/** How long `close()` waits for a leadership transfer to finish. */
export const TRANSFER_WAIT_MS = 2_000;
/** Client sessions served at once by one node. */
export const MAX_SESSIONS = 10_000;
/** A follower gives up dialling a leader that does not complete the handshake within this. */
export const FORWARD_HANDSHAKE_MS = 1_500;
/** How often a follower waiting on a forwarded request checks whether the leader changed. */
export const LEADER_WATCH_MS = 50;
