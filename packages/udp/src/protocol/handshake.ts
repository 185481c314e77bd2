/**
 * The symmetric handshake's state (see connection-core.ts for the exchange): who the peer is, whether it
 * knows who we are, which INIT or INIT-ACK is owed, and when an INIT is retransmitted.
 *
 * An INIT is padded to the datagram size (at least 1200 bytes by default, as QUIC pads its Initial,
 * RFC 9000 §14.1): it gives a listener whose peer has not proved its address yet a budget of three times
 * that for its handshake replies (anti-amplification), and checks that the path carries the base size.
 */
import { randomFillSync } from 'node:crypto';
import type { PacketProtection } from './protection.js';
import {
  type ConnectionId,
  HANDSHAKE_PAYLOAD_BYTES,
  HEADER_BYTES,
  InitFlag,
  PacketType,
  writeHeader,
  writeUint32,
} from './wire.js';

/** First INIT retransmission; doubles up to {@link MAX_INIT_RETRY_MS}. */
export const INITIAL_INIT_RETRY_MS = 200;
export const MAX_INIT_RETRY_MS = 1_000;

/** The top bit of a connection ID's high word: the larger ID starts the Noise handshake. */
const ROLE_BIT = 0x8000_0000;

/**
 * A random receive connection ID (never all zeros). `preferredRole`: `'initiator'` sets the top bit,
 * `'responder'` clears it, so against a peer that prefers the other role (or picks at random) the Noise
 * roles come out as wished half a round trip sooner, with the unchanged rule (noise-exchange.ts: the
 * larger ID initiates) and 63 random bits left.
 */
export function randomConnectionId(preferredRole?: 'initiator' | 'responder'): ConnectionId {
  const words = new Uint32Array(2);
  do {
    randomFillSync(words);
    if (preferredRole === 'initiator') words[0] = (words[0]! | ROLE_BIT) >>> 0;
    else if (preferredRole === 'responder') words[0] = words[0]! & ~ROLE_BIT;
  } while (words[0] === 0 && words[1] === 0);
  return { hi: words[0]!, lo: words[1]! };
}

export class Handshake {
  readonly localId: ConnectionId;
  readonly peerId: ConnectionId = { hi: 0, lo: 0 };
  /** We learned the peer's receive connection ID (from its INIT or INIT-ACK). */
  peerKnown = false;
  /** The peer addressed a packet to our ID: it knows it. */
  peerHasOurId = false;
  /** The peer sent an INIT that we have not answered yet. */
  initAckPending = false;
  readonly #initiator: boolean;
  readonly #secured: boolean;
  readonly #initBytes: number;
  #initDeadline = Number.POSITIVE_INFINITY;
  #retryMs = INITIAL_INIT_RETRY_MS;

  /** `initBytes`: the size INITs are padded to on the wire. */
  constructor(localId: ConnectionId, initiator: boolean, secured: boolean, initBytes: number) {
    this.localId = localId;
    this.#initiator = initiator;
    this.#secured = secured;
    this.#initBytes = initBytes;
  }

  get complete(): boolean {
    return this.peerKnown && this.peerHasOurId;
  }

  /** connect(): send INIT now, and again with backoff until stopped. */
  start(now: number): void {
    this.#initDeadline = now;
  }

  stop(): void {
    this.#initDeadline = Number.POSITIVE_INFINITY;
  }

  /** When the next INIT is due (only a connecting side sends INITs). */
  deadline(): number {
    return this.#initiator ? this.#initDeadline : Number.POSITIVE_INFINITY;
  }

  /** Takes the peer's ID from its handshake packet; false if it names a different peer than before. */
  learnPeer(hi: number, lo: number): boolean {
    if (!this.peerKnown) {
      this.peerId.hi = hi;
      this.peerId.lo = lo;
      this.peerKnown = true;
      return true;
    }
    return this.peerId.hi === hi && this.peerId.lo === lo;
  }

  isOurId(hi: number, lo: number): boolean {
    return this.localId.hi === hi && this.localId.lo === lo;
  }

  /** The handshake packet to send now: an owed INIT-ACK first, then a due INIT; 0 for none. */
  due(now: number): number {
    if (this.initAckPending) return PacketType.INIT_ACK;
    if (this.#initiator && now >= this.#initDeadline) return PacketType.INIT;
    return 0;
  }

  /** Bytes of an INIT-ACK on the wire. */
  static initAckBytes(protection: PacketProtection): number {
    return HEADER_BYTES + HANDSHAKE_PAYLOAD_BYTES + protection.overheadBytes;
  }

  /** Writes an INIT (padded) or INIT-ACK carrying our ID and flags; returns its length. */
  write(
    out: Uint8Array,
    type: number,
    packetNumber: number,
    now: number,
    protection: PacketProtection,
  ): number {
    if (type === PacketType.INIT_ACK) this.initAckPending = false;
    else {
      this.#initDeadline = now + this.#retryMs;
      this.#retryMs = Math.min(this.#retryMs * 2, MAX_INIT_RETRY_MS);
    }
    writeHeader(out, type as PacketType, this.peerId, packetNumber);
    writeUint32(out, HEADER_BYTES, this.localId.hi);
    writeUint32(out, HEADER_BYTES + 4, this.localId.lo);
    out[HEADER_BYTES + 8] = (this.#secured ? InitFlag.SECURED : 0) | InitFlag.MIGRATION;
    let payloadEnd = HEADER_BYTES + HANDSHAKE_PAYLOAD_BYTES;
    if (type === PacketType.INIT) {
      const padded = Math.min(this.#initBytes, out.byteLength) - protection.overheadBytes;
      if (padded > payloadEnd) {
        out.fill(0, payloadEnd, padded);
        payloadEnd = padded;
      }
    }
    return protection.seal(out, HEADER_BYTES, payloadEnd, packetNumber);
  }
}
