/**
 * Round-trip time estimation, RFC 9002 §5: latest, minimum, smoothed and variation. Times are in
 * milliseconds (fractions allowed: loopback round trips are tens of microseconds).
 */

/** RFC 9002 §6.2.2: the RTT assumed before any sample. */
export const INITIAL_RTT_MS = 333;
/** RFC 9002 §6.1.2 kGranularity: the timer resolution the loss and probe timers assume. */
export const TIMER_GRANULARITY_MS = 1;
/** Longest a receiver delays an acknowledgement (RFC 9000 max_ack_delay; the issue asks for 25 ms). */
export const MAX_ACK_DELAY_MS = 25;

export class RttEstimator {
  latestRtt = 0;
  smoothedRtt = INITIAL_RTT_MS;
  rttVariation = INITIAL_RTT_MS / 2;
  minRtt = Number.POSITIVE_INFINITY;
  hasSample = false;

  /** Back to the state before any sample (a new path, RFC 9000 §9.4). */
  reset(): void {
    this.latestRtt = 0;
    this.smoothedRtt = INITIAL_RTT_MS;
    this.rttVariation = INITIAL_RTT_MS / 2;
    this.minRtt = Number.POSITIVE_INFINITY;
    this.hasSample = false;
  }

  /**
   * RFC 9002 §5.3. `ackDelayMs` is what the peer reported, clamped to {@link MAX_ACK_DELAY_MS}; it is
   * subtracted only when that does not take the sample below the minimum.
   */
  update(sampleMs: number, ackDelayMs: number): void {
    this.latestRtt = sampleMs;
    if (!this.hasSample) {
      this.hasSample = true;
      this.minRtt = sampleMs;
      this.smoothedRtt = sampleMs;
      this.rttVariation = sampleMs / 2;
      return;
    }
    if (sampleMs < this.minRtt) this.minRtt = sampleMs;
    const ackDelay = Math.min(ackDelayMs, MAX_ACK_DELAY_MS);
    const adjusted = sampleMs >= this.minRtt + ackDelay ? sampleMs - ackDelay : sampleMs;
    this.rttVariation = 0.75 * this.rttVariation + 0.25 * Math.abs(this.smoothedRtt - adjusted);
    this.smoothedRtt = 0.875 * this.smoothedRtt + 0.125 * adjusted;
  }

  /** RFC 9002 §6.2.1: smoothed_rtt + max(4 × rttvar, kGranularity) + max_ack_delay, before backoff. */
  probeTimeoutMs(): number {
    return this.smoothedRtt + Math.max(4 * this.rttVariation, TIMER_GRANULARITY_MS) + MAX_ACK_DELAY_MS;
  }

  /** RFC 9002 §6.1.2: 9/8 × max(smoothed, latest), at least kGranularity. */
  lossDelayMs(): number {
    return Math.max((9 / 8) * Math.max(this.smoothedRtt, this.latestRtt), TIMER_GRANULARITY_MS);
  }
}
