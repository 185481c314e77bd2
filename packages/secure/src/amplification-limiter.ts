/**
 * Anti-amplification for handshakes over datagrams (the rule of RFC 9000 §8): until a peer has proved
 * it receives at its claimed address, send it at most AMPLIFICATION_FACTOR times the bytes it sent us.
 * A peer proves its address by completing the handshake (it echoes keys only the real address saw).
 */
import { AnttError, ErrorCode } from '@antt/core';

export const AMPLIFICATION_FACTOR = 3;

export class AmplificationLimiter {
  readonly factor: number;
  private received = 0;
  private sent = 0;
  private addressValidated = false;

  constructor(factor = AMPLIFICATION_FACTOR) {
    if (!(factor >= 1)) throw new AnttError(ErrorCode.INVALID_ARGUMENT, `amplification factor must be ≥ 1`);
    this.factor = factor;
  }

  get validated(): boolean {
    return this.addressValidated;
  }

  get bytesReceived(): number {
    return this.received;
  }

  get bytesSent(): number {
    return this.sent;
  }

  /** Bytes that may still be sent before the address is validated (Infinity after). */
  get allowance(): number {
    return this.addressValidated
      ? Number.POSITIVE_INFINITY
      : Math.max(0, this.received * this.factor - this.sent);
  }

  /** Counts a datagram received from the address (count every datagram, even ones that fail to parse). */
  onReceived(bytes: number): void {
    this.received += bytes;
  }

  canSend(bytes: number): boolean {
    return bytes <= this.allowance;
  }

  /** Counts a datagram sent to the address. */
  onSent(bytes: number): void {
    this.sent += bytes;
  }

  /** canSend + onSent in one step: returns false (and counts nothing) when the datagram must wait. */
  trySend(bytes: number): boolean {
    if (!this.canSend(bytes)) return false;
    this.onSent(bytes);
    return true;
  }

  /** The peer proved its address: the limit no longer applies. */
  validate(): void {
    this.addressValidated = true;
  }
}
