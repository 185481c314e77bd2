/**
 * What the sender remembers about each packet until it is acknowledged or declared lost (RFC 9002 §A.1.1
 * "sent_packets"), as a ring indexed by packet number. Packet numbers are consecutive and never reused, so
 * a ring of parallel typed arrays replaces a map: no allocation per packet, O(1) lookup.
 */

const INITIAL_CAPACITY = 1024;

export const SentFlag = {
  /** Neither acknowledged nor declared lost yet. */
  OUTSTANDING: 1,
  /** Carries a frame other than ACK or PADDING: the peer acknowledges it (RFC 9002 §2). */
  ACK_ELICITING: 2,
  /** Counts toward bytes in flight. */
  IN_FLIGHT: 4,
  /** Carries the end of the stream (graceful close). */
  FIN: 8,
  /** Sent while the sender had nothing more to send: its delivery rate says little about the path. */
  APP_LIMITED: 16,
  /** A path MTU probe (its stream offset field holds the probe's size). */
  MTU_PROBE: 32,
} as const;

export class SentPackets {
  #mask = INITIAL_CAPACITY - 1;
  /** Oldest packet number still held. */
  base = 0;
  /** Next packet number to be recorded. */
  next = 0;
  timeSent = new Float64Array(INITIAL_CAPACITY);
  bytes = new Int32Array(INITIAL_CAPACITY);
  flags = new Uint8Array(INITIAL_CAPACITY);
  streamOffset = new Float64Array(INITIAL_CAPACITY);
  streamLength = new Int32Array(INITIAL_CAPACITY);
  /** Bytes the peer had acknowledged when this packet left (delivery-rate sampling, for BBR). */
  delivered = new Float64Array(INITIAL_CAPACITY);
  deliveredTime = new Float64Array(INITIAL_CAPACITY);

  /** Ring slot of `packetNumber`; valid for base <= packetNumber < next. */
  slot(packetNumber: number): number {
    return packetNumber & this.#mask;
  }

  isOutstanding(packetNumber: number): boolean {
    return (
      packetNumber >= this.base &&
      packetNumber < this.next &&
      (this.flags[packetNumber & this.#mask]! & SentFlag.OUTSTANDING) !== 0
    );
  }

  /** Records packet `packetNumber` (which must be `next`, or later when numbers were skipped); returns its slot. */
  add(packetNumber: number, timeSent: number, bytes: number, flags: number): number {
    if (this.next === this.base) {
      this.base = packetNumber;
      this.next = packetNumber;
    }
    while (packetNumber - this.base >= this.#mask) this.#grow();
    for (let pn = this.next; pn < packetNumber; pn++) this.flags[pn & this.#mask] = 0;
    const at = packetNumber & this.#mask;
    this.timeSent[at] = timeSent;
    this.bytes[at] = bytes;
    this.flags[at] = flags | SentFlag.OUTSTANDING;
    this.streamOffset[at] = 0;
    this.streamLength[at] = -1;
    this.next = packetNumber + 1;
    return at;
  }

  /** Drops finished (acknowledged or lost: flags cleared) packets from the front of the ring. */
  advanceBase(): void {
    while (this.base < this.next && (this.flags[this.base & this.#mask]! & SentFlag.OUTSTANDING) === 0) {
      this.base++;
    }
  }

  get size(): number {
    return this.next - this.base;
  }

  #grow(): void {
    const oldCapacity = this.#mask + 1;
    const capacity = oldCapacity * 2;
    const mask = capacity - 1;
    const move = <T extends Float64Array | Int32Array | Uint8Array>(from: T, make: (n: number) => T): T => {
      const to = make(capacity);
      for (let pn = this.base; pn < this.next; pn++) to[pn & mask] = from[pn & this.#mask]!;
      return to;
    };
    this.timeSent = move(this.timeSent, (n) => new Float64Array(n));
    this.bytes = move(this.bytes, (n) => new Int32Array(n));
    this.flags = move(this.flags, (n) => new Uint8Array(n));
    this.streamOffset = move(this.streamOffset, (n) => new Float64Array(n));
    this.streamLength = move(this.streamLength, (n) => new Int32Array(n));
    this.delivered = move(this.delivered, (n) => new Float64Array(n));
    this.deliveredTime = move(this.deliveredTime, (n) => new Float64Array(n));
    this.#mask = mask;
  }
}
