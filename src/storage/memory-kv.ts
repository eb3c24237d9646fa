/**
 * An in-memory KvStore with real snapshots (multi-version entries by sequence number). Used by
 * unit tests of the layers above and by the SQL benchmark's in-memory run. Not durable.
 */
import { sameBytes } from './codec.ts';
import { SortedMap } from './sorted-map.ts';
import { copyBytes, hashBytes, type Bytes, type KeyRange, type KvEntry, type KvSnapshot, type KvStore, type WriteFlags, type WriteOp } from './kv.ts';

/** One version of a key; `value` undefined is a deletion. Newest first. */
interface Version {
  seq: number;
  value: Bytes | undefined;
  /** The next older version still visible to some snapshot. */
  older: Version | undefined;
}

/** A key's newest version, which also carries the key for the point index. */
interface Head extends Version {
  readonly key: Bytes;
  readonly hash: number;
}

/** A removed key's slot in the point index: probing goes on past it. */
const REMOVED: Head = { seq: 0, value: undefined, older: undefined, key: new Uint8Array(0), hash: 0.5 };

/**
 * The point index: open addressing over the keys' bytes, linear probing. A Map keyed by binary
 * strings cost a string per key written or read, and most of a bulk commit's time.
 */
class PointIndex {
  private slots: (Head | undefined)[] = new Array<Head | undefined>(64).fill(undefined);
  /** Slots not undefined (live and REMOVED): probing ends at an undefined one, so this stays under half. */
  private filled = 0;

  get(key: Bytes, h: number): Head | undefined {
    const slots = this.slots, mask = slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = slots[i];
      if (s === undefined) return undefined;
      if (s.hash === h && sameBytes(s.key, key)) return s;
    }
  }

  /** Adds a head whose key is not in the index. */
  add(head: Head): void {
    if ((this.filled + 1) * 2 > this.slots.length) this.resize();
    const slots = this.slots, mask = slots.length - 1;
    let i = head.hash & mask;
    for (;;) {
      const s = slots[i];
      if (s === REMOVED) break;
      if (s === undefined) { this.filled++; break; }
      i = (i + 1) & mask;
    }
    slots[i] = head;
  }

  remove(head: Head): void {
    const slots = this.slots, mask = slots.length - 1;
    for (let i = head.hash & mask; ; i = (i + 1) & mask) {
      const s = slots[i];
      if (s === undefined) return;
      if (s === head) { slots[i] = REMOVED; return; }
    }
  }

  /** Rebuilds without REMOVED slots, doubling when live keys fill a quarter or more. */
  private resize(): void {
    const old = this.slots;
    let live = 0;
    for (const s of old) if (s !== undefined && s !== REMOVED) live++;
    const size = live * 4 >= old.length ? old.length * 2 : old.length;
    this.slots = new Array<Head | undefined>(size).fill(undefined);
    this.filled = 0;
    for (const s of old) if (s !== undefined && s !== REMOVED) this.add(s);
  }
}

/** Batches of at least this many key and value bytes are copied into one shared buffer. */
const ARENA_MIN_BYTES = 4096;


export class MemoryKv implements KvStore {
  /** Ordered view, for scans. Holds the same heads as `points`. */
  private readonly map = new SortedMap<Version>();
  /**
   * Point index over the same entries: a memcmp binary search over byte keys costs ~20
   * comparisons per lookup, a hash lookup one. Gets and writes to existing keys use only this.
   */
  private readonly points = new PointIndex();
  private seq = 0;
  /** Pinned snapshot sequence numbers -> how many snapshots pin each. */
  private readonly pins = new Map<number, number>();

  get sequence(): number {
    return this.seq;
  }

  private oldestPinned(): number {
    let min = Infinity;
    for (const s of this.pins.keys()) if (s < min) min = s;
    return min;
  }

  /**
   * Versions of a key are a chain from its newest one; the head object stays the same for the key's
   * life (a write moves the head's content into a new older node), so both indexes keep pointing
   * at it. One object per key, where an array of versions was three.
   */
  private static visible(v: Version | undefined, seq: number): Bytes | undefined {
    for (; v !== undefined; v = v.older) if (v.seq <= seq) return v.value;
    return undefined;
  }

  get(key: Bytes): Bytes | undefined {
    const head = this.points.get(key, hashBytes(key));
    return head ? head.value : undefined;
  }

  scan(range: KeyRange = {}): IterableIterator<KvEntry> {
    return this.scanAt(Infinity, range);
  }

  private *scanAt(seq: number, range: KeyRange): IterableIterator<KvEntry> {
    let limit = range.limit ?? Infinity;
    if (limit <= 0) return;
    for (const [key, vs] of this.map.entries({ ...range, limit: undefined })) {
      const value = MemoryKv.visible(vs, seq);
      if (value === undefined) continue;
      yield { key, value };
      if (--limit <= 0) return;
    }
  }

  snapshot(): KvSnapshot {
    const seq = this.seq;
    this.pins.set(seq, (this.pins.get(seq) ?? 0) + 1);
    let released = false;
    return {
      get: (key: Bytes) => {
        return MemoryKv.visible(this.points.get(key, hashBytes(key)), seq);
      },
      scan: (range: KeyRange = {}) => this.scanAt(seq, range),
      release: () => {
        if (released) return;
        released = true;
        const n = this.pins.get(seq)! - 1;
        if (n === 0) this.pins.delete(seq);
        else this.pins.set(seq, n);
      },
    };
  }

  /** The buffer the running write() copies into (undefined: copy each array on its own). */
  private arena: Uint8Array | undefined;
  private arenaAt = 0;

  /** The running write() keeps the caller's arrays (`owned`). */
  private owned = false;

  private copy(b: Bytes): Bytes {
    if (this.owned) return b;
    const arena = this.arena;
    if (arena === undefined) return copyBytes(b);
    const at = this.arenaAt;
    arena.set(b, at);
    this.arenaAt = at + b.length;
    return new Uint8Array(arena.buffer, at, b.length);
  }

  write(batch: readonly WriteOp[], flags?: WriteFlags): void {
    const seq = ++this.seq;
    const keep = this.oldestPinned();
    this.owned = flags?.owned === true;
    // The caller may reuse its buffers, so keys and values are copied. A large batch is copied
    // into one buffer (one allocation instead of one per key and per value, which made the copies
    // most of a bulk commit's cost). A small one is not: views into a small (V8 on-heap) buffer
    // force it off the heap, which cost a third of a one-row autocommit UPDATE.
    let bytes = 0;
    for (const op of batch) bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
    this.arena = !this.owned && bytes >= ARENA_MIN_BYTES ? new Uint8Array(bytes) : undefined;
    this.arenaAt = 0;
    for (const op of batch) {
      const value = op.type === 'put' ? this.copy(op.value) : undefined;
      const h = hashBytes(op.key);
      // A key past every stored key (bulk loads, ascending rowids) is new: no lookup needed.
      if (value !== undefined && this.map.pastEnd(op.key)) {
        const nv: Head = { seq, value, older: undefined, key: this.copy(op.key), hash: h };
        this.map.append(nv.key, nv);
        this.points.add(nv);
        continue;
      }
      const head = this.points.get(op.key, h);
      if (!head) {
        if (value !== undefined || keep !== Infinity) {
          const nv: Head = { seq, value, older: undefined, key: this.copy(op.key), hash: h };
          this.map.set(nv.key, nv);
          this.points.add(nv);
        }
        continue;
      }
      if (head.seq !== seq) {
        // The current newest version moves down the chain, unless no snapshot is pinned to need it.
        head.older = keep === Infinity ? undefined : { seq: head.seq, value: head.value, older: head.older };
        head.seq = seq;
      }
      head.value = value;
      // Drop versions no snapshot can see: keep every version newer than the oldest pin, plus
      // the newest one at or below it.
      for (let v: Version = head; v.older !== undefined; v = v.older) {
        if (v.seq <= keep) { v.older = undefined; break; }
      }
      if (keep === Infinity && head.value === undefined) { this.map.delete(op.key); this.points.remove(head); }
    }
    this.arena = undefined;
  }
}
