/**
 * The leader's view of one follower. `probe`: we do not know where its log matches ours; send one
 * append per heartbeat and back off on rejection. `replicate`: it matches up to `match`; stream
 * appends optimistically, up to a window of unacknowledged messages. `snapshot`: it is too far
 * behind our log; a snapshot is being streamed, chunk by chunk.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append was sent since the last heartbeat response. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Last index of each append in flight, oldest first (replicate state). */
  private inflight: number[] = [];
  private inflightHead = 0;
  /** In snapshot state: index of the snapshot being sent and the next byte offset to send. */
  snapIndex = 0;
  snapOffset = 0;
  readonly maxInflight: number;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.maxInflight = maxInflight;
  }

  inflightCount(): number {
    return this.inflight.length - this.inflightHead;
  }

  paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflightCount() >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  addInflight(lastIndex: number): void {
    this.inflight.push(lastIndex);
  }

  /** An ack up to `index` frees every append that ended at or before it. */
  freeInflight(index: number): void {
    while (this.inflightHead < this.inflight.length && this.inflight[this.inflightHead] <= index) this.inflightHead++;
    if (this.inflightHead > 64 && this.inflightHead * 2 > this.inflight.length) {
      this.inflight = this.inflight.slice(this.inflightHead);
      this.inflightHead = 0;
    }
  }

  freeFirstInflight(): void {
    if (this.inflightHead < this.inflight.length) this.inflightHead++;
  }

  private resetInflight(): void {
    this.inflight = [];
    this.inflightHead = 0;
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.probeSent = false;
    this.next = this.match + 1;
    this.resetInflight();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.resetInflight();
  }

  becomeSnapshot(snapIndex: number): void {
    this.state = 'snapshot';
    this.snapIndex = snapIndex;
    this.snapOffset = 0;
    this.resetInflight();
  }

  /** A success ack up to `index`; false if it told us nothing new. */
  update(index: number): boolean {
    let changed = false;
    if (index > this.match) {
      this.match = index;
      this.probeSent = false;
      changed = true;
    }
    if (index + 1 > this.next) this.next = index + 1;
    return changed;
  }
}
