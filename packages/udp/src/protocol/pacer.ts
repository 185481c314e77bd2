/**
 * A token-bucket pacer (RFC 9002 §7.7): packets leave at the controller's pacing rate, in bursts no
 * larger than the bucket. Node's timers fire at 1 ms granularity at best, so the bucket holds at least
 * {@link MIN_BURST_MS} of traffic (and {@link MIN_BURST_PACKETS} datagrams): the sender wakes once per
 * millisecond and sends what accrued, instead of stalling on sub-millisecond gaps at loopback speeds.
 */

/** Traffic the bucket holds: a little more than one timer tick. */
export const MIN_BURST_MS = 2;
export const MIN_BURST_PACKETS = 10;

export class Pacer {
  #tokens: number;
  #lastRefill = 0;
  #rate = 0;
  #capacity: number;
  #datagramBytes: number;

  constructor(datagramBytes: number) {
    this.#datagramBytes = datagramBytes;
    this.#capacity = MIN_BURST_PACKETS * datagramBytes;
    this.#tokens = this.#capacity;
  }

  /** Sets the rate in bytes per millisecond. */
  setRate(bytesPerMs: number, now: number): void {
    this.#refill(now);
    this.#rate = bytesPerMs;
    this.#capacity = Math.max(MIN_BURST_PACKETS * this.#datagramBytes, bytesPerMs * MIN_BURST_MS);
    if (this.#tokens > this.#capacity) this.#tokens = this.#capacity;
  }

  /**
   * Milliseconds until the next datagram may leave (0: now). A datagram may leave while the bucket holds
   * any tokens, and may take it into debt: so a datagram of any size (a 40-byte PING or a 16 KiB one after
   * path MTU discovery) waits only for the debt of the previous one, never for a bucket it cannot fill.
   */
  delayMs(bytes: number, now: number): number {
    if (bytes > this.#datagramBytes) {
      // Path MTU discovery raised the datagram size: the bucket must hold a burst of the new size.
      this.#datagramBytes = bytes;
      this.#capacity = Math.max(this.#capacity, MIN_BURST_PACKETS * bytes);
    }
    this.#refill(now);
    if (this.#tokens > 0) return 0;
    if (this.#rate <= 0) return 1;
    return (1 - this.#tokens) / this.#rate;
  }

  onSent(bytes: number): void {
    this.#tokens -= bytes;
  }

  #refill(now: number): void {
    const elapsed = now - this.#lastRefill;
    this.#lastRefill = now;
    if (elapsed > 0) this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#rate);
  }
}
