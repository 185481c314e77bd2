/**
 * When to acknowledge (RFC 9000 §13.2): after every second ack-eliciting packet, at once when a packet
 * arrives out of order (a gap: the missing-frame request should leave now) or when the peer's stream has
 * ended, otherwise within {@link MAX_ACK_DELAY_MS}. The endpoint sends what is due at the end of each
 * event-loop turn, so a burst read in one turn is acknowledged once. ACK frames also carry the receiver's
 * cumulative stream offset and flow-control limit, so a window update is "an ACK frame now".
 */
import { ReceivedPacketRanges, RecordResult } from './ack-ranges.js';
import { MAX_ACK_DELAY_MS } from './rtt.js';
import { FrameType, writeVarint } from './wire.js';

/** RFC 9000 §13.2.2: acknowledge at least every second ack-eliciting packet. */
const ACK_ELICITING_THRESHOLD = 2;
/** Copies of the acknowledgement that covers the peer's end of stream (the peer's CLOSE). */
const FINAL_ACK_REPEATS = 3;
/** Room for the ACK frame's type, cumulative offset and limit varints, besides the ranges. */
const ACK_FRAME_EXTRA_BYTES = 20;

export class AckScheduler {
  readonly received = new ReceivedPacketRanges();
  /** Ack-eliciting packets received since the last ACK frame went out. */
  unacknowledged = 0;
  #now = false;
  #deadline = Number.POSITIVE_INFINITY;
  #largestReceivedAt = 0;
  #windowUpdate = false;
  #finalRepeats = 0;

  /** Records a received packet number (see {@link ReceivedPacketRanges.record}). */
  record(packetNumber: number, now: number): RecordResult {
    const result = this.received.record(packetNumber);
    if (result !== RecordResult.DUPLICATE && packetNumber === this.received.largest)
      this.#largestReceivedAt = now;
    return result;
  }

  /** A packet that asks for an acknowledgement was processed. */
  onAckEliciting(recorded: RecordResult, streamComplete: boolean, now: number): void {
    this.unacknowledged++;
    if (
      recorded !== RecordResult.IN_ORDER ||
      this.unacknowledged >= ACK_ELICITING_THRESHOLD ||
      streamComplete
    ) {
      this.#now = true;
    } else if (this.#deadline === Number.POSITIVE_INFINITY) {
      this.#deadline = now + MAX_ACK_DELAY_MS;
    }
    // The peer may exit as soon as its end of stream is acknowledged: send that acknowledgement more than
    // once, or a single loss leaves its close() waiting for a retransmission nobody answers.
    if (streamComplete) this.#finalRepeats = FINAL_ACK_REPEATS;
  }

  /** The application read enough that the peer should hear about the larger window now. */
  requestWindowUpdate(): void {
    this.#windowUpdate = true;
  }

  deadline(): number {
    if (this.#windowUpdate || this.#finalRepeats > 0) return 0;
    if (this.unacknowledged === 0) return Number.POSITIVE_INFINITY;
    return this.#now ? 0 : this.#deadline;
  }

  onTimeout(now: number): void {
    if (this.unacknowledged > 0 && now >= this.#deadline) this.#now = true;
  }

  /** Whether a packet built now should carry an ACK frame; `piggyback`: it goes out anyway. */
  due(now: number, piggyback: boolean): boolean {
    if (this.received.rangeCount === 0) return false;
    if (this.#windowUpdate || this.#finalRepeats > 0) return true;
    return this.unacknowledged > 0 && (this.#now || now >= this.#deadline || piggyback);
  }

  /** Whether an ACK frame fits between `pos` and `end`. */
  fits(pos: number, end: number): boolean {
    return pos + this.received.encodedBytes() + ACK_FRAME_EXTRA_BYTES <= end;
  }

  /** Writes the ACK frame; returns the position after it. */
  write(out: Uint8Array, pos: number, now: number, cumulativeOffset: number, flowLimit: number): number {
    out[pos] = FrameType.ACK;
    const delayMicros = Math.max(0, Math.round((now - this.#largestReceivedAt) * 1000));
    let p = this.received.writeAckRanges(out, pos + 1, delayMicros);
    p = writeVarint(out, p, cumulativeOffset);
    p = writeVarint(out, p, flowLimit);
    this.unacknowledged = 0;
    this.#now = false;
    this.#deadline = Number.POSITIVE_INFINITY;
    this.#windowUpdate = false;
    if (this.#finalRepeats > 0) this.#finalRepeats--;
    return p;
  }
}
