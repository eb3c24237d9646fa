/**
 * At-most-once application of client requests. Raft may commit one request twice (a client retries
 * after a timeout, a forwarded proposal is duplicated, a new leader re-proposes): the state-machine
 * layer passes each committed request through `ClientSessions.begin` and applies it only when the
 * answer is `apply`, so a retried request returns the first result instead of running again.
 * Every node applies the same log, so every node makes the same decisions; the table is part of
 * the state machine and goes into its snapshots (`toJSON` / `fromJSON`).
 */
export type SessionDecision<R> =
  | { readonly kind: 'apply' }
  | { readonly kind: 'duplicate'; readonly result: R | undefined }
  | { readonly kind: 'stale' };

/** Clients remembered at once; the least recently active is forgotten first. */
export const MAX_CLIENT_SESSIONS = 100_000;

interface Session<R> {
  seq: number;
  result: R | undefined;
  lastIndex: number;
}

export class ClientSessions<R = unknown> {
  private sessions = new Map<string, Session<R>>();
  private readonly limit: number;

  constructor(limit = MAX_CLIENT_SESSIONS) {
    this.limit = limit;
  }

  /**
   * Decide for request `seq` of `client` found at log `index`. A client numbers its requests
   * 1, 2, 3... and has at most one outstanding at a time, so only the latest result is kept:
   * `seq` equal to the last applied one is a duplicate, smaller is stale (its reply was already
   * consumed).
   */
  begin(client: string, seq: number, index: number): SessionDecision<R> {
    const s = this.sessions.get(client);
    if (s === undefined || seq > s.seq) return { kind: 'apply' };
    s.lastIndex = index;
    if (seq === s.seq) return { kind: 'duplicate', result: s.result };
    return { kind: 'stale' };
  }

  /** Record the result of an applied request. */
  finish(client: string, seq: number, index: number, result: R | undefined): void {
    // Delete first so Map order stays least-recently-active first.
    this.sessions.delete(client);
    this.sessions.set(client, { seq, result, lastIndex: index });
    if (this.sessions.size > this.limit) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
  }

  lastSeq(client: string): number {
    return this.sessions.get(client)?.seq ?? 0;
  }

  size(): number {
    return this.sessions.size;
  }

  toJSON(): [string, number, R | undefined, number][] {
    return [...this.sessions].map(([c, s]) => [c, s.seq, s.result, s.lastIndex]);
  }

  static fromJSON<R>(rows: [string, number, R | undefined, number][], limit = MAX_CLIENT_SESSIONS): ClientSessions<R> {
    const t = new ClientSessions<R>(limit);
    for (const [c, seq, result, lastIndex] of rows) t.sessions.set(c, { seq, result, lastIndex });
    return t;
  }
}
