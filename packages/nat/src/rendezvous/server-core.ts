/**
 * The rendezvous server without sockets: feed it datagrams with the time, send what it returns. Holds
 * registrations (bounded, expiring), pairs peers, answers STUN Binding requests, limits each source's
 * request rate, and never sends an unverified address more bytes than it received from it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Address, formatAddress } from '@antt/core';
import { decodeStunMessage, encodeStunMessage, isStunMessage, StunMethod } from '../stun/message.js';
import {
  bytesHex,
  COOKIE_BYTES,
  type ConnectMessage,
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  isRendezvousMessage,
  type MappingObservations,
  type MappingQueryMessage,
  MessageType,
  type PeerMappingQueryMessage,
  PeerMappingStatus,
  type RegisterMessage,
  RegisterStatus,
  type RelayAllocMessage,
  RelayStatus,
  type RendezvousMessage,
  SESSION_BYTES,
  TRANSACTION_ID_BYTES,
  type UnregisterMessage,
} from './protocol.js';

export const DEFAULT_REGISTRATION_TTL_SEC = 60;
export const DEFAULT_MAX_REGISTRATIONS = 10_000;
/** Requests per second each source IP may send, and the burst it may save up. */
export const DEFAULT_RATE_PER_SEC = 20;
export const DEFAULT_RATE_BURST = 40;
/** Source IPs whose rate is tracked at once; the least recently seen is forgotten first. */
const MAX_RATE_ENTRIES = 16_384;
/** A name is shared by at most two instances: the two sides of a meeting. */
const MAX_INSTANCES_PER_NAME = 2;
/**
 * A pairing is remembered this long, so both sides' CONNECTs land in one session with one role each, and
 * both can still ask for a relay after punching timed out.
 */
const SESSION_LIFETIME_MS = 60_000;
/** Probing starts this long after PEER-INFO at the least, and 2 × the larger RTT when that is more. */
const MIN_START_DELAY_MS = 50;
/** RTTs above this are not believed (a client that was slow to answer its challenge). */
const MAX_MEASURED_RTT_MS = 2_000;
const COOKIE_TIMESTAMP_BYTES = 4;
/** Relays held at once; more RELAY-ALLOCs are refused (FULL). */
export const DEFAULT_MAX_RELAYS = 100;
/** Bytes per second one relay forwards, both directions together (a token bucket; excess is dropped). */
export const DEFAULT_RELAY_RATE_BYTES_PER_SEC = 1_000_000;
/** A relay without a forwarded datagram for this long is dropped. */
export const DEFAULT_RELAY_IDLE_TIMEOUT_SEC = 30;
/** Antt/UDP datagrams start with this byte: the only ones a relay forwards. */
const ANTT_FIRST_BYTE = 0xa7;
/**
 * A session's mapping observations are frozen (the same PEER-MAPPING to both peers) once both peers'
 * alternate-port observations are in, or this long after pairing, with whatever arrived by then.
 */
export const MAPPING_FREEZE_MS = 1_000;

/** Which of the server's two ports a datagram arrived on (and an answer leaves from). */
export type ServerPort = 'primary' | 'alternate';

export interface RendezvousServerOptions {
  /** Seconds a registration lives without a refresh. Default 60. */
  registrationTtlSec?: number;
  /** Registrations held at once; more are answered FULL. Default 10 000. */
  maxRegistrations?: number;
  ratePerSec?: number;
  rateBurst?: number;
  /** HMAC key for address cookies (random by default; give one to replay tests). */
  cookieSecret?: Uint8Array;
  /** Random bytes source for session ids (tests inject a deterministic one). */
  randomBytes?: (count: number) => Uint8Array;
  /** Relays held at once (0: this server does not relay). Default 100. */
  maxRelays?: number;
  /** Bytes per second each relay forwards, both directions together. Default 1 000 000. */
  relayRateBytesPerSec?: number;
  /** Token bucket depth of each relay. Default the larger of 64 KiB and a tenth of a second's rate. */
  relayBurstBytes?: number;
  /** Seconds without a forwarded datagram after which a relay is dropped. Default 30. */
  relayIdleTimeoutSec?: number;
}

export interface OutgoingDatagram {
  bytes: Uint8Array;
  to: Address;
  /** Send from the alternate port (an answer to a datagram that arrived there). Default primary. */
  via?: ServerPort;
}

export interface RendezvousServerStats {
  received: number;
  sent: number;
  registrations: number;
  sessions: number;
  stunAnswered: number;
  peersPaired: number;
  droppedMalformed: number;
  droppedRateLimited: number;
  /** Answers not sent because they would have been larger than the request to an unverified address. */
  droppedAmplification: number;
  /** Requests with a missing, stale or forged cookie that needed one. */
  droppedBadCookie: number;
  /** Messages a server does not accept (answers, probes). */
  droppedUnexpected: number;
  expired: number;
  /** Relays held now. */
  relays: number;
  /** Relays created since start. */
  relaysAllocated: number;
  /** RELAY-ALLOCs answered with a refusal (full, no session, relaying off). */
  relaysRefused: number;
  /** Relays dropped after their idle timeout. */
  relaysExpired: number;
  relayedDatagrams: number;
  relayedBytes: number;
  /** Antt datagrams dropped because the relay was over its rate. */
  relayDroppedRate: number;
  /** Antt datagrams from an address that is not one side of a relay: never forwarded. */
  relayDroppedUnknownSource: number;
}

interface Relay {
  pairKey: string;
  /** The two peers' registered (cookie-validated) addresses when the relay was allocated. */
  peers: [Address, Address];
  tokens: number;
  refilledAt: number;
  lastActiveAt: number;
}

interface Registration {
  name: string;
  instance: string;
  peerId: string;
  address: Address;
  candidates: Address[];
  expiresAt: number;
  rttMs: number;
  /** Where the alternate port saw this socket (MAPPING-QUERY there). */
  alternate?: Address;
}

interface Session {
  id: Uint8Array;
  controllingInstance: string;
  /** Both peers: instance and the name each registered under. */
  members: { instance: string; name: string }[];
  expiresAt: number;
  createdAt: number;
  /** instance → observations, once frozen. */
  mapping?: Map<string, MappingObservations>;
}

interface RateEntry {
  tokens: number;
  updatedAt: number;
}

export class RendezvousServerCore {
  readonly ttlSec: number;
  readonly maxRegistrations: number;
  readonly #ratePerSec: number;
  readonly #rateBurst: number;
  readonly #secret: Uint8Array;
  readonly #random: (count: number) => Uint8Array;
  /** name → instances under it (at most two). */
  readonly #byName = new Map<string, Registration[]>();
  /** "ip|port" → registration: addresses that proved they receive. */
  readonly #byAddress = new Map<string, Registration>();
  /** instance → registration: MAPPING-QUERYs on the alternate port come from another address. */
  readonly #byInstance = new Map<string, Registration>();
  /** This server's two ports (MAPPING-INFO tells clients the other one); 0: no alternate port. */
  #ports = { primary: 0, alternate: 0 };
  #registrationCount = 0;
  readonly #sessions = new Map<string, Session>();
  readonly #rates = new Map<string, RateEntry>();
  readonly maxRelays: number;
  readonly relayRateBytesPerSec: number;
  readonly relayBurstBytes: number;
  readonly relayIdleTimeoutSec: number;
  /** pair key → relay, and each side's address → its relay (a socket is in one relay at a time). */
  readonly #relays = new Map<string, Relay>();
  readonly #relayByAddress = new Map<string, Relay>();
  readonly #stats: Omit<RendezvousServerStats, 'registrations' | 'sessions' | 'relays'> = {
    received: 0,
    sent: 0,
    stunAnswered: 0,
    peersPaired: 0,
    droppedMalformed: 0,
    droppedRateLimited: 0,
    droppedAmplification: 0,
    droppedBadCookie: 0,
    droppedUnexpected: 0,
    expired: 0,
    relaysAllocated: 0,
    relaysRefused: 0,
    relaysExpired: 0,
    relayedDatagrams: 0,
    relayedBytes: 0,
    relayDroppedRate: 0,
    relayDroppedUnknownSource: 0,
  };

  constructor(options: RendezvousServerOptions = {}) {
    this.ttlSec = options.registrationTtlSec ?? DEFAULT_REGISTRATION_TTL_SEC;
    this.maxRegistrations = options.maxRegistrations ?? DEFAULT_MAX_REGISTRATIONS;
    this.#ratePerSec = options.ratePerSec ?? DEFAULT_RATE_PER_SEC;
    this.#rateBurst = options.rateBurst ?? DEFAULT_RATE_BURST;
    this.#secret = options.cookieSecret ?? new Uint8Array(randomBytes(32));
    this.#random = options.randomBytes ?? ((count) => new Uint8Array(randomBytes(count)));
    this.maxRelays = options.maxRelays ?? DEFAULT_MAX_RELAYS;
    this.relayRateBytesPerSec = options.relayRateBytesPerSec ?? DEFAULT_RELAY_RATE_BYTES_PER_SEC;
    this.relayBurstBytes =
      options.relayBurstBytes ?? Math.max(65_536, Math.round(this.relayRateBytesPerSec / 10));
    this.relayIdleTimeoutSec = options.relayIdleTimeoutSec ?? DEFAULT_RELAY_IDLE_TIMEOUT_SEC;
  }

  stats(): RendezvousServerStats {
    return {
      ...this.#stats,
      registrations: this.#registrationCount,
      sessions: this.#sessions.size,
      relays: this.#relays.size,
    };
  }

  /** The ports the server listens on, for MAPPING-INFO (alternate 0: none). */
  setPorts(primary: number, alternate: number): void {
    this.#ports = { primary, alternate };
  }

  /**
   * Handles one datagram received at `nowMs` (a monotonic clock) on the primary or alternate port;
   * returns the datagrams to send. The alternate port answers STUN Binding and MAPPING-QUERY only.
   */
  handleDatagram(
    bytes: Uint8Array,
    from: Address,
    nowMs: number,
    via: ServerPort = 'primary',
  ): OutgoingDatagram[] {
    if (via === 'alternate') {
      const out = this.#onAlternate(bytes, from, nowMs);
      for (const datagram of out) datagram.via = 'alternate';
      return out;
    }
    // Relayed traffic first, and cheaply: no sweep, no per-IP request budget (the relay has its own).
    if (bytes[0] === ANTT_FIRST_BYTE) return this.#forward(bytes, from, nowMs);
    this.#stats.received++;
    this.expire(nowMs);
    if (!this.#admit(from.host, nowMs)) {
      this.#stats.droppedRateLimited++;
      return [];
    }
    const verified = this.#byAddress.has(addressKey(from));
    let out: OutgoingDatagram[];
    if (isStunMessage(bytes)) out = this.#onStun(bytes, from, verified);
    else if (isRendezvousMessage(bytes)) {
      let message: RendezvousMessage;
      try {
        message = decodeRendezvousMessage(bytes);
      } catch {
        this.#stats.droppedMalformed++;
        return [];
      }
      out = this.#onMessage(message, from, nowMs);
    } else {
      this.#stats.droppedMalformed++;
      return [];
    }
    // The amplification rule, in one place: an address that has not proven it receives (a live
    // registration made with a valid cookie) gets no more bytes than it sent.
    const allowed = out.filter((datagram) => {
      const toSender = datagram.to.host === from.host && datagram.to.port === from.port;
      const toVerified = this.#byAddress.has(addressKey(datagram.to));
      if (!toVerified && (!toSender || datagram.bytes.length > bytes.length)) {
        this.#stats.droppedAmplification++;
        return false;
      }
      return true;
    });
    this.#stats.sent += allowed.length;
    return allowed;
  }

  /** Drops registrations and sessions whose time is up. Cheap when nothing expired. */
  expire(nowMs: number): void {
    for (const [key, registration] of this.#byAddress) {
      if (registration.expiresAt > nowMs) continue;
      this.#remove(registration, key);
      this.#stats.expired++;
    }
    for (const [key, session] of this.#sessions) {
      if (session.expiresAt <= nowMs) this.#sessions.delete(key);
    }
    for (const relay of this.#relays.values()) {
      if (relay.lastActiveAt + this.relayIdleTimeoutSec * 1000 > nowMs) continue;
      this.#removeRelay(relay);
      this.#stats.relaysExpired++;
    }
  }

  // ---- mapping extension ------------------------------------------------------------------------

  /** The alternate port: STUN Binding and MAPPING-QUERY, with the same rate and amplification rules. */
  #onAlternate(bytes: Uint8Array, from: Address, nowMs: number): OutgoingDatagram[] {
    this.#stats.received++;
    if (!this.#admit(from.host, nowMs)) {
      this.#stats.droppedRateLimited++;
      return [];
    }
    let out: OutgoingDatagram[] = [];
    if (isStunMessage(bytes)) out = this.#onStun(bytes, from, false);
    else if (isRendezvousMessage(bytes)) {
      let message: RendezvousMessage;
      try {
        message = decodeRendezvousMessage(bytes);
      } catch {
        this.#stats.droppedMalformed++;
        return [];
      }
      if (message.type !== MessageType.MAPPING_QUERY) {
        this.#stats.droppedUnexpected++;
        return [];
      }
      out = this.#onMappingQuery(message, from, nowMs, 'alternate');
    } else this.#stats.droppedMalformed++;
    // The sender's address here is never a verified one: answers are smaller than the padded query.
    const allowed = out.filter((d) => d.bytes.length <= bytes.length);
    this.#stats.droppedAmplification += out.length - allowed.length;
    this.#stats.sent += allowed.length;
    return allowed;
  }

  /**
   * MAPPING-QUERY: on the primary port from the registered address (cookie and instance as for
   * CONNECT); on the alternate port from anywhere, carrying the cookie issued to the registration's
   * address, which ties this second observation of the socket to its registration.
   */
  #onMappingQuery(
    message: MappingQueryMessage,
    from: Address,
    nowMs: number,
    via: ServerPort,
  ): OutgoingDatagram[] {
    const instance = bytesHex(message.instance);
    const registration =
      via === 'primary' ? this.#byAddress.get(addressKey(from)) : this.#byInstance.get(instance);
    if (
      !registration ||
      registration.instance !== instance ||
      this.#cookieIssuedAt(message.cookie, registration.address, nowMs) === undefined
    ) {
      this.#stats.droppedBadCookie++;
      return [];
    }
    if (via === 'alternate') registration.alternate = { host: from.host, port: from.port };
    const otherPort = via === 'primary' ? this.#ports.alternate : this.#ports.primary;
    return [
      {
        to: from,
        bytes: encodeRendezvousMessage({
          type: MessageType.MAPPING_INFO,
          transactionId: message.transactionId,
          observed: from,
          otherPort,
        }),
      },
    ];
  }

  /**
   * PEER-MAPPING-QUERY: both peers' observations for the session, frozen the first time both are
   * complete (or MAPPING_FREEZE_MS after pairing), so both peers get the same answer and choose the
   * same technique.
   */
  #onPeerMappingQuery(message: PeerMappingQueryMessage, from: Address, nowMs: number): OutgoingDatagram[] {
    const requester = this.#byAddress.get(addressKey(from));
    if (
      !requester ||
      requester.instance !== bytesHex(message.instance) ||
      this.#cookieIssuedAt(message.cookie, from, nowMs) === undefined
    ) {
      this.#stats.droppedBadCookie++;
      return [];
    }
    const reply = (
      status: PeerMappingStatus,
      self?: MappingObservations,
      peer?: MappingObservations,
    ): OutgoingDatagram[] => [
      {
        to: from,
        bytes: encodeRendezvousMessage({
          type: MessageType.PEER_MAPPING,
          transactionId: message.transactionId,
          status,
          ...(status === PeerMappingStatus.READY ? { self, peer } : {}),
        }),
      },
    ];
    const sessionHex = bytesHex(message.session);
    const session = [...this.#sessions.values()].find(
      (s) => bytesHex(s.id) === sessionHex && s.members.some((m) => m.instance === requester.instance),
    );
    const other = session?.members.find((m) => m.instance !== requester.instance);
    if (!session || !other) return reply(PeerMappingStatus.NO_SESSION);
    if (!session.mapping) {
      const peer = this.#byInstance.get(other.instance);
      const complete = requester.alternate !== undefined && peer?.alternate !== undefined;
      if (!complete && nowMs - session.createdAt < MAPPING_FREEZE_MS) return reply(PeerMappingStatus.PENDING);
      if (!peer) return reply(PeerMappingStatus.NO_SESSION);
      session.mapping = new Map();
      for (const r of [requester, peer]) {
        session.mapping.set(r.instance, {
          primary: { ...r.address },
          ...(r.alternate ? { alternate: { ...r.alternate } } : {}),
        });
      }
    }
    const self = session.mapping.get(requester.instance);
    const peer = session.mapping.get(other.instance);
    if (!self || !peer) return reply(PeerMappingStatus.NO_SESSION);
    return reply(PeerMappingStatus.READY, self, peer);
  }

  // ---- relay ----------------------------------------------------------------------------------

  /**
   * An Antt datagram: forwarded byte for byte to the other side of the sender's relay, if the sender is
   * one side of a live relay and the relay is within its rate. Never answered, never amplified: one
   * datagram out per datagram in, only ever to an address that proved it receives (its registration).
   */
  #forward(bytes: Uint8Array, from: Address, nowMs: number): OutgoingDatagram[] {
    const relay = this.#relayByAddress.get(addressKey(from));
    if (!relay) {
      this.#stats.relayDroppedUnknownSource++;
      return [];
    }
    if (relay.lastActiveAt + this.relayIdleTimeoutSec * 1000 <= nowMs) {
      this.#removeRelay(relay);
      this.#stats.relaysExpired++;
      this.#stats.relayDroppedUnknownSource++;
      return [];
    }
    relay.tokens = Math.min(
      this.relayBurstBytes,
      relay.tokens + (Math.max(0, nowMs - relay.refilledAt) * this.relayRateBytesPerSec) / 1000,
    );
    relay.refilledAt = nowMs;
    if (relay.tokens < bytes.length) {
      this.#stats.relayDroppedRate++;
      return [];
    }
    relay.tokens -= bytes.length;
    relay.lastActiveAt = nowMs;
    this.#stats.relayedDatagrams++;
    this.#stats.relayedBytes += bytes.length;
    const [a, b] = relay.peers;
    const to = a.host === from.host && a.port === from.port ? b : a;
    return [{ bytes, to }];
  }

  #onRelayAlloc(message: RelayAllocMessage, from: Address, nowMs: number): OutgoingDatagram[] {
    const requester = this.#byAddress.get(addressKey(from));
    if (
      !requester ||
      requester.instance !== bytesHex(message.instance) ||
      this.#cookieIssuedAt(message.cookie, from, nowMs) === undefined
    ) {
      this.#stats.droppedBadCookie++;
      return [];
    }
    const reply = (status: RelayStatus, peer: Address = { host: '0.0.0.0', port: 0 }): OutgoingDatagram[] => {
      if (status !== RelayStatus.ALLOCATED) this.#stats.relaysRefused++;
      const ok = status === RelayStatus.ALLOCATED;
      return [
        {
          to: from,
          bytes: encodeRendezvousMessage({
            type: MessageType.RELAY_INFO,
            transactionId: message.transactionId,
            status,
            idleTimeoutSec: ok ? this.relayIdleTimeoutSec : 0,
            rateBytesPerSec: ok ? this.relayRateBytesPerSec : 0,
            peer,
          }),
        },
      ];
    };
    if (this.maxRelays <= 0) return reply(RelayStatus.REFUSED);
    const sessionHex = bytesHex(message.session);
    let pairKey: string | undefined;
    let session: Session | undefined;
    for (const [key, candidate] of this.#sessions) {
      if (bytesHex(candidate.id) !== sessionHex) continue;
      if (!candidate.members.some((m) => m.instance === requester.instance)) continue;
      pairKey = key;
      session = candidate;
      break;
    }
    const other = session?.members.find((m) => m.instance !== requester.instance);
    const peer = other && (this.#byName.get(other.name) ?? []).find((r) => r.instance === other.instance);
    if (!session || !pairKey || !peer) return reply(RelayStatus.NO_SESSION);
    session.expiresAt = Math.max(session.expiresAt, nowMs + SESSION_LIFETIME_MS);
    const existing = this.#relays.get(pairKey);
    if (existing) this.#removeRelay(existing);
    else if (this.#relays.size >= this.maxRelays) return reply(RelayStatus.FULL);
    // A socket is in one relay at a time: a new meeting of the same socket replaces its old relay.
    for (const address of [requester.address, peer.address]) {
      const old = this.#relayByAddress.get(addressKey(address));
      if (old) this.#removeRelay(old);
    }
    const relay: Relay = {
      pairKey,
      peers: [{ ...requester.address }, { ...peer.address }],
      tokens: existing ? existing.tokens : this.relayBurstBytes,
      refilledAt: existing ? existing.refilledAt : nowMs,
      lastActiveAt: nowMs,
    };
    this.#relays.set(pairKey, relay);
    for (const address of relay.peers) this.#relayByAddress.set(addressKey(address), relay);
    if (!existing) this.#stats.relaysAllocated++;
    return reply(RelayStatus.ALLOCATED, peer.address);
  }

  #removeRelay(relay: Relay): void {
    if (this.#relays.get(relay.pairKey) === relay) this.#relays.delete(relay.pairKey);
    for (const address of relay.peers) {
      const key = addressKey(address);
      if (this.#relayByAddress.get(key) === relay) this.#relayByAddress.delete(key);
    }
  }

  /** Forgets the registration made from `address` at once (its TCP connection closed). */
  forget(address: Address): void {
    const key = addressKey(address);
    const registration = this.#byAddress.get(key);
    if (registration) this.#remove(registration, key);
  }

  /** Milliseconds until the next registration expires (for a timer), or undefined if none. */
  nextExpiryIn(nowMs: number): number | undefined {
    let next: number | undefined;
    for (const registration of this.#byAddress.values()) {
      if (next === undefined || registration.expiresAt < next) next = registration.expiresAt;
    }
    return next === undefined ? undefined : Math.max(0, next - nowMs);
  }

  // ---- STUN ---------------------------------------------------------------------------------

  #onStun(bytes: Uint8Array, from: Address, verified: boolean): OutgoingDatagram[] {
    let request: ReturnType<typeof decodeStunMessage>;
    try {
      request = decodeStunMessage(bytes);
    } catch {
      this.#stats.droppedMalformed++;
      return [];
    }
    if (request.class !== 'request' || request.method !== StunMethod.BINDING) {
      this.#stats.droppedUnexpected++;
      return [];
    }
    const answer = (fingerprint: boolean) =>
      encodeStunMessage({
        class: 'success',
        transactionId: request.transactionId,
        xorMappedAddress: from,
        fingerprint,
      });
    // FINGERPRINT is optional (RFC 8489 §14.7): leave it out when that keeps the answer within the
    // request's size; a bare 20-byte request to an unverified address still gets nothing.
    let response = answer(true);
    if (!verified && response.length > bytes.length) response = answer(false);
    if (!verified && response.length > bytes.length) {
      this.#stats.droppedAmplification++;
      return [];
    }
    this.#stats.stunAnswered++;
    return [{ bytes: response, to: from }];
  }

  // ---- rendezvous ----------------------------------------------------------------------------

  #onMessage(message: RendezvousMessage, from: Address, nowMs: number): OutgoingDatagram[] {
    switch (message.type) {
      case MessageType.REGISTER:
        return this.#onRegister(message, from, nowMs);
      case MessageType.CONNECT:
        return this.#onConnect(message, from, nowMs);
      case MessageType.UNREGISTER:
        return this.#onUnregister(message, from, nowMs);
      case MessageType.RELAY_ALLOC:
        return this.#onRelayAlloc(message, from, nowMs);
      case MessageType.MAPPING_QUERY:
        return this.#onMappingQuery(message, from, nowMs, 'primary');
      case MessageType.PEER_MAPPING_QUERY:
        return this.#onPeerMappingQuery(message, from, nowMs);
      default:
        this.#stats.droppedUnexpected++;
        return [];
    }
  }

  #onRegister(message: RegisterMessage, from: Address, nowMs: number): OutgoingDatagram[] {
    const reply = (status: RegisterStatus, ttlSec = 0): OutgoingDatagram => ({
      to: from,
      bytes: encodeRendezvousMessage({
        type: MessageType.REGISTERED,
        transactionId: message.transactionId,
        status,
        ttlSec,
        observed: from,
        cookie: this.#cookie(from, nowMs),
      }),
    });
    const issuedAt = this.#cookieIssuedAt(message.cookie, from, nowMs);
    // No valid cookie: a stateless challenge. Only an address that receives it can register.
    if (issuedAt === undefined) return [reply(RegisterStatus.CHALLENGE)];
    const instance = bytesHex(message.instance);
    const key = addressKey(from);
    const existing = this.#byAddress.get(key);
    if (existing && (existing.instance !== instance || existing.name !== message.name)) {
      this.#remove(existing, key); // the socket registers under another name or restarted
    }
    const others = (this.#byName.get(message.name) ?? []).filter((r) => r.instance !== instance);
    const same = (this.#byName.get(message.name) ?? []).find((r) => r.instance === instance);
    if (!same && others.length >= MAX_INSTANCES_PER_NAME) return [reply(RegisterStatus.NAME_TAKEN)];
    if (!same && this.#registrationCount >= this.maxRegistrations) return [reply(RegisterStatus.FULL)];
    const measuredRtt = nowMs - issuedAt;
    const rttMs =
      measuredRtt >= 0 && measuredRtt <= MAX_MEASURED_RTT_MS
        ? measuredRtt
        : (same?.rttMs ?? MIN_START_DELAY_MS);
    if (same) this.#remove(same, addressKey(same.address));
    const registration: Registration = {
      name: message.name,
      instance,
      peerId: message.peerId,
      address: { host: from.host, port: from.port },
      candidates: message.candidates,
      expiresAt: nowMs + this.ttlSec * 1000,
      // The first verified REGISTER answers a fresh challenge: its cookie's age is one round trip.
      rttMs: same ? Math.min(same.rttMs, rttMs) : rttMs,
    };
    // A refresh keeps what the alternate port saw of this socket.
    if (same?.alternate && same.address.host === from.host && same.address.port === from.port) {
      registration.alternate = same.alternate;
    }
    this.#byName.set(message.name, [...others, registration]);
    this.#byAddress.set(key, registration);
    this.#byInstance.set(instance, registration);
    this.#registrationCount++;
    return [reply(RegisterStatus.REGISTERED, this.ttlSec)];
  }

  #onConnect(message: ConnectMessage, from: Address, nowMs: number): OutgoingDatagram[] {
    const requester = this.#byAddress.get(addressKey(from));
    if (
      !requester ||
      requester.instance !== bytesHex(message.instance) ||
      this.#cookieIssuedAt(message.cookie, from, nowMs) === undefined
    ) {
      this.#stats.droppedBadCookie++;
      return [];
    }
    const peer = (this.#byName.get(message.target) ?? []).find((r) => r.instance !== requester.instance);
    if (!peer) {
      return [
        {
          to: from,
          bytes: encodeRendezvousMessage({
            type: MessageType.PEER_NOT_FOUND,
            transactionId: message.transactionId,
            target: message.target,
          }),
        },
      ];
    }
    const pairKey = [requester.instance, peer.instance].sort().join('|');
    let session = this.#sessions.get(pairKey);
    if (!session) {
      session = {
        id: this.#random(SESSION_BYTES),
        controllingInstance: requester.instance,
        members: [
          { instance: requester.instance, name: requester.name },
          { instance: peer.instance, name: peer.name },
        ],
        expiresAt: nowMs + SESSION_LIFETIME_MS,
        createdAt: nowMs,
      };
      this.#sessions.set(pairKey, session);
      this.#stats.peersPaired++;
      // Bounded like registrations: a session exists only between two live registrations.
      if (this.#sessions.size > this.maxRegistrations) {
        const oldest = this.#sessions.keys().next().value;
        if (oldest !== undefined) this.#sessions.delete(oldest);
      }
    }
    // Both start probing at the same moment: T after now, minus each one's one-way delay.
    const startInMs = Math.max(MIN_START_DELAY_MS, 2 * Math.max(requester.rttMs, peer.rttMs));
    const info = (to: Registration, about: Registration, transactionId: Uint8Array): OutgoingDatagram => ({
      to: to.address,
      bytes: encodeRendezvousMessage({
        type: MessageType.PEER_INFO,
        transactionId,
        session: session.id,
        controlling: session.controllingInstance === to.instance,
        startDelayMs: startInMs - to.rttMs / 2,
        peerName: about.name,
        peerId: about.peerId,
        observed: about.address,
        candidates: about.candidates,
      }),
    });
    return [
      info(requester, peer, message.transactionId),
      info(peer, requester, new Uint8Array(TRANSACTION_ID_BYTES)),
    ];
  }

  #onUnregister(message: UnregisterMessage, from: Address, nowMs: number): OutgoingDatagram[] {
    const key = addressKey(from);
    const registration = this.#byAddress.get(key);
    if (
      !registration ||
      registration.instance !== bytesHex(message.instance) ||
      registration.name !== message.name ||
      this.#cookieIssuedAt(message.cookie, from, nowMs) === undefined
    ) {
      this.#stats.droppedBadCookie++;
      return [];
    }
    this.#remove(registration, key);
    return [];
  }

  #remove(registration: Registration, key: string): void {
    if (this.#byAddress.get(key) === registration) this.#byAddress.delete(key);
    if (this.#byInstance.get(registration.instance) === registration) {
      this.#byInstance.delete(registration.instance);
    }
    const list = this.#byName.get(registration.name);
    if (!list) return;
    const rest = list.filter((r) => r !== registration);
    if (rest.length !== list.length) this.#registrationCount--;
    if (rest.length === 0) this.#byName.delete(registration.name);
    else this.#byName.set(registration.name, rest);
  }

  // ---- cookies and rate -----------------------------------------------------------------------

  /** 4 bytes of issue time (ms, wrapping) and 12 bytes of HMAC over it and the address. */
  #cookie(address: Address, nowMs: number): Uint8Array {
    const cookie = new Uint8Array(COOKIE_BYTES);
    const issued = Math.floor(nowMs) >>> 0;
    new DataView(cookie.buffer).setUint32(0, issued);
    cookie.set(this.#mac(address, issued), COOKIE_TIMESTAMP_BYTES);
    return cookie;
  }

  /** The cookie's issue time if it is genuine for this address and younger than two TTLs. */
  #cookieIssuedAt(cookie: Uint8Array, address: Address, nowMs: number): number | undefined {
    const issued = new DataView(cookie.buffer, cookie.byteOffset, cookie.byteLength).getUint32(0);
    const expected = this.#mac(address, issued);
    if (!timingSafeEqual(expected, cookie.subarray(COOKIE_TIMESTAMP_BYTES))) {
      if (cookie.some((byte) => byte !== 0)) this.#stats.droppedBadCookie++;
      return undefined;
    }
    const age = ((Math.floor(nowMs) >>> 0) - issued) >>> 0;
    if (age > 2 * this.ttlSec * 1000) return undefined;
    return nowMs - age;
  }

  #mac(address: Address, issued: number): Uint8Array {
    return new Uint8Array(
      createHmac('sha256', this.#secret)
        .update(`${formatAddress(address)}|${issued}`)
        .digest()
        .subarray(0, COOKIE_BYTES - COOKIE_TIMESTAMP_BYTES),
    );
  }

  /** Token bucket per source IP; the table is bounded, least recently seen forgotten first. */
  #admit(ip: string, nowMs: number): boolean {
    let entry = this.#rates.get(ip);
    if (entry) {
      this.#rates.delete(ip);
      entry.tokens = Math.min(
        this.#rateBurst,
        entry.tokens + ((nowMs - entry.updatedAt) * this.#ratePerSec) / 1000,
      );
      entry.updatedAt = nowMs;
    } else {
      entry = { tokens: this.#rateBurst, updatedAt: nowMs };
      if (this.#rates.size >= MAX_RATE_ENTRIES) {
        const oldest = this.#rates.keys().next().value;
        if (oldest !== undefined) this.#rates.delete(oldest);
      }
    }
    this.#rates.set(ip, entry);
    if (entry.tokens < 1) return false;
    entry.tokens -= 1;
    return true;
  }
}

function addressKey(address: Address): string {
  return `${address.host}|${address.port}`;
}
