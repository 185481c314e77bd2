/**
 * The receiver's record of which packet numbers arrived, as ascending, disjoint, non-adjacent ranges, and
 * the ACK frame built from it (RFC 9000 §19.3 layout, newest range first). The gaps between ranges are
 * the missing-frame requests: the sender declares those packets lost (RFC 9002 §6) and resends their
 * frames in new packets.
 *
 * Only the newest {@link MAX_ACK_RANGES} ranges are kept. A packet number below what is kept is reported
 * as `RecordResult.UNKNOWN`: its frames are still processed (stream data is deduplicated by offset), so
 * forgetting old ranges can cost a spurious retransmission but never a lost or doubled message.
 */
import { varintBytes, type WireReader, writeVarint } from './wire.js';

/** Enough for heavy loss at full window; an ACK frame with this many ranges stays well under 600 bytes. */
export const MAX_ACK_RANGES = 64;

export const RecordResult = {
  /** New and the next after the largest seen. */
  IN_ORDER: 0,
  /** New, but it leaves or fills a gap: worth acknowledging at once (RFC 9000 §13.2.1). */
  OUT_OF_ORDER: 1,
  /** Seen before: a network duplicate. Drop the packet. */
  DUPLICATE: 2,
  /** Older than anything remembered. */
  UNKNOWN: 3,
} as const;
export type RecordResult = (typeof RecordResult)[keyof typeof RecordResult];

export class ReceivedPacketRanges {
  /** Flat [lo0, hi0, lo1, hi1, ...], ascending. */
  readonly #bounds: number[] = [];
  /** Packet numbers below this are forgotten. */
  #floor = 0;

  get largest(): number {
    const n = this.#bounds.length;
    return n === 0 ? -1 : this.#bounds[n - 1]!;
  }

  get rangeCount(): number {
    return this.#bounds.length >>> 1;
  }

  /** [lo, hi] of range `i`, counting from the newest (0). */
  range(i: number): [number, number] {
    const at = this.#bounds.length - 2 - 2 * i;
    return [this.#bounds[at]!, this.#bounds[at + 1]!];
  }

  record(packetNumber: number): RecordResult {
    const b = this.#bounds;
    const n = b.length;
    if (n === 0) {
      b.push(packetNumber, packetNumber);
      return RecordResult.IN_ORDER;
    }
    const hi = b[n - 1]!;
    if (packetNumber === hi + 1) {
      b[n - 1] = packetNumber;
      return RecordResult.IN_ORDER;
    }
    if (packetNumber > hi + 1) {
      b.push(packetNumber, packetNumber);
      this.#prune();
      return RecordResult.OUT_OF_ORDER;
    }
    if (packetNumber < this.#floor) return RecordResult.UNKNOWN;
    // Walk from the newest range down: late packets are usually recent.
    for (let at = n - 2; at >= 0; at -= 2) {
      const lo = b[at]!;
      const rangeHi = b[at + 1]!;
      if (packetNumber >= lo && packetNumber <= rangeHi) return RecordResult.DUPLICATE;
      if (packetNumber > rangeHi) {
        // Between range `at` and the next one up.
        const nextLo = b[at + 2]!;
        const joinsBelow = packetNumber === rangeHi + 1;
        const joinsAbove = packetNumber === nextLo - 1;
        if (joinsBelow && joinsAbove) b.splice(at + 1, 2);
        else if (joinsBelow) b[at + 1] = packetNumber;
        else if (joinsAbove) b[at + 2] = packetNumber;
        else b.splice(at + 2, 0, packetNumber, packetNumber);
        this.#prune();
        return RecordResult.OUT_OF_ORDER;
      }
    }
    // Below the oldest range but at or above the floor.
    if (packetNumber === b[0]! - 1) b[0] = packetNumber;
    else b.unshift(packetNumber, packetNumber);
    this.#prune();
    return RecordResult.OUT_OF_ORDER;
  }

  #prune(): void {
    const b = this.#bounds;
    if (b.length > MAX_ACK_RANGES * 2) {
      b.splice(0, b.length - MAX_ACK_RANGES * 2);
      this.#floor = b[0]!;
    }
  }

  /** Bytes {@link writeAckRanges} will write. */
  encodedBytes(): number {
    const b = this.#bounds;
    const n = b.length;
    if (n === 0) return 0;
    let bytes = varintBytes(b[n - 1]!) + varintBytes(n / 2 - 1) + varintBytes(b[n - 1]! - b[n - 2]!);
    for (let at = n - 4; at >= 0; at -= 2) {
      bytes += varintBytes(b[at + 2]! - b[at + 1]! - 2) + varintBytes(b[at + 1]! - b[at]!);
    }
    return bytes + 8; // plus the ack delay, at most 8 bytes
  }

  /**
   * Writes `largest, ackDelay, rangeCount - 1, firstRange, (gap, rangeLength)*` (RFC 9000 §19.3.1).
   * Returns the position after it. Requires at least one range.
   */
  writeAckRanges(buf: Uint8Array, pos: number, ackDelayMicros: number): number {
    const b = this.#bounds;
    const n = b.length;
    let p = writeVarint(buf, pos, b[n - 1]!);
    p = writeVarint(buf, p, ackDelayMicros);
    p = writeVarint(buf, p, n / 2 - 1);
    p = writeVarint(buf, p, b[n - 1]! - b[n - 2]!);
    for (let at = n - 4; at >= 0; at -= 2) {
      p = writeVarint(buf, p, b[at + 2]! - b[at + 1]! - 2);
      p = writeVarint(buf, p, b[at + 1]! - b[at]!);
    }
    return p;
  }
}

/**
 * Reads the ranges {@link ReceivedPacketRanges.writeAckRanges} wrote into `out` as flat
 * `[hi0, lo0, hi1, lo1, ...]`, newest first. Returns the number of ranges, or -1 when the frame is
 * malformed or lists more than `out` holds. The ack delay (microseconds) is left in `ackDelay.micros`.
 */
export function readAckRanges(reader: WireReader, out: number[], ackDelay: { micros: number }): number {
  const largest = reader.varint();
  ackDelay.micros = reader.varint();
  const extraRanges = reader.varint();
  const firstRange = reader.varint();
  if (!reader.ok || firstRange > largest || 2 * (extraRanges + 1) > out.length) return -1;
  out[0] = largest;
  out[1] = largest - firstRange;
  let count = 1;
  for (let i = 0; i < extraRanges; i++) {
    const gap = reader.varint();
    const length = reader.varint();
    const hi = out[2 * count - 1]! - gap - 2;
    const lo = hi - length;
    if (!reader.ok || lo < 0) return -1;
    out[2 * count] = hi;
    out[2 * count + 1] = lo;
    count++;
  }
  return count;
}
