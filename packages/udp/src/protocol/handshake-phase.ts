/**
 * Everything a connection does before it is open, and the handshake packets it may still owe after:
 * the INIT / INIT-ACK exchange of connection IDs (handshake.ts), the Noise handshake in HANDSHAKE
 * packets (noise-exchange.ts), the amplification limit of an accepted peer that has not proved its
 * address yet, and the last handshake datagram (a reject, an INIT-ACK) a failing connection sends before
 * it closes. The connection core (connection-core.ts) owns the packet numbers, the state and the end;
 * this part tells it when the connection may open and which DATA protection to use.
 *
 * Handshake (symmetric, so two peers behind NATs can start at the same moment):
 *   each side sends INIT(its receive connection ID) to the other's address, retransmitting with backoff;
 *   each answers an INIT with INIT-ACK(its ID) addressed to the ID it learned; a side is open once it
 *   knows the peer's ID and has received a packet addressed to its own ID (so the peer knows it too).
 *   Simultaneous INITs converge on one connection because each side's ID is chosen by that side alone.
 *   INIT-ACK is never larger than INIT (anti-amplification).
 *
 * Secured connections (the default) then run the Noise handshake and open once it is confirmed; from
 * then on every DATA packet is sealed with its AEAD keys (aead-protection.ts). Until an accepted peer
 * proved its address (it addressed a packet to our random connection ID, which only its address
 * received), it gets at most 3 times the bytes it sent (AmplificationLimiter).
 */
import { type AnttError, AuthError, ProtocolError } from '@antt/core';
import { AmplificationLimiter, type SecureContext } from '@antt/secure';
import { AeadProtection } from './aead-protection.js';
import { Handshake } from './handshake.js';
import { explainHandshakeError, NoiseExchange } from './noise-exchange.js';
import type { PacketProtection } from './protection.js';
import {
  type ConnectionId,
  HANDSHAKE_PAYLOAD_BYTES,
  HEADER_BYTES,
  headerIdHi,
  headerIdLo,
  InitFlag,
  PacketType,
  readUint32,
  writeHeader,
  writeUint32,
} from './wire.js';

/** Bytes of a HANDSHAKE packet around its Noise message: header, sender's ID, CRC. */
const HANDSHAKE_PACKET_OVERHEAD = HEADER_BYTES + 8;
/** A HANDSHAKE payload: the sender's ID and at least a 2-byte Noise message. */
const MIN_HANDSHAKE_MESSAGE_PAYLOAD = 8 + 2;

/** What the handshake phase needs from the connection core. */
export interface HandshakeOwner {
  readonly state: 'handshake' | 'open' | 'draining' | 'closed';
  readonly localId: ConnectionId;
  /** A packet number for a packet about to be written (never reused). */
  takePacketNumber(): number;
  /** Counts a datagram written (stats). */
  onHandshakeSent(bytes: number): void;
  /** The connection fails with `error` (a farewell, if set, still goes out). */
  fail(error: Error): void;
  /** IDs exchanged and, secured, the Noise handshake confirmed: the connection may open. */
  open(now: number): void;
  /** The farewell went out: the connection is closed. */
  closeAfterFarewell(): void;
  /** A handshake packet of the peer arrived (the idle timer, during the handshake). */
  heardDuringHandshake(now: number): void;
  /** Insecure and open, the peer still in its handshake: send it something on its ID. */
  requestPing(): void;
  describePeer(): string;
}

export interface HandshakeConfig {
  localId: ConnectionId;
  initiator: boolean;
  datagramBytes: number;
  protection: PacketProtection;
  secured: boolean;
}

/** What {@link HandshakePhase.receive} made of a handshake packet. */
export const HandshakeReceive = {
  ACCEPTED: 0,
  INVALID: 1,
} as const;
export type HandshakeReceive = (typeof HandshakeReceive)[keyof typeof HandshakeReceive];

export class HandshakePhase {
  readonly handshake: Handshake;
  /** The peer's INIT or INIT-ACK said it understands path validation frames (InitFlag.MIGRATION). */
  peerMigrates = false;
  /** DATA's seal/open step: the AEAD once the Noise handshake has keys, else the configured one. */
  dataProtection: PacketProtection;
  readonly #config: HandshakeConfig;
  readonly #owner: HandshakeOwner;
  #secureContext: SecureContext | undefined;
  #exchange: NoiseExchange | undefined;
  /** Accepted connections, until the peer proved its address. */
  readonly #amplification: AmplificationLimiter | undefined;
  /** A last handshake datagram (reject, INIT-ACK) to send before the core closes. */
  farewell: 'init-ack' | Uint8Array | undefined;

  constructor(config: HandshakeConfig, owner: HandshakeOwner) {
    this.#config = config;
    this.#owner = owner;
    this.handshake = new Handshake(config.localId, config.initiator, config.secured, config.datagramBytes);
    this.dataProtection = config.protection;
    this.#amplification = config.initiator ? undefined : new AmplificationLimiter();
  }

  /** The peer's id, proven by the Noise handshake (secured connections, once open). */
  get remotePeerId(): string | undefined {
    return this.#exchange?.handshake.remotePeerId;
  }

  /** Bytes the peer may still be sent before it proves its address (Infinity once it did). */
  get amplificationAllowance(): number {
    return this.#amplification?.allowance ?? Number.POSITIVE_INFINITY;
  }

  /** Secured, and the Noise handshake produced no keys yet: DATA cannot be opened. */
  get awaitingKeys(): boolean {
    return this.#config.secured && this.dataProtection === this.#config.protection;
  }

  /** A handshake packet is owed (an INIT-ACK or a Noise message), even after opening. */
  get pending(): boolean {
    return (
      this.handshake.initAckPending || (this.#exchange !== undefined && this.#exchange.outgoing.length > 0)
    );
  }

  /** The earliest time a handshake packet is due. */
  deadline(): number {
    let at = this.#config.initiator ? this.handshake.deadline() : Number.POSITIVE_INFINITY;
    if (this.#exchange) at = Math.min(at, this.#exchange.deadline());
    return at;
  }

  onTimeout(now: number): void {
    this.#exchange?.onTimeout(now);
  }

  /** A datagram arrived from the peer's address: amplification credit until it proves the address. */
  onDatagram(bytes: number): void {
    const amplification = this.#amplification;
    if (amplification && !amplification.validated) amplification.onReceived(bytes);
  }

  /** The endpoint's or connection's keys are ready (scrypt may take a moment): the Noise handshake may start. */
  setSecureContext(context: SecureContext, now: number): void {
    this.#secureContext = context;
    this.afterPacket(now);
  }

  /**
   * connect() gave up: report the handshake's own error if it had one (a forged or tampered message,
   * naming the cause) instead of a bare timeout, and tell the peer with a reject.
   */
  abandon(): AnttError | undefined {
    const exchange = this.#exchange;
    const error = exchange?.lastError;
    if (!exchange || !error || this.#owner.state !== 'handshake') return undefined;
    exchange.abandon(error);
    this.farewell = exchange.outgoing.shift();
    const explained = explainHandshakeError(exchange, error, this.#owner.describePeer());
    this.#owner.fail(explained);
    return explained;
  }

  /** An authentic DATA packet during the handshake: the peer has our ID and (secured) keys. */
  confirmByData(now: number): void {
    this.handshake.peerHasOurId = true;
    this.#exchange?.confirmByData();
    this.afterPacket(now);
  }

  /** After any handshake packet: stop INITs once IDs are exchanged, start or advance the Noise handshake. */
  afterPacket(now: number): void {
    const owner = this.#owner;
    if (owner.state === 'closed') return;
    const handshake = this.handshake;
    if (handshake.peerHasOurId) this.#amplification?.validate();
    if (handshake.complete) handshake.stop();
    if (this.#config.secured && handshake.peerKnown && !this.#exchange && this.#secureContext) {
      try {
        this.#exchange = new NoiseExchange(this.#secureContext, this.#config.localId, handshake.peerId, now);
      } catch (error) {
        owner.fail(error instanceof Error ? error : new ProtocolError(String(error)));
        return;
      }
    }
    const exchange = this.#exchange;
    if (exchange) {
      if (exchange.keys && this.dataProtection === this.#config.protection) {
        this.dataProtection = new AeadProtection(exchange.keys);
      }
      if (exchange.error) {
        // Our reject (or nothing, after the peer's) goes out, then the core closes.
        this.farewell = exchange.outgoing.shift();
        owner.fail(explainHandshakeError(exchange, exchange.error, owner.describePeer()));
        return;
      }
    }
    if (owner.state !== 'handshake' || !handshake.complete) return;
    if (this.#config.secured && !this.#exchange?.established) return;
    handshake.stop();
    owner.open(now);
  }

  /** An INIT, INIT-ACK or HANDSHAKE packet that passed its integrity check. */
  receive(datagram: Uint8Array, type: number, payloadEnd: number, now: number): HandshakeReceive {
    const minimum = type === PacketType.HANDSHAKE ? MIN_HANDSHAKE_MESSAGE_PAYLOAD : HANDSHAKE_PAYLOAD_BYTES;
    if (payloadEnd - HEADER_BYTES < minimum) return HandshakeReceive.INVALID;
    const owner = this.#owner;
    const hi = readUint32(datagram, HEADER_BYTES);
    const lo = readUint32(datagram, HEADER_BYTES + 4);
    if (!this.handshake.learnPeer(hi, lo)) return HandshakeReceive.INVALID;
    if (owner.state === 'handshake') owner.heardDuringHandshake(now);
    if (this.handshake.isOurId(headerIdHi(datagram), headerIdLo(datagram)))
      this.handshake.peerHasOurId = true;
    if (type === PacketType.HANDSHAKE) {
      // Before the context is ready (scrypt) the message is dropped: the peer sends it again.
      this.#exchange?.onMessage(datagram.subarray(HEADER_BYTES + 8, payloadEnd), now);
    } else {
      const flags = datagram[HEADER_BYTES + 8]!;
      if (flags & InitFlag.MIGRATION) this.peerMigrates = true;
      const peerSecured = (flags & InitFlag.SECURED) !== 0;
      if (peerSecured !== this.#config.secured && owner.state === 'handshake') {
        // Both sides see the other's flag: answer an INIT so the peer learns ours, then end.
        if (type === PacketType.INIT) this.farewell = 'init-ack';
        owner.fail(new AuthError(securityMismatch(this.#config.secured, owner.describePeer())));
        return HandshakeReceive.ACCEPTED;
      }
      if (type === PacketType.INIT) {
        if (owner.state === 'handshake' || owner.state === 'open') this.handshake.initAckPending = true;
      } else if (owner.state === 'open' && !this.#config.secured) {
        // The peer is still in its handshake: make sure it hears from us on its ID.
        owner.requestPing();
      }
    }
    this.afterPacket(now);
    return HandshakeReceive.ACCEPTED;
  }

  /**
   * An INIT, INIT-ACK or HANDSHAKE packet, within the amplification limit (what does not fit waits for
   * more bytes from the peer; an INIT-ACK that does not fit is not owed: the peer sends its INIT again).
   * Either may be owed after opening, when the peer sent its previous packet again.
   */
  produce(out: Uint8Array, now: number): number {
    const protection = this.#config.protection;
    const farewell = this.farewell;
    if (farewell !== undefined) {
      this.farewell = undefined;
      this.#owner.closeAfterFarewell();
      if (farewell === 'init-ack') this.handshake.initAckPending = true;
      else return this.#writeMessage(out, farewell);
    }
    const amplification = this.#amplification;
    const type = this.handshake.due(now);
    if (
      type === PacketType.INIT_ACK &&
      amplification &&
      !amplification.trySend(Handshake.initAckBytes(protection))
    ) {
      this.handshake.initAckPending = false;
    } else if (type !== 0) {
      const length = this.handshake.write(out, type, this.#owner.takePacketNumber(), now, protection);
      this.#owner.onHandshakeSent(length);
      return length;
    }
    const outgoing = this.#exchange?.outgoing;
    if (!outgoing || outgoing.length === 0 || !this.handshake.peerKnown) return 0;
    const message = outgoing[0]!;
    const bytes = HANDSHAKE_PACKET_OVERHEAD + message.byteLength + protection.overheadBytes;
    if (bytes > out.byteLength) {
      outgoing.shift(); // cannot happen with @antt/secure's sizes; never loop on it
      return 0;
    }
    if (amplification && !amplification.trySend(bytes)) return 0;
    outgoing.shift();
    return this.#writeMessage(out, message);
  }

  #writeMessage(out: Uint8Array, message: Uint8Array): number {
    const packetNumber = this.#owner.takePacketNumber();
    writeHeader(out, PacketType.HANDSHAKE, this.handshake.peerId, packetNumber);
    writeUint32(out, HEADER_BYTES, this.#config.localId.hi);
    writeUint32(out, HEADER_BYTES + 4, this.#config.localId.lo);
    out.set(message, HANDSHAKE_PACKET_OVERHEAD);
    const length = this.#config.protection.seal(
      out,
      HEADER_BYTES,
      HANDSHAKE_PACKET_OVERHEAD + message.byteLength,
      packetNumber,
    );
    this.#owner.onHandshakeSent(length);
    return length;
  }
}

function securityMismatch(localSecured: boolean, peer: string): string {
  return localSecured
    ? `the security handshake with ${peer} failed: the peer runs with insecure: true (no authentication, ` +
        'no encryption); this side requires a secured connection: remove insecure on the peer'
    : `the security handshake with ${peer} failed: the peer requires a secured connection (passphrase, ` +
        'allowedPeers or acceptAnyPeer); this side runs with insecure: true';
}
