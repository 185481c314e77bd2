/**
 * The Antt rendezvous protocol, version 1: how peers register with a rendezvous server, learn each
 * other's candidate addresses, and probe paths to each other. One codec for every message; decoding
 * untrusted bytes throws only `ProtocolError`.
 *
 * Every message starts with a 12-byte header: magic `0x52 0x56` ("RV"), version, type, and a 64-bit
 * transaction id. The first byte (0x52) is outside RFC 7983's STUN range (0–3), and the first two bytes
 * differ from Antt/UDP's magic `0xA7 0x7E` in 8 bits, so the three protocols share one socket safely.
 * The full layout is in the package README ("Rendezvous protocol").
 */
import { isIP } from 'node:net';
import { type Address, AnttError, ErrorCode, ProtocolError } from '@antt/core';

export const RENDEZVOUS_MAGIC_0 = 0x52;
export const RENDEZVOUS_MAGIC_1 = 0x56;
export const RENDEZVOUS_VERSION = 1;
export const RENDEZVOUS_HEADER_BYTES = 12;
export const TRANSACTION_ID_BYTES = 8;
export const COOKIE_BYTES = 16;
export const INSTANCE_BYTES = 8;
export const SESSION_BYTES = 8;
/** Names and peer ids are at most this many UTF-8 bytes. */
export const MAX_NAME_BYTES = 64;
/** Candidate addresses a peer may announce (its LAN addresses). */
export const MAX_CANDIDATES = 8;
/**
 * Requests to the server are padded to at least this size, so every answer to an address that has not
 * yet proven it receives (a challenge, a not-found) fits in what it sent: the server never amplifies.
 */
export const REQUEST_MIN_BYTES = 128;

export const MessageType = {
  REGISTER: 1,
  REGISTERED: 2,
  CONNECT: 3,
  PEER_INFO: 4,
  PEER_NOT_FOUND: 5,
  UNREGISTER: 6,
  PROBE: 7,
  /** Relay extension (still header version 1): ask the server to relay a session's traffic. */
  RELAY_ALLOC: 8,
  RELAY_INFO: 9,
  /**
   * Mapping extension (still header version 1): ask the server, on its main port and then on its
   * alternate port, where it sees this socket; then ask what it saw of both peers.
   */
  MAPPING_QUERY: 10,
  MAPPING_INFO: 11,
  PEER_MAPPING_QUERY: 12,
  PEER_MAPPING: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** REGISTERED's status byte. */
export const RegisterStatus = {
  /** Not registered yet: send REGISTER again with this cookie (proves the address receives). */
  CHALLENGE: 0,
  REGISTERED: 1,
  /** Two other instances already hold this name. */
  NAME_TAKEN: 2,
  /** The server holds its maximum number of registrations. */
  FULL: 3,
} as const;
export type RegisterStatus = (typeof RegisterStatus)[keyof typeof RegisterStatus];

/** RELAY-INFO's status byte. */
export const RelayStatus = {
  /** The server relays Antt datagrams between the two peers' registered addresses on its own port. */
  ALLOCATED: 0,
  /** The server holds its maximum number of relays. */
  FULL: 1,
  /** The requester or its peer is not registered, or the session is unknown or not the requester's. */
  NO_SESSION: 2,
  /** This server does not relay (`maxRelays` 0), or one of the peers is already in another relay. */
  REFUSED: 3,
} as const;
export type RelayStatus = (typeof RelayStatus)[keyof typeof RelayStatus];

/** PEER-MAPPING's status byte. */
export const PeerMappingStatus = {
  /** Both peers' observations are final for this session (the same answer to both peers). */
  READY: 0,
  /** A peer's alternate-port observation has not arrived yet: ask again shortly. */
  PENDING: 1,
  /** The requester is not in this session, or the session expired. */
  NO_SESSION: 2,
} as const;
export type PeerMappingStatus = (typeof PeerMappingStatus)[keyof typeof PeerMappingStatus];

export const PROBE_FLAG_ACK = 0x01;
export const PROBE_FLAG_NOMINATE = 0x02;

export interface RegisterMessage {
  type: typeof MessageType.REGISTER;
  transactionId: Uint8Array;
  /** From the last REGISTERED; all zeros on the first attempt. */
  cookie: Uint8Array;
  /** Random per client run: tells two registrations under one name apart. */
  instance: Uint8Array;
  name: string;
  /** The identity's peer id, or '' (informative: the handshake authenticates). */
  peerId: string;
  /** LAN candidates: the addresses of this host's interfaces with the socket's port. */
  candidates: Address[];
}

export interface RegisteredMessage {
  type: typeof MessageType.REGISTERED;
  transactionId: Uint8Array;
  status: RegisterStatus;
  /** Seconds the registration lives without a refresh (0 unless registered). */
  ttlSec: number;
  /** The source address the server saw: the public candidate. */
  observed: Address;
  cookie: Uint8Array;
}

export interface ConnectMessage {
  type: typeof MessageType.CONNECT;
  transactionId: Uint8Array;
  cookie: Uint8Array;
  instance: Uint8Array;
  /** The name of the peer to meet (may be the requester's own name: a shared meeting name). */
  target: string;
}

export interface PeerInfoMessage {
  type: typeof MessageType.PEER_INFO;
  /** The CONNECT's transaction id for the requester; zeros when pushed to the other peer. */
  transactionId: Uint8Array;
  /** Identifies this meeting in PROBEs, so probes from other sessions are ignored. */
  session: Uint8Array;
  /** The controlling peer picks the path (the requester). */
  controlling: boolean;
  /** Start probing this many milliseconds after receiving this message (aligns both peers). */
  startDelayMs: number;
  peerName: string;
  peerId: string;
  /** Where the server saw the peer: its public candidate. */
  observed: Address;
  /** The peer's LAN candidates. */
  candidates: Address[];
}

export interface PeerNotFoundMessage {
  type: typeof MessageType.PEER_NOT_FOUND;
  transactionId: Uint8Array;
  target: string;
}

export interface UnregisterMessage {
  type: typeof MessageType.UNREGISTER;
  transactionId: Uint8Array;
  cookie: Uint8Array;
  instance: Uint8Array;
  name: string;
}

/** Peer to peer: a path check. The transaction id is the probe's nonce; an ACK echoes it. */
export interface ProbeMessage {
  type: typeof MessageType.PROBE;
  transactionId: Uint8Array;
  session: Uint8Array;
  ack: boolean;
  nominate: boolean;
}

/** Peer to server: relay this session (the pair of PEER-INFO) through you. */
export interface RelayAllocMessage {
  type: typeof MessageType.RELAY_ALLOC;
  transactionId: Uint8Array;
  cookie: Uint8Array;
  instance: Uint8Array;
  session: Uint8Array;
}

/** Server to peer: the answer to RELAY-ALLOC. The relay is the server's own address and port. */
export interface RelayInfoMessage {
  type: typeof MessageType.RELAY_INFO;
  transactionId: Uint8Array;
  status: RelayStatus;
  /** Seconds without traffic after which the relay is dropped. */
  idleTimeoutSec: number;
  /** Bytes per second the relay forwards, both directions together (0 when refused). */
  rateBytesPerSec: number;
  /** Where the server sees the peer: the address relayed datagrams go to. */
  peer: Address;
}

/**
 * Peer to server, sent to the main port and then to the alternate port from the same socket: where do
 * you see me? The cookie and instance tie the alternate-port observation to the registration.
 */
export interface MappingQueryMessage {
  type: typeof MessageType.MAPPING_QUERY;
  transactionId: Uint8Array;
  cookie: Uint8Array;
  instance: Uint8Array;
}

/** Server to peer: where the port that received the MAPPING-QUERY saw it, and the server's other port. */
export interface MappingInfoMessage {
  type: typeof MessageType.MAPPING_INFO;
  transactionId: Uint8Array;
  observed: Address;
  /** The server's other port for this protocol (the alternate port, or from it the main one); 0: none. */
  otherPort: number;
}

/** What the server saw of one socket: from its main port, and from its alternate port (if it did). */
export interface MappingObservations {
  primary: Address;
  alternate?: Address;
}

/** Peer to server: what did you see of both of us (this session)? */
export interface PeerMappingQueryMessage {
  type: typeof MessageType.PEER_MAPPING_QUERY;
  transactionId: Uint8Array;
  cookie: Uint8Array;
  instance: Uint8Array;
  session: Uint8Array;
}

/** Server to peer: both peers' observations, frozen per session so both peers decide alike. */
export interface PeerMappingMessage {
  type: typeof MessageType.PEER_MAPPING;
  transactionId: Uint8Array;
  status: PeerMappingStatus;
  /** Present when READY: the requester's own observations, then its peer's. */
  self?: MappingObservations;
  peer?: MappingObservations;
}

export type RendezvousMessage =
  | RegisterMessage
  | RegisteredMessage
  | ConnectMessage
  | PeerInfoMessage
  | PeerNotFoundMessage
  | UnregisterMessage
  | ProbeMessage
  | RelayAllocMessage
  | RelayInfoMessage
  | MappingQueryMessage
  | MappingInfoMessage
  | PeerMappingQueryMessage
  | PeerMappingMessage;

/** Cheap demultiplexing test: the magic (any version, so a newer peer gets a clear error). */
export function isRendezvousMessage(bytes: Uint8Array): boolean {
  return (
    bytes.length >= RENDEZVOUS_HEADER_BYTES &&
    bytes[0] === RENDEZVOUS_MAGIC_0 &&
    bytes[1] === RENDEZVOUS_MAGIC_1
  );
}

// ---- encoding ---------------------------------------------------------------------------------

class Writer {
  readonly #bytes: number[] = [];
  u8(value: number): this {
    this.#bytes.push(value & 0xff);
    return this;
  }
  u16(value: number): this {
    return this.u8(value >>> 8).u8(value);
  }
  u32(value: number): this {
    return this.u16(Math.floor(value / 0x10000) & 0xffff).u16(value & 0xffff);
  }
  raw(bytes: Uint8Array, expected: number, what: string): this {
    if (bytes.length !== expected)
      throw invalidArgument(`${what} must be ${expected} bytes, got ${bytes.length}`);
    for (const byte of bytes) this.#bytes.push(byte);
    return this;
  }
  string(text: string, what: string): this {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > MAX_NAME_BYTES) {
      throw invalidArgument(`${what} is ${bytes.length} bytes of UTF-8; at most ${MAX_NAME_BYTES} fit`);
    }
    this.u8(bytes.length);
    for (const byte of bytes) this.#bytes.push(byte);
    return this;
  }
  address(address: Address, what: string): this {
    const version = isIP(address.host);
    if (version === 0 || !Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
      throw invalidArgument(`${what} must be an IP address and port, got ${address.host}:${address.port}`);
    }
    if (version === 4) {
      this.u8(4);
      for (const part of address.host.split('.')) this.u8(Number(part));
    } else {
      this.u8(6);
      for (const byte of ipv6Bytes(address.host)) this.u8(byte);
    }
    return this.u16(address.port);
  }
  addresses(addresses: Address[], what: string): this {
    if (addresses.length > MAX_CANDIDATES) {
      throw invalidArgument(`at most ${MAX_CANDIDATES} ${what} fit in a message, got ${addresses.length}`);
    }
    this.u8(addresses.length);
    for (const address of addresses) this.address(address, what);
    return this;
  }
  /** Main-port address, then a byte 0/1 and the alternate-port address when 1. */
  observations(value: MappingObservations, what: string): this {
    this.address(value.primary, what);
    if (!value.alternate) return this.u8(0);
    return this.u8(1).address(value.alternate, what);
  }
  padTo(bytes: number): this {
    while (this.#bytes.length < bytes) this.#bytes.push(0);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

function header(type: MessageType, transactionId: Uint8Array): Writer {
  return new Writer()
    .u8(RENDEZVOUS_MAGIC_0)
    .u8(RENDEZVOUS_MAGIC_1)
    .u8(RENDEZVOUS_VERSION)
    .u8(type)
    .raw(transactionId, TRANSACTION_ID_BYTES, 'transaction id');
}

/** Encodes a message. Throws ANTT_ERR_INVALID_ARGUMENT on caller mistakes (long names, bad addresses). */
export function encodeRendezvousMessage(message: RendezvousMessage): Uint8Array {
  const w = header(message.type, message.transactionId);
  switch (message.type) {
    case MessageType.REGISTER:
      return w
        .raw(message.cookie, COOKIE_BYTES, 'cookie')
        .raw(message.instance, INSTANCE_BYTES, 'instance')
        .string(message.name, 'name')
        .string(message.peerId, 'peer id')
        .addresses(message.candidates, 'candidates')
        .padTo(REQUEST_MIN_BYTES)
        .finish();
    case MessageType.REGISTERED:
      return w
        .u8(message.status)
        .u16(message.ttlSec)
        .address(message.observed, 'observed address')
        .raw(message.cookie, COOKIE_BYTES, 'cookie')
        .finish();
    case MessageType.CONNECT:
      return w
        .raw(message.cookie, COOKIE_BYTES, 'cookie')
        .raw(message.instance, INSTANCE_BYTES, 'instance')
        .string(message.target, 'target name')
        .padTo(REQUEST_MIN_BYTES)
        .finish();
    case MessageType.PEER_INFO:
      return w
        .raw(message.session, SESSION_BYTES, 'session')
        .u8(message.controlling ? 1 : 0)
        .u16(Math.max(0, Math.min(0xffff, Math.round(message.startDelayMs))))
        .string(message.peerName, 'peer name')
        .string(message.peerId, 'peer id')
        .address(message.observed, 'observed address')
        .addresses(message.candidates, 'candidates')
        .finish();
    case MessageType.PEER_NOT_FOUND:
      return w.string(message.target, 'target name').finish();
    case MessageType.UNREGISTER:
      return w
        .raw(message.cookie, COOKIE_BYTES, 'cookie')
        .raw(message.instance, INSTANCE_BYTES, 'instance')
        .string(message.name, 'name')
        .padTo(REQUEST_MIN_BYTES)
        .finish();
    case MessageType.PROBE:
      return w
        .raw(message.session, SESSION_BYTES, 'session')
        .u8((message.ack ? PROBE_FLAG_ACK : 0) | (message.nominate ? PROBE_FLAG_NOMINATE : 0))
        .finish();
    case MessageType.RELAY_ALLOC:
      return w
        .raw(message.cookie, COOKIE_BYTES, 'cookie')
        .raw(message.instance, INSTANCE_BYTES, 'instance')
        .raw(message.session, SESSION_BYTES, 'session')
        .padTo(REQUEST_MIN_BYTES)
        .finish();
    case MessageType.RELAY_INFO:
      return w
        .u8(message.status)
        .u16(Math.max(0, Math.min(0xffff, Math.round(message.idleTimeoutSec))))
        .u32(Math.max(0, Math.min(0xffffffff, Math.round(message.rateBytesPerSec))))
        .address(message.peer, 'peer address')
        .finish();
    case MessageType.MAPPING_QUERY:
      return w
        .raw(message.cookie, COOKIE_BYTES, 'cookie')
        .raw(message.instance, INSTANCE_BYTES, 'instance')
        .padTo(REQUEST_MIN_BYTES)
        .finish();
    case MessageType.MAPPING_INFO:
      return w.address(message.observed, 'observed address').u16(message.otherPort).finish();
    case MessageType.PEER_MAPPING_QUERY:
      return w
        .raw(message.cookie, COOKIE_BYTES, 'cookie')
        .raw(message.instance, INSTANCE_BYTES, 'instance')
        .raw(message.session, SESSION_BYTES, 'session')
        .padTo(REQUEST_MIN_BYTES)
        .finish();
    case MessageType.PEER_MAPPING: {
      w.u8(message.status);
      if (message.status !== PeerMappingStatus.READY) return w.finish();
      if (!message.self || !message.peer) throw invalidArgument('a READY PEER-MAPPING needs self and peer');
      return w.observations(message.self, 'own mapping').observations(message.peer, 'peer mapping').finish();
    }
  }
}

// ---- decoding ---------------------------------------------------------------------------------

class Reader {
  #offset = RENDEZVOUS_HEADER_BYTES;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {}
  #need(count: number, field: string): void {
    if (this.#offset + count > this.bytes.length) {
      throw malformed(`${this.what} ends inside ${field} (${this.bytes.length} bytes)`);
    }
  }
  u8(field: string): number {
    this.#need(1, field);
    return this.bytes[this.#offset++]!;
  }
  u16(field: string): number {
    this.#need(2, field);
    const value = (this.bytes[this.#offset]! << 8) | this.bytes[this.#offset + 1]!;
    this.#offset += 2;
    return value;
  }
  u32(field: string): number {
    return this.u16(field) * 0x10000 + this.u16(field);
  }
  raw(count: number, field: string): Uint8Array {
    this.#need(count, field);
    const value = this.bytes.slice(this.#offset, this.#offset + count);
    this.#offset += count;
    return value;
  }
  string(field: string): string {
    const length = this.u8(`${field} length`);
    if (length > MAX_NAME_BYTES)
      throw malformed(`${this.what}: ${field} of ${length} bytes (at most ${MAX_NAME_BYTES})`);
    const bytes = this.raw(length, field);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    if (
      text.includes('\uFFFD') ||
      [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
    ) {
      throw malformed(`${this.what}: ${field} is not printable UTF-8`);
    }
    return text;
  }
  address(field: string): Address {
    const family = this.u8(`${field} family`);
    if (family === 4) {
      const ip = this.raw(4, field);
      return { host: ip.join('.'), port: this.u16(`${field} port`), family: 'IPv4' };
    }
    if (family === 6) {
      const ip = this.raw(16, field);
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(((ip[i]! << 8) | ip[i + 1]!).toString(16));
      return { host: compressIpv6(groups), port: this.u16(`${field} port`), family: 'IPv6' };
    }
    throw malformed(`${this.what}: ${field} has address family ${family} (expected 4 or 6)`);
  }
  addresses(field: string): Address[] {
    const count = this.u8(`${field} count`);
    if (count > MAX_CANDIDATES)
      throw malformed(`${this.what}: ${count} ${field} (at most ${MAX_CANDIDATES})`);
    const out: Address[] = [];
    for (let i = 0; i < count; i++) out.push(this.address(field));
    return out;
  }
  observations(field: string): MappingObservations {
    const primary = this.address(field);
    const flag = this.u8(`${field} alternate flag`);
    if (flag > 1) throw malformed(`${this.what}: ${field} alternate flag ${flag} (expected 0 or 1)`);
    return flag === 1 ? { primary, alternate: this.address(field) } : { primary };
  }
  /** Padding after the fields must be zeros (anything else is a sign of another protocol or version). */
  end(): void {
    for (let i = this.#offset; i < this.bytes.length; i++) {
      if (this.bytes[i] !== 0) throw malformed(`${this.what}: non-zero byte after the fields at offset ${i}`);
    }
  }
}

const TYPE_NAMES: Record<number, string> = {
  1: 'REGISTER',
  2: 'REGISTERED',
  3: 'CONNECT',
  4: 'PEER-INFO',
  5: 'PEER-NOT-FOUND',
  6: 'UNREGISTER',
  7: 'PROBE',
  8: 'RELAY-ALLOC',
  9: 'RELAY-INFO',
  10: 'MAPPING-QUERY',
  11: 'MAPPING-INFO',
  12: 'PEER-MAPPING-QUERY',
  13: 'PEER-MAPPING',
};

export function messageTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type ${type}`;
}

/** Decodes untrusted bytes. Throws only `ProtocolError`, saying what was wrong. */
export function decodeRendezvousMessage(bytes: Uint8Array): RendezvousMessage {
  if (bytes.length < RENDEZVOUS_HEADER_BYTES) {
    throw malformed(`${bytes.length} bytes is shorter than the ${RENDEZVOUS_HEADER_BYTES}-byte header`);
  }
  if (bytes[0] !== RENDEZVOUS_MAGIC_0 || bytes[1] !== RENDEZVOUS_MAGIC_1) {
    throw malformed('no rendezvous magic 0x52 0x56');
  }
  if (bytes[2] !== RENDEZVOUS_VERSION) {
    throw new ProtocolError(
      `peer speaks Antt rendezvous version ${bytes[2]}, we speak ${RENDEZVOUS_VERSION}; upgrade the older side`,
    );
  }
  const type = bytes[3]!;
  const transactionId = bytes.slice(4, RENDEZVOUS_HEADER_BYTES);
  const r = new Reader(bytes, messageTypeName(type));
  let message: RendezvousMessage;
  switch (type) {
    case MessageType.REGISTER:
      message = {
        type,
        transactionId,
        cookie: r.raw(COOKIE_BYTES, 'cookie'),
        instance: r.raw(INSTANCE_BYTES, 'instance'),
        name: r.string('name'),
        peerId: r.string('peer id'),
        candidates: r.addresses('candidates'),
      };
      break;
    case MessageType.REGISTERED: {
      const status = r.u8('status');
      if (status > RegisterStatus.FULL) throw malformed(`REGISTERED: unknown status ${status}`);
      message = {
        type,
        transactionId,
        status: status as RegisterStatus,
        ttlSec: r.u16('ttl'),
        observed: r.address('observed address'),
        cookie: r.raw(COOKIE_BYTES, 'cookie'),
      };
      break;
    }
    case MessageType.CONNECT:
      message = {
        type,
        transactionId,
        cookie: r.raw(COOKIE_BYTES, 'cookie'),
        instance: r.raw(INSTANCE_BYTES, 'instance'),
        target: r.string('target name'),
      };
      break;
    case MessageType.PEER_INFO: {
      const session = r.raw(SESSION_BYTES, 'session');
      const role = r.u8('role');
      if (role > 1) throw malformed(`PEER-INFO: role ${role} (expected 0 or 1)`);
      message = {
        type,
        transactionId,
        session,
        controlling: role === 1,
        startDelayMs: r.u16('start delay'),
        peerName: r.string('peer name'),
        peerId: r.string('peer id'),
        observed: r.address('observed address'),
        candidates: r.addresses('candidates'),
      };
      break;
    }
    case MessageType.PEER_NOT_FOUND:
      message = { type, transactionId, target: r.string('target name') };
      break;
    case MessageType.UNREGISTER:
      message = {
        type,
        transactionId,
        cookie: r.raw(COOKIE_BYTES, 'cookie'),
        instance: r.raw(INSTANCE_BYTES, 'instance'),
        name: r.string('name'),
      };
      break;
    case MessageType.PROBE: {
      const session = r.raw(SESSION_BYTES, 'session');
      const flags = r.u8('flags');
      if (flags > (PROBE_FLAG_ACK | PROBE_FLAG_NOMINATE))
        throw malformed(`PROBE: unknown flags 0x${flags.toString(16)}`);
      message = {
        type,
        transactionId,
        session,
        ack: (flags & PROBE_FLAG_ACK) !== 0,
        nominate: (flags & PROBE_FLAG_NOMINATE) !== 0,
      };
      break;
    }
    case MessageType.RELAY_ALLOC:
      message = {
        type,
        transactionId,
        cookie: r.raw(COOKIE_BYTES, 'cookie'),
        instance: r.raw(INSTANCE_BYTES, 'instance'),
        session: r.raw(SESSION_BYTES, 'session'),
      };
      break;
    case MessageType.RELAY_INFO: {
      const status = r.u8('status');
      if (status > RelayStatus.REFUSED) throw malformed(`RELAY-INFO: unknown status ${status}`);
      message = {
        type,
        transactionId,
        status: status as RelayStatus,
        idleTimeoutSec: r.u16('idle timeout'),
        rateBytesPerSec: r.u32('rate'),
        peer: r.address('peer address'),
      };
      break;
    }
    case MessageType.MAPPING_QUERY:
      message = {
        type,
        transactionId,
        cookie: r.raw(COOKIE_BYTES, 'cookie'),
        instance: r.raw(INSTANCE_BYTES, 'instance'),
      };
      break;
    case MessageType.MAPPING_INFO:
      message = {
        type,
        transactionId,
        observed: r.address('observed address'),
        otherPort: r.u16('other port'),
      };
      break;
    case MessageType.PEER_MAPPING_QUERY:
      message = {
        type,
        transactionId,
        cookie: r.raw(COOKIE_BYTES, 'cookie'),
        instance: r.raw(INSTANCE_BYTES, 'instance'),
        session: r.raw(SESSION_BYTES, 'session'),
      };
      break;
    case MessageType.PEER_MAPPING: {
      const status = r.u8('status');
      if (status > PeerMappingStatus.NO_SESSION) throw malformed(`PEER-MAPPING: unknown status ${status}`);
      message =
        status === PeerMappingStatus.READY
          ? {
              type,
              transactionId,
              status,
              self: r.observations('own mapping'),
              peer: r.observations('peer mapping'),
            }
          : { type, transactionId, status: status as PeerMappingStatus };
      break;
    }
    default:
      throw malformed(`unknown message type ${type}`);
  }
  r.end();
  return message;
}

// ---- helpers ----------------------------------------------------------------------------------

function ipv6Bytes(host: string): number[] {
  const zone = host.indexOf('%');
  const text = zone >= 0 ? host.slice(0, zone) : host;
  let groups: string[];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  let head = text;
  if (v4) {
    tail = v4[1]!.split('.').map(Number);
    head = text.slice(0, -v4[1]!.length);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const want = v4 ? 6 : 8;
  if (head.includes('::')) {
    const [left, right] = head.split('::') as [string, string];
    const l = left ? left.split(':') : [];
    const r = right ? right.split(':') : [];
    groups = [...l, ...new Array<string>(want - l.length - r.length).fill('0'), ...r];
  } else {
    groups = head ? head.split(':') : [];
  }
  const out: number[] = [];
  for (const group of groups) {
    const value = Number.parseInt(group, 16);
    out.push(value >>> 8, value & 0xff);
  }
  return [...out, ...tail];
}

function compressIpv6(groups: string[]): string {
  // RFC 5952 §4.2.3: compress the longest run of zero groups (first one on a tie, runs of 2 or more).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

function malformed(detail: string): ProtocolError {
  return new ProtocolError(`malformed rendezvous message: ${detail}`);
}

function invalidArgument(message: string): AnttError {
  return new AnttError(ErrorCode.INVALID_ARGUMENT, message);
}

export function bytesHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
