/**
 * A set of non-negative integers kept as sorted, disjoint, non-adjacent half-open ranges
 * [start, end). Used for received packet numbers (ACK ranges, replay detection), acknowledged
 * stream bytes, and stream bytes awaiting retransmission.
 */
export class RangeSet {
  /** Flat [start0, end0, start1, end1, ...], ascending. */
  private r: number[] = [];

  get rangeCount(): number {
    return this.r.length / 2;
  }

  isEmpty(): boolean {
    return this.r.length === 0;
  }

  /** Smallest member, or undefined. */
  min(): number | undefined {
    return this.r.length ? this.r[0] : undefined;
  }

  /** Largest member + 1, or undefined. */
  end(): number | undefined {
    return this.r.length ? this.r[this.r.length - 1] : undefined;
  }

  /** The ranges, ascending, as [start, end) pairs. */
  *ranges(): IterableIterator<[number, number]> {
    for (let i = 0; i < this.r.length; i += 2) yield [this.r[i]!, this.r[i + 1]!];
  }

  /** The ranges, descending. */
  *rangesDescending(): IterableIterator<[number, number]> {
    for (let i = this.r.length - 2; i >= 0; i -= 2) yield [this.r[i]!, this.r[i + 1]!];
  }

  /** Index of the first range whose end >= x (binary search over range ends). */
  private firstEndingAtOrAfter(x: number): number {
    let lo = 0, hi = this.r.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.r[2 * mid + 1]! < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  has(x: number): boolean {
    const i = this.firstEndingAtOrAfter(x + 1);
    return i < this.r.length / 2 && this.r[2 * i]! <= x;
  }

  /** True when all of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (start >= end) return true;
    const i = this.firstEndingAtOrAfter(end);
    return i < this.r.length / 2 && this.r[2 * i]! <= start;
  }

  add(start: number, end: number = start + 1): void {
    if (start >= end) return;
    // Fast path: appending at or after the last range (the common case for packet numbers).
    const n = this.r.length;
    if (n === 0 || start > this.r[n - 1]!) { this.r.push(start, end); return; }
    if (start >= this.r[n - 2]! && start <= this.r[n - 1]!) {
      if (end > this.r[n - 1]!) this.r[n - 1] = end;
      return;
    }
    const i = this.firstEndingAtOrAfter(start);
    let j = i;
    let s = start, e = end;
    while (j < this.r.length / 2 && this.r[2 * j]! <= e) {
      s = Math.min(s, this.r[2 * j]!);
      e = Math.max(e, this.r[2 * j + 1]!);
      j++;
    }
    this.r.splice(2 * i, 2 * (j - i), s, e);
  }

  remove(start: number, end: number): void {
    if (start >= end || this.r.length === 0) return;
    const out: number[] = [];
    const i0 = this.firstEndingAtOrAfter(start + 1);
    for (let k = 0; k < 2 * i0; k++) out.push(this.r[k]!);
    let k = i0;
    for (; k < this.r.length / 2; k++) {
      const s = this.r[2 * k]!, e = this.r[2 * k + 1]!;
      if (s >= end) break;
      if (s < start) out.push(s, start);
      if (e > end) out.push(end, e);
    }
    for (let m = 2 * k; m < this.r.length; m++) out.push(this.r[m]!);
    this.r = out;
  }

  /** Removes everything below x. */
  removeBelow(x: number): void {
    const i = this.firstEndingAtOrAfter(x + 1);
    if (i > 0) this.r.splice(0, 2 * i);
    if (this.r.length && this.r[0]! < x) this.r[0] = x;
  }

  /** Drops the oldest ranges so at most `n` remain. */
  keepNewest(n: number): void {
    if (this.r.length > 2 * n) this.r.splice(0, this.r.length - 2 * n);
  }

  /** The first range (lowest), or undefined. */
  first(): [number, number] | undefined {
    return this.r.length ? [this.r[0]!, this.r[1]!] : undefined;
  }

  /** End of the range that contains `start`, or `start` if none does (the contiguous prefix end from there). */
  contiguousEnd(start: number): number {
    const i = this.firstEndingAtOrAfter(start + 1);
    if (i < this.r.length / 2 && this.r[2 * i]! <= start) return this.r[2 * i + 1]!;
    return start;
  }

  /** Parts of [start, end) that are not in the set. */
  gaps(start: number, end: number): [number, number][] {
    const out: [number, number][] = [];
    let cur = start;
    let i = this.firstEndingAtOrAfter(start + 1);
    while (cur < end) {
      if (i >= this.r.length / 2) { out.push([cur, end]); break; }
      const s = this.r[2 * i]!, e = this.r[2 * i + 1]!;
      if (s >= end) { out.push([cur, end]); break; }
      if (s > cur) out.push([cur, s]);
      cur = Math.max(cur, e);
      i++;
    }
    return out;
  }
}
