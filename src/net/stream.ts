/**
 * One direction pair of a multiplexed stream. A stream carries messages, each framed as a 4-byte
 * big-endian length then the bytes; the receiver hands out whole messages in order.
 *
 * Send side: bytes stay buffered until acknowledged; lost ranges are queued for retransmission.
 * Receive side: out-of-order segments wait until contiguous, then feed the message assembler;
 * the assembler stops while complete messages the reader has not taken exceed the read-queue
 * limit, and flow-control credit is returned only for bytes the assembler has taken. A slow
 * reader therefore stops the sender, and memory stays bounded by the windows.
 */
import { TrineError } from '../crypto/index.ts';
import { MAX_MESSAGE_BYTES, MAX_STREAM_SEGMENTS, SMALL_MESSAGE_BYTES } from './limits.ts';
import { RangeSet } from './range-set.ts';

export const MESSAGE_HEADER_BYTES = 4;


export class SendStream {
  private chunks: Uint8Array[] = [];
  private starts: number[] = [];
  /** Index of the first chunk still held. */
  private head = 0;
  /** Total bytes ever enqueued: the offset the next write lands at. */
  writeOffset = 0;
  /** Offset of the first byte never sent. */
  nextNew = 0;
  /** Everything below this offset is acknowledged and released. */
  ackedPrefix = 0;
  readonly acked = new RangeSet();
  readonly retransmit = new RangeSet();
  /** The peer's limit for this stream (MAX_STREAM_DATA). */
  maxData: number;
  finRequested = false;
  finSent = false;
  finAcked = false;
  /** Set when a lost packet carried the fin and it must go out again. */
  finLost = false;

  constructor(maxData: number) {
    this.maxData = maxData;
  }

  /** Appends one framed message. The caller must not modify `message` afterwards (it is not copied). */
  enqueueMessage(message: Uint8Array): void {
    if (this.finRequested) throw new TrineError('NET_STREAM_FINISHED', 'this stream was finished; open a new stream to send more');
    if (message.length > MAX_MESSAGE_BYTES) throw new TrineError('NET_MESSAGE_TOO_LARGE', `a message may be at most ${MAX_MESSAGE_BYTES} bytes; split it`);
    const n = message.length;
    if (n <= SMALL_MESSAGE_BYTES) {
      // Small messages: one buffer with the header, so the send path walks fewer chunks.
      const b = new Uint8Array(MESSAGE_HEADER_BYTES + n);
      b[0] = n >>> 24; b[1] = n >>> 16; b[2] = n >>> 8; b[3] = n;
      b.set(message, MESSAGE_HEADER_BYTES);
      this.push(b);
      return;
    }
    const h = Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n);
    this.push(h);
    this.push(message);
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.starts.push(this.writeOffset);
    this.writeOffset += b.length;
  }

  /** Bytes enqueued and not yet acknowledged. */
  buffered(): number {
    return this.writeOffset - this.ackedPrefix;
  }

  /** Bytes [offset, offset + len), which must still be held. */
  read(offset: number, len: number): Uint8Array {
    let lo = this.head, hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    let i = lo;
    const first = this.chunks[i]!, fs = this.starts[i]!;
    if (offset - fs + len <= first.length) return first.subarray(offset - fs, offset - fs + len);
    const out = new Uint8Array(len);
    let filled = 0;
    while (filled < len) {
      const c = this.chunks[i]!, s = this.starts[i]!;
      const from = offset + filled - s;
      const n = Math.min(c.length - from, len - filled);
      out.set(c.subarray(from, from + n), filled);
      filled += n;
      i++;
    }
    return out;
  }

  /** Marks [start, end) acknowledged and releases the acknowledged prefix. */
  onAcked(start: number, end: number, fin: boolean): void {
    if (end > start) {
      this.acked.add(start, end);
      this.retransmit.remove(start, end);
      const prefix = this.acked.contiguousEnd(0);
      if (prefix > this.ackedPrefix) {
        this.ackedPrefix = prefix;
        while (this.head < this.chunks.length && this.starts[this.head]! + this.chunks[this.head]!.length <= prefix) {
          this.chunks[this.head] = EMPTY;
          this.head++;
        }
        // Compact occasionally so the arrays do not grow without bound on a long-lived stream.
        if (this.head > 1024 && this.head * 2 > this.chunks.length) {
          this.chunks = this.chunks.slice(this.head);
          this.starts = this.starts.slice(this.head);
          this.head = 0;
        }
      }
    }
    if (fin) { this.finAcked = true; this.finLost = false; }
  }

  onLost(start: number, end: number, fin: boolean): void {
    for (const [s, e] of this.acked.gaps(start, end)) this.retransmit.add(s, e);
    if (fin && !this.finAcked) this.finLost = true;
  }

  /** True when there is something this stream could put in a packet (ignoring the connection window). */
  wantsToSend(): boolean {
    return !this.retransmit.isEmpty() || (this.nextNew < this.writeOffset && this.nextNew < this.maxData)
      || (this.finRequested && (!this.finSent || this.finLost) && this.nextNew === this.writeOffset);
  }

  /** Fully delivered: everything including the fin is acknowledged. */
  done(): boolean {
    return this.finAcked && this.ackedPrefix === this.writeOffset;
  }
}

const EMPTY = new Uint8Array(0);

export class RecvStream {
  /** Out-of-order segments at or beyond `contiguous`, ascending by offset, non-overlapping. */
  private segOffsets: number[] = [];
  private segData: Uint8Array[] = [];
  /** Bytes below this offset have been taken by the assembler. */
  contiguous = 0;
  /** Highest offset + 1 seen (counts against the connection window). */
  highest = 0;
  /** The limit we advertised (MAX_STREAM_DATA). */
  maxLocal: number;
  /** Current window size (grows by auto-tuning) and when credit was last extended. */
  window: number;
  lastCreditAt = -Infinity;
  finalSize: number | undefined;
  /** The 'finished' event went out (it is reported once). */
  finishReported = false;

  private header = new Uint8Array(MESSAGE_HEADER_BYTES);
  private headerFill = 0;
  private msgLen = -1;
  private parts: Uint8Array[] = [];
  private partFill = 0;

  private queue: Uint8Array[] = [];
  private queueHead = 0;
  queuedBytes = 0;

  constructor(maxLocal: number) {
    this.maxLocal = maxLocal;
    this.window = maxLocal;
  }

  /**
   * Accepts a STREAM frame. Returns the increase of `highest` (for connection flow control), or
   * throws TrineError('NET_PROTOCOL') when the peer broke the rules (window, final size).
   */
  receive(offset: number, data: Uint8Array, fin: boolean): number {
    const end = offset + data.length;
    if (end > this.maxLocal) throw new TrineError('NET_FLOW_CONTROL', 'the peer sent beyond the stream window');
    if (this.finalSize !== undefined && (end > this.finalSize || (fin && end !== this.finalSize))) throw new TrineError('NET_PROTOCOL', 'the peer changed a stream\'s final size');
    if (fin) {
      if (end < this.highest) throw new TrineError('NET_PROTOCOL', 'the peer set a final size below data it sent');
      this.finalSize = end;
    }
    const grew = Math.max(0, end - this.highest);
    this.highest = Math.max(this.highest, end);
    if (end <= this.contiguous || data.length === 0) return grew;
    let s = offset, d = data;
    if (s < this.contiguous) { d = d.subarray(this.contiguous - s); s = this.contiguous; }
    this.insert(s, d);
    return grew;
  }

  private insert(offset: number, data: Uint8Array): void {
    // Find the insertion point, then trim against neighbours so segments never overlap.
    let lo = 0, hi = this.segOffsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segOffsets[mid]! < offset) lo = mid + 1; else hi = mid;
    }
    let s = offset, d = data;
    if (lo > 0) {
      const ps = this.segOffsets[lo - 1]!, pe = ps + this.segData[lo - 1]!.length;
      if (pe >= s + d.length) return;
      if (pe > s) { d = d.subarray(pe - s); s = pe; }
    }
    // Absorb or trim following segments that this one overlaps.
    while (lo < this.segOffsets.length) {
      const ns = this.segOffsets[lo]!, nd = this.segData[lo]!;
      const e = s + d.length;
      if (ns >= e) break;
      if (ns + nd.length <= e) { this.segOffsets.splice(lo, 1); this.segData.splice(lo, 1); continue; }
      d = d.subarray(0, ns - s);
      break;
    }
    if (d.length === 0) return;
    if (this.segOffsets.length >= MAX_STREAM_SEGMENTS) throw new TrineError('NET_PROTOCOL', 'the peer fragmented a stream beyond the segment limit');
    this.segOffsets.splice(lo, 0, s);
    this.segData.splice(lo, 0, d);
  }

  /**
   * Feeds contiguous bytes into the assembler while the unread queue is under `queueLimit`.
   * Returns the number of bytes taken (flow-control credit to return).
   */
  pump(queueLimit: number): number {
    let taken = 0;
    while (this.segOffsets.length && this.segOffsets[0] === this.contiguous && this.queuedBytes < queueLimit) {
      const d = this.segData[0]!;
      const used = this.assemble(d, queueLimit);
      taken += used;
      this.contiguous += used;
      if (used === d.length) { this.segOffsets.shift(); this.segData.shift(); }
      else { this.segData[0] = d.subarray(used); this.segOffsets[0] = this.contiguous; }
    }
    return taken;
  }

  /** Consumes bytes of `d` into messages; stops early once the queue reaches the limit. */
  private assemble(d: Uint8Array, queueLimit: number): number {
    let p = 0;
    while (p < d.length && this.queuedBytes < queueLimit) {
      if (this.msgLen < 0 && this.headerFill === 0 && d.length - p >= MESSAGE_HEADER_BYTES) {
        // Fast path: a whole header here, and often the whole message too.
        const len = ((d[p]! << 24) | (d[p + 1]! << 16) | (d[p + 2]! << 8) | d[p + 3]!) >>> 0;
        if (len > MAX_MESSAGE_BYTES) throw new TrineError('NET_PROTOCOL', 'the peer sent a message larger than the limit');
        p += MESSAGE_HEADER_BYTES;
        if (d.length - p >= len) {
          this.complete(d.slice(p, p + len));
          p += len;
        } else {
          this.msgLen = len;
        }
        continue;
      }
      if (this.msgLen < 0) {
        const n = Math.min(MESSAGE_HEADER_BYTES - this.headerFill, d.length - p);
        this.header.set(d.subarray(p, p + n), this.headerFill);
        this.headerFill += n;
        p += n;
        if (this.headerFill === MESSAGE_HEADER_BYTES) {
          const len = new DataView(this.header.buffer).getUint32(0);
          if (len > MAX_MESSAGE_BYTES) throw new TrineError('NET_PROTOCOL', 'the peer sent a message larger than the limit');
          this.msgLen = len;
          this.headerFill = 0;
          if (len === 0) this.complete(new Uint8Array(0));
        }
        continue;
      }
      const n = Math.min(this.msgLen - this.partFill, d.length - p);
      this.parts.push(d.subarray(p, p + n));
      this.partFill += n;
      p += n;
      if (this.partFill === this.msgLen) {
        let msg: Uint8Array;
        if (this.parts.length === 1) msg = this.parts[0]!.slice();
        else {
          msg = new Uint8Array(this.msgLen);
          let o = 0;
          for (const part of this.parts) { msg.set(part, o); o += part.length; }
        }
        this.parts = [];
        this.partFill = 0;
        this.complete(msg);
      }
    }
    return p;
  }

  private complete(msg: Uint8Array): void {
    this.msgLen = -1;
    this.queue.push(msg);
    this.queuedBytes += msg.length + MESSAGE_HEADER_BYTES;
  }

  /** Takes the next complete message, if any. */
  take(): Uint8Array | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const m = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = EMPTY;
    if (this.queueHead > 64 && this.queueHead * 2 > this.queue.length) { this.queue = this.queue.slice(this.queueHead); this.queueHead = 0; }
    this.queuedBytes -= m.length + MESSAGE_HEADER_BYTES;
    return m;
  }

  hasMessage(): boolean {
    return this.queueHead < this.queue.length;
  }

  /** All data up to the final size was taken and every message handed out. */
  finished(): boolean {
    return this.finalSize !== undefined && this.contiguous === this.finalSize && !this.hasMessage();
  }

  /** True when the stream ended in the middle of a message. */
  truncatedMessage(): boolean {
    return this.msgLen >= 0 || this.headerFill > 0;
  }

  /** Bytes held in memory (segments, partial message, queue): bounded by the windows. */
  memory(): number {
    let n = this.queuedBytes + this.partFill;
    for (const d of this.segData) n += d.length;
    return n;
  }
}
