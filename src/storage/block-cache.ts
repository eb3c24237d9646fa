/** Decoded blocks by (table id, block number), least recently used evicted past a byte limit. */
import type { Block } from './block.ts';

export class BlockCache {
  private readonly map = new Map<number, Block>();
  bytes = 0;
  /** The cache key of block `block` of table `table` (tables hold far fewer than 2^22 blocks). */
  static key(table: number, block: number): number {
    return table * 0x400000 + block;
  }
  hits = 0;
  misses = 0;
  constructor(readonly limit: number) {}

  get(key: number): Block | undefined {
    const b = this.map.get(key);
    if (b) {
      this.hits++;
      // Re-insert to mark it most recently used (Map keeps insertion order).
      this.map.delete(key);
      this.map.set(key, b);
    } else {
      this.misses++;
    }
    return b;
  }

  /** A lookup that neither counts nor refreshes recency (for compaction's one-pass reads). */
  peek(key: number): Block | undefined {
    return this.map.get(key);
  }

  set(key: number, b: Block): void {
    if (b.bytes > this.limit) return;
    const old = this.map.get(key);
    if (old) { this.bytes -= old.bytes; this.map.delete(key); }
    this.map.set(key, b);
    this.bytes += b.bytes;
    while (this.bytes > this.limit) {
      for (const [k, v] of this.map) {
        this.map.delete(k);
        this.bytes -= v.bytes;
        break;
      }
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
