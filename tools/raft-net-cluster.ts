/**
 * A Raft cluster of in-process nodes that talk over real UDP on loopback through the secure
 * transport, each with its own encrypted log directory and a small key-value state machine.
 * Used by the driver's network test and by tools/bench/raft-failover.ts. `Hub` is the in-process
 * transport the driver's other tests use.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../src/crypto/keys.ts';
import { listen, type Listener } from '../src/net/udp.ts';
import { RaftDriver, type AppliedState, type RaftStateMachine, type RaftTransport } from '../src/raft/driver.ts';
import { NetRaftTransport, type NodeIdentity, type PeerAddress } from '../src/raft/net-transport.ts';
import type { Entry, NodeId, Snapshot } from '../src/raft/types.ts';

const enc = new TextEncoder(), dec = new TextDecoder();

/** `k=v` entries into a map; its durable copy is a JSON file written on flush (as an LSM flush). */
export class KvMachine implements RaftStateMachine {
  data = new Map<string, string>();
  boundary: AppliedState = { index: 0, term: 0, conf: null };
  /** Indexes of the normal entries applied since this object was made, in order. */
  applyLog: number[] = [];
  constructor(readonly file: string) {
    if (existsSync(file)) this.load(readFileSync(file));
  }
  private load(bytes: Uint8Array) {
    const j = JSON.parse(dec.decode(bytes));
    this.data = new Map(j.data);
    this.boundary = j.boundary;
  }
  private image(): Uint8Array {
    return enc.encode(JSON.stringify({ data: [...this.data], boundary: this.boundary }));
  }
  applied() { return this.boundary; }
  apply(entries: readonly Entry[], after: AppliedState) {
    for (const e of entries) {
      if (e.type !== 'normal') continue;
      const s = dec.decode(e.data);
      const at = s.indexOf('=');
      this.data.set(s.slice(0, at), s.slice(at + 1));
      this.applyLog.push(e.index);
    }
    this.boundary = after;
  }
  snapshot() { return this.image(); }
  restore(s: Snapshot) {
    this.load(s.data);
    this.boundary = { index: s.meta.index, term: s.meta.term, conf: s.meta.conf };
    this.flush();
  }
  flush() {
    writeFileSync(`${this.file}.tmp`, this.image());
    renameSync(`${this.file}.tmp`, this.file);
  }
}

/** Delivers messages between drivers in this process; a stopped or cut-off node hears nothing. */
export class Hub {
  handlers = new Map<NodeId, (from: NodeId, m: Uint8Array) => void>();
  down = new Set<NodeId>();
  transport(id: NodeId): RaftTransport {
    return {
      send: (to, m) => {
        if (this.down.has(id) || this.down.has(to)) return;
        setImmediate(() => { if (!this.down.has(to) && !this.down.has(id)) this.handlers.get(to)?.(id, m); });
      },
      onMessage: (h) => { this.handlers.set(id, h); },
      close: () => { this.handlers.delete(id); },
    };
  }
}

export interface NetNode {
  id: NodeId;
  driver: RaftDriver;
  listener: Listener;
  transport: NetRaftTransport;
  sm: KvMachine;
  running: boolean;
}

export class NetCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'trine-raft-net-'));
  readonly nodes: NetNode[] = [];
  private readonly keys = new Map<NodeId, { privateKey: Uint8Array; publicKey: Uint8Array }>();
  private readonly addrs: PeerAddress[] = [];
  private readonly transports = new Map<NodeId, NetRaftTransport>();
  readonly masterKey = new Uint8Array(32).fill(7);

  /** Starts `n` nodes founding one cluster. */
  static async start(n: number): Promise<NetCluster> {
    const c = new NetCluster();
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    const listeners = new Map<NodeId, Listener>();
    for (const id of ids) {
      const kp = generateKeyPair(`node${id}`);
      c.keys.set(id, kp);
      // Until the node's transport exists nobody is admitted; then members are, by key.
      const l = await listen({ address: '127.0.0.1', port: 0, staticKey: kp.privateKey, authorize: (k) => c.transports.get(id)?.identify(k) });
      listeners.set(id, l);
      c.addrs.push({ id, host: '127.0.0.1', port: l.address().port, publicKey: kp.publicKey });
    }
    for (const id of ids) c.nodes.push(await c.boot(id, listeners.get(id)!, ids));
    return c;
  }

  private async boot(id: NodeId, listener: Listener, initial: NodeId[] | undefined): Promise<NetNode> {
    const kp = this.keys.get(id)!;
    const transport = new NetRaftTransport(id, kp.privateKey, this.addrs);
    this.transports.set(id, transport);
    void (async () => {
      for await (const conn of listener) {
        const who = conn.identity as NodeIdentity | undefined;
        if (who?.kind === 'node') transport.accept(conn, who.id);
      }
    })();
    const sm = new KvMachine(join(this.dir, `sm-${id}.json`));
    const driver = await RaftDriver.open({ id, dir: join(this.dir, `raft-${id}`), masterKey: this.masterKey, transport, stateMachine: sm, initial });
    return { id, driver, listener, transport, sm, running: true };
  }

  leader(): NetNode | undefined {
    return this.nodes.find((n) => n.running && n.driver.status().role === 'leader');
  }

  async waitLeader(limitMs = 20_000): Promise<NetNode> {
    const t0 = Date.now();
    for (;;) {
      const l = this.leader();
      if (l) return l;
      if (Date.now() - t0 > limitMs) throw new Error(`no leader within ${limitMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Writes `k=v` through whichever running node leads, retrying through elections. */
  async write(k: string, v: string, limitMs = 20_000): Promise<number> {
    const t0 = Date.now();
    for (let attempt = 0; ; attempt++) {
      const running = this.nodes.filter((n) => n.running);
      const target = this.leader() ?? running[attempt % running.length]!;
      try {
        return await target.driver.propose(enc.encode(`${k}=${v}`));
      } catch (e: any) {
        if (!['RAFT_NO_LEADER', 'RAFT_TIMEOUT', 'RAFT_LEADER_CHANGED', 'RAFT_CLOSED'].includes(e.code) || Date.now() - t0 > limitMs) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  /** Stops a node as a crash would look to the others: no goodbye, sockets gone. */
  async kill(n: NetNode): Promise<void> {
    n.running = false;
    await n.driver.close();
    await n.listener.close();
  }

  async close(): Promise<void> {
    for (const n of this.nodes) if (n.running) await this.kill(n);
  }
}
