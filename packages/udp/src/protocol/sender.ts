/**
 * The sending half of a connection: the application's byte stream cut into STREAM frames, loss
 * recovery (what is outstanding, what is lost and sent again, probe timeouts), congestion control and
 * pacing, the peer's flow-control limit, path MTU probes, keepalive PINGs and the probe of a sender
 * blocked by the peer's window. The connection core (connection-core.ts) owns packet numbers and the
 * packet's other frames (ACK, RESET, PATH_RESPONSE) and hands each DATA packet here to be completed.
 */
import type { CongestionControllerFactory } from './congestion/controller.js';
import { SendWindow } from './flow-control.js';
import { LossDetector, type LossListener } from './loss-detection.js';
import { Pacer } from './pacer.js';
import { PathMtu } from './path-mtu.js';
import type { PacketProtection } from './protection.js';
import { SendStream } from './send-stream.js';
import { SentFlag, type SentPackets } from './sent-packets.js';
import {
  type ConnectionId,
  FrameType,
  HEADER_BYTES,
  PacketType,
  STREAM_FRAME_HEADER_BYTES,
  writeHeader,
  writeUint48,
} from './wire.js';

/** How often a sender blocked by the peer's window asks again (PING elicits an ACK carrying the window). */
const MIN_BLOCKED_PROBE_MS = 10;
const MAX_BLOCKED_PROBE_MS = 1_000;
/** RFC 9002 §6.2.4: up to two probe packets per probe timeout. */
const PROBES_PER_TIMEOUT = 2;

export interface SenderConfig {
  datagramBytes: number;
  maxDatagramBytes: number;
  congestion: CongestionControllerFactory;
  keepAliveIntervalMs: number;
}

/** What the sender needs from the connection core. */
export interface SenderOwner {
  /** A packet number for a packet about to be written (never reused). */
  takePacketNumber(): number;
  readonly dataProtection: PacketProtection;
  readonly peerId: ConnectionId;
  /** Counts a datagram written (stats). */
  onSent(bytes: number): void;
  /** The peer acknowledged stream data (send-buffer space freed, or the close completed). */
  onAcked(): void;
}

export class Sender implements LossListener {
  readonly stream = new SendStream();
  readonly loss: LossDetector;
  pathMtu: PathMtu;
  readonly sendWindow = new SendWindow();
  /** An ack-eliciting PING is owed (keepalive, opening, a blocked sender's probe). */
  pingPending = false;
  packetsRetransmitted = 0;
  pacingDeadline = Number.POSITIVE_INFINITY;
  blockedSince = Number.POSITIVE_INFINITY;
  #pacer: Pacer;
  #probesPending = 0;
  #lastAckElicitingSentAt: number;
  readonly #config: SenderConfig;
  readonly #owner: SenderOwner;

  constructor(config: SenderConfig, owner: SenderOwner, now: number) {
    this.#config = config;
    this.#owner = owner;
    this.loss = new LossDetector(config.congestion(config.datagramBytes), this);
    this.#pacer = new Pacer(config.datagramBytes);
    this.pathMtu = new PathMtu(config.datagramBytes, config.maxDatagramBytes);
    this.#lastAckElicitingSentAt = now;
  }

  /**
   * An ACK frame's content, parsed and checked against the packet numbers sent. Returns what the peer
   * got wrong, or undefined.
   */
  onAck(
    ranges: readonly number[],
    count: number,
    ackDelayMs: number,
    cumulativeOffset: number,
    flowLimit: number,
    now: number,
  ): string | undefined {
    const stream = this.stream;
    const ackedBefore = stream.ackedOffset;
    const finAckedBefore = stream.finAcked;
    this.loss.onAck(ranges, count, ackDelayMs, now);
    this.#pacer.setRate(this.loss.cc.pacingRate(this.loss.rtt), now);
    if (cumulativeOffset > stream.writeOffset) return 'an ACK for data never sent';
    stream.onAcked(cumulativeOffset);
    this.sendWindow.update(flowLimit);
    if (stream.ackedOffset !== ackedBefore || stream.finAcked !== finAckedBefore) this.#owner.onAcked();
    return undefined;
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

  /** The connection moved to another host (RFC 9000 §9.4): congestion, RTT, pacer and MTU start over. */
  resetPath(now: number): void {
    const base = this.#config.datagramBytes;
    this.loss.resetPath(this.#config.congestion(base));
    this.pathMtu = new PathMtu(base, this.#config.maxDatagramBytes);
    this.#pacer = new Pacer(base);
    this.#pacer.setRate(this.loss.cc.pacingRate(this.loss.rtt), now);
  }

  // ---- timers ---------------------------------------------------------------------------------

  /** The earliest time the sending half needs to run; `open`: keepalive and MTU probes apply. */
  deadline(open: boolean): number {
    let at = Math.min(this.loss.timerDeadline(), this.pacingDeadline);
    if (open) {
      at = Math.min(
        at,
        this.pathMtu.deadline(),
        this.#lastAckElicitingSentAt + this.#config.keepAliveIntervalMs,
      );
    }
    if (this.blockedSince !== Number.POSITIVE_INFINITY)
      at = Math.min(at, this.blockedSince + this.#blockedProbeMs());
    return at;
  }

  #blockedProbeMs(): number {
    return Math.min(MAX_BLOCKED_PROBE_MS, Math.max(MIN_BLOCKED_PROBE_MS, this.loss.probeTimeoutMs()));
  }

  onTimeout(now: number, open: boolean): void {
    this.pathMtu.onTimeout(now, this.loss.ptoCount);
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
    if (open && now >= this.#lastAckElicitingSentAt + this.#config.keepAliveIntervalMs)
      this.pingPending = true;
    if (this.blockedSince !== Number.POSITIVE_INFINITY && now >= this.blockedSince + this.#blockedProbeMs()) {
      this.pingPending = true;
      this.blockedSince = now;
    }
  }

  // ---- sending --------------------------------------------------------------------------------

  /**
   * Completes the DATA packet whose frames so far are `out[HEADER_BYTES, pos)`: `writeAck(pos,
   * eliciting)` adds the core's ACK frame where due (`eliciting`: this packet will elicit one too), then
   * a STREAM frame when the congestion window, pacing and the peer's window allow, and a PING when owed.
   * Returns the datagram's length, 0 when there was nothing to send.
   */
  produce(
    out: Uint8Array,
    pos: number,
    budgetEnd: number,
    now: number,
    writeAck: (pos: number, eliciting: boolean) => number,
  ): number {
    const stream = this.stream;
    const flowLimit = this.sendWindow.limit;
    const probing = this.#probesPending > 0;
    let mayData = false;
    this.pacingDeadline = Number.POSITIVE_INFINITY;
    if (stream.hasSendable(flowLimit)) {
      const cwndOpen =
        // A packet may go while the window is not yet full (it may overshoot by less than one packet): a
        // window smaller than one datagram, after path MTU discovery raised the size, must not starve.
        this.loss.bytesInFlight < this.loss.cc.congestionWindow || probing;
      if (cwndOpen) {
        const delay = probing ? 0 : this.#pacer.delayMs(this.pathMtu.current, now);
        if (delay <= 0) mayData = true;
        else this.pacingDeadline = now + delay;
      }
    }
    pos = writeAck(pos, mayData || this.pingPending);
    let flags = 0;
    let streamOffset = -1;
    let streamLength = -1;
    if (mayData) {
      const room = budgetEnd - pos - STREAM_FRAME_HEADER_BYTES;
      if (room > 0 && stream.nextFrame(room, flowLimit)) {
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
    if ((this.pingPending || (probing && flags === 0)) && pos < budgetEnd) {
      out[pos++] = FrameType.PING;
      flags |= SentFlag.ACK_ELICITING | SentFlag.IN_FLIGHT;
      this.pingPending = false;
    }
    if (pos === HEADER_BYTES) {
      this.#updateBlocked(now);
      return 0;
    }
    if (flags & SentFlag.ACK_ELICITING && this.#probesPending > 0) this.#probesPending--;
    return this.seal(out, pos, now, flags, streamOffset, streamLength);
  }

  /** A path MTU probe when one is due and fits `out` (a PING padded to the size probed); else 0. */
  produceMtuProbe(out: Uint8Array, now: number): number {
    const size = this.pathMtu.probeDue(now);
    if (size <= 0 || size > out.byteLength) return 0;
    const owner = this.#owner;
    const payloadEnd = size - owner.dataProtection.overheadBytes;
    out[HEADER_BYTES] = FrameType.PING;
    out.fill(FrameType.PADDING, HEADER_BYTES + 1, payloadEnd);
    const packetNumber = owner.takePacketNumber();
    writeHeader(out, PacketType.DATA, owner.peerId, packetNumber);
    const length = owner.dataProtection.seal(out, HEADER_BYTES, payloadEnd, packetNumber);
    owner.onSent(length);
    // RFC 8899 §4.1 probe; not in flight: a lost probe says nothing about congestion (§4.4).
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
    const blocked = this.stream.isFlowBlocked(this.sendWindow.limit) && this.loss.bytesInFlight === 0;
    if (!blocked) this.blockedSince = Number.POSITIVE_INFINITY;
    else if (this.blockedSince === Number.POSITIVE_INFINITY) this.blockedSince = now;
  }

  /** Numbers, seals and counts a DATA packet; ack-eliciting ones are tracked for loss recovery. */
  seal(
    out: Uint8Array,
    payloadEnd: number,
    now: number,
    flags: number,
    streamOffset: number,
    streamLength: number,
  ): number {
    const owner = this.#owner;
    const packetNumber = owner.takePacketNumber();
    writeHeader(out, PacketType.DATA, owner.peerId, packetNumber);
    const length = owner.dataProtection.seal(out, HEADER_BYTES, payloadEnd, packetNumber);
    owner.onSent(length);
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
