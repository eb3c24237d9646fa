import { bootstrapState, joiningState, type RaftOptions } from '../../src/raft/raft.ts';
import { TICK_MS } from '../../src/raft/limits.ts';
import type { Message, NodeId } from '../../src/raft/types.ts';
import { Checker, InvariantError } from './checker.ts';
import { EventHeap, type Timed } from './heap.ts';
import { SimNode, encodeRequest } from './node.ts';
import { Prng } from './prng.ts';

/**
 * The deterministic cluster simulator: N Raft nodes in one process on a simulated clock, a seeded
 * network that drops, delays, duplicates and reorders, partitions (full, partial, one-way), crashes
 * with torn unsynced writes, restarts, membership changes, leadership transfers, client retries and
 * reads. The Checker verifies the safety invariants after every event; after `steps` steps every
 * fault heals and the cluster must converge (a leader, every client request applied once, every
 * member caught up) within LIVENESS_STEPS. One step is one tick period of simulated time.
 */

/** Simulated steps allowed for convergence after all faults heal (10 s of simulated time). */
export const LIVENESS_STEPS = 1000;
const CLIENTS = 3;
/** Steps a client waits for its request to take effect before retrying it (at another node). */
const CLIENT_RETRY_STEPS = 40;
const MAX_MEMBERS = 7;

export interface SimOptions {
  readonly seed: number;
  readonly steps: number;
  /** Print every fault as it is injected. */
  readonly trace?: boolean;
}

export interface SimStats {
  seed: number;
  nodes: number;
  events: number;
  messages: number;
  committed: number;
  leaders: number;
  crashes: number;
  tornCrashes: number;
  partitions: number;
  oneWay: number;
  weather: number;
  adds: number;
  removes: number;
  transfers: number;
  snapshotsSent: number;
  readsAnswered: number;
  requestsDone: number;
  livenessSteps: number;
}

export class SimFailure extends Error {
  readonly seed: number;
  constructor(seed: number, steps: number, step: number, cause: unknown) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super(`simulation seed ${seed} failed at step ${step}: ${what}\nreplay: ${replayCommand(seed, steps)}`, { cause });
    this.seed = seed;
    this.name = 'SimFailure';
  }
}

export function replayCommand(seed: number, steps: number): string {
  return `node --import tsx tools/sim/main.ts --seed ${seed} --steps ${steps}`;
}

interface Ev extends Timed {
  kind: 'msg' | 'tick';
  msg: Message | null;
  node: NodeId;
}

interface Partition {
  links: [NodeId, NodeId][];
  until: number;
  kind: string;
}

interface Client {
  id: number;
  seq: number;
  /** Step the current request was last sent; -1 when idle. */
  sentAt: number;
  issuedAt: number;
}

export class Simulation {
  readonly rng: Prng;
  readonly checker = new Checker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly stats: SimStats;
  private heap = new EventHeap<Ev>();
  private seq = 0;
  now = 0;
  step = 0;
  private nextId: NodeId;
  private opts: Omit<RaftOptions, 'id' | 'rand'>;
  private drop = 0;
  private dup = 0;
  private reorder = 0;
  private partitions: Partition[] = [];
  private blocked = new Set<number>();
  private downUntil = new Map<NodeId, number>();
  private clients: Client[] = [];
  private readCtx = 0;
  private readCommit = new Map<number, number>();
  private faults = true;
  private readonly trace: boolean;
  /** Fault-rate multiplier: 1, or 5 for a "churn" seed with short-lived leaders and partitions. */
  private readonly churn: number;
  private readonly tickPeriod = new Map<NodeId, number>();
  /** Hook for measurements: runs after every event. */
  onEvent: (() => void) | null = null;

  constructor(seed: number, trace = false, config?: { nodes?: number; opts?: Partial<RaftOptions> }) {
    this.rng = new Prng(seed);
    this.trace = trace;
    const r = this.rng;
    const n = config?.nodes ?? (r.chance(0.5) ? 3 : 5);
    this.opts = config?.opts ?? {
      readMode: r.chance(0.3) ? 'lease' : 'safe',
      snapshotThreshold: r.pick([20, 50, 200]),
      snapshotChunkBytes: r.pick([16, 64, 4096]),
      maxInflight: r.pick([2, 8, 64]),
      maxEntriesPerAppend: r.pick([1, 4, 64]),
    };
    this.churn = config?.opts !== undefined ? 1 : r.chance(0.3) ? 5 : 1;
    this.stats = {
      seed, nodes: n, events: 0, messages: 0, committed: 0, leaders: 0, crashes: 0, tornCrashes: 0, partitions: 0,
      oneWay: 0, weather: 0, adds: 0, removes: 0, transfers: 0, snapshotsSent: 0, readsAnswered: 0, requestsDone: 0,
      livenessSteps: 0,
    };
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    this.nextId = n + 1;
    for (const id of ids) {
      const s = bootstrapState(ids);
      this.addNode(id, { hs: s.hardState, snapshot: null, entries: [...s.entries] });
    }
    for (let c = 1; c <= CLIENTS; c++) this.clients.push({ id: c, seq: 0, sentAt: -1, issuedAt: 0 });
  }

  private addNode(id: NodeId, disk: SimNode['disk']): SimNode {
    const rng = this.rng.fork();
    const n = new SimNode(id, { ...this.opts, id, rand: () => rng.next() }, disk, {
      checker: this.checker,
      send: (m) => this.send(m),
      holds: (v, index, term) => this.nodes.get(v)?.holds(index, term) ?? false,
      readAnswered: (node, rs) => {
        const c = this.readCommit.get(rs.ctx);
        if (c !== undefined) {
          this.checker.readAnswered(node, rs.ctx, rs.index, c);
          this.readCommit.delete(rs.ctx);
          this.stats.readsAnswered++;
        }
      },
    }, rng);
    this.nodes.set(id, n);
    // Clocks drift a little (within the lease drift bound): each node ticks at its own rate.
    this.tickPeriod.set(id, TICK_MS * (1 + (this.rng.next() - 0.5) * 0.02));
    this.push({ time: this.now + this.rng.next() * TICK_MS, seq: 0, kind: 'tick', msg: null, node: id });
    n.start();
    return n;
  }

  private push(e: Ev): void {
    e.seq = this.seq++;
    this.heap.push(e);
  }

  private linkKey(a: NodeId, b: NodeId): number {
    return a * 4096 + b;
  }

  private send(m: Message): void {
    this.stats.messages++;
    if (m.type === 'snapshot' && m.offset === 0) this.stats.snapshotsSent++;
    const r = this.rng;
    if (this.blocked.has(this.linkKey(m.from, m.to)) || r.chance(this.drop)) return;
    const copies = r.chance(this.dup) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // LAN: 0.1-1 ms; a reordered message lingers 1-40 ms more.
      let delay = 0.1 + r.next() * 0.9;
      if (r.chance(this.reorder)) delay += 1 + r.next() * 39;
      this.push({ time: this.now + delay, seq: 0, kind: 'msg', msg: m, node: m.to });
    }
  }

  /** Run the fault phase, then the liveness phase. Throws SimFailure on any violation. */
  run(steps: number): SimStats {
    try {
      for (; this.step < steps; this.step++) {
        this.injectFaults();
        this.driveClients();
        this.runUntil((this.step + 1) * TICK_MS);
      }
      this.healAll();
      const start = this.step;
      for (;;) {
        this.driveClients();
        this.runUntil((this.step + 1) * TICK_MS);
        this.step++;
        if (this.converged()) break;
        if (this.step - start > LIVENESS_STEPS) throw new InvariantError(`liveness: not converged ${LIVENESS_STEPS} steps after healing (${this.describe()})`);
      }
      this.stats.livenessSteps = this.step - start;
      this.stats.committed = this.checker.maxCommit;
      return this.stats;
    } catch (e) {
      throw new SimFailure(this.stats.seed, steps, this.step, e);
    }
  }

  runUntil(t: number): void {
    const heap = this.heap;
    while (heap.peekTime() < t) {
      const e = heap.pop()!;
      this.now = e.time;
      this.stats.events++;
      const n = this.nodes.get(e.node);
      if (e.kind === 'tick') {
        e.time += this.tickPeriod.get(e.node)!;
        this.push(e);
        if (n !== undefined && n.up) n.tick();
      } else if (n !== undefined && n.up && !this.blocked.has(this.linkKey(e.msg!.from, e.msg!.to))) {
        n.step(e.msg!);
      }
      this.checkLeaders();
      if (this.onEvent !== null) this.onEvent();
    }
    this.now = t;
  }


  private checkLeaders(): void {
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r === null || r.role !== 'leader') continue;
      if (this.checker.leaderOf(r.term) === undefined) this.stats.leaders++;
      this.checker.leader(n.id, r.term, (i) => (i <= r.log.snapIndex ? 0 : r.log.term(i)));
    }
  }

  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r !== null && r.role === 'leader' && (best === null || r.term > best.raft!.term)) best = n;
    }
    return best;
  }

  private log(what: string): void {
    if (this.trace) process.stdout.write(`[step ${this.step} t=${this.now.toFixed(1)}ms] ${what}\n`);
  }

  private upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  private injectFaults(): void {
    const r = this.rng;
    // Scheduled restarts and heals.
    for (const [id, until] of this.downUntil) {
      if (until <= this.step) {
        this.downUntil.delete(id);
        this.log(`restart ${id}`);
        this.nodes.get(id)!.start();
      }
    }
    if (this.partitions.some((p) => p.until <= this.step)) {
      this.partitions = this.partitions.filter((p) => p.until > this.step);
      this.rebuildBlocked();
      this.log('partition healed');
    }
    if (!this.faults) return;
    const ids = [...this.nodes.keys()];
    const churn = this.churn;
    if (r.chance(0.004 * churn)) {
      const up = this.upNodes();
      if (up.length > 0) {
        // In churn mode leaders die young: the traps (Figure 8) need many short-lived leaders
        // that each replicate a little.
        const l = this.leader();
        const n = churn > 1 && l !== null && r.chance(0.5) ? l : r.pick(up);
        const downFor = r.int(5, churn > 1 ? 60 : 300);
        if (r.chance(0.5)) {
          n.crashAtNextReady = true;
          this.stats.tornCrashes++;
          this.log(`crash ${n.id} at its next Ready (torn write), down ${downFor} steps`);
        } else {
          n.crash();
          this.log(`crash ${n.id}, down ${downFor} steps`);
        }
        this.stats.crashes++;
        this.downUntil.set(n.id, this.step + downFor);
      }
    }
    if (r.chance(0.003 * churn)) {
      const until = this.step + r.int(10, churn > 1 ? 60 : 300);
      const kind = r.pick(['isolate', 'split', 'oneway', 'partial']);
      const links: [NodeId, NodeId][] = [];
      if (kind === 'isolate') {
        const x = r.pick(ids);
        for (const y of ids) if (y !== x) links.push([x, y], [y, x]);
      } else if (kind === 'split') {
        const side = new Set(ids.filter(() => r.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) links.push([a, b]);
      } else if (kind === 'oneway') {
        const k = r.int(1, 3);
        for (let i = 0; i < k; i++) {
          const a = r.pick(ids), b = r.pick(ids);
          if (a !== b) links.push([a, b]);
        }
        this.stats.oneWay++;
      } else {
        const k = r.int(1, 3);
        for (let i = 0; i < k; i++) {
          const a = r.pick(ids), b = r.pick(ids);
          if (a !== b) links.push([a, b], [b, a]);
        }
      }
      this.partitions.push({ links, until, kind });
      this.rebuildBlocked();
      this.stats.partitions++;
      this.log(`partition ${kind}: ${links.map(([a, b]) => `${a}->${b}`).join(' ')} until step ${until}`);
    }
    if (r.chance(0.005)) {
      this.drop = r.pick([0, 0.01, 0.05, 0.2]);
      this.dup = r.pick([0, 0.02, 0.1]);
      this.reorder = r.pick([0, 0.1, 0.5]);
      this.stats.weather++;
      this.log(`network: drop ${this.drop} dup ${this.dup} reorder ${this.reorder}`);
    }
    const leader = this.leader();
    if (leader !== null && r.chance(0.003)) this.changeMembership(leader);
    if (leader !== null && r.chance(0.002)) {
      const others = leader.raft!.conf.voters.filter((v) => v !== leader.id);
      if (others.length > 0) {
        const to = r.pick(others);
        if (leader.raft!.transferLeadership(to)) {
          this.stats.transfers++;
          this.log(`transfer ${leader.id} -> ${to}`);
          leader.process();
        }
      }
    }
    if (r.chance(0.05)) {
      const up = this.upNodes();
      if (up.length > 0) {
        const n = r.pick(up);
        const ctx = ++this.readCtx;
        if (n.raft!.readIndex(ctx)) {
          this.readCommit.set(ctx, this.checker.maxCommit);
          n.process();
        }
      }
    }
  }

  private changeMembership(leader: SimNode): void {
    const r = this.rng;
    const raft = leader.raft!;
    const conf = raft.conf;
    const members = conf.voters.length + conf.learners.length;
    try {
      if (r.chance(0.5) && members < MAX_MEMBERS) {
        const id = this.nextId++;
        raft.proposeConfChange({ op: 'addLearner', node: id });
        const s = joiningState();
        this.addNode(id, { hs: s.hardState, snapshot: null, entries: [] });
        this.stats.adds++;
        this.log(`add learner ${id} via ${leader.id}`);
      } else {
        const candidates = [...conf.voters.filter((v) => v !== leader.id && conf.voters.length > 3), ...conf.learners];
        if (candidates.length === 0) return;
        const id = r.pick(candidates);
        raft.proposeConfChange({ op: 'remove', node: id });
        this.stats.removes++;
        this.log(`remove ${id} via ${leader.id}`);
      }
      leader.process();
    } catch {
      // Refused (a change is pending, a transfer runs): a real operator retries later too.
    }
  }

  private rebuildBlocked(): void {
    this.blocked.clear();
    for (const p of this.partitions) for (const [a, b] of p.links) this.blocked.add(this.linkKey(a, b));
  }

  private driveClients(): void {
    const r = this.rng;
    for (const c of this.clients) {
      if (c.sentAt >= 0 && this.checker.effectIndex(`${c.id}:${c.seq}`) !== undefined) {
        c.sentAt = -1;
        this.stats.requestsDone++;
      }
      if (c.sentAt < 0) {
        // After the heal, each client completes one fresh request and then goes quiet.
        if (!this.faults && c.issuedAt > this.healStep) continue;
        if (!r.chance(0.3)) continue;
        c.seq++;
        c.issuedAt = this.step;
      } else if (this.step - c.sentAt < CLIENT_RETRY_STEPS) {
        continue;
      }
      // New request, or a retry of the same (client, seq) at a random node: applied at most once.
      const up = this.upNodes();
      if (up.length === 0) continue;
      const n = r.pick(up);
      c.sentAt = this.step;
      if (n.raft!.propose(encodeRequest(c.id, c.seq, r.int(0, 255)))) n.process();
      else c.sentAt = this.step - CLIENT_RETRY_STEPS + 5;
    }
  }

  private healStep = 0;

  healAll(): void {
    this.faults = false;
    this.healStep = this.step;
    this.partitions = [];
    this.rebuildBlocked();
    this.drop = 0;
    this.dup = 0;
    this.reorder = 0;
    for (const id of this.downUntil.keys()) this.nodes.get(id)!.start();
    this.downUntil.clear();
    for (const n of this.nodes.values()) {
      if (n.crashAtNextReady) n.crashAtNextReady = false;
      if (!n.up) n.start();
    }
    this.log('heal everything');
  }

  private converged(): boolean {
    const l = this.leader();
    if (l === null) return false;
    const raft = l.raft!;
    if (raft.log.commit !== raft.log.lastIndex() || raft.log.term(raft.log.commit) !== raft.term) return false;
    for (const c of this.clients) if (c.sentAt >= 0 || c.issuedAt <= this.healStep) return false;
    for (const id of [...raft.conf.voters, ...raft.conf.learners]) {
      const n = this.nodes.get(id);
      if (n === undefined || !n.up || n.sm.index !== raft.log.commit) return false;
    }
    // Every node's applied state agrees at the common point.
    const hashes = new Set<number>();
    for (const id of [...raft.conf.voters, ...raft.conf.learners]) hashes.add(this.nodes.get(id)!.sm.hash);
    if (hashes.size !== 1) throw new InvariantError(`state machines diverged at index ${raft.log.commit}`);
    return true;
  }

  private describe(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r === null) parts.push(`${n.id}:down`);
      else parts.push(`${n.id}:${r.role[0]} t${r.term} c${r.log.commit} a${n.sm.index} l${r.log.lastIndex()} v[${r.conf.voters}] L[${r.conf.learners}]`);
    }
    const clients = this.clients.map((c) => `${c.id}:${c.seq}${c.sentAt >= 0 ? '*' : ''}`).join(' ');
    return `${parts.join(' | ')}; clients ${clients}`;
  }
}

export function simulate(o: SimOptions): SimStats {
  return new Simulation(o.seed, o.trace ?? false).run(o.steps);
}
