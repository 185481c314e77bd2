import { AnttError, ErrorCode } from '@antt/core';

/** RFC 8489 §6.2.1: the initial retransmission timeout, "SHOULD be greater than 500 ms". */
export const DEFAULT_RTO_MS = 500;
/** RFC 8489 §6.2.1 Rc: requests sent in total before giving up. */
export const DEFAULT_MAX_TRANSMISSIONS = 7;
/** RFC 8489 §6.2.1 Rm: after the last request, wait this many times the initial RTO. */
export const DEFAULT_LAST_WAIT_FACTOR = 16;

export interface RetransmissionOptions {
  /** Initial retransmission timeout in milliseconds (RTO); doubles after each transmission. */
  rtoMs?: number;
  /** Requests sent in total (Rc). */
  maxTransmissions?: number;
  /** After the last transmission, wait `lastWaitFactor × rtoMs` for an answer (Rm). */
  lastWaitFactor?: number;
}

export interface RetransmissionSchedule {
  /** Offsets from the first transmission, in milliseconds, at which each request is sent. */
  sendAtMs: number[];
  /** Offset at which the transaction fails if nothing answered. */
  giveUpAtMs: number;
}

/**
 * The transmission times of one STUN transaction over UDP. With the defaults: 0, 500, 1500, 3500, 7500,
 * 15500, 31500 ms, giving up at 39500 ms (RFC 8489 §6.2.1's own example).
 */
export function retransmissionSchedule(options: RetransmissionOptions = {}): RetransmissionSchedule {
  const rtoMs = options.rtoMs ?? DEFAULT_RTO_MS;
  const transmissions = options.maxTransmissions ?? DEFAULT_MAX_TRANSMISSIONS;
  const lastWaitFactor = options.lastWaitFactor ?? DEFAULT_LAST_WAIT_FACTOR;
  if (!(rtoMs > 0) || !Number.isFinite(rtoMs)) throw invalidArgument(`rtoMs must be > 0, got ${rtoMs}`);
  if (!Number.isInteger(transmissions) || transmissions < 1) {
    throw invalidArgument(`maxTransmissions must be an integer >= 1, got ${transmissions}`);
  }
  if (!(lastWaitFactor > 0) || !Number.isFinite(lastWaitFactor)) {
    throw invalidArgument(`lastWaitFactor must be > 0, got ${lastWaitFactor}`);
  }
  const sendAtMs: number[] = [];
  let at = 0;
  let interval = rtoMs;
  for (let i = 0; i < transmissions; i++) {
    sendAtMs.push(at);
    at += interval;
    interval *= 2;
  }
  return { sendAtMs, giveUpAtMs: sendAtMs[sendAtMs.length - 1]! + lastWaitFactor * rtoMs };
}

function invalidArgument(message: string): AnttError {
  return new AnttError(ErrorCode.INVALID_ARGUMENT, message);
}
