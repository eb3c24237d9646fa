/**
 * Frames carried inside an authenticated DATA packet. A packet's plaintext is a sequence of frames;
 * each begins with a one-byte type. Varints are QUIC's (see codec.ts).
 *
 *   PADDING          0x00 (the rest of the packet is padding)
 *   PING             0x01
 *   ACK              0x02 largest | ack delay (us) | extra range count | first range | (gap | range)*
 *   STREAM           0x08 flags (bit 0 = fin) | stream id | offset | length | data
 *   MAX_DATA         0x10 maximum
 *   MAX_STREAM_DATA  0x11 stream id | maximum
 *   CLOSE            0x1c code | reason length | reason (UTF-8)
 */
import { DecodeError, type Reader, varintSize, type Writer } from './codec.ts';

export const FrameType = {
  PADDING: 0x00,
  PING: 0x01,
  ACK: 0x02,
  STREAM: 0x08,
  MAX_DATA: 0x10,
  MAX_STREAM_DATA: 0x11,
  CLOSE: 0x1c,
} as const;

export const STREAM_FIN = 0x01;

/** Acknowledged packet numbers as descending [start, end) ranges. */
export interface AckFrame {
  readonly type: 'ack';
  readonly ranges: [number, number][];
  readonly ackDelayUs: number;
}
export interface StreamFrame {
  readonly type: 'stream';
  readonly id: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly fin: boolean;
}
export type Frame =
  | { readonly type: 'padding' }
  | { readonly type: 'ping' }
  | AckFrame
  | StreamFrame
  | { readonly type: 'max_data'; readonly max: number }
  | { readonly type: 'max_stream_data'; readonly id: number; readonly max: number }
  | { readonly type: 'close'; readonly code: number; readonly reason: string };

/** Writes an ACK frame for `ranges` (descending [start, end)). */
export function writeAck(w: Writer, ranges: [number, number][], ackDelayUs: number): void {
  const [s0, e0] = ranges[0]!;
  w.u8(FrameType.ACK).varint(e0 - 1).varint(ackDelayUs).varint(ranges.length - 1).varint(e0 - 1 - s0);
  let prevStart = s0;
  for (let i = 1; i < ranges.length; i++) {
    const [s, e] = ranges[i]!;
    w.varint(prevStart - e - 1).varint(e - 1 - s);
    prevStart = s;
  }
}

export function ackSize(ranges: [number, number][], ackDelayUs: number): number {
  const [s0, e0] = ranges[0]!;
  let n = 1 + varintSize(e0 - 1) + varintSize(ackDelayUs) + varintSize(ranges.length - 1) + varintSize(e0 - 1 - s0);
  let prevStart = s0;
  for (let i = 1; i < ranges.length; i++) {
    const [s, e] = ranges[i]!;
    n += varintSize(prevStart - e - 1) + varintSize(e - 1 - s);
    prevStart = s;
  }
  return n;
}

/** Header bytes of a STREAM frame before its data. */
export function streamHeaderSize(id: number, offset: number, length: number): number {
  return 2 + varintSize(id) + varintSize(offset) + varintSize(length);
}

export function writeStream(w: Writer, id: number, offset: number, data: Uint8Array, fin: boolean): void {
  w.u8(FrameType.STREAM).u8(fin ? STREAM_FIN : 0).varint(id).varint(offset).varint(data.length).bytes(data);
}

export function writeClose(w: Writer, code: number, reason: Uint8Array): void {
  w.u8(FrameType.CLOSE).varint(code).varint(reason.length).bytes(reason);
}

/** Decodes one frame; throws DecodeError on malformed input (the peer is then in violation). */
export function readFrame(r: Reader): Frame {
  const t = r.u8();
  switch (t) {
    case FrameType.PADDING:
      r.pos = r.end;
      return { type: 'padding' };
    case FrameType.PING:
      return { type: 'ping' };
    case FrameType.ACK: {
      const largest = r.varint();
      const ackDelayUs = r.varint();
      const count = r.varint();
      const first = r.varint();
      if (first > largest) throw new DecodeError('ack range below zero');
      const ranges: [number, number][] = [[largest - first, largest + 1]];
      let prevStart = largest - first;
      if (count > 4096) throw new DecodeError('too many ack ranges');
      for (let i = 0; i < count; i++) {
        const gap = r.varint(), len = r.varint();
        const end = prevStart - gap - 1;
        const start = end - 1 - len;
        if (start < 0 || end <= start) throw new DecodeError('ack range below zero');
        ranges.push([start, end]);
        prevStart = start;
      }
      return { type: 'ack', ranges, ackDelayUs };
    }
    case FrameType.STREAM: {
      const flags = r.u8();
      const id = r.varint(), offset = r.varint(), len = r.varint();
      return { type: 'stream', id, offset, data: r.bytes(len), fin: (flags & STREAM_FIN) !== 0 };
    }
    case FrameType.MAX_DATA:
      return { type: 'max_data', max: r.varint() };
    case FrameType.MAX_STREAM_DATA: {
      const id = r.varint();
      return { type: 'max_stream_data', id, max: r.varint() };
    }
    case FrameType.CLOSE: {
      const code = r.varint();
      const len = r.varint();
      const reason = new TextDecoder('utf-8', { fatal: false }).decode(r.bytes(len));
      return { type: 'close', code, reason };
    }
    default:
      throw new DecodeError(`unknown frame type ${t}`);
  }
}
