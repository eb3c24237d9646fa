import { isTrineError } from '../../src/crypto/errors.ts';
import type { ConfChange } from '../../src/raft/config.ts';
import { bootstrapState, joiningState, type RaftOptions } from '../../src/raft/raft.ts';
import type { Message, NodeId } from '../../src/raft/types.ts';
import { Checker } from './checker.ts';
import { SimNode, type Disk } from './node.ts';
import { Prng } from './prng.ts';

/**
 * Scenario scripts: a readable, line-by-line protocol story, run against real Raft cores with
 * manual message delivery and the simulator's invariant checker after every line.
 *
 *   cluster 1 2 3 [prevote=off] [checkquorum=off] [lease] [threshold=N] [chunk=N] [inflight=N] [batch=N] [autopromote=off]
 *   join 4                    start an empty node that will be added to the cluster
 *   tick 1 2 [xN]             tick the listed nodes (or `all`) N times; messages stay queued
 *   run xN                    N rounds of: every node ticks, then deliver until quiet
 *   campaign 1                tick node 1 until its election timer fires
 *   deliver [F] [type]        deliver queued messages matching filter F (a->b, *->b, a->*), one pass;
 *                             without a filter, deliver everything until the network is quiet
 *   drop [F] [type]           discard queued messages
 *   partition 1 2 | 3 4 5     messages between the groups are lost; `cut 1->2` is one-way
 *   isolate 1 / heal
 *   propose 1 text            node 1 proposes `text` (a follower forwards it)
 *   crash 1 / restart 1       restart keeps only what the node made durable
 *   conf 1 addLearner 4 [!CODE]   membership change at leader 1 (optionally expecting an error)
 *   transfer 1 2 / read 1 ctx / compact 1
 *   expect 1 role=leader term=2 lead=1 commit=3 applied=3 last=3 vote=1 terms=1,1,2
 *          voters=1,2,3 learners=4 snap=5 read7=4 data=a,b (normal entries' text) queue=...
 *   expect queue F [type] N   N matching messages are queued
 */
export class ScriptCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker = new Checker();
  queue: Message[] = [];
  /** Messages sent, by type (a rejected append response counts as `appendReject`). */
  readonly sent = new Map<string, number>();
  private blocked = new Set<string>();
  private opts: Partial<RaftOptions> = {};
  private rng = new Prng(1);
  private readCommit = new Map<string, number>();
  line = 0;

  run(script: string): void {
    const lines = script.split('\n');
    for (let i = 0; i < lines.length; i++) {
      this.line = i + 1;
      const text = lines[i].replace(/#.*/, '').trim();
      if (text === '') continue;
      try {
        this.exec(text);
        this.checkLeaders();
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new Error(`script line ${i + 1} \`${text}\`: ${msg}`, { cause: e });
      }
    }
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private addNode(id: NodeId, disk: Disk): SimNode {
    const rng = this.rng.fork();
    const opts: RaftOptions = { ...this.opts, id, rand: () => rng.next() };
    const n = new SimNode(id, opts, disk, {
      checker: this.checker,
      send: (m) => {
        const k = m.type === 'appendResp' && m.reject ? 'appendReject' : m.type;
        this.sent.set(k, (this.sent.get(k) ?? 0) + 1);
        this.queue.push(m);
      },
      holds: (v, index, term) => this.nodes.get(v)?.holds(index, term) ?? false,
      readAnswered: (node, rs) => {
        const c = this.readCommit.get(`${node}:${rs.ctx}`);
        if (c !== undefined) this.checker.readAnswered(node, rs.ctx, rs.index, c);
      },
    }, rng);
    this.nodes.set(id, n);
    n.start();
    return n;
  }

  private ids(args: string[]): NodeId[] {
    if (args.length === 1 && args[0] === 'all') return [...this.nodes.keys()];
    return args.map(Number);
  }

  private matches(m: Message, filter: string | undefined, type: string | undefined): boolean {
    if (type !== undefined && m.type !== type) return false;
    if (filter === undefined || filter === '*') return true;
    const [a, b] = filter.split('->');
    return (a === '*' || Number(a) === m.from) && (b === '*' || Number(b) === m.to);
  }

  private deliverOne(m: Message): void {
    if (this.blocked.has(`${m.from}>${m.to}`)) return;
    const n = this.nodes.get(m.to);
    if (n !== undefined && n.up) n.step(m);
  }

  private exec(text: string): void {
    const [cmd, ...args] = text.split(/\s+/);
    const kv = (s: string) => s.split('=') as [string, string];
    switch (cmd) {
      case 'cluster': {
        const ids: NodeId[] = [];
        const o: Record<string, unknown> = {};
        for (const a of args) {
          if (/^\d+$/.test(a)) ids.push(Number(a));
          else if (a === 'lease') o.readMode = 'lease';
          else {
            const [k, v] = kv(a);
            if (k === 'prevote') o.preVote = v !== 'off';
            else if (k === 'checkquorum') o.checkQuorum = v !== 'off';
            else if (k === 'threshold') o.snapshotThreshold = Number(v);
            else if (k === 'chunk') o.snapshotChunkBytes = Number(v);
            else if (k === 'inflight') o.maxInflight = Number(v);
            else if (k === 'batch') o.maxEntriesPerAppend = Number(v);
            else if (k === 'autopromote') o.autoPromote = v !== 'off';
            else throw new Error(`unknown cluster option ${a}`);
          }
        }
        this.opts = o as Partial<RaftOptions>;
        for (const id of ids) {
          const s = bootstrapState(ids);
          this.addNode(id, { hs: s.hardState, snapshot: null, entries: [...s.entries] });
        }
        return;
      }
      case 'join': {
        const s = joiningState();
        this.addNode(Number(args[0]), { hs: s.hardState, snapshot: null, entries: [] });
        return;
      }
      case 'tick': {
        let times = 1;
        const rest = args.filter((a) => {
          if (/^x\d+$/.test(a)) {
            times = Number(a.slice(1));
            return false;
          }
          return true;
        });
        const ids = this.ids(rest);
        for (let t = 0; t < times; t++) for (const id of ids) this.node(id).tick();
        return;
      }
      case 'run': {
        // Time passes on a fast network: every up node ticks, then the network drains.
        const times = Number((args[0] ?? 'x1').slice(1));
        for (let t = 0; t < times; t++) {
          for (const n of this.nodes.values()) n.tick();
          this.exec('deliver');
        }
        return;
      }
      case 'campaign': {
        const n = this.node(Number(args[0]));
        for (let t = 0; t < 1000 && n.raft!.role === 'follower'; t++) n.tick();
        if (n.raft!.role === 'follower') throw new Error(`node ${n.id} never campaigned`);
        return;
      }
      case 'deliver': {
        const [filter, type] = args;
        if (filter === undefined) {
          for (let rounds = 0; this.queue.length > 0; rounds++) {
            if (rounds > 100_000) throw new Error('network never went quiet');
            const m = this.queue.shift()!;
            this.deliverOne(m);
          }
          return;
        }
        const pick = this.queue.filter((m) => this.matches(m, filter, type));
        this.queue = this.queue.filter((m) => !this.matches(m, filter, type));
        for (const m of pick) this.deliverOne(m);
        return;
      }
      case 'drop': {
        const [filter, type] = args;
        this.queue = this.queue.filter((m) => !this.matches(m, filter, type));
        return;
      }
      case 'partition': {
        const groups: NodeId[][] = [[]];
        for (const a of args) {
          if (a === '|') groups.push([]);
          else groups[groups.length - 1].push(Number(a));
        }
        for (const g of groups) for (const h of groups) {
          if (g === h) continue;
          for (const a of g) for (const b of h) this.blocked.add(`${a}>${b}`);
        }
        return;
      }
      case 'cut': {
        const [a, b] = args[0].split('->');
        this.blocked.add(`${a}>${b}`);
        return;
      }
      case 'isolate': {
        const x = Number(args[0]);
        for (const id of this.nodes.keys()) {
          if (id === x) continue;
          this.blocked.add(`${x}>${id}`);
          this.blocked.add(`${id}>${x}`);
        }
        return;
      }
      case 'heal':
        this.blocked.clear();
        return;
      case 'propose': {
        // propose 1 text [xN]: N copies in one batch (so one Ready, one append per follower)
        let copies = 1;
        const words = args.slice(1).filter((a) => (/^x\d+$/.test(a) ? ((copies = Number(a.slice(1))), false) : true));
        const data = new TextEncoder().encode(words.join(' '));
        const ok = this.node(Number(args[0])).raft!.propose(Array.from({ length: copies }, () => data));
        this.node(Number(args[0])).process();
        if (!ok) throw new Error(`node ${args[0]} refused the proposal`);
        return;
      }
      case 'propose?': {
        // A proposal that may be refused (e.g. during a transfer); `expect` checks the outcome.
        this.node(Number(args[0])).raft!.propose(new TextEncoder().encode(args.slice(1).join(' ')));
        this.node(Number(args[0])).process();
        return;
      }
      case 'crash':
        this.node(Number(args[0])).crash();
        this.queue = this.queue.filter((m) => m.to !== Number(args[0]));
        return;
      case 'restart':
        this.node(Number(args[0])).start();
        return;
      case 'conf': {
        const n = this.node(Number(args[0]));
        const cc = { op: args[1], node: Number(args[2]) } as ConfChange;
        const want = args[3]?.startsWith('!') ? args[3].slice(1) : undefined;
        try {
          n.raft!.proposeConfChange(cc);
        } catch (e) {
          if (want !== undefined && isTrineError(e, want)) return;
          throw e;
        }
        if (want !== undefined) throw new Error(`expected error ${want}`);
        n.process();
        return;
      }
      case 'transfer': {
        const n = this.node(Number(args[0]));
        if (!n.raft!.transferLeadership(Number(args[1]))) throw new Error('transfer refused');
        n.process();
        return;
      }
      case 'read': {
        const n = this.node(Number(args[0]));
        const ctx = Number(args[1]);
        this.readCommit.set(`${n.id}:${ctx}`, this.checker.maxCommit);
        if (!n.raft!.readIndex(ctx)) throw new Error(`node ${n.id} refused the read`);
        n.process();
        return;
      }
      case 'compact': {
        const n = this.node(Number(args[0]));
        const raft = n.raft!;
        raft.compact(n.sm.index, n.sm.snapshot());
        const snap = raft.latestSnapshot()!;
        const si = n.disk.snapshot?.meta.index ?? 0;
        n.disk.entries = n.disk.entries.slice(snap.meta.index - si);
        n.disk.snapshot = snap;
        return;
      }
      case 'expect':
        this.expect(args);
        return;
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  private expect(args: string[]): void {
    if (args[0] === 'leader') {
      // expect leader 2,3: exactly one up node leads the highest term, and it is one of those.
      const allowed = args[1].split(',').map(Number);
      const up = [...this.nodes.values()].filter((n) => n.up);
      const top = Math.max(...up.map((n) => n.raft!.term));
      const leaders = up.filter((n) => n.raft!.role === 'leader' && n.raft!.term === top);
      if (leaders.length !== 1 || !allowed.includes(leaders[0].id)) {
        throw new Error(`expected one leader of term ${top} among ${allowed.join(',')}, found ${leaders.map((n) => n.id).join(',') || 'none'}`);
      }
      return;
    }
    if (args[0] === 'queue') {
      const n = Number(args[args.length - 1]);
      const filter = args.length > 2 ? args[1] : undefined;
      const type = args.length > 3 ? args[2] : undefined;
      const got = this.queue.filter((m) => this.matches(m, filter, type)).length;
      if (got !== n) throw new Error(`expected ${n} queued ${filter ?? ''} ${type ?? ''} messages, found ${got}`);
      return;
    }
    const n = this.node(Number(args[0]));
    for (const a of args.slice(1)) {
      const [k, want] = a.split('=') as [string, string];
      const got = this.observe(n, k);
      if (got !== want) throw new Error(`node ${n.id}: expected ${k}=${want}, got ${k}=${got}`);
    }
  }

  private observe(n: SimNode, k: string): string {
    if (k === 'up') return String(n.up);
    const r = n.raft;
    if (r === null) return 'down';
    const st = r.status();
    const log = r.log;
    const dec = new TextDecoder();
    if (k.startsWith('read')) return String(n.doneReads.get(Number(k.slice(4))) ?? 'none');
    switch (k) {
      case 'role': return st.role;
      case 'term': return String(st.term);
      case 'lead': return String(st.lead);
      case 'vote': return String(st.vote);
      case 'commit': return String(st.commit);
      case 'applied': return String(n.sm.index);
      case 'last': return String(st.lastIndex);
      case 'snap': return String(st.snapIndex);
      case 'voters': return st.conf.voters.join(',');
      case 'learners': return st.conf.learners.join(',') || 'none';
      case 'terms': return log.entries.map((e) => e.term).join(',');
      case 'data': return log.entries.filter((e) => e.type === 'normal').map((e) => dec.decode(e.data)).join(',');
      case 'transferee': return String(st.leadTransferee);
      default: throw new Error(`unknown expectation ${k}`);
    }
  }

  private checkLeaders(): void {
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r === null || r.role !== 'leader') continue;
      this.checker.leader(n.id, r.term, (i) => (i <= r.log.snapIndex ? 0 : r.log.term(i)));
    }
  }
}

export function runScript(script: string): ScriptCluster {
  const c = new ScriptCluster();
  c.run(script);
  return c;
}
