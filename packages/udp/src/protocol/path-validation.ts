/**
 * Path validation and connection migration, after RFC 9000 §8.2 and §9, as a sans-IO part of the
 * connection core.
 *
 * A connection is identified by its connection IDs, not by the peer's address, so it can outlive a NAT
 * that gives the peer a new public port mid-transfer (a "NAT rebinding"), and it can be moved on purpose
 * (a relayed connection upgraded to a punched direct path). Either way the connection only starts
 * sending to a new address once that address proved, by echoing 8 random bytes we sent it in a
 * PATH_CHALLENGE, that it receives our datagrams and can answer them: a spoofed source address cannot,
 * since it never sees the challenge (and, on a secured connection, could not read it anyway).
 *
 * - Reactive: an authentic DATA packet with a new highest packet number and non-probing frames arrives
 *   from an address other than the connection's (the peer moved). Until validated the connection keeps
 *   sending to the old address, and sends the new one at most 3 times the bytes it received from it
 *   (RFC 9000 §9.3.1 / §8: no amplification toward a victim whose address was spoofed).
 * - Deliberate: `migrate(address)` (the application chose the address): no amplification limit.
 *
 * Every PATH_CHALLENGE is answered with a PATH_RESPONSE sent to the address the challenge came from
 * (RFC 9000 §8.2.2), whatever the current path; a response to an address other than the current one is
 * limited to 3 times the datagram that carried the challenge.
 */
import { randomFillSync } from 'node:crypto';

/** Bytes of a PATH_CHALLENGE's data (RFC 9000 §19.17). */
export const PATH_DATA_BYTES = 8;
/** A new PATH_CHALLENGE goes out this often (at least), each with fresh data, until answered. */
const MIN_CHALLENGE_INTERVAL_MS = 100;
const MAX_CHALLENGE_INTERVAL_MS = 1_000;
/**
 * RFC 9000 §8.2.4: give up after 3 × max(PTO of the current path, PTO of the new one); the new path has
 * no RTT sample, so its PTO is the initial one (about 1 s): at least 3 s.
 */
const MIN_VALIDATION_MS = 3_000;
const VALIDATION_PTO_MULTIPLE = 3;
/** Challenges remembered per validation: a late response to an earlier one still counts (RFC 9000 §8.2.2). */
const MAX_CHALLENGES = 16;
/** Responses owed at once; more challenges than this before we could answer are dropped. */
const MAX_OWED_RESPONSES = 4;
/** RFC 9000 §8: an unvalidated address gets at most 3 times the bytes received from it. */
export const AMPLIFICATION_FACTOR = 3;

/** Where a datagram came from or goes to. */
export interface PathAddress {
  host: string;
  port: number;
}

export function samePath(a: PathAddress, b: PathAddress): boolean {
  return a.host === b.host && a.port === b.port;
}

export const ValidationKind = {
  /** The peer's datagrams came from a new address. */
  REACTIVE: 0,
  /** `migrate()`: the application chose the new address. */
  DELIBERATE: 1,
} as const;
export type ValidationKind = (typeof ValidationKind)[keyof typeof ValidationKind];

interface OwedResponse {
  /** undefined: the current path. */
  to: PathAddress | undefined;
  data: Uint8Array;
  /** Bytes the response datagram may take (amplification limit); Infinity on the current path. */
  budget: number;
}

/** The result of a finished validation, for the core to act on. */
export interface ValidationOutcome {
  target: PathAddress;
  kind: ValidationKind;
  validated: boolean;
}

export class PathValidator {
  /** The address being validated, if any. */
  target: PathAddress | undefined;
  kind: ValidationKind = ValidationKind.REACTIVE;
  readonly #challenges: Uint8Array[] = [];
  #nextChallengeAt = Number.POSITIVE_INFINITY;
  #deadline = Number.POSITIVE_INFINITY;
  #receivedFromTarget = 0;
  #sentToTarget = 0;
  /** The address a deliberate move left, and until when the peer's packets from it are not followed. */
  #left: PathAddress | undefined;
  #leftUntil = 0;
  /** Waiting for bytes from the target before the next challenge fits its amplification allowance. */
  #deferred = false;
  readonly #owed: OwedResponse[] = [];
  /** Set when a validation ended; taken by the core with {@link takeOutcome}. */
  #outcome: ValidationOutcome | undefined;

  // Counters for stats().
  challengesSent = 0;
  validationsFailed = 0;

  /**
   * Starts validating `target` (a deliberate start replaces any validation in progress; a reactive one
   * does not replace a deliberate one, nor restart one for the same address).
   */
  start(target: PathAddress, kind: ValidationKind, now: number, ptoMs: number): boolean {
    const left = this.#left;
    if (kind === ValidationKind.REACTIVE && left && samePath(left, target) && now < this.#leftUntil) {
      return false;
    }
    const current = this.target;
    if (current) {
      if (kind === ValidationKind.REACTIVE && this.kind === ValidationKind.DELIBERATE) return false;
      if (samePath(current, target) && kind === this.kind) return true;
      this.#finish(false);
    }
    this.target = { host: target.host, port: target.port };
    this.kind = kind;
    this.#challenges.length = 0;
    this.#receivedFromTarget = 0;
    this.#sentToTarget = 0;
    this.#deferred = false;
    this.#nextChallengeAt = now;
    this.#deadline = now + Math.max(MIN_VALIDATION_MS, VALIDATION_PTO_MULTIPLE * ptoMs);
    return true;
  }

  /**
   * The connection moved away from `previous`. After a deliberate move the peer, which migrates too
   * (both ends of a relayed connection move to the direct path), may still send on the old path until
   * its own validation completes: for a validation time, those packets do not pull the connection back.
   * (RFC 9000 lets only clients migrate; Antt's peers are symmetric, so each may.)
   */
  onMoved(previous: PathAddress, kind: ValidationKind, now: number, ptoMs: number): void {
    if (kind !== ValidationKind.DELIBERATE) {
      this.#left = undefined;
      return;
    }
    this.#left = { host: previous.host, port: previous.port };
    this.#leftUntil = now + Math.max(MIN_VALIDATION_MS, VALIDATION_PTO_MULTIPLE * ptoMs);
  }

  /** Stops a validation in progress without an outcome (the application gave up on `migrate()`). */
  cancel(): void {
    this.target = undefined;
    this.#nextChallengeAt = Number.POSITIVE_INFINITY;
    this.#deadline = Number.POSITIVE_INFINITY;
  }

  /** Bytes arrived from `from` (an address other than the current one): amplification credit. */
  onReceivedFrom(from: PathAddress, bytes: number): void {
    if (!this.target || !samePath(this.target, from)) return;
    this.#receivedFromTarget += bytes;
    if (this.#deferred) {
      this.#deferred = false;
      this.#nextChallengeAt = Number.NEGATIVE_INFINITY;
    }
  }

  /** A PATH_CHALLENGE arrived from `from` (undefined: the current path) in a datagram of `bytes`. */
  onChallenge(data: Uint8Array, from: PathAddress | undefined, bytes: number): void {
    if (this.#owed.length >= MAX_OWED_RESPONSES) return;
    this.#owed.push({
      to: from && { host: from.host, port: from.port },
      data: data.slice(0, PATH_DATA_BYTES),
      budget: from ? AMPLIFICATION_FACTOR * bytes : Number.POSITIVE_INFINITY,
    });
  }

  /**
   * A PATH_RESPONSE arrived from `from` (undefined: the current path). It validates the target only when
   * it echoes one of our challenges and comes from the target itself: the path works both ways.
   */
  onResponse(data: Uint8Array, from: PathAddress | undefined): void {
    const target = this.target;
    if (!target || !from || !samePath(target, from)) return;
    if (!this.#challenges.some((sent) => equalBytes(sent, data))) return;
    this.#finish(true);
  }

  /** The ended validation, once (undefined while none ended since the last call). */
  takeOutcome(): ValidationOutcome | undefined {
    const outcome = this.#outcome;
    this.#outcome = undefined;
    return outcome;
  }

  // ---- what to send ---------------------------------------------------------------------------

  /** A response owed to the current path (goes into the next ordinary packet). */
  get responseOnCurrentPath(): boolean {
    return this.#owed.length > 0 && this.#owed[0]!.to === undefined;
  }

  /** A response owed to another address (goes alone, in its own datagram). */
  get responseElsewhere(): OwedResponse | undefined {
    const first = this.#owed[0];
    return first?.to === undefined ? undefined : first;
  }

  /** Takes the first owed response's data (after writing it). */
  takeResponse(): Uint8Array {
    return this.#owed.shift()!.data;
  }

  /** A challenge should go out now. */
  challengeDue(now: number): boolean {
    return this.target !== undefined && now >= this.#nextChallengeAt;
  }

  /** Bytes the target may still be sent (Infinity once deliberate). */
  get allowance(): number {
    if (this.kind === ValidationKind.DELIBERATE) return Number.POSITIVE_INFINITY;
    return AMPLIFICATION_FACTOR * this.#receivedFromTarget - this.#sentToTarget;
  }

  /** Fresh random data for the next challenge, remembered for the response. */
  nextChallenge(now: number, ptoMs: number): Uint8Array {
    const data = new Uint8Array(PATH_DATA_BYTES);
    randomFillSync(data);
    if (this.#challenges.length >= MAX_CHALLENGES) this.#challenges.shift();
    this.#challenges.push(data);
    this.challengesSent++;
    this.#nextChallengeAt =
      now + Math.min(MAX_CHALLENGE_INTERVAL_MS, Math.max(MIN_CHALLENGE_INTERVAL_MS, ptoMs));
    return data;
  }

  /** A challenge could not go out for want of amplification credit: wait for more bytes from the target. */
  deferChallenge(): void {
    this.#deferred = true;
    this.#nextChallengeAt = this.#deadline;
  }

  /** Bytes sent to the target (amplification accounting). */
  onSentToTarget(bytes: number): void {
    this.#sentToTarget += bytes;
  }

  // ---- timers ---------------------------------------------------------------------------------

  deadline(): number {
    if (this.#owed.length > 0 && this.#owed[0]!.to !== undefined) return Number.NEGATIVE_INFINITY;
    return this.target ? Math.min(this.#nextChallengeAt, this.#deadline) : Number.POSITIVE_INFINITY;
  }

  onTimeout(now: number): void {
    if (this.target && now >= this.#deadline) this.#finish(false);
  }

  #finish(validated: boolean): void {
    const target = this.target;
    if (!target) return;
    if (!validated) this.validationsFailed++;
    this.#outcome = { target, kind: this.kind, validated };
    this.cancel();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
