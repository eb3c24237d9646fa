/** Decoded blocks by (table id, offset), least recently used evicted past a byte limit. */
import type { Block } from './block.ts';

export class BlockCache {
  private readonly map = new Map<string, Block>();
  bytes = 0;
  hits = 0;
  misses = 0;
  constructor(readonly limit: number) {}

  get(key: string): Block | undefined {
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

  set(key: string, b: Block): void {
    if (b.bytes > this.limit) return;
    const old = this.map.get(key);
    if (old) { this.bytes -= old.bytes; this.map.delete(key); }
    this.map.set(key, b);
    this.bytes += b.bytes;
    while (this.bytes > this.limit) {
      const [k, v] = this.map.entries().next().value!;
      this.map.delete(k);
      this.bytes -= v.bytes;
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
