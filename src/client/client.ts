/**
 * The Trine client: one Noise session to one node, one stream per session, requests answered in
 * order. The first contact with a server goes through trust on first use (known_hosts); the node's
 * welcome then lists every member with its key, so when the node fails the client moves to another
 * member without asking anyone again, and retries the request under the same request id (the
 * cluster applies a request id at most once).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { TrineError } from '../crypto/errors.ts';
import { randomBytes } from '../crypto/random.ts';
import { readPrivateKeyFile, type KeyPair } from '../crypto/keys.ts';
import type { KnownHosts } from '../crypto/known-hosts.ts';
import { connect as netConnect, type TrineConnection, type TrineStream } from '../net/udp.ts';
import { trustServer } from '../net/trust.ts';
import { PROTOCOL_VERSION, RETRYABLE_CODES, decode, encode, type Consistency, type MemberInfo, type Result, type Welcome } from '../server/protocol.ts';
import { CLIENT_ID_BYTES } from '../server/state-machine.ts';

export type { Consistency };

/** A value as returned to callers: INTEGER as number when safe (else bigint), REAL as number. */
export type SqlValue = null | number | bigint | string | Uint8Array;
export type SqlParams = readonly unknown[] | Record<string, unknown>;

export interface QueryResult {
  readonly columns: string[];
  readonly rows: SqlValue[][];
  readonly changes: number;
  readonly lastInsertRowid: number | bigint;
}

/** How long a request keeps being retried through elections and failovers (ms). */
export const RETRY_BUDGET_MS = 20_000;
const RETRY_PAUSE_MS = 25;
/** A member that does not complete a handshake within this is skipped during failover. */
export const FAILOVER_HANDSHAKE_MS = 1_500;
/**
 * A node that stops answering (crashed, cut off) is given up after this, and the request retried on
 * another member. The client pings every CLIENT_KEEPALIVE_MS, so a live but idle node never trips it.
 */
export const CLIENT_IDLE_TIMEOUT_MS = 5_000;
export const CLIENT_KEEPALIVE_MS = 1_000;

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  /** The user's private key file (default ~/.trine/id_trine), or the key pair itself. */
  readonly keyFile?: string;
  readonly key?: KeyPair;
  /** Passphrase of the key file (default: TRINE_PASSPHRASE). */
  readonly passphrase?: string;
  /** known_hosts path (default ~/.trine/known_hosts) or a loaded list. */
  readonly knownHosts?: string | KnownHosts;
  /** Accept a server seen for the first time only if its key has this fingerprint. */
  readonly fingerprint?: string;
  /** Accept a server seen for the first time without asking (a changed key is still refused). */
  readonly acceptNew?: boolean;
  /** Asks a person to confirm an unknown server key. */
  readonly prompt?: (question: string) => Promise<boolean>;
  /** Default consistency of reads (default `linearizable`). */
  readonly consistency?: Consistency;
  /** Return every INTEGER as bigint. */
  readonly safeIntegers?: boolean;
  /** Where trust notices go (default stderr). */
  readonly print?: (line: string) => void;
}

export interface QueryOptions {
  readonly consistency?: Consistency;
}

function toParams(p: SqlParams): unknown[] | Record<string, unknown> {
  if (Array.isArray(p)) return p.map(toWire);
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) o[k] = toWire(v);
  return o;
}

function toWire(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? BigInt(v) : v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint' || typeof v === 'string' || v instanceof Uint8Array) return v;
  throw new TrineError('CLIENT_BAD_PARAM', `cannot bind a value of type ${typeof v}; use null, number, bigint, string, boolean, Date or Uint8Array`);
}

export class TrineClient {
  readonly clientId = randomBytes(CLIENT_ID_BYTES);
  private seq = 0;
  private conn: TrineConnection | undefined;
  private stream: TrineStream | undefined;
  private members: MemberInfo[] = [];
  private current: { host: string; port: number; key: Uint8Array };
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Whether the server reported an open transaction after the last request. */
  inTransaction = false;
  /** The node this client talks to, and what it said in its welcome. */
  node = 0;
  user = '';
  role = '';
  /** The welcome of the node this client is connected to. */
  welcome: Welcome | undefined;

  private constructor(private readonly key: KeyPair, first: { host: string; port: number; key: Uint8Array }, private readonly opts: ConnectOptions) {
    this.current = first;
  }

  /** Connects, confirming an unknown server key through known_hosts / fingerprint / prompt. */
  static async connect(opts: ConnectOptions): Promise<TrineClient> {
    const key = opts.key ?? await readPrivateKeyFile(opts.keyFile ?? join(homedir(), '.trine', 'id_trine'), opts.passphrase ?? process.env['TRINE_PASSPHRASE']);
    const kh = opts.knownHosts ?? join(homedir(), '.trine', 'known_hosts');
    const serverKey = await trustServer(`${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`, {
      ...(typeof kh === 'string' ? { knownHostsPath: kh } : { knownHosts: kh }),
      ...(opts.fingerprint ? { fingerprint: opts.fingerprint } : {}),
      ...(opts.acceptNew ? { acceptNew: true } : {}),
      ...(opts.prompt ? { prompt: opts.prompt } : {}),
      ...(opts.print ? { print: opts.print } : {}),
    });
    const c = new TrineClient(key, { host: opts.host, port: opts.port, key: serverKey }, opts);
    await c.open(c.current);
    return c;
  }

  /** Members of the cluster as the last welcome listed them. */
  get cluster(): readonly MemberInfo[] { return this.members; }

  private async open(target: { host: string; port: number; key: Uint8Array }, handshakeTimeoutMs?: number): Promise<void> {
    const limits = { idleTimeoutMs: CLIENT_IDLE_TIMEOUT_MS, keepaliveIntervalMs: CLIENT_KEEPALIVE_MS, ...(handshakeTimeoutMs ? { handshakeTimeoutMs } : {}) };
    const conn = await netConnect({ address: target.host, port: target.port, serverKey: target.key, staticKey: this.key.privateKey, limits });
    try {
      const stream = conn.openStream();
      await stream.send(encode({ type: 'hello', version: PROTOCOL_VERSION, client: this.clientId }));
      const first = await stream.next();
      if (!first) throw new TrineError('CLIENT_NO_WELCOME', `${target.host}:${target.port} closed the session without a welcome`);
      const m = decode(first);
      if (m.type === 'error') throw new TrineError(m.code, m.message);
      if (m.type !== 'welcome') throw new TrineError('PROTOCOL_ERROR', 'expected a welcome from the server');
      this.conn = conn;
      this.stream = stream;
      this.current = target;
      this.node = m.node; this.user = m.user; this.role = m.role;
      this.welcome = m;
      if (m.members.length) this.members = m.members;
    } catch (e) {
      void conn.close(0, '', { immediate: true }).catch(() => undefined);
      throw e;
    }
  }

  /** Reconnects to the current node or another member (keys learnt from the welcome). */
  private async reconnect(deadline: number): Promise<void> {
    this.drop();
    // The node we lost is tried last: it most likely went away.
    const targets = [...this.members.filter((m) => !(m.host === this.current.host && m.port === this.current.port)).map((m) => ({ host: m.host, port: m.port, key: m.publicKey })), this.current];
    let last: unknown;
    for (let round = 0; Date.now() < deadline && !this.closed; round++) {
      for (const t of targets) {
        try { await this.open(t, FAILOVER_HANDSHAKE_MS); return; } catch (e) { last = e; }
        if (Date.now() >= deadline) break;
      }
      await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS * (round + 1)));
    }
    throw last instanceof TrineError ? last : new TrineError('CLIENT_UNREACHABLE', 'no member of the cluster answered; check that the nodes are running');
  }

  private drop(): void {
    const c = this.conn;
    this.conn = undefined;
    this.stream = undefined;
    if (c) void c.close(0, '', { immediate: true }).catch(() => undefined);
  }

  /** Runs `sql` (one or more statements; the last one's result is returned). */
  query(sql: string, params: SqlParams = [], options: QueryOptions = {}): Promise<QueryResult> {
    const run = this.chain.then(() => this.request(sql, params, options));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async request(sql: string, params: SqlParams, options: QueryOptions): Promise<QueryResult> {
    if (this.closed) throw new TrineError('CLIENT_CLOSED', 'the client is closed');
    const id = ++this.seq;
    const wasInTx = this.inTransaction;
    const msg = encode({ type: 'query', id, consistency: options.consistency ?? this.opts.consistency ?? 'linearizable', sql, params: toParams(params) as never });
    const deadline = Date.now() + RETRY_BUDGET_MS;
    for (;;) {
      let reply: Uint8Array | undefined;
      try {
        if (!this.stream) await this.reconnect(deadline);
        await this.stream!.send(msg);
        reply = await this.stream!.next();
      } catch (e) {
        if (e instanceof TrineError && !isTransportError(e)) throw e;
        reply = undefined;
      }
      if (!reply) {
        // The node went away: a transaction there is gone; a single statement is retried elsewhere.
        this.drop();
        if (wasInTx) {
          this.inTransaction = false;
          throw new TrineError('TX_CONFLICT', 'the connection to the node broke during the transaction, so it was rolled back; retry the transaction');
        }
        if (Date.now() >= deadline) throw new TrineError('CLIENT_UNREACHABLE', 'no member of the cluster answered in time; check that the nodes are running');
        continue;
      }
      const m = decode(reply);
      if (m.type === 'error') {
        this.inTransaction = m.inTransaction;
        if (m.retryable && !wasInTx && !m.inTransaction && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
          continue;
        }
        const err = new TrineError(m.code, m.message);
        (err as TrineError & { retryable?: boolean }).retryable = m.retryable;
        throw err;
      }
      if (m.type !== 'result') throw new TrineError('PROTOCOL_ERROR', 'expected a result');
      this.inTransaction = m.inTransaction;
      return this.toResult(m);
    }
  }

  private toResult(m: Result): QueryResult {
    const safe = this.opts.safeIntegers === true;
    const conv = (v: SqlValue): SqlValue => (typeof v === 'bigint' && !safe && v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v);
    return {
      columns: m.columns,
      rows: m.rows.map((r) => r.map(conv)),
      changes: m.changes,
      lastInsertRowid: conv(m.lastInsertRowid) as number | bigint,
    };
  }

  /**
   * Runs `fn` inside BEGIN ... COMMIT. A serialization conflict or a leader change rolls it back
   * and runs `fn` again (so `fn` must not have effects outside the database), up to `attempts` times.
   */
  async transaction<T>(fn: (tx: TrineClient) => Promise<T>, attempts = 5): Promise<T> {
    for (let i = 1; ; i++) {
      await this.query('BEGIN');
      try {
        const r = await fn(this);
        await this.query('COMMIT');
        return r;
      } catch (e) {
        if (this.inTransaction) await this.query('ROLLBACK').catch(() => undefined);
        const retry = e instanceof TrineError && RETRYABLE_CODES.has(e.code) && i < attempts;
        if (!retry) throw e;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain;
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    this.stream = undefined;
    if (c) await c.close().catch(() => undefined);
  }
}

function isTransportError(e: TrineError): boolean {
  return e.code.startsWith('NET_');
}

/** Connects to a Trine node (see ConnectOptions). */
export function connect(opts: ConnectOptions): Promise<TrineClient> {
  return TrineClient.connect(opts);
}
