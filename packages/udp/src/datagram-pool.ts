/**
 * Reusable datagram buffers for the send path. `socket.send` completes in order on one socket (libuv
 * keeps one send queue per handle), so buffers are handed out and returned as a ring: no allocation per
 * datagram, and the number of datagrams queued in the kernel/libuv is bounded by the ring's size.
 */

export class DatagramPool {
  readonly #buffers: Uint8Array[];
  #next = 0;
  #inUse = 0;

  constructor(count: number, datagramBytes: number) {
    const slab = new Uint8Array(count * datagramBytes);
    this.#buffers = Array.from({ length: count }, (_, i) =>
      slab.subarray(i * datagramBytes, (i + 1) * datagramBytes),
    );
  }

  get available(): number {
    return this.#buffers.length - this.#inUse;
  }

  /** The next free buffer; check {@link available} first. */
  acquire(): Uint8Array {
    const buffer = this.#buffers[this.#next]!;
    this.#next = (this.#next + 1) % this.#buffers.length;
    this.#inUse++;
    return buffer;
  }

  /** The oldest buffer in use was sent. */
  release(): void {
    if (this.#inUse > 0) this.#inUse--;
  }
}
