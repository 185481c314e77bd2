/**
 * NewReno as RFC 9002 §7 and Appendix B describe it: slow start, recovery periods entered on loss and
 * left when a packet sent after the loss is acknowledged, congestion avoidance of one datagram per
 * window, halving on loss (kLossReductionFactor 0.5) and collapse to the minimum window on persistent
 * congestion.
 */
import type { RttEstimator } from '../rtt.js';
import {
  type AckEvent,
  type CongestionController,
  INITIAL_WINDOW_PACKETS,
  type LossEvent,
  MAX_CONGESTION_WINDOW_BYTES,
  MINIMUM_WINDOW_PACKETS,
} from './controller.js';

/** RFC 9002 §7.3.2 kLossReductionFactor. */
const LOSS_REDUCTION_FACTOR = 0.5;
/** RFC 9002 §7.7: pace at N = 1.25 × cwnd / smoothed_rtt so the pacer does not itself limit the window. */
const PACING_GAIN = 1.25;

export class NewReno implements CongestionController {
  readonly name = 'newreno';
  congestionWindow: number;
  slowStartThreshold = Number.POSITIVE_INFINITY;
  #recoveryStartTime = Number.NEGATIVE_INFINITY;
  #bytesAckedInAvoidance = 0;
  readonly #datagramBytes: number;

  constructor(datagramBytes: number) {
    this.#datagramBytes = datagramBytes;
    this.congestionWindow = INITIAL_WINDOW_PACKETS * datagramBytes;
  }

  pacingRate(rtt: RttEstimator): number {
    return (PACING_GAIN * this.congestionWindow) / Math.max(rtt.smoothedRtt, 0.01);
  }

  onPacketSent(): void {}

  onAck(event: AckEvent): void {
    // RFC 9002 §7.3.2: no growth for packets sent during recovery; §7.8: none while app-limited.
    if (event.largestAckedTimeSent <= this.#recoveryStartTime) return;
    // Not window-limited: less than half the window was in use (Linux's tcp_is_cwnd_limited test).
    if (event.priorInFlight * 2 < this.congestionWindow) return;
    if (this.congestionWindow < this.slowStartThreshold) {
      this.congestionWindow += event.ackedBytes;
    } else {
      this.#bytesAckedInAvoidance += event.ackedBytes;
      if (this.#bytesAckedInAvoidance >= this.congestionWindow) {
        this.#bytesAckedInAvoidance -= this.congestionWindow;
        this.congestionWindow += this.#datagramBytes;
      }
    }
    if (this.congestionWindow > MAX_CONGESTION_WINDOW_BYTES)
      this.congestionWindow = MAX_CONGESTION_WINDOW_BYTES;
  }

  onLoss(event: LossEvent): void {
    const minimum = MINIMUM_WINDOW_PACKETS * this.#datagramBytes;
    if (event.largestLostTimeSent > this.#recoveryStartTime) {
      // RFC 9002 §7.3.2: one reduction per recovery period.
      this.#recoveryStartTime = event.now;
      this.slowStartThreshold = Math.max(this.congestionWindow * LOSS_REDUCTION_FACTOR, minimum);
      this.congestionWindow = this.slowStartThreshold;
      this.#bytesAckedInAvoidance = 0;
    }
    if (event.persistentCongestion) {
      this.congestionWindow = minimum;
      this.#recoveryStartTime = event.now;
    }
  }
}
