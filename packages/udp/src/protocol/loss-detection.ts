/**
 * Loss detection as RFC 9002 §6 and Appendix A describe it, for one packet-number space:
 * - a packet is lost when a packet sent {@link PACKET_THRESHOLD} or more later is acknowledged, or when it
 *   was sent more than 9/8 × RTT before an acknowledged one (§6.1);
 * - a probe timeout (§6.2) fires when nothing is acknowledged for smoothed_rtt + 4 × rttvar +
 *   max_ack_delay, doubling each time. The doubling persists until an acknowledgement yields a fresh RTT
 *   sample, so a path that only acknowledges old probes cannot reset it (the backoff bug udx-native has).
 *
 * Packet numbers are never reused, so every acknowledgement of the newest packet is an unambiguous RTT
 * sample (no Karn's algorithm needed).
 */
import type { CongestionController } from './congestion/controller.js';
import { RttEstimator, TIMER_GRANULARITY_MS } from './rtt.js';
import { SentFlag, SentPackets } from './sent-packets.js';

/** RFC 9002 §6.1.1 kPacketThreshold. */
export const PACKET_THRESHOLD = 3;
/** RFC 9002 §7.6.1 kPersistentCongestionThreshold. */
export const PERSISTENT_CONGESTION_THRESHOLD = 3;
/** Beyond 2^6 the probe interval is seconds long; the idle timeout ends the connection first. */
const MAX_PTO_BACKOFF_EXPONENT = 6;

export interface LossListener {
  /** Called for each newly acknowledged packet, before it is forgotten (its fields are in `sent` at `slot`). */
  onPacketAcked(sent: SentPackets, slot: number): void;
  /** Called for each packet declared lost, before it is forgotten. */
  onPacketLost(sent: SentPackets, slot: number): void;
}

export class LossDetector {
  readonly sent = new SentPackets();
  readonly rtt = new RttEstimator();
  cc: CongestionController;
  bytesInFlight = 0;
  /** Probe timeouts in a row without a fresh RTT sample. */
  ptoCount = 0;
  largestAcked = -1;
  /** Totals for stats(). */
  packetsLost = 0;
  bytesLost = 0;
  /** Bytes acknowledged so far (delivery-rate sampling). */
  delivered = 0;
  deliveredTime = 0;
  #lossTime = Number.POSITIVE_INFINITY;
  #timeOfLastAckEliciting = Number.NEGATIVE_INFINITY;
  readonly #listener: LossListener;

  constructor(cc: CongestionController, listener: LossListener) {
    this.cc = cc;
    this.#listener = listener;
  }

  onPacketSent(packetNumber: number, now: number, bytes: number, flags: number): number {
    const slot = this.sent.add(packetNumber, now, bytes, flags);
    this.sent.delivered[slot] = this.delivered;
    this.sent.deliveredTime[slot] = this.deliveredTime || now;
    if (flags & SentFlag.IN_FLIGHT) {
      this.bytesInFlight += bytes;
      this.cc.onPacketSent(now, bytes, this.bytesInFlight);
    }
    if (flags & SentFlag.ACK_ELICITING) this.#timeOfLastAckEliciting = now;
    return slot;
  }

  /**
   * Processes one ACK frame. `ranges` is flat `[hi0, lo0, hi1, lo1, ...]`, newest first, `count` ranges.
   * The caller has checked that the peer acknowledges no packet number it was never sent.
   */
  onAck(ranges: readonly number[], count: number, ackDelayMs: number, now: number): void {
    const sent = this.sent;
    const largest = ranges[0]!;
    let ackedBytes = 0;
    let priorInFlight = this.bytesInFlight;
    let newestAcked = -1;
    let newestAckedAckEliciting = false;
    let newestSlot = -1;
    const ptoCountBefore = this.ptoCount;
    for (let r = 0; r < count; r++) {
      const hi = Math.min(ranges[2 * r]!, sent.next - 1);
      const lo = Math.max(ranges[2 * r + 1]!, sent.base);
      for (let pn = hi; pn >= lo; pn--) {
        const slot = sent.slot(pn);
        const flags = sent.flags[slot]!;
        if ((flags & SentFlag.OUTSTANDING) === 0) continue;
        if (newestAcked < 0) {
          newestAcked = pn;
          newestSlot = slot;
          newestAckedAckEliciting = (flags & SentFlag.ACK_ELICITING) !== 0;
        }
        if (flags & SentFlag.IN_FLIGHT) {
          this.bytesInFlight -= sent.bytes[slot]!;
          ackedBytes += sent.bytes[slot]!;
        }
        this.#listener.onPacketAcked(sent, slot);
        sent.flags[slot] = 0;
      }
    }
    if (newestAcked < 0) return;
    sent.advanceBase();
    if (largest > this.largestAcked) this.largestAcked = largest;
    this.delivered += ackedBytes;
    const deliveryInterval = now - sent.deliveredTime[newestSlot]!;
    const deliveryRate =
      deliveryInterval > 0 ? (this.delivered - sent.delivered[newestSlot]!) / deliveryInterval : 0;
    this.deliveredTime = now;
    // RFC 9002 §5.1: sample only when the largest acknowledged is newly acknowledged and ack-eliciting.
    if (newestAcked === largest && newestAckedAckEliciting) {
      this.rtt.update(now - sent.timeSent[newestSlot]!, ackDelayMs);
      this.ptoCount = 0;
    }
    if (priorInFlight < this.bytesInFlight) priorInFlight = this.bytesInFlight;
    this.#detectLost(now, ptoCountBefore);
    if (ackedBytes > 0) {
      this.cc.onAck({
        now,
        ackedBytes,
        priorInFlight,
        largestAckedTimeSent: sent.timeSent[newestSlot]!,
        deliveryRate,
        delivered: this.delivered,
        packetDelivered: sent.delivered[newestSlot]!,
        appLimited: (sent.flags[newestSlot]! & SentFlag.APP_LIMITED) !== 0,
        rtt: this.rtt,
      });
    }
  }

  /** RFC 9002 §6.1: declares lost what the thresholds say, and arms the time-threshold timer for the rest. */
  #detectLost(now: number, ptoCount = this.ptoCount): void {
    this.#lossTime = Number.POSITIVE_INFINITY;
    if (this.largestAcked < 0) return;
    const sent = this.sent;
    const lossDelay = this.rtt.lossDelayMs();
    const lostSendTime = now - lossDelay;
    let lostBytes = 0;
    let largestLostTimeSent = 0;
    let earliestLostTimeSent = Number.POSITIVE_INFINITY;
    const end = Math.min(this.largestAcked, sent.next - 1);
    for (let pn = sent.base; pn <= end; pn++) {
      const slot = sent.slot(pn);
      const flags = sent.flags[slot]!;
      if ((flags & SentFlag.OUTSTANDING) === 0) continue;
      const timeSent = sent.timeSent[slot]!;
      if (timeSent <= lostSendTime || this.largestAcked >= pn + PACKET_THRESHOLD) {
        if (flags & SentFlag.IN_FLIGHT) {
          this.bytesInFlight -= sent.bytes[slot]!;
          lostBytes += sent.bytes[slot]!;
          this.packetsLost++;
          if (timeSent > largestLostTimeSent) largestLostTimeSent = timeSent;
          if (timeSent < earliestLostTimeSent) earliestLostTimeSent = timeSent;
        }
        this.#listener.onPacketLost(sent, slot);
        sent.flags[slot] = 0;
      } else {
        const at = timeSent + lossDelay;
        if (at < this.#lossTime) this.#lossTime = at;
      }
    }
    sent.advanceBase();
    if (lostBytes > 0) {
      this.bytesLost += lostBytes;
      // RFC 9002 §7.6: losses spanning 3 × PTO with nothing acknowledged in between mean persistent
      // congestion. "Nothing acknowledged" is approximated by "the probe timer fired twice in a row":
      // random loss over a long span (one lost packet here and there) must not collapse the window.
      const persistentSpan =
        (this.rtt.smoothedRtt + Math.max(4 * this.rtt.rttVariation, TIMER_GRANULARITY_MS)) *
        PERSISTENT_CONGESTION_THRESHOLD;
      this.cc.onLoss({
        now,
        lostBytes,
        largestLostTimeSent,
        persistentCongestion:
          this.rtt.hasSample && ptoCount >= 2 && largestLostTimeSent - earliestLostTimeSent > persistentSpan,
        rtt: this.rtt,
      });
    }
  }

  /** The earliest of the loss timer and the probe timer (RFC 9002 §A.8 SetLossDetectionTimer). */
  timerDeadline(): number {
    if (this.#lossTime !== Number.POSITIVE_INFINITY) return this.#lossTime;
    // Every ack-eliciting packet counts toward bytes in flight here.
    if (this.bytesInFlight <= 0) return Number.POSITIVE_INFINITY;
    return this.#timeOfLastAckEliciting + this.probeTimeoutMs();
  }

  probeTimeoutMs(): number {
    return this.rtt.probeTimeoutMs() * 2 ** Math.min(this.ptoCount, MAX_PTO_BACKOFF_EXPONENT);
  }

  /** RFC 9002 §A.9. Returns true when a probe timeout fired and the caller must send probes. */
  onTimeout(now: number): boolean {
    if (this.#lossTime !== Number.POSITIVE_INFINITY) {
      if (now >= this.#lossTime) this.#detectLost(now);
      return false;
    }
    if (now < this.timerDeadline()) return false;
    this.ptoCount++;
    // Restart the probe clock from now, so the next probe waits a full (doubled) interval.
    this.#timeOfLastAckEliciting = now;
    return true;
  }

  /**
   * The connection moved to a new path (RFC 9000 §9.4): a new congestion controller and RTT estimate. The
   * packets still outstanding on the old path stay tracked (their data is retransmitted if they are
   * lost), but no longer count as bytes in flight, so their fate does not feed the new controller
   * (RFC 9002 §9.4).
   */
  resetPath(cc: CongestionController): void {
    this.cc = cc;
    this.rtt.reset();
    this.ptoCount = 0;
    const sent = this.sent;
    for (let pn = sent.base; pn < sent.next; pn++) {
      const slot = sent.slot(pn);
      const flags = sent.flags[slot]!;
      if (flags & SentFlag.OUTSTANDING && flags & SentFlag.IN_FLIGHT)
        sent.flags[slot] = flags & ~SentFlag.IN_FLIGHT;
    }
    this.bytesInFlight = 0;
  }

  /** The oldest packet still waiting for an acknowledgement that carries stream data, or -1. */
  oldestOutstandingWithData(): number {
    const sent = this.sent;
    for (let pn = sent.base; pn < sent.next; pn++) {
      const slot = sent.slot(pn);
      if (sent.flags[slot]! & SentFlag.OUTSTANDING && sent.streamLength[slot]! >= 0) return pn;
    }
    return -1;
  }
}
