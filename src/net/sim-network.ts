/**
 * A deterministic simulated network for endpoints: one virtual clock, and per-datagram loss,
 * duplication, delay with jitter (which reorders), and optionally a bottleneck with a drop-tail
 * queue. Everything random comes from one seed, so a failing run replays exactly.
 * Used by the transport's tests and available to higher-level simulators.
 */
import type { Endpoint, Transmit } from './endpoint.ts';

/** Small, fast, seedable PRNG (splitmix32 then xorshift-multiply), good enough for simulation. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let z = (this.s = (this.s + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

export interface LinkConfig {
  /** Probability a datagram is dropped. */
  loss?: number;
  /** Probability a datagram is delivered twice. */
  duplicate?: number;
  /** One-way base delay. */
  delayMs?: number;
  /** Extra uniform random delay in [0, jitterMs): datagrams overtake each other. */
  jitterMs?: number;
  /** Bottleneck rate; omit for unlimited. */
  bytesPerMs?: number;
  /** Drop-tail queue at the bottleneck, in bytes. */
  queueBytes?: number;
}

interface InFlight {
  at: number;
  seq: number;
  from: string;
  to: string;
  data: Uint8Array;
}

/** Binary min-heap on (at, seq). */
class Heap {
  private a: InFlight[] = [];
  get size(): number { return this.a.length; }
  peek(): InFlight | undefined { return this.a[0]; }
  private less(i: number, j: number): boolean {
    const x = this.a[i]!, y = this.a[j]!;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }
  push(v: InFlight): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): InFlight | undefined {
    const a = this.a;
    if (!a.length) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.less(l, m)) m = l;
        if (r < a.length && this.less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

export class SimNetwork {
  now: number;
  readonly rng: Prng;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly heap = new Heap();
  private seq = 0;
  private readonly busyUntil = new Map<string, number>();
  /** Datagrams handed to the network, dropped by it, and delivered. */
  readonly stats = { sent: 0, lost: 0, duplicated: 0, delivered: 0 };
  /** Called for every datagram sent (tests use it to capture or tamper). Return false to swallow it. */
  tap: ((t: { from: string; to: string; data: Uint8Array }) => boolean) | undefined;

  constructor(seed: number, public link: LinkConfig = {}, startMs = 1_700_000_000_000) {
    this.rng = new Prng(seed);
    this.now = startMs;
  }

  add(address: string, endpoint: Endpoint): void {
    this.endpoints.set(address, endpoint);
  }

  /** Moves an endpoint to a new address (a NAT rebinding, or a restart elsewhere). */
  move(from: string, to: string): void {
    const ep = this.endpoints.get(from);
    if (!ep) throw new Error(`no endpoint at ${from}`);
    this.endpoints.delete(from);
    this.endpoints.set(to, ep);
  }

  /** Injects a datagram as if `from` sent it (for attack tests). */
  inject(from: string, to: string, data: Uint8Array, delayMs = 0): void {
    this.heap.push({ at: this.now + delayMs, seq: this.seq++, from, to, data });
  }

  private transmit(from: string, t: Transmit): void {
    this.stats.sent++;
    if (this.tap && !this.tap({ from, to: t.address, data: t.data })) return;
    const l = this.link;
    if (l.loss && this.rng.next() < l.loss) { this.stats.lost++; return; }
    const copies = l.duplicate && this.rng.next() < l.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    let base = this.now;
    if (l.bytesPerMs) {
      const key = `${from}>${t.address}`;
      const busy = Math.max(this.busyUntil.get(key) ?? 0, this.now);
      if (l.queueBytes !== undefined && (busy - this.now) * l.bytesPerMs > l.queueBytes) { this.stats.lost++; return; }
      base = busy + t.data.length / l.bytesPerMs;
      this.busyUntil.set(key, base);
    }
    for (let c = 0; c < copies; c++) {
      const at = base + (l.delayMs ?? 0) + (l.jitterMs ? this.rng.next() * l.jitterMs : 0);
      this.heap.push({ at, seq: this.seq++, from, to: t.address, data: t.data });
    }
  }

  /** Sends everything every endpoint has ready now. */
  flush(): void {
    let any = true;
    while (any) {
      any = false;
      for (const [addr, ep] of this.endpoints) {
        for (let t = ep.poll(this.now); t; t = ep.poll(this.now)) { this.transmit(addr, t); any = true; }
      }
    }
  }

  /** Time of the next delivery or timer, or Infinity when the network is idle. */
  nextEventTime(): number {
    let t = this.heap.peek()?.at ?? Infinity;
    for (const ep of this.endpoints.values()) t = Math.min(t, ep.nextTimeout());
    return t;
  }

  /**
   * Advances to the next event (never past `limit`), delivers what is due, fires due timers, and
   * flushes. Returns false when nothing is scheduled before `limit`.
   */
  step(limit = Infinity): boolean {
    this.flush();
    const t = this.nextEventTime();
    if (t === Infinity || t > limit) { if (limit !== Infinity) this.now = Math.max(this.now, limit); return false; }
    this.now = Math.max(this.now, t);
    for (let d = this.heap.peek(); d && d.at <= this.now; d = this.heap.peek()) {
      this.heap.pop();
      const ep = this.endpoints.get(d.to);
      if (ep) { this.stats.delivered++; ep.handleDatagram(this.now, d.from, d.data); }
    }
    for (const ep of this.endpoints.values()) if (ep.nextTimeout() <= this.now) ep.handleTimeout(this.now);
    this.flush();
    // A timer still due after it was handled would make a real driver spin: fail loudly instead.
    for (const [addr, ep] of this.endpoints) {
      if (ep.nextTimeout() <= this.now) throw new Error(`endpoint ${addr}: a timer is still due at ${this.now} after handling it`);
    }
    return true;
  }

  /** Steps until `done()` holds or the virtual clock passes `untilMs`; returns done(). */
  runUntil(done: () => boolean, maxVirtualMs: number, onStep?: () => void): boolean {
    const end = this.now + maxVirtualMs;
    while (!done()) {
      if (!this.step(end)) { onStep?.(); if (done()) return true; return false; }
      onStep?.();
    }
    return true;
  }
}
