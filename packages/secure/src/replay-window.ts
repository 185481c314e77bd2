/**
 * Sliding anti-replay window over packet numbers (RFC 4303 §3.4.3, with RFC 6479's block ring so that
 * sliding clears whole 32-bit words instead of shifting a bitmap).
 *
 * Use it in two steps so forged datagrams cannot poison it: `check()` before authenticating the
 * datagram, `commit()` only after the AEAD tag verified.
 */
import { AnttError, ErrorCode } from '@antt/core';

export const DEFAULT_REPLAY_WINDOW_PACKETS = 2048;
const BLOCK_BITS = 32;

export class ReplayWindow {
  /** How many packet numbers below the highest one are still accepted (exactly, not rounded). */
  readonly size: number;
  private readonly blocks: Uint32Array;
  private highest = -1;

  constructor(size = DEFAULT_REPLAY_WINDOW_PACKETS) {
    if (!Number.isInteger(size) || size < BLOCK_BITS || size % BLOCK_BITS !== 0) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `replay window size must be a multiple of 32, got ${size}`,
      );
    }
    this.size = size;
    // RFC 6479: one spare block so the block holding the newest packet never shares bits with the oldest.
    this.blocks = new Uint32Array(size / BLOCK_BITS + 1);
  }

  /** The highest packet number committed so far (-1 before the first). */
  get highestPacketNumber(): number {
    return this.highest;
  }

  /** True when `packetNumber` is new and inside the window; does not change the window. */
  check(packetNumber: number): boolean {
    if (!Number.isSafeInteger(packetNumber) || packetNumber < 0) return false;
    if (packetNumber > this.highest) return true;
    if (packetNumber <= this.highest - this.size) return false;
    const block = Math.floor(packetNumber / BLOCK_BITS) % this.blocks.length;
    const bit = 1 << (packetNumber % BLOCK_BITS);
    return (this.blocks[block]! & bit) === 0;
  }

  /** Records `packetNumber` as received; call only after check() and authentication succeeded. */
  commit(packetNumber: number): void {
    if (!this.check(packetNumber)) return;
    if (packetNumber > this.highest) {
      const newBlock = Math.floor(packetNumber / BLOCK_BITS);
      const oldBlock = Math.floor(this.highest / BLOCK_BITS);
      const stale = this.highest < 0 ? this.blocks.length : Math.min(newBlock - oldBlock, this.blocks.length);
      for (let i = 1; i <= stale; i++) this.blocks[(oldBlock + i) % this.blocks.length] = 0;
      this.highest = packetNumber;
    }
    const block = Math.floor(packetNumber / BLOCK_BITS) % this.blocks.length;
    this.blocks[block]! |= 1 << (packetNumber % BLOCK_BITS);
  }
}
