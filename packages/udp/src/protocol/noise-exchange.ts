/**
 * The Noise handshake (@antt/secure) over datagrams, once both connection IDs are known: which message
 * goes out next, retransmission of the last one, duplicates, forged messages and real failures.
 *
 * - Roles come from the connection IDs both sides already exchanged (`chooseRoles`: the larger ID
 *   initiates), so simultaneous connects need no extra round trip.
 * - The prologue binds the wire version and both IDs: a handshake cannot be moved to another
 *   connection, version or transport.
 * - Lost messages: a side waiting for the peer's next message sends its own last one again with backoff
 *   (200 ms doubling to 1 s); a side that receives the peer's previous message again answers it with its
 *   last message (the peer missed it).
 * - A message that fails authentication (`failed === false`) may be forged or corrupted: it is ignored
 *   and nothing changes. Three such failures in a row mean the peer really sent it (a wrong passphrase,
 *   tampering on the path): the handshake ends as for any real failure, with `rejectMessage()` to the
 *   peer so both sides end at once naming the cause, well within the connect timeout.
 */
import { AnttError, AuthError, ErrorCode, ProtocolError } from '@antt/core';
import {
  chooseRoles,
  HandshakeMessageType,
  RejectReason,
  type SecureContext,
  type SecureHandshake,
  type TransportKeys,
} from '@antt/secure';
import { INITIAL_INIT_RETRY_MS, MAX_INIT_RETRY_MS } from './handshake.js';
import { type ConnectionId, WIRE_VERSION, writeUint32 } from './wire.js';

/** Authentication failures of the expected message, in a row, that end the handshake. */
export const MAX_FAILED_MESSAGES = 3;
const PROLOGUE_LABEL = 'antt/udp\0';

export class NoiseExchange {
  readonly handshake: SecureHandshake;
  readonly initiator: boolean;
  keys: TransportKeys | undefined;
  /** Set when the handshake is over for good; a reject message is in {@link outgoing} unless the peer sent one. */
  error: AnttError | undefined;
  /** Noise messages to send now, oldest first. */
  readonly outgoing: Uint8Array[] = [];
  /** The error came from the peer's reject message (with this reason byte). */
  peerRejected = false;
  rejectReason: number | undefined;
  /** The initiator received an authentic DATA packet before the confirm message: the responder has keys. */
  #confirmedByData = false;
  #lastSent: Uint8Array | undefined;
  #readCount = 0;
  #retransmitAt = Number.POSITIVE_INFINITY;
  #retryMs = INITIAL_INIT_RETRY_MS;
  #failures = 0;

  constructor(context: SecureContext, localId: ConnectionId, peerId: ConnectionId, now: number) {
    const local = idBytes(localId);
    const peer = idBytes(peerId);
    // Equal 64-bit random IDs (2^-64): chooseRoles throws ANTT_ERR_PROTOCOL, the connect fails.
    this.initiator = chooseRoles(local, peer) === 'initiator';
    const prologue = new Uint8Array(PROLOGUE_LABEL.length + 1 + 16);
    prologue.set(new TextEncoder().encode(PROLOGUE_LABEL));
    prologue[PROLOGUE_LABEL.length] = WIRE_VERSION;
    prologue.set(this.initiator ? local : peer, PROLOGUE_LABEL.length + 1);
    prologue.set(this.initiator ? peer : local, PROLOGUE_LABEL.length + 9);
    this.handshake = context.handshake({
      role: this.initiator ? 'initiator' : 'responder',
      transport: 'udp',
      prologue,
    });
    if (this.handshake.nextStep === 'write') this.#write(now);
  }

  /** Both sides may send DATA: the responder wrote the confirm, the initiator read it (or DATA proved it). */
  get established(): boolean {
    return this.handshake.confirmed || this.#confirmedByData;
  }

  /** The last error a message raised (forged or real): what a handshake that times out reports. */
  get lastError(): AnttError | undefined {
    return this.error ?? this.handshake.lastError;
  }

  confirmByData(): void {
    this.#confirmedByData = true;
    this.#retransmitAt = Number.POSITIVE_INFINITY;
  }

  /** One Noise message from the peer (the HANDSHAKE packet's payload after the sender's ID). */
  onMessage(message: Uint8Array, now: number): void {
    const hs = this.handshake;
    if (this.error !== undefined || message.byteLength < 2) return;
    const type = message[1]!;
    // Initiator reads 2 then 4, responder 1 then 3.
    const expected = (this.initiator ? 2 : 1) + 2 * this.#readCount;
    if (type !== HandshakeMessageType.REJECT && (hs.nextStep !== 'read' || type !== expected)) {
      // The peer sent again the message our last one answered: it did not get our answer.
      if (this.#lastSent && type === this.#lastSent[1]! - 1) this.outgoing.push(this.#lastSent);
      return;
    }
    try {
      hs.readMessage(message);
    } catch (error) {
      const failure = AnttError.is(error) ? error : new ProtocolError(String(error));
      if (!hs.failed && ++this.#failures < MAX_FAILED_MESSAGES) return;
      this.error = failure;
      this.peerRejected = type === HandshakeMessageType.REJECT;
      this.rejectReason = message[2];
      this.#retransmitAt = Number.POSITIVE_INFINITY;
      this.outgoing.length = 0;
      if (type !== HandshakeMessageType.REJECT) this.outgoing.push(hs.rejectMessage(failure));
      return;
    }
    this.#failures = 0;
    this.#readCount++;
    this.#retryMs = INITIAL_INIT_RETRY_MS;
    this.#retransmitAt = Number.POSITIVE_INFINITY;
    if (hs.nextStep === 'write') this.#write(now);
    if (hs.complete && !this.keys) this.keys = hs.split();
  }

  /** The handshake ends here (connect timeout): a reject tells the peer why. */
  abandon(error: AnttError): void {
    if (this.error !== undefined) return;
    this.error = error;
    this.outgoing.length = 0;
    this.outgoing.push(this.handshake.rejectMessage(error));
  }

  deadline(): number {
    return this.#retransmitAt;
  }

  onTimeout(now: number): void {
    if (now < this.#retransmitAt || !this.#lastSent) return;
    this.outgoing.push(this.#lastSent);
    this.#retransmitAt = now + this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_INIT_RETRY_MS);
  }

  #write(now: number): void {
    const message = this.handshake.writeMessage();
    this.#lastSent = message;
    this.outgoing.push(message);
    if (this.handshake.complete && !this.keys) this.keys = this.handshake.split();
    // Waiting for the peer's next message: send ours again if it does not come. The confirm (the
    // responder's last) is only sent again when the peer repeats its message 3.
    this.#retransmitAt = this.handshake.nextStep === 'read' ? now + this.#retryMs : Number.POSITIVE_INFINITY;
  }
}

/** Names the peer and keeps the cause; the code stays ANTT_ERR_AUTH or ANTT_ERR_PROTOCOL (as @antt/tcp). */
export function explainHandshakeError(exchange: NoiseExchange, error: AnttError, peer: string): AnttError {
  const hint =
    exchange.peerRejected && exchange.rejectReason === RejectReason.PEER_NOT_ALLOWED
      ? ` (this side's peer id is ${exchange.handshake.localPeerId})`
      : '';
  const text = `the security handshake with ${peer} failed: ${error.message}${hint}`;
  return error.code === ErrorCode.AUTH
    ? new AuthError(text, { cause: error })
    : new ProtocolError(text, { cause: error });
}

function idBytes(id: ConnectionId): Uint8Array {
  const bytes = new Uint8Array(8);
  writeUint32(bytes, 0, id.hi);
  writeUint32(bytes, 4, id.lo);
  return bytes;
}
