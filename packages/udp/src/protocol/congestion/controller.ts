/**
 * The seam between loss detection and congestion control, so controllers can be swapped (RFC 9002 §7
 * leaves the choice open). Byte counts are datagram sizes on the wire; times are milliseconds.
 */
import type { RttEstimator } from '../rtt.js';

/** RFC 9002 §7.2: initial window of 10 datagrams (loopback needs it: its RTT is tens of microseconds). */
export const INITIAL_WINDOW_PACKETS = 10;
/** RFC 9002 §7.2 kMinimumWindow: 2 datagrams. */
export const MINIMUM_WINDOW_PACKETS = 2;
/**
 * Upper bound on any window, so a path that never loses (loopback) cannot make the sender's bookkeeping
 * grow without limit; the send buffer bounds memory anyway.
 */
export const MAX_CONGESTION_WINDOW_BYTES = 32 * 1024 * 1024;

export interface AckEvent {
  now: number;
  /** Bytes newly acknowledged by this ACK frame. */
  ackedBytes: number;
  /** Bytes in flight before they were removed. */
  priorInFlight: number;
  /** When the newest newly acknowledged packet was sent. */
  largestAckedTimeSent: number;
  /**
   * Delivery rate in bytes per millisecond measured over the newest acknowledged packet's flight
   * (draft-cheng-iccrg-delivery-rate-estimation), or 0 when no sample.
   */
  deliveryRate: number;
  /** Bytes acknowledged over the connection's life, after this ACK. */
  delivered: number;
  /** `delivered` as it was when the newest acknowledged packet was sent (round counting). */
  packetDelivered: number;
  /** The sample was taken while the sender had nothing more to send (may understate the path). */
  appLimited: boolean;
  rtt: RttEstimator;
}

export interface LossEvent {
  now: number;
  /** Bytes declared lost. */
  lostBytes: number;
  /** When the newest lost packet was sent (a loss of a packet sent before recovery began is not new). */
  largestLostTimeSent: number;
  /** RFC 9002 §7.6: every packet over a long enough span was lost. */
  persistentCongestion: boolean;
  rtt: RttEstimator;
}

export interface CongestionController {
  readonly name: string;
  /** Bytes that may be in flight. */
  readonly congestionWindow: number;
  /** Bytes per millisecond the pacer spreads packets at. */
  pacingRate(rtt: RttEstimator): number;
  onPacketSent(now: number, bytes: number, bytesInFlight: number): void;
  onAck(event: AckEvent): void;
  onLoss(event: LossEvent): void;
}

export type CongestionControllerFactory = (datagramBytes: number) => CongestionController;
