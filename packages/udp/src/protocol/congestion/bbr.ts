/**
 * A BBR-style controller (after BBR v1, draft-cardwell-iccrg-bbr-congestion-control-00): it models the
 * path by its bottleneck bandwidth (windowed maximum of delivery-rate samples over 10 round trips) and its
 * minimum RTT, paces at gain × bandwidth and caps the window at 2 × the bandwidth-delay product. Random
 * loss does not shrink the model, which is why it holds up on lossy paths where NewReno collapses.
 *
 * Simplifications, each stated: no PROBE_RTT phase (the minimum RTT is the connection's lowest sample;
 * a route change that raises it only makes the window larger than needed); the window never drops below
 * what {@link MIN_BDP_RTT_MS} of bandwidth needs, because in Node acknowledgements arrive in event-loop
 * batches about a millisecond apart even when the path's RTT is 50 µs (BBR v2's "extra acked" serves the
 * same purpose); persistent congestion (every packet over 3 × PTO lost) restarts the model.
 */
import type { RttEstimator } from '../rtt.js';
import {
  type AckEvent,
  type CongestionController,
  INITIAL_WINDOW_PACKETS,
  type LossEvent,
  MAX_CONGESTION_WINDOW_BYTES,
} from './controller.js';

/** 2/ln(2): doubles the delivery rate each round in STARTUP. */
const STARTUP_GAIN = 2.885;
const DRAIN_GAIN = 1 / STARTUP_GAIN;
const CWND_GAIN = 2;
const PROBE_BW_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const BANDWIDTH_WINDOW_ROUNDS = 10;
/** STARTUP ends when the bandwidth grew by less than 25% over 3 rounds. */
const FULL_BANDWIDTH_GROWTH = 1.25;
const FULL_BANDWIDTH_ROUNDS = 3;
const MIN_WINDOW_PACKETS = 4;
/** Floor on the RTT used for the window: Node delivers acknowledgements in ~1 ms event-loop batches. */
const MIN_BDP_RTT_MS = 2;
/** Floor on the RTT the initial pacing rate is derived from. */
const MIN_PACING_RTT_MS = 0.1;

type Mode = 'startup' | 'drain' | 'probe_bw';

export class Bbr implements CongestionController {
  readonly name = 'bbr';
  congestionWindow: number;
  mode: Mode = 'startup';
  /** The largest datagram sent so far: path-MTU discovery grows it after construction. */
  #datagramBytes: number;
  /** Per-round maximum delivery rate (bytes/ms) for the last rounds, as a ring. */
  readonly #roundMax = new Float64Array(BANDWIDTH_WINDOW_ROUNDS);
  #round = 0;
  #nextRoundDelivered = 0;
  #fullBandwidth = 0;
  #fullBandwidthRounds = 0;
  #filledPipe = false;
  #cycleIndex = 0;
  #cycleStart = 0;
  #pacingGain = STARTUP_GAIN;

  constructor(datagramBytes: number) {
    this.#datagramBytes = datagramBytes;
    this.congestionWindow = INITIAL_WINDOW_PACKETS * datagramBytes;
  }

  /** Bottleneck bandwidth estimate in bytes per millisecond. */
  get bandwidth(): number {
    let max = 0;
    for (const value of this.#roundMax) if (value > max) max = value;
    return max;
  }

  pacingRate(rtt: RttEstimator): number {
    // Never slower than the initial window per RTT, the rate BBR starts at: an estimate built from a few
    // small packets must not throttle the first real burst.
    const initial =
      (STARTUP_GAIN * INITIAL_WINDOW_PACKETS * this.#datagramBytes) /
      Math.max(rtt.hasSample ? rtt.smoothedRtt : 1, MIN_PACING_RTT_MS);
    return Math.max(this.#pacingGain * this.bandwidth, initial);
  }

  onPacketSent(_now: number, bytes: number): void {
    // Floors are counted in datagrams; once path-MTU discovery enlarges them, a floor computed from the
    // initial size would hold less than one datagram and leave the sender trickling one packet per RTT.
    if (bytes > this.#datagramBytes) this.#datagramBytes = bytes;
  }

  onAck(event: AckEvent): void {
    // An app-limited sample (keepalives, a trickle of messages) that does not raise the estimate says
    // nothing about the path: it must neither count as a round, which would age the real samples out of
    // the window, nor become the estimate after an idle spell.
    if (event.appLimited && event.deliveryRate <= this.bandwidth) {
      this.#updateWindow(event);
      return;
    }
    // A round trip ends when a packet sent after the previous round's end is acknowledged.
    if (event.packetDelivered >= this.#nextRoundDelivered) {
      this.#nextRoundDelivered = event.delivered;
      this.#round++;
      this.#roundMax[this.#round % BANDWIDTH_WINDOW_ROUNDS] = 0;
      // draft-cardwell-iccrg-bbr-congestion-control-00 §4.3.2.2: only rounds that were not app-limited
      // can show that the pipe is full. Pings on an idle connection must not end STARTUP with their
      // tiny delivery rate as the path's bandwidth.
      if (!event.appLimited) this.#checkFullBandwidth();
    }
    const slot = this.#round % BANDWIDTH_WINDOW_ROUNDS;
    // App-limited samples only count when they raise the estimate (they understate the path).
    if (event.deliveryRate > 0 && (!event.appLimited || event.deliveryRate > this.bandwidth)) {
      if (event.deliveryRate > this.#roundMax[slot]!) this.#roundMax[slot] = event.deliveryRate;
    }
    this.#updateMode(event);
    this.#updateWindow(event);
  }

  onLoss(event: LossEvent): void {
    if (!event.persistentCongestion) return;
    this.#roundMax.fill(0);
    this.mode = 'startup';
    this.#pacingGain = STARTUP_GAIN;
    this.#filledPipe = false;
    this.#fullBandwidth = 0;
    this.#fullBandwidthRounds = 0;
    this.congestionWindow = MIN_WINDOW_PACKETS * this.#datagramBytes;
  }

  #checkFullBandwidth(): void {
    if (this.#filledPipe) return;
    const bandwidth = this.bandwidth;
    if (bandwidth >= this.#fullBandwidth * FULL_BANDWIDTH_GROWTH) {
      this.#fullBandwidth = bandwidth;
      this.#fullBandwidthRounds = 0;
      return;
    }
    if (++this.#fullBandwidthRounds >= FULL_BANDWIDTH_ROUNDS) this.#filledPipe = true;
  }

  #updateMode(event: AckEvent): void {
    if (this.mode === 'startup' && this.#filledPipe) {
      this.mode = 'drain';
      this.#pacingGain = DRAIN_GAIN;
    }
    if (this.mode === 'drain' && event.priorInFlight <= this.#bdp(event.rtt)) {
      this.mode = 'probe_bw';
      this.#cycleIndex = 0;
      this.#cycleStart = event.now;
      this.#pacingGain = PROBE_BW_GAINS[0]!;
    }
    if (this.mode === 'probe_bw' && event.now - this.#cycleStart > this.#rttForWindow(event.rtt)) {
      this.#cycleIndex = (this.#cycleIndex + 1) % PROBE_BW_GAINS.length;
      this.#cycleStart = event.now;
      this.#pacingGain = PROBE_BW_GAINS[this.#cycleIndex]!;
    }
  }

  #rttForWindow(rtt: RttEstimator): number {
    return Math.max(rtt.hasSample ? rtt.minRtt : MIN_BDP_RTT_MS, MIN_BDP_RTT_MS);
  }

  #bdp(rtt: RttEstimator): number {
    return this.bandwidth * this.#rttForWindow(rtt);
  }

  #updateWindow(event: AckEvent): void {
    const minimum = MIN_WINDOW_PACKETS * this.#datagramBytes;
    const target = Math.max(CWND_GAIN * this.#bdp(event.rtt), minimum);
    if (!this.#filledPipe) this.congestionWindow += event.ackedBytes;
    else this.congestionWindow = Math.min(this.congestionWindow + event.ackedBytes, target);
    this.congestionWindow = Math.min(Math.max(this.congestionWindow, minimum), MAX_CONGESTION_WINDOW_BYTES);
  }
}
