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
import { RecordResult, readAckRanges } from './ack-ranges.js';
import { AckScheduler } from './ack-scheduler.js';
import { OPEN_REPLAYED } from './aead-protection.js';
import type { CongestionControllerFactory } from './congestion/controller.js';
import { ReceiveWindow, SendWindow } from './flow-control.js';
import type { Handshake } from './handshake.js';
import { HandshakePhase, HandshakeReceive } from './handshake-phase.js';
import { LossDetector, type LossListener } from './loss-detection.js';
import { Migration } from './migration.js';
import { Pacer } from './pacer.js';
import { PathMtu } from './path-mtu.js';
import {
  PATH_DATA_BYTES,
  type PathAddress,
  type PathValidator,
  type ValidationOutcome,
} from './path-validation.js';
import { type PacketProtection, RESERVED_TAG_BYTES } from './protection.js';
import { Reassembly, StreamResult } from './reassembly.js';
import { SendStream } from './send-stream.js';
import { SentFlag, type SentPackets } from './sent-packets.js';
import {
  type ConnectionId,
  FrameType,
  HEADER_BYTES,
  headerPacketNumber,
  headerType,
  headerVersion,
  PacketType,
  ResetCode,
  STREAM_FRAME_HEADER_BYTES,
  WIRE_VERSION,
  WireReader,
  writeHeader,
  writeUint48,
} from './wire.js';

/** RFC 9000 §10.2: stay around for 3 × PTO after the end so late retransmissions are still acknowledged. */
const DRAIN_PTO_MULTIPLE = 3;
const MIN_DRAIN_MS = 50;
const MAX_DRAIN_MS = 3_000;
/** How often a sender blocked by the peer's window asks again (PING elicits an ACK carrying the window). */
const MIN_BLOCKED_PROBE_MS = 10;
const MAX_BLOCKED_PROBE_MS = 1_000;
/** RFC 9002 §6.2.4: up to two probe packets per probe timeout. */
const PROBES_PER_TIMEOUT = 2;
/** Ranges an ACK frame may list, so one frame fits in any datagram. */
const ACK_RANGE_SCRATCH = 256;

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

export class ConnectionCore implements LossListener {
  state: CoreState = 'handshake';
  readonly localId: ConnectionId;
  readonly loss: LossDetector;
  readonly stream = new SendStream();
  readonly reassembly: Reassembly;
  readonly #acks = new AckScheduler();
  readonly #receiveWindow: ReceiveWindow;
  readonly #sendWindow = new SendWindow();
  #pacer: Pacer;
  pathMtu: PathMtu;
  readonly #migration: Migration;
  readonly #config: CoreConfig;
  readonly #host: CoreHost;
  readonly #reader = new WireReader();
  readonly #ackRanges: number[] = new Array(ACK_RANGE_SCRATCH).fill(0);
  readonly #ackDelay = { micros: 0 };

  #nextPacketNumber = 0;
  // Things to send.
  #pingPending = false;
  #probesPending = 0;
  #resetPending = false;
  #resetCode: number = ResetCode.APPLICATION;
  // Timers.
  #lastReceiveAt: number;
  #lastAckElicitingSentAt: number;
  #drainDeadline = Number.POSITIVE_INFINITY;
  #blockedSince = Number.POSITIVE_INFINITY;
  #pacingDeadline = Number.POSITIVE_INFINITY;
  #ended = false;
  readonly #phase: HandshakePhase;

  // Counters for stats().
  packetsSent = 0;
  packetsReceived = 0;
  packetsRetransmitted = 0;
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
        this.#pingPending = true;
      },
      describePeer: () => host.describePeer(),
    });
    this.loss = new LossDetector(config.congestion(config.datagramBytes), this);
    this.reassembly = new Reassembly(config.reassemblyBytes, config.maxMessageBytes, (m) =>
      host.onMessage(m),
    );
    this.#receiveWindow = new ReceiveWindow(config.reassemblyBytes);
    this.#pacer = new Pacer(config.datagramBytes);
    this.pathMtu = new PathMtu(config.datagramBytes, config.maxDatagramBytes);
    this.#lastReceiveAt = now;
    this.#lastAckElicitingSentAt = now;
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
      resetPathState: (at) => this.#resetPathState(at),
      sealPathPacket: (out, payloadEnd) => this.#sealUntracked(out, payloadEnd),
      onPathValidated: (outcome) => host.onPathValidated(outcome),
    });
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
    this.#pingPending = true;
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
    const reader = this.#reader;
    reader.reset(datagram, HEADER_BYTES, payloadEnd);
    let ackEliciting = false;
    while (reader.remaining > 0 && this.state !== 'closed') {
      const frameType = reader.uint8();
      if (frameType === FrameType.PADDING) break;
      if (frameType === FrameType.PING) {
        ackEliciting = true;
      } else if (frameType === FrameType.ACK) {
        if (!this.#processAck(reader, now)) return false;
      } else if (frameType === FrameType.STREAM || frameType === FrameType.STREAM_FIN) {
        ackEliciting = true;
        const offset = reader.uint48();
        const length = reader.uint16();
        if (!reader.ok || length > reader.remaining)
          return this.#protocolViolation('a truncated STREAM frame');
        const data = datagram.subarray(reader.pos, reader.pos + length);
        reader.pos += length;
        this.#processStream(offset, data, frameType === FrameType.STREAM_FIN, now);
      } else if (frameType === FrameType.PATH_CHALLENGE || frameType === FrameType.PATH_RESPONSE) {
        if (reader.remaining < PATH_DATA_BYTES) return this.#protocolViolation('a truncated path frame');
        const data = datagram.subarray(reader.pos, reader.pos + PATH_DATA_BYTES);
        reader.pos += PATH_DATA_BYTES;
        this.#migration.onPathFrame(frameType, data);
      } else if (frameType === FrameType.RESET) {
        const code = reader.uint8();
        this.#end(
          new ResetError(
            code === ResetCode.PROTOCOL
              ? `${this.#host.describePeer()} reset the connection: it saw a protocol violation from this end`
              : `${this.#host.describePeer()} reset the connection`,
          ),
        );
        return false;
      } else {
        return this.#protocolViolation(`an unknown frame type 0x${frameType.toString(16)}`);
      }
    }
    if (!reader.ok) return this.#protocolViolation('a truncated frame');
    return ackEliciting;
  }

  #processAck(reader: WireReader, now: number): boolean {
    const ranges = this.#ackRanges;
    const count = readAckRanges(reader, ranges, this.#ackDelay);
    if (count < 0) return this.#protocolViolation('a malformed ACK frame');
    if (ranges[0]! >= this.#nextPacketNumber)
      return this.#protocolViolation('an ACK for a packet never sent');
    const cumulativeOffset = reader.varint();
    const flowLimit = reader.varint();
    if (!reader.ok) return this.#protocolViolation('a truncated ACK frame');
    const ackedBefore = this.stream.ackedOffset;
    const finAckedBefore = this.stream.finAcked;
    this.loss.onAck(ranges, count, this.#ackDelay.micros / 1000, now);
    this.#pacer.setRate(this.loss.cc.pacingRate(this.loss.rtt), now);
    if (cumulativeOffset > this.stream.writeOffset)
      return this.#protocolViolation('an ACK for data never sent');
    this.stream.onAcked(cumulativeOffset);
    this.#sendWindow.update(flowLimit);
    if (this.stream.ackedOffset !== ackedBefore || this.stream.finAcked !== finAckedBefore)
      this.#host.onAcked();
    return true;
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

  #resetPathState(now: number): void {
    const base = this.#config.datagramBytes;
    this.loss.resetPath(this.#config.congestion(base));
    this.pathMtu = new PathMtu(base, this.#config.maxDatagramBytes);
    this.#pacer = new Pacer(base);
    this.#pacer.setRate(this.loss.cc.pacingRate(this.loss.rtt), now);
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

  // ---- loss listener --------------------------------------------------------------------------

  onPacketAcked(sent: SentPackets, slot: number): void {
    const flags = sent.flags[slot]!;
    if (flags & SentFlag.FIN) this.stream.finAcked = true;
    if (flags & SentFlag.MTU_PROBE) this.pathMtu.onProbeAcked(sent.streamOffset[slot]!, sent.timeSent[slot]!);
  }

  onPacketLost(sent: SentPackets, slot: number): void {
    if (sent.flags[slot]! & SentFlag.MTU_PROBE) {
      this.pathMtu.onProbeLost(sent.timeSent[slot]!);
      return;
    }
    const length = sent.streamLength[slot]!;
    if (length < 0) return;
    this.packetsRetransmitted++;
    this.stream.onLost(sent.streamOffset[slot]!, length, (sent.flags[slot]! & SentFlag.FIN) !== 0);
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
        flowLimit: this.#sendWindow.limit,
      },
      receive: {
        read: this.reassembly.readOffset,
        outOfOrder: this.reassembly.outOfOrderBytes,
        advertised: this.#receiveWindow.advertised,
        window: this.#host.receiveWindowBytes(),
      },
      unacknowledgedReceived: this.#acks.unacknowledged,
      pacingIn: this.#pacingDeadline - now,
      blockedFor: now - this.#blockedSince,
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
    at = Math.min(at, this.#acks.deadline());
    at = Math.min(at, this.loss.timerDeadline(), this.#drainDeadline, this.#pacingDeadline);
    if (this.state === 'open') at = Math.min(at, this.pathMtu.deadline(), this.#migration.deadline());
    if (this.state === 'open')
      at = Math.min(at, this.#lastAckElicitingSentAt + this.#config.keepAliveIntervalMs);
    if (this.#blockedSince !== Number.POSITIVE_INFINITY)
      at = Math.min(at, this.#blockedSince + this.#blockedProbeMs());
    return at;
  }

  #blockedProbeMs(): number {
    return Math.min(MAX_BLOCKED_PROBE_MS, Math.max(MIN_BLOCKED_PROBE_MS, this.loss.probeTimeoutMs()));
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
    this.pathMtu.onTimeout(now, this.loss.ptoCount);
    this.#migration.onTimeout(now);
    if (now >= this.loss.timerDeadline() && this.loss.onTimeout(now)) {
      // RFC 9002 §6.2.4: probe with data when there is some (the oldest unacknowledged first), else PING.
      this.#probesPending = PROBES_PER_TIMEOUT;
      const oldest = this.loss.oldestOutstandingWithData();
      if (oldest >= 0) {
        const sent = this.loss.sent;
        const slot = sent.slot(oldest);
        this.stream.onLost(
          sent.streamOffset[slot]!,
          sent.streamLength[slot]!,
          (sent.flags[slot]! & SentFlag.FIN) !== 0,
        );
      }
    }
    if (this.state === 'open' && now >= this.#lastAckElicitingSentAt + this.#config.keepAliveIntervalMs) {
      this.#pingPending = true;
    }
    if (
      this.#blockedSince !== Number.POSITIVE_INFINITY &&
      now >= this.#blockedSince + this.#blockedProbeMs()
    ) {
      this.#pingPending = true;
      this.#blockedSince = now;
    }
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
    let flags = 0;
    if (this.#resetPending) {
      out[pos++] = FrameType.RESET;
      out[pos++] = this.#resetCode;
      this.#resetPending = false;
      this.state = 'closed';
      return this.#seal(out, pos, now, 0, -1, -1);
    }
    pos = migration.writeResponseOnCurrentPath(out, pos, budgetEnd);
    const mtuProbe = this.state === 'open' && pos === HEADER_BYTES ? this.pathMtu.probeDue(now) : 0;
    if (mtuProbe > 0 && mtuProbe <= out.byteLength) return this.#produceMtuProbe(out, mtuProbe, now);
    const flowLimit = this.#sendWindow.limit;
    const probing = this.#probesPending > 0;
    const wantsData = this.stream.hasSendable(flowLimit);
    let mayData = false;
    this.#pacingDeadline = Number.POSITIVE_INFINITY;
    if (wantsData) {
      const cwndOpen =
        // A packet may go while the window is not yet full (it may overshoot by less than one packet): a
        // window smaller than one datagram, after path MTU discovery raised the size, must not starve.
        this.loss.bytesInFlight < this.loss.cc.congestionWindow || probing;
      if (cwndOpen) {
        const delay = probing ? 0 : this.#pacer.delayMs(this.pathMtu.current, now);
        if (delay <= 0) mayData = true;
        else this.#pacingDeadline = now + delay;
      }
    }
    if (this.#acks.due(now, mayData || this.#pingPending) && this.#acks.fits(pos, budgetEnd)) {
      const readOffset = this.reassembly.readOffset;
      const limit = this.#receiveWindow.limit(readOffset, this.#host.receiveWindowBytes());
      pos = this.#acks.write(out, pos, now, readOffset, limit);
    }
    let streamOffset = -1;
    let streamLength = -1;
    if (mayData) {
      const room = budgetEnd - pos - STREAM_FRAME_HEADER_BYTES;
      if (room > 0 && this.stream.nextFrame(room, flowLimit)) {
        const stream = this.stream;
        out[pos] = stream.frameFin ? FrameType.STREAM_FIN : FrameType.STREAM;
        writeUint48(out, pos + 1, stream.frameOffset);
        out[pos + 7] = stream.frameLength >>> 8;
        out[pos + 8] = stream.frameLength;
        pos += STREAM_FRAME_HEADER_BYTES;
        stream.copy(stream.frameOffset, stream.frameLength, out, pos);
        pos += stream.frameLength;
        streamOffset = stream.frameOffset;
        streamLength = stream.frameLength;
        flags |= SentFlag.ACK_ELICITING | SentFlag.IN_FLIGHT;
        if (stream.frameFin) flags |= SentFlag.FIN;
        if (!stream.hasSendable(flowLimit)) flags |= SentFlag.APP_LIMITED;
      }
    }
    if ((this.#pingPending || (probing && flags === 0)) && pos < budgetEnd) {
      out[pos++] = FrameType.PING;
      flags |= SentFlag.ACK_ELICITING | SentFlag.IN_FLIGHT;
      this.#pingPending = false;
    }
    if (pos === HEADER_BYTES) {
      this.#updateBlocked(now);
      return 0;
    }
    if (flags & SentFlag.ACK_ELICITING && this.#probesPending > 0) this.#probesPending--;
    return this.#seal(out, pos, now, flags, streamOffset, streamLength);
  }

  /** A PING padded to `size` bytes on the wire (RFC 8899 §4.1 probe). */
  #produceMtuProbe(out: Uint8Array, size: number, now: number): number {
    const payloadEnd = size - this.#phase.dataProtection.overheadBytes;
    out[HEADER_BYTES] = FrameType.PING;
    out.fill(FrameType.PADDING, HEADER_BYTES + 1, payloadEnd);
    const packetNumber = this.#nextPacketNumber++;
    writeHeader(out, PacketType.DATA, this.handshake.peerId, packetNumber);
    const length = this.#phase.dataProtection.seal(out, HEADER_BYTES, payloadEnd, packetNumber);
    this.packetsSent++;
    this.bytesSentOnWire += length;
    // Not in flight: a lost probe says nothing about congestion (RFC 8899 §4.4).
    const slot = this.loss.onPacketSent(
      packetNumber,
      now,
      length,
      SentFlag.ACK_ELICITING | SentFlag.MTU_PROBE,
    );
    this.loss.sent.streamOffset[slot] = size;
    this.pathMtu.onProbeSent(now, this.loss.probeTimeoutMs());
    return length;
  }

  #updateBlocked(now: number): void {
    const blocked = this.stream.isFlowBlocked(this.#sendWindow.limit) && this.loss.bytesInFlight === 0;
    if (!blocked) this.#blockedSince = Number.POSITIVE_INFINITY;
    else if (this.#blockedSince === Number.POSITIVE_INFINITY) this.#blockedSince = now;
  }

  #seal(
    out: Uint8Array,
    payloadEnd: number,
    now: number,
    flags: number,
    streamOffset: number,
    streamLength: number,
  ): number {
    const packetNumber = this.#nextPacketNumber++;
    writeHeader(out, PacketType.DATA, this.handshake.peerId, packetNumber);
    const length = this.#phase.dataProtection.seal(out, HEADER_BYTES, payloadEnd, packetNumber);
    this.packetsSent++;
    this.bytesSentOnWire += length;
    if (flags & SentFlag.ACK_ELICITING) {
      const slot = this.loss.onPacketSent(packetNumber, now, length, flags);
      this.loss.sent.streamOffset[slot] = streamOffset;
      this.loss.sent.streamLength[slot] = streamLength;
      this.#pacer.onSent(length);
      this.#lastAckElicitingSentAt = now;
    }
    return length;
  }
}
