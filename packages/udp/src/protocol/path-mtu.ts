/**
 * Packetization-layer path MTU discovery in the spirit of RFC 8899 (DPLPMTUD): start at the base size
 * every internet path carries (1200 bytes), send padded PING probes of the next candidate size, adopt a
 * size once a probe of it is acknowledged, and stop searching after {@link MAX_PROBE_ATTEMPTS} unanswered
 * probes of one size. Probes are not counted as bytes in flight and their loss is not congestion.
 *
 * Black-hole detection: if the path stops carrying the adopted size (repeated probe timeouts while
 * sending above the base), fall back to the base size at once and search again later.
 */

/** RFC 8899 §5.1.2 MAX_PROBES. */
export const MAX_PROBE_ATTEMPTS = 3;
/** Probe timeouts in a row, above the base size, that mean the path shrank. */
export const BLACK_HOLE_PTO_COUNT = 2;
/** After a black hole, wait this long before searching again (RFC 8899 §5.1.1 PMTU_RAISE_TIMER is 600 s). */
export const RESEARCH_AFTER_BLACK_HOLE_MS = 60_000;
/** Sizes tried in order: Ethernet with IPv6 and IPv4 headers, then jumbo and loopback sizes. */
export const CANDIDATE_DATAGRAM_BYTES = [1452, 1472, 8192, 16384];

export class PathMtu {
  /** The size packets are built to now. */
  current: number;
  readonly base: number;
  readonly #candidates: number[];
  #next = 0;
  #attempts = 0;
  #outstanding = false;
  #deadline = Number.POSITIVE_INFINITY;
  #dueAt = 0;
  /** Counters for stats(). */
  probesSent = 0;
  blackHoles = 0;

  constructor(base: number, max: number) {
    this.base = base;
    this.current = base;
    this.#candidates = CANDIDATE_DATAGRAM_BYTES.filter((size) => size > base && size <= max);
    if (max > base && !this.#candidates.includes(max)) this.#candidates.push(max);
    this.#candidates.sort((x, y) => x - y);
  }

  /** The size of the probe to send now, or 0. */
  probeDue(now: number): number {
    if (this.#outstanding || now < this.#dueAt || this.#next >= this.#candidates.length) return 0;
    return this.#candidates[this.#next]!;
  }

  onProbeSent(now: number, probeTimeoutMs: number): void {
    this.#outstanding = true;
    this.#deadline = now + 3 * probeTimeoutMs;
    this.probesSent++;
  }

  onProbeAcked(size: number, now: number): void {
    if (size > this.current) this.current = size;
    while (this.#next < this.#candidates.length && this.#candidates[this.#next]! <= this.current)
      this.#next++;
    this.#attempts = 0;
    this.#outstanding = false;
    this.#dueAt = now;
  }

  onProbeLost(now: number): void {
    if (!this.#outstanding) return;
    this.#outstanding = false;
    this.#deadline = Number.POSITIVE_INFINITY;
    if (++this.#attempts >= MAX_PROBE_ATTEMPTS) {
      this.#next = this.#candidates.length; // the search is over: this size does not pass
    }
    this.#dueAt = now;
  }

  /** The earliest time the search needs attention. */
  deadline(): number {
    if (this.#outstanding) return this.#deadline;
    return this.#next < this.#candidates.length ? this.#dueAt : Number.POSITIVE_INFINITY;
  }

  onTimeout(now: number, ptoCount: number): void {
    if (this.#outstanding && now >= this.#deadline) this.onProbeLost(now);
    if (ptoCount >= BLACK_HOLE_PTO_COUNT && this.current > this.base) {
      this.current = this.base;
      this.blackHoles++;
      this.#next = 0;
      this.#attempts = 0;
      this.#dueAt = now + RESEARCH_AFTER_BLACK_HOLE_MS;
    }
  }
}
