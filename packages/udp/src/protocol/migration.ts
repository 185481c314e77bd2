/**
 * Connection migration inside the connection core: which datagrams from another address the core takes,
 * when they start a path validation, the path frames it writes, and what a validated move changes. The
 * validation itself (challenges, responses, amplification, timers) is path-validation.ts; the README's
 * "Migration" section describes the behaviour.
 */

import {
  PATH_DATA_BYTES,
  type PathAddress,
  PathValidator,
  ValidationKind,
  type ValidationOutcome,
} from './path-validation.js';
import type { PacketProtection } from './protection.js';
import { FrameType, HEADER_BYTES } from './wire.js';

/** What migration needs from the connection core. */
export interface MigrationOwner {
  readonly state: 'handshake' | 'open' | 'draining' | 'closed';
  /** The peer announced path validation support (InitFlag.MIGRATION). */
  readonly peerMigrates: boolean;
  /** DATA is sealed with an AEAD (false: `insecure: true`). */
  readonly secured: boolean;
  readonly dataProtection: PacketProtection;
  /** The highest packet number received so far (-1: none). */
  readonly largestReceived: number;
  /** The datagram size every path carries (path challenges are padded to it). */
  readonly datagramBytes: number;
  probeTimeoutMs(): number;
  /** The address the connection sends to now. */
  remotePath(): PathAddress;
  /** A validated move to another host: congestion controller, RTT, pacer and path MTU start over. */
  resetPathState(now: number): void;
  /** Writes the header (next packet number) and seals `out[HEADER_BYTES, payloadEnd)` as DATA; counts it. */
  sealPathPacket(out: Uint8Array, payloadEnd: number): number;
  /** Every ended validation, after the core acted on it. */
  onPathValidated(outcome: ValidationOutcome): void;
}

export class Migration {
  /** PATH_CHALLENGE / PATH_RESPONSE: following the peer to a new address, or moving on purpose. */
  readonly validator = new PathValidator();
  /** Where the datagram produce() just wrote goes: undefined for the current path. */
  destination: PathAddress | undefined;
  /** Validated moves to a new peer address (the peer's NAT rebinding, or migrate()). */
  pathMigrations = 0;
  readonly #owner: MigrationOwner;
  /** Source of the datagram being processed when it is not the current path, and its size. */
  #from: PathAddress | undefined;
  #fromBytes = 0;

  constructor(owner: MigrationOwner) {
    this.#owner = owner;
  }

  /**
   * An opened DATA packet from `from`, not the current address: whether the core takes it. Secured, it
   * opened (AEAD, replay window), so it is the peer's; insecure, anyone who saw the connection ID could
   * have sent it, so only path probes are taken from there and the connection never follows such an
   * address on its own (`migrate()` still works). On true, the core processes the packet and then calls
   * {@link doneElsewhere}.
   */
  admit(
    datagram: Uint8Array,
    payloadEnd: number,
    packetNumber: number,
    from: PathAddress,
    now: number,
  ): boolean {
    const owner = this.#owner;
    const probing = onlyPathFrames(datagram, payloadEnd);
    if (!owner.secured && !probing) return false;
    // RFC 9000 §9.3: only the highest-numbered non-probing packet moves the connection, so a late or
    // reordered packet from the old path does not pull it back.
    if (!probing && packetNumber > owner.largestReceived) {
      this.validator.start(from, ValidationKind.REACTIVE, now, owner.probeTimeoutMs());
    }
    this.validator.onReceivedFrom(from, datagram.byteLength);
    this.#from = from;
    this.#fromBytes = datagram.byteLength;
    return true;
  }

  doneElsewhere(): void {
    this.#from = undefined;
  }

  /** A PATH_CHALLENGE or PATH_RESPONSE frame of the packet being processed. */
  onPathFrame(frameType: number, data: Uint8Array): void {
    if (frameType === FrameType.PATH_CHALLENGE) this.validator.onChallenge(data, this.#from, this.#fromBytes);
    else this.validator.onResponse(data, this.#from);
  }

  /** migrate(): starts validating `target`; false when the connection is not open or the peer cannot. */
  migrate(target: PathAddress, now: number): boolean {
    const owner = this.#owner;
    if (owner.state !== 'open' || !owner.peerMigrates) return false;
    return this.validator.start(target, ValidationKind.DELIBERATE, now, owner.probeTimeoutMs());
  }

  /** Gives up on a migrate() in progress (its caller stopped waiting). */
  cancel(target: PathAddress): void {
    const current = this.validator.target;
    if (current && current.host === target.host && current.port === target.port) this.validator.cancel();
  }

  deadline(): number {
    return this.validator.deadline();
  }

  onTimeout(now: number): void {
    this.validator.onTimeout(now);
    this.checkOutcome(now);
  }

  /** Acts on a validation that just ended, if any. */
  checkOutcome(now: number): void {
    const outcome = this.validator.takeOutcome();
    if (!outcome) return;
    const owner = this.#owner;
    if (outcome.validated) {
      const previous = owner.remotePath();
      // RFC 9000 §9.4: a new peer address means a new path: its congestion controller, RTT estimate and
      // path MTU start over, unless only the port changed (a NAT rebinding keeps the same route).
      if (previous.host !== outcome.target.host) owner.resetPathState(now);
      this.validator.onMoved(previous, outcome.kind, now, owner.probeTimeoutMs());
      this.pathMigrations++;
    }
    owner.onPathValidated(outcome);
  }

  /** Writes a PATH_RESPONSE owed to the current path into an ordinary packet at `pos`; returns the new end. */
  writeResponseOnCurrentPath(out: Uint8Array, pos: number, budgetEnd: number): number {
    const validator = this.validator;
    if (!validator.responseOnCurrentPath || pos + 1 + PATH_DATA_BYTES > budgetEnd) return pos;
    out[pos] = FrameType.PATH_RESPONSE;
    out.set(validator.takeResponse(), pos + 1);
    return pos + 1 + PATH_DATA_BYTES;
  }

  /**
   * A PATH_RESPONSE owed elsewhere, or a due PATH_CHALLENGE, in a datagram of its own (only path frames
   * and padding: RFC 9000 §9.1 probing packet) to that address ({@link destination}); 0 when none is due.
   */
  produce(out: Uint8Array, now: number): number {
    this.destination = undefined;
    const owner = this.#owner;
    const validator = this.validator;
    const owed = validator.responseElsewhere;
    const minimum = HEADER_BYTES + 1 + PATH_DATA_BYTES + owner.dataProtection.overheadBytes;
    if (owed) {
      const size = Math.min(owner.datagramBytes, owed.budget, out.byteLength);
      const data = validator.takeResponse();
      if (size < minimum) return 0;
      this.destination = owed.to;
      return this.#write(out, FrameType.PATH_RESPONSE, data, size);
    }
    const target = validator.target;
    if (!target || !validator.challengeDue(now)) return 0;
    // RFC 9000 §8.2.1: a challenge datagram is padded to the full size, which also checks that the new
    // path carries it; within the amplification allowance toward an address the peer did not choose.
    let size = Math.min(owner.datagramBytes, out.byteLength);
    const allowance = validator.allowance;
    if (allowance < size) size = Math.floor(allowance);
    if (size < minimum) {
      validator.deferChallenge();
      return 0;
    }
    this.destination = target;
    const data = validator.nextChallenge(now, owner.probeTimeoutMs());
    const length = this.#write(out, FrameType.PATH_CHALLENGE, data, size);
    validator.onSentToTarget(length);
    return length;
  }

  /**
   * Not tracked by loss recovery: a lost challenge is replaced by a fresh one, a lost response by the
   * answer to the next challenge.
   */
  #write(out: Uint8Array, frameType: number, data: Uint8Array, size: number): number {
    let pos = HEADER_BYTES;
    out[pos++] = frameType;
    out.set(data, pos);
    pos += PATH_DATA_BYTES;
    const payloadEnd = size - this.#owner.dataProtection.overheadBytes;
    if (payloadEnd > pos) {
      out.fill(FrameType.PADDING, pos, payloadEnd);
      pos = payloadEnd;
    }
    return this.#owner.sealPathPacket(out, pos);
  }
}

/** The packet carries only PATH_CHALLENGE, PATH_RESPONSE and PADDING frames (RFC 9000 §9.1 "probing"). */
function onlyPathFrames(datagram: Uint8Array, payloadEnd: number): boolean {
  let pos = HEADER_BYTES;
  while (pos < payloadEnd) {
    const type = datagram[pos]!;
    if (type === FrameType.PADDING) return true;
    if (type !== FrameType.PATH_CHALLENGE && type !== FrameType.PATH_RESPONSE) return false;
    pos += 1 + PATH_DATA_BYTES;
  }
  return true;
}
