/**
 * RTT estimation (RFC 9002 section 5), NewReno congestion control (RFC 9002 section 7 and
 * appendix B) and a token-bucket pacer. Pure state; the connection feeds in samples and times.
 */
import {
  HYSTART_MAX_RTT_THRESH_MS, HYSTART_MIN_RTT_SAMPLES, HYSTART_MIN_RTT_THRESH_MS, INITIAL_RTT_MS, INITIAL_WINDOW_PACKETS, LOSS_REDUCTION_FACTOR, MAX_ACK_DELAY_MS, MINIMUM_WINDOW_PACKETS,
  PACING_BURST_MS, PACING_GAIN, PERSISTENT_CONGESTION_THRESHOLD, TIMER_GRANULARITY_MS,
} from './limits.ts';

export class RttEstimator {
  latest = 0;
  smoothed = INITIAL_RTT_MS;
  variance = INITIAL_RTT_MS / 2;
  min = Infinity;
  hasSample = false;

  /** A new sample: `sampleMs` from send to ack, `ackDelayMs` as the peer reported it. */
  update(sampleMs: number, ackDelayMs: number, handshakeConfirmed: boolean): void {
    this.latest = sampleMs;
    this.min = Math.min(this.min, sampleMs);
    if (!this.hasSample) {
      this.hasSample = true;
      this.smoothed = sampleMs;
      this.variance = sampleMs / 2;
      return;
    }
    // The peer's reported delay is trusted only up to its promised maximum, and never below min_rtt.
    const delay = handshakeConfirmed ? Math.min(ackDelayMs, MAX_ACK_DELAY_MS) : ackDelayMs;
    const adjusted = sampleMs >= this.min + delay ? sampleMs - delay : sampleMs;
    this.variance = 0.75 * this.variance + 0.25 * Math.abs(this.smoothed - adjusted);
    this.smoothed = 0.875 * this.smoothed + 0.125 * adjusted;
  }

  /** Probe timeout before backoff (RFC 9002 section 6.2.1). */
  pto(): number {
    return this.smoothed + Math.max(4 * this.variance, TIMER_GRANULARITY_MS) + MAX_ACK_DELAY_MS;
  }

  /** How long after a later packet was acked an unacked one counts as lost (time threshold). */
  lossDelay(timeThreshold: number): number {
    return Math.max(timeThreshold * Math.max(this.latest, this.smoothed), TIMER_GRANULARITY_MS);
  }

  persistentCongestionDuration(): number {
    return this.pto() * PERSISTENT_CONGESTION_THRESHOLD;
  }
}

export class NewReno {
  readonly mss: number;
  cwnd: number;
  ssthresh = Infinity;
  bytesInFlight = 0;
  /** Packets sent before this time belong to the current recovery episode. */
  recoveryStart = -Infinity;
  private ackedInAvoidance = 0;

  constructor(mss: number) {
    this.mss = mss;
    this.cwnd = INITIAL_WINDOW_PACKETS * mss;
  }

  canSend(bytes: number): boolean {
    return this.bytesInFlight + bytes <= this.cwnd;
  }

  onSent(bytes: number): void {
    this.bytesInFlight += bytes;
  }

  onAcked(bytes: number, sentTime: number): void {
    this.bytesInFlight -= bytes;
    if (sentTime <= this.recoveryStart) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd += bytes;
    } else {
      // One MSS per window of acknowledged bytes (RFC 9002 B.5).
      this.ackedInAvoidance += bytes;
      if (this.ackedInAvoidance >= this.cwnd) {
        this.ackedInAvoidance -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
  }

  private roundEnd = 0;
  private roundMin = Infinity;
  private lastRoundMin = Infinity;
  private roundSamples = 0;

  /**
   * HyStart++ delay increase check, fed with each RTT sample. A round ends when a packet sent
   * after it began (packet number >= roundEnd) is acknowledged.
   */
  onRttSample(rttMs: number, largestAcked: number, nextPn: number): void {
    if (this.cwnd >= this.ssthresh) return;
    if (largestAcked >= this.roundEnd) {
      this.lastRoundMin = this.roundMin;
      this.roundMin = Infinity;
      this.roundSamples = 0;
      this.roundEnd = nextPn;
    }
    this.roundMin = Math.min(this.roundMin, rttMs);
    this.roundSamples++;
    if (this.roundSamples >= HYSTART_MIN_RTT_SAMPLES && this.lastRoundMin !== Infinity) {
      const thresh = Math.min(HYSTART_MAX_RTT_THRESH_MS, Math.max(HYSTART_MIN_RTT_THRESH_MS, this.lastRoundMin / 8));
      if (this.roundMin >= this.lastRoundMin + thresh) this.ssthresh = this.cwnd;
    }
  }

  /** Bytes leave flight without an ack (lost, or abandoned). */
  onRemoved(bytes: number): void {
    this.bytesInFlight -= bytes;
  }

  /** A loss was detected in a packet sent at `sentTime`. One reduction per round trip. */
  onCongestionEvent(sentTime: number, now: number): void {
    if (sentTime <= this.recoveryStart) return;
    this.recoveryStart = now;
    this.ssthresh = Math.max(this.cwnd * LOSS_REDUCTION_FACTOR, MINIMUM_WINDOW_PACKETS * this.mss);
    this.cwnd = this.ssthresh;
    this.ackedInAvoidance = 0;
  }

  onPersistentCongestion(): void {
    this.cwnd = MINIMUM_WINDOW_PACKETS * this.mss;
    this.recoveryStart = -Infinity;
  }
}

/**
 * Token bucket: tokens accrue at PACING_GAIN * cwnd / srtt and are capped at a small burst, so
 * a full window is spread over the round trip instead of leaving in one clump.
 */
export class Pacer {
  private tokens: number;
  private last = -Infinity;

  constructor(private readonly mss: number) {
    this.tokens = INITIAL_WINDOW_PACKETS * mss;
  }

  private capacity(rate: number): number {
    return Math.max(INITIAL_WINDOW_PACKETS * this.mss, rate * PACING_BURST_MS);
  }

  private refill(now: number, rate: number): void {
    if (this.last !== -Infinity && now > this.last) this.tokens = Math.min(this.capacity(rate), this.tokens + rate * (now - this.last));
    this.last = Math.max(this.last, now);
  }

  /** Earliest time a packet of `bytes` may leave: `now` if it may leave now. */
  nextSendTime(now: number, bytes: number, cwnd: number, srtt: number): number {
    const rate = (PACING_GAIN * cwnd) / Math.max(srtt, 0.001);
    this.refill(now, rate);
    if (this.tokens >= bytes) return now;
    return now + (bytes - this.tokens) / rate;
  }

  onSent(bytes: number): void {
    this.tokens -= bytes;
  }
}
