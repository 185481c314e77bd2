/**
 * One Antt/UDP connection as a sans-IO state machine: fed received datagrams and the current time, it
 * produces datagrams to send and the time it next needs to be woken. It owns packet numbering,
 * acknowledgements, loss recovery, congestion control, pacing, flow control, the two halves of the byte
 * stream, keepalive and the idle timeout; the endpoint moves its datagrams and runs its timer. What
 * happens before the connection opens (INIT exchange, Noise handshake, amplification limit) is
 * handshake-phase.ts; following the peer to a new address is migration.ts.
 *
 * A DATA packet that fails to open is dropped and counted, nothing else: it cannot close, stall or keep
 * alive the connection.
 */
import { type AnttError, formatMs, ProtocolError, ResetError, TimeoutError } from '@antt/core';
import type { SecureContext } from '@antt/secure';
import { RecordResult } from './ack-ranges.js';
import { AckScheduler } from './ack-scheduler.js';
import { OPEN_REPLAYED } from './aead-protection.js';
import type { CongestionControllerFactory } from './congestion/controller.js';
import { ReceiveWindow } from './flow-control.js';
import { type FrameHandler, FrameRead, FrameReader } from './frame-reader.js';
import type { Handshake } from './handshake.js';
import { HandshakePhase, HandshakeReceive } from './handshake-phase.js';
import type { LossDetector } from './loss-detection.js';
import { Migration } from './migration.js';
import type { PathMtu } from './path-mtu.js';
import type { PathAddress, PathValidator, ValidationOutcome } from './path-validation.js';
import { type PacketProtection, RESERVED_TAG_BYTES } from './protection.js';
import { Reassembly, StreamResult } from './reassembly.js';
import type { SendStream } from './send-stream.js';
import { Sender } from './sender.js';
import {
  type ConnectionId,
  FrameType,
  HEADER_BYTES,
  headerPacketNumber,
  headerType,
  headerVersion,
  PacketType,
  ResetCode,
  WIRE_VERSION,
  writeHeader,
} from './wire.js';

/** RFC 9000 §10.2: stay around for 3 × PTO after the end so late retransmissions are still acknowledged. */
const DRAIN_PTO_MULTIPLE = 3;
const MIN_DRAIN_MS = 50;
const MAX_DRAIN_MS = 3_000;

export type CoreState = 'handshake' | 'open' | 'draining' | 'closed';

export interface CoreConfig {
  localId: ConnectionId;
  /** Sends INIT (a connect()); false for a connection accepted from a peer's INIT. */
  initiator: boolean;
  /** Datagram size every path carries: the size packets start at. */
  datagramBytes: number;
  /** Largest datagram path MTU discovery may try (equal to `datagramBytes`: no discovery). */
  maxDatagramBytes: number;
  /** Handshake packets' integrity check (and DATA's when not secured). */
  protection: PacketProtection;
  /** Run the Noise handshake and seal DATA (false: `insecure: true`). */
  secured: boolean;
  congestion: CongestionControllerFactory;
  idleTimeoutMs: number;
  keepAliveIntervalMs: number;
  maxMessageBytes: number;
  /** Hard cap on out-of-order bytes held by the receiver. */
  reassemblyBytes: number;
}

/** What the core tells its owner. */
export interface CoreHost {
  onOpen(): void;
  onMessage(message: Uint8Array): void;
  /** The connection ended: cleanly when the peer's stream ended (undefined), or with why. */
  onEnd(error: Error | undefined): void;
  /** The peer acknowledged stream data (send-buffer space freed, or the close completed). */
  onAcked(): void;
  /** Bytes the application's receive queue still takes. */
  receiveWindowBytes(): number;
  describePeer(): string;
  /** The address the connection sends to now. */
  remotePath(): PathAddress;
  /**
   * A path validation ended (path-validation.ts). When `validated`, the connection now sends to
   * `target`: the owner updates its remote address.
   */
  onPathValidated(outcome: ValidationOutcome): void;
}

export const ReceiveOutcome = {
  ACCEPTED: 0,
  /** Failed the integrity check, malformed, or of the wrong kind: counted as invalid. */
  INVALID: 1,
  /** A packet number seen before (network duplication). */
  DUPLICATE: 2,
  /** A sealed DATA packet that failed authentication or was replayed: dropped and counted. */
  REJECTED: 3,
  /**
   * From an address other than the connection's, and not acceptable from there: a handshake packet, a
   * peer that cannot migrate, or (insecure) anything but path probes. Counted like an unknown connection.
   */
  UNKNOWN_PATH: 4,
} as const;
export type ReceiveOutcome = (typeof ReceiveOutcome)[keyof typeof ReceiveOutcome];

export class ConnectionCore {
  state: CoreState = 'handshake';
  readonly localId: ConnectionId;
  readonly reassembly: Reassembly;
  readonly #acks = new AckScheduler();
  readonly #receiveWindow: ReceiveWindow;
  readonly #sender: Sender;
  readonly #migration: Migration;
  readonly #config: CoreConfig;
  readonly #host: CoreHost;
  readonly #frames = new FrameReader();
  readonly #frameHandler: FrameHandler;

  #nextPacketNumber = 0;
  #resetPending = false;
  #resetCode: number = ResetCode.APPLICATION;
  #lastReceiveAt: number;
  #drainDeadline = Number.POSITIVE_INFINITY;
  #ended = false;
  readonly #phase: HandshakePhase;

  // Counters for stats().
  packetsSent = 0;
  packetsReceived = 0;
  duplicatesDropped = 0;
  invalidDropped = 0;
  overCapDropped = 0;
  bytesSentOnWire = 0;
  bytesReceivedOnWire = 0;
  /** Sealed DATA that failed authentication (forged, spoofed, corrupted) or was replayed. */
  datagramsRejectedAuth = 0;
  datagramsRejectedReplay = 0;

  constructor(config: CoreConfig, host: CoreHost, now: number) {
    const core = this;
    this.#config = config;
    this.#host = host;
    this.localId = config.localId;
    this.#phase = new HandshakePhase(config, {
      get state() {
        return core.state;
      },
      localId: config.localId,
      takePacketNumber: () => this.#nextPacketNumber++,
      onHandshakeSent: (bytes) => {
        this.packetsSent++;
        this.bytesSentOnWire += bytes;
      },
      fail: (error) => this.#end(error),
      open: (at) => this.#open(at),
      closeAfterFarewell: () => {
        this.state = 'closed';
      },
      heardDuringHandshake: (at) => {
        this.#lastReceiveAt = at;
      },
      requestPing: () => {
        this.#sender.pingPending = true;
      },
      describePeer: () => host.describePeer(),
    });
    this.#sender = new Sender(
      config,
      {
        takePacketNumber: () => this.#nextPacketNumber++,
        get dataProtection() {
          return core.#phase.dataProtection;
        },
        get peerId() {
          return core.#phase.handshake.peerId;
        },
        onSent: (bytes) => {
          this.packetsSent++;
          this.bytesSentOnWire += bytes;
        },
        onAcked: () => host.onAcked(),
      },
      now,
    );
    this.reassembly = new Reassembly(config.reassemblyBytes, config.maxMessageBytes, (m) =>
      host.onMessage(m),
    );
    this.#receiveWindow = new ReceiveWindow(config.reassemblyBytes);
    this.#lastReceiveAt = now;
    this.#frameHandler = {
      get stopped() {
        return core.state === 'closed';
      },
      onAck: (ranges, count, ackDelayMs, cumulativeOffset, flowLimit, at) =>
        ranges[0]! >= this.#nextPacketNumber
          ? 'an ACK for a packet never sent'
          : this.#sender.onAck(ranges, count, ackDelayMs, cumulativeOffset, flowLimit, at),
      onStream: (offset, data, fin, at) => this.#processStream(offset, data, fin, at),
      onPathFrame: (frameType, data) => this.#migration.onPathFrame(frameType, data),
      onReset: (code) =>
        this.#end(
          new ResetError(
            code === ResetCode.PROTOCOL
              ? `${host.describePeer()} reset the connection: it saw a protocol violation from this end`
              : `${host.describePeer()} reset the connection`,
          ),
        ),
    };
    this.#migration = new Migration({
      get state() {
        return core.state;
      },
      get peerMigrates() {
        return core.peerMigrates;
      },
      secured: config.secured,
      get dataProtection() {
        return core.#phase.dataProtection;
      },
      get largestReceived() {
        return core.#acks.received.largest;
      },
      datagramBytes: config.datagramBytes,
      probeTimeoutMs: () => this.loss.probeTimeoutMs(),
      remotePath: () => host.remotePath(),
      resetPathState: (at) => this.#sender.resetPath(at),
      sealPathPacket: (out, payloadEnd) => this.#sealUntracked(out, payloadEnd),
      onPathValidated: (outcome) => host.onPathValidated(outcome),
    });
  }

  /** Loss recovery and congestion control of the sending half. */
  get loss(): LossDetector {
    return this.#sender.loss;
  }

  /** The application's outgoing byte stream. */
  get stream(): SendStream {
    return this.#sender.stream;
  }

  get pathMtu(): PathMtu {
    return this.#sender.pathMtu;
  }

  get packetsRetransmitted(): number {
    return this.#sender.packetsRetransmitted;
  }

  /** PATH_CHALLENGE / PATH_RESPONSE state: following the peer to a new address, or moving on purpose. */
  get path(): PathValidator {
    return this.#migration.validator;
  }

  /** Where the datagram produce() just wrote goes: undefined for the current path. */
  get destination(): PathAddress | undefined {
    return this.#migration.destination;
  }

  /** Validated moves to a new peer address (the peer's NAT rebinding, or migrate()). */
  get pathMigrations(): number {
    return this.#migration.pathMigrations;
  }

  /** The INIT / INIT-ACK exchange of connection IDs. */
  get handshake(): Handshake {
    return this.#phase.handshake;
  }

  /** The peer's INIT or INIT-ACK said it understands path validation frames (InitFlag.MIGRATION). */
  get peerMigrates(): boolean {
    return this.#phase.peerMigrates;
  }

  set peerMigrates(value: boolean) {
    this.#phase.peerMigrates = value;
  }

  /** The peer's receive connection ID (valid once {@link peerKnown}). */
  get peerId(): ConnectionId {
    return this.handshake.peerId;
  }

  get peerKnown(): boolean {
    return this.handshake.peerKnown;
  }

  /** The peer's id, proven by the Noise handshake (secured connections, once open). */
  get remotePeerId(): string | undefined {
    return this.#phase.remotePeerId;
  }

  /** Bytes the peer may still be sent before it proves its address (Infinity once it did). */
  get amplificationAllowance(): number {
    return this.#phase.amplificationAllowance;
  }

  get congestionControllerName(): string {
    return this.loss.cc.name;
  }

  /** Bytes of payload one DATA packet carries at most (the AEAD tag room is always reserved). */
  get #payloadBudget(): number {
    return this.pathMtu.current - HEADER_BYTES - RESERVED_TAG_BYTES;
  }

  // ---- handshake ------------------------------------------------------------------------------

  /** connect(): start sending INIT now. */
  startHandshake(now: number): void {
    this.handshake.start(now);
  }

  /** An accepted connection: the peer's INIT named its ID; answer it. */
  acceptInit(peerId: ConnectionId): void {
    this.handshake.learnPeer(peerId.hi, peerId.lo);
    this.handshake.initAckPending = true;
  }

  /** The endpoint's or connection's keys are ready (scrypt may take a moment): the Noise handshake may start. */
  setSecureContext(context: SecureContext, now: number): void {
    this.#phase.setSecureContext(context, now);
  }

  /**
   * connect() gave up: report the handshake's own error if it had one (a forged or tampered message,
   * naming the cause) instead of a bare timeout, and tell the peer with a reject.
   */
  abandonHandshake(): AnttError | undefined {
    return this.#phase.abandon();
  }

  #open(now: number): void {
    this.state = 'open';
    // An ack-eliciting packet addressed to the peer's ID completes the peer's side of the handshake.
    this.#sender.pingPending = true;
    this.#lastReceiveAt = now;
    this.#host.onOpen();
  }

  // ---- receiving ------------------------------------------------------------------------------

  /**
   * One datagram already routed to this connection (its destination ID or source address matched).
   * `from` is its source when that is not the connection's current remote address (see
   * path-validation.ts); undefined when it is.
   */
  receive(datagram: Uint8Array, now: number, from?: PathAddress): ReceiveOutcome {
    if (this.state === 'closed') return ReceiveOutcome.INVALID;
    if (from !== undefined) return this.#receiveElsewhere(datagram, now, from);
    const protection = this.#config.protection;
    const phase = this.#phase;
    phase.onDatagram(datagram.byteLength);
    if (datagram.byteLength < HEADER_BYTES + protection.overheadBytes) return this.#invalid();
    if (headerVersion(datagram) !== WIRE_VERSION) {
      if (this.state === 'handshake') {
        this.#end(
          new ProtocolError(
            `${this.#host.describePeer()} speaks Antt/UDP wire version ${headerVersion(datagram)}, this end speaks version ${WIRE_VERSION}`,
          ),
        );
      }
      return this.#invalid();
    }
    const packetNumber = headerPacketNumber(datagram);
    const type = headerType(datagram);
    if (type !== PacketType.DATA) {
      const payloadEnd = protection.open(datagram, HEADER_BYTES, packetNumber);
      if (payloadEnd < 0) return this.#invalid();
      if (type !== PacketType.INIT && type !== PacketType.INIT_ACK && type !== PacketType.HANDSHAKE) {
        return this.#invalid();
      }
      const received = phase.receive(datagram, type, payloadEnd, now);
      return received === HandshakeReceive.ACCEPTED ? ReceiveOutcome.ACCEPTED : this.#invalid();
    }
    if (this.state === 'handshake' && !phase.handshake.peerKnown) return this.#invalid();
    if (phase.awaitingKeys) return this.#invalid();
    const payloadEnd = phase.dataProtection.open(datagram, HEADER_BYTES, packetNumber);
    if (payloadEnd < 0) return this.#notOpened(payloadEnd);
    // Authentic DATA during the handshake: the peer has our ID, and (secured) keys, so it accepted our
    // last message.
    if (this.state === 'handshake') phase.confirmByData(now);
    return this.#acceptData(datagram, packetNumber, payloadEnd, now);
  }

  #notOpened(payloadEnd: number): ReceiveOutcome {
    if (!this.#config.secured) return this.#invalid();
    if (payloadEnd === OPEN_REPLAYED) this.datagramsRejectedReplay++;
    else this.datagramsRejectedAuth++;
    return ReceiveOutcome.REJECTED;
  }

  /**
   * A datagram from an address other than the current one. Only DATA of an open connection whose peer
   * understands path validation; secured, it must open (AEAD, replay window) like any other; insecure,
   * anyone who saw the connection ID could have sent it, so only path probes are taken from there and
   * the connection never follows such an address on its own (`migrate()` still works).
   */
  #receiveElsewhere(datagram: Uint8Array, now: number, from: PathAddress): ReceiveOutcome {
    if (this.state !== 'open' || !this.peerMigrates) return ReceiveOutcome.UNKNOWN_PATH;
    const protection = this.#config.protection;
    if (
      datagram.byteLength < HEADER_BYTES + protection.overheadBytes ||
      headerVersion(datagram) !== WIRE_VERSION ||
      headerType(datagram) !== PacketType.DATA
    ) {
      return ReceiveOutcome.UNKNOWN_PATH;
    }
    const packetNumber = headerPacketNumber(datagram);
    const payloadEnd = this.#phase.dataProtection.open(datagram, HEADER_BYTES, packetNumber);
    if (payloadEnd < 0) return this.#notOpened(payloadEnd);
    const migration = this.#migration;
    if (!migration.admit(datagram, payloadEnd, packetNumber, from, now)) return ReceiveOutcome.UNKNOWN_PATH;
    try {
      return this.#acceptData(datagram, packetNumber, payloadEnd, now);
    } finally {
      migration.doneElsewhere();
    }
  }

  /** An opened DATA packet: record it for acknowledgement and process its frames. */
  #acceptData(datagram: Uint8Array, packetNumber: number, payloadEnd: number, now: number): ReceiveOutcome {
    const recorded = this.#acks.record(packetNumber, now);
    if (recorded === RecordResult.DUPLICATE) {
      this.duplicatesDropped++;
      return ReceiveOutcome.DUPLICATE;
    }
    this.packetsReceived++;
    this.bytesReceivedOnWire += datagram.byteLength;
    this.#lastReceiveAt = now;
    const ackEliciting = this.#processFrames(datagram, payloadEnd, now);
    if (ackEliciting && (this.state as CoreState) !== 'closed') {
      this.#acks.onAckEliciting(recorded, this.reassembly.complete, now);
    }
    this.#migration.checkOutcome(now);
    return ReceiveOutcome.ACCEPTED;
  }

  /** Returns whether the packet was ack-eliciting. */
  #processFrames(datagram: Uint8Array, payloadEnd: number, now: number): boolean {
    const read = this.#frames.read(datagram, payloadEnd, now, this.#frameHandler);
    if (read === FrameRead.VIOLATION) return this.#protocolViolation(this.#frames.violation);
    return read === FrameRead.ACK_ELICITING;
  }

  #processStream(offset: number, data: Uint8Array, fin: boolean, now: number): void {
    if (this.state === 'handshake') return;
    const result = this.reassembly.receive(offset, data, fin);
    if (result === StreamResult.PROTOCOL_ERROR) {
      this.#protocolViolation(this.reassembly.errorMessage);
      return;
    }
    if (result === StreamResult.OVER_CAP) this.overCapDropped++;
    if (this.reassembly.complete && !this.#ended) {
      if (this.reassembly.midMessage) {
        this.#protocolViolation('the peer ended its stream in the middle of a message');
        return;
      }
      // The peer closed gracefully and everything it sent was delivered.
      this.#enterDraining(now);
      this.#end(undefined);
    }
  }

  #protocolViolation(what: string): false {
    this.#resetCode = ResetCode.PROTOCOL;
    this.#resetPending = this.state === 'open';
    this.#end(new ProtocolError(`${this.#host.describePeer()} broke the Antt/UDP protocol: ${what}`));
    this.invalidDropped++;
    return false;
  }

  // ---- migration ------------------------------------------------------------------------------

  /**
   * Starts validating `target` as the new remote address (migrate()). False when the connection is not
   * open or the peer does not understand path validation. The outcome arrives at `onPathValidated`.
   */
  migrate(target: PathAddress, now: number): boolean {
    return this.#migration.migrate(target, now);
  }

  /** Gives up on a migrate() in progress (its caller stopped waiting). */
  cancelMigration(target: PathAddress): void {
    this.#migration.cancel(target);
  }

  /** A DATA packet outside loss recovery (path probes): header, seal, counters. */
  #sealUntracked(out: Uint8Array, payloadEnd: number): number {
    const packetNumber = this.#nextPacketNumber++;
    writeHeader(out, PacketType.DATA, this.handshake.peerId, packetNumber);
    const length = this.#phase.dataProtection.seal(out, HEADER_BYTES, payloadEnd, packetNumber);
    this.packetsSent++;
    this.bytesSentOnWire += length;
    return length;
  }

  #invalid(): ReceiveOutcome {
    this.invalidDropped++;
    return ReceiveOutcome.INVALID;
  }

  // ---- the application's side -----------------------------------------------------------------

  write(message: Uint8Array): number {
    return this.stream.write(message);
  }

  /** Graceful close: the stream ends after what was written. */
  finish(): void {
    this.stream.finish();
  }

  /** The peer acknowledged everything including the end of the stream. */
  get closeAcknowledged(): boolean {
    return this.stream.finAcked && this.stream.ackedOffset >= this.stream.finOffset;
  }

  /** The application read enough that the peer should hear about the larger window. */
  onReceiveWindowOpened(): void {
    if (this.state !== 'open') return;
    if (this.#receiveWindow.worthUpdating(this.reassembly.readOffset, this.#host.receiveWindowBytes())) {
      this.#acks.requestWindowUpdate();
    }
  }

  /** Abrupt end: a RESET goes out with the next produce() if the peer knows us, then the core is closed. */
  reset(): void {
    if (this.state === 'closed') return;
    this.#ended = true;
    if (this.state === 'open' || this.state === 'draining') this.#resetPending = true;
    else this.state = 'closed';
  }

  /** Forget the connection now (graceful end completed, or the owner is going away). */
  release(): void {
    this.#ended = true;
    if (this.state === 'draining' && this.#drainDeadline !== Number.POSITIVE_INFINITY) return;
    this.state = 'closed';
  }

  #enterDraining(now: number): void {
    if (this.state === 'closed') return;
    this.state = 'draining';
    const span = DRAIN_PTO_MULTIPLE * this.loss.rtt.probeTimeoutMs();
    this.#drainDeadline = now + Math.min(MAX_DRAIN_MS, Math.max(MIN_DRAIN_MS, span));
  }

  #end(error: Error | undefined): void {
    // A pending RESET still has to go out: produce() closes the core after writing it.
    if (error !== undefined && !this.#resetPending && this.#phase.farewell === undefined)
      this.state = 'closed';
    if (this.#ended) return;
    this.#ended = true;
    this.#host.onEnd(error);
  }

  /** A snapshot of the internal state, for diagnosing a stalled connection. */
  debugState(now: number): Record<string, unknown> {
    const stream = this.stream;
    return {
      state: this.state,
      datagramBytes: this.pathMtu.current,
      bytesInFlight: this.loss.bytesInFlight,
      congestionWindow: this.loss.cc.congestionWindow,
      ptoCount: this.loss.ptoCount,
      sentRing: [this.loss.sent.base, this.loss.sent.next],
      stream: {
        write: stream.writeOffset,
        send: stream.sendOffset,
        acked: stream.ackedOffset,
        fin: stream.finOffset,
        retransmissions: stream.hasRetransmissions,
        flowLimit: this.#sender.sendWindow.limit,
      },
      receive: {
        read: this.reassembly.readOffset,
        outOfOrder: this.reassembly.outOfOrderBytes,
        advertised: this.#receiveWindow.advertised,
        window: this.#host.receiveWindowBytes(),
      },
      unacknowledgedReceived: this.#acks.unacknowledged,
      pacingIn: this.#sender.pacingDeadline - now,
      blockedFor: now - this.#sender.blockedSince,
      nextDeadlineIn: this.nextDeadline() - now,
      lossTimerIn: this.loss.timerDeadline() - now,
    };
  }

  // ---- timers ---------------------------------------------------------------------------------

  /** The earliest time something is due (absolute, same clock as `now`). */
  nextDeadline(): number {
    if (this.state === 'closed') return Number.POSITIVE_INFINITY;
    let at = this.#lastReceiveAt + this.#config.idleTimeoutMs;
    if (this.state === 'handshake') {
      return Math.min(this.#config.initiator ? Number.POSITIVE_INFINITY : at, this.#phase.deadline());
    }
    const open = this.state === 'open';
    at = Math.min(at, this.#acks.deadline(), this.#drainDeadline, this.#sender.deadline(open));
    if (open) at = Math.min(at, this.#migration.deadline());
    return at;
  }

  /** Runs whatever is due at `now`. */
  handleTimeouts(now: number): void {
    if (this.state === 'closed') return;
    if (this.state !== 'handshake' || !this.#config.initiator) {
      if (now >= this.#lastReceiveAt + this.#config.idleTimeoutMs) {
        if (this.state === 'handshake' && this.abandonHandshake()) return;
        if (this.state === 'draining') this.state = 'closed';
        else {
          this.state = 'closed';
          this.#end(
            new TimeoutError(
              `${this.#host.describePeer()} went silent for ${formatMs(this.#config.idleTimeoutMs)} (idle timeout)`,
            ),
          );
        }
        return;
      }
    }
    this.#phase.onTimeout(now);
    if (this.state === 'handshake') return;
    if (now >= this.#drainDeadline) {
      this.state = 'closed';
      return;
    }
    this.#acks.onTimeout(now);
    this.#migration.onTimeout(now);
    this.#sender.onTimeout(now, this.state === 'open');
  }

  // ---- sending --------------------------------------------------------------------------------

  /** Writes the next datagram due at `now` into `out`; returns its length, 0 when nothing is due. */
  produce(out: Uint8Array, now: number): number {
    if (this.state === 'closed') return 0;
    const phase = this.#phase;
    if (this.state === 'handshake' || phase.farewell !== undefined) return phase.produce(out, now);
    if (phase.pending) {
      const length = phase.produce(out, now);
      if (length > 0) return length;
    }
    const migration = this.#migration;
    migration.destination = undefined;
    if (this.state === 'open') {
      const length = migration.produce(out, now);
      if (length > 0) return length;
    }
    const budgetEnd = HEADER_BYTES + this.#payloadBudget;
    let pos = HEADER_BYTES;
    const sender = this.#sender;
    if (this.#resetPending) {
      out[pos++] = FrameType.RESET;
      out[pos++] = this.#resetCode;
      this.#resetPending = false;
      this.state = 'closed';
      return sender.seal(out, pos, now, 0, -1, -1);
    }
    pos = migration.writeResponseOnCurrentPath(out, pos, budgetEnd);
    if (this.state === 'open' && pos === HEADER_BYTES) {
      const length = sender.produceMtuProbe(out, now);
      if (length > 0) return length;
    }
    return sender.produce(out, pos, budgetEnd, now, (at, eliciting) => {
      if (!this.#acks.due(now, eliciting) || !this.#acks.fits(at, budgetEnd)) return at;
      const readOffset = this.reassembly.readOffset;
      const limit = this.#receiveWindow.limit(readOffset, this.#host.receiveWindowBytes());
      return this.#acks.write(out, at, now, readOffset, limit);
    });
  }
}
