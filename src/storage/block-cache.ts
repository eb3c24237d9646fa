/**
 * Decoded blocks by (table id, block number), evicted past a byte limit in least-recently-used
 * order with second chances (CLOCK): a hit only marks its block, and eviction moves a marked
 * block back to the front instead of dropping it. Moving every hit to the front of the list cost
 * a tenth of a cached point read. The order is a linked list: a Map used as its own LRU (delete +
 * re-insert) degrades, because V8 skips every deleted slot when it iterates from the oldest entry.
 */
import type { Block } from './block.ts';

interface Node {
  key: number;
  block: Block;
  /** Bytes charged for this block (its `bytes` when it was last measured). */
  size: number;
  /** Used since it was last put at the front: spared once by eviction. */
  ref: boolean;
  prev: Node | undefined;
  next: Node | undefined;
}

export class BlockCache {
  private readonly map = new Map<number, Node>();
  /** Most recently inserted (or spared) first. */
  private head: Node | undefined;
  private tail: Node | undefined;
  bytes = 0;
  hits = 0;
  misses = 0;
  constructor(readonly limit: number) {}

  /** The cache key of block `block` of table `table` (tables hold far fewer than 2^22 blocks). */
  static key(table: number, block: number): number {
    return table * 0x400000 + block;
  }

  private unlink(n: Node): void {
    if (n.prev) n.prev.next = n.next; else this.head = n.next;
    if (n.next) n.next.prev = n.prev; else this.tail = n.prev;
    n.prev = n.next = undefined;
  }

  private pushFront(n: Node): void {
    n.next = this.head;
    if (this.head) this.head.prev = n;
    this.head = n;
    this.tail ??= n;
  }

  get(key: number): Block | undefined {
    const n = this.map.get(key);
    if (!n) { this.misses++; return undefined; }
    this.hits++;
    n.ref = true;
    return n.block;
  }

  /** A lookup that neither counts nor refreshes recency (for compaction's one-pass reads). */
  peek(key: number): Block | undefined {
    return this.map.get(key)?.block;
  }

  set(key: number, block: Block): void {
    if (block.bytes > this.limit) return;
    const old = this.map.get(key);
    if (old) { this.bytes -= old.size; this.unlink(old); this.map.delete(key); }
    const n: Node = { key, block, size: block.bytes, ref: false, prev: undefined, next: undefined };
    this.map.set(key, n);
    this.pushFront(n);
    this.bytes += n.size;
    this.evict();
  }

  /** Charges a cached block again after it grew (a cursor decoded it into arrays). */
  resize(key: number): void {
    const n = this.map.get(key);
    if (!n) return;
    const size = n.block.bytes;
    this.bytes += size - n.size;
    n.size = size;
    this.evict();
  }

  private evict(): void {
    while (this.bytes > this.limit && this.tail) {
      const t = this.tail;
      this.unlink(t);
      if (t.ref) { t.ref = false; this.pushFront(t); continue; }
      this.map.delete(t.key);
      this.bytes -= t.size;
    }
  }

  clear(): void {
    this.map.clear();
    this.head = this.tail = undefined;
    this.bytes = 0;
  }
}
