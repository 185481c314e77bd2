import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { crc32 } from 'node:zlib';
import { type Address, AnttError, ErrorCode, ProtocolError } from '@antt/core';

/** RFC 8489 §5: the fixed value in bytes 4–7 of every STUN message. */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;
export const TRANSACTION_ID_BYTES = 12;
const ATTRIBUTE_HEADER_BYTES = 4;
const FINGERPRINT_VALUE_BYTES = 4;
/** RFC 8489 §14.7: the CRC-32 is XORed with "STUN" so it differs from other protocols' CRCs. */
const FINGERPRINT_XOR = 0x5354554e;
/** RFC 8489 §14.9: SOFTWARE holds fewer than 128 characters, at most 763 bytes. */
const MAX_SOFTWARE_BYTES = 763;
/** RFC 8489 §14.8: reason phrases are fewer than 128 characters, at most 763 bytes. */
const MAX_REASON_BYTES = 763;
/** A UDP datagram cannot carry more; a larger length field is a lie. */
const MAX_MESSAGE_BYTES = 65_507;

/** RFC 8489 §5: the method and class are packed into the 14-bit type field. */
export const StunMethod = { BINDING: 0x001 } as const;

export const StunClass = {
  REQUEST: 'request',
  INDICATION: 'indication',
  SUCCESS: 'success',
  ERROR: 'error',
} as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Attribute types this package reads or writes (IANA "STUN Attributes" registry). */
export const StunAttribute = {
  MAPPED_ADDRESS: 0x0001,
  /** RFC 5780 §7.2. */
  CHANGE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_MAPPED_ADDRESS: 0x0020,
  /** RFC 5780 §7.5. */
  PADDING: 0x0026,
  /** RFC 5780 §7.6. */
  RESPONSE_PORT: 0x0027,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
  /** RFC 5780 §7.3. */
  RESPONSE_ORIGIN: 0x802b,
  /** RFC 5780 §7.4. */
  OTHER_ADDRESS: 0x802c,
} as const;

/**
 * Comprehension-required attributes (type < 0x8000) that other STUN usages put in messages and that a
 * Binding client may safely carry without acting on them: MESSAGE-INTEGRITY(-SHA256), USERHASH,
 * PRIORITY, USE-CANDIDATE and the TURN/ICE ones a shared server may add. Anything else below 0x8000 is
 * reported in {@link StunMessage.unknownRequired}.
 */
const KNOWN_REQUIRED_TYPES = new Set<number>([
  StunAttribute.MAPPED_ADDRESS,
  StunAttribute.CHANGE_REQUEST,
  StunAttribute.USERNAME,
  StunAttribute.MESSAGE_INTEGRITY,
  StunAttribute.ERROR_CODE,
  StunAttribute.UNKNOWN_ATTRIBUTES,
  StunAttribute.REALM,
  StunAttribute.NONCE,
  StunAttribute.XOR_MAPPED_ADDRESS,
  StunAttribute.PADDING,
  StunAttribute.RESPONSE_PORT,
  0x001c, // MESSAGE-INTEGRITY-SHA256
  0x001d, // PASSWORD-ALGORITHM
  0x001e, // USERHASH
  0x0024, // PRIORITY (RFC 8445)
  0x0025, // USE-CANDIDATE (RFC 8445)
]);

export interface StunAttributeValue {
  type: number;
  /** The value without padding; a view into the decoded buffer. */
  value: Uint8Array;
}

export interface StunErrorCode {
  /** 300–699, for example 400 (Bad Request) or 420 (Unknown Attribute). */
  code: number;
  reason: string;
}

export interface ChangeRequest {
  changeIp: boolean;
  changePort: boolean;
}

/** A decoded STUN message. Address attributes are already un-XORed. */
export interface StunMessage {
  method: number;
  class: StunClass;
  transactionId: Uint8Array;
  /** Every attribute in wire order, including ones this package does not interpret. */
  attributes: StunAttributeValue[];
  xorMappedAddress?: Address;
  mappedAddress?: Address;
  responseOrigin?: Address;
  otherAddress?: Address;
  software?: string;
  errorCode?: StunErrorCode;
  changeRequest?: ChangeRequest;
  /** RFC 8489 §14.9 UNKNOWN-ATTRIBUTES as sent by the peer (in a 420 error response). */
  unknownAttributes?: number[];
  /** True when a FINGERPRINT attribute was present (and, since decoding succeeded, correct). */
  fingerprint: boolean;
  /** Comprehension-required attribute types (< 0x8000) this decoder does not understand. */
  unknownRequired: number[];
}

/** What {@link encodeStunMessage} writes. Attributes are written in the order given. */
export interface StunMessageInit {
  method?: number;
  class: StunClass;
  transactionId: Uint8Array;
  xorMappedAddress?: Address;
  mappedAddress?: Address;
  responseOrigin?: Address;
  otherAddress?: Address;
  software?: string;
  errorCode?: StunErrorCode;
  changeRequest?: ChangeRequest;
  /** Extra raw attributes, written after the typed ones. */
  attributes?: StunAttributeValue[];
  /** Append FINGERPRINT (RFC 8489 §14.7). Default true. */
  fingerprint?: boolean;
}

/** A fresh 96-bit transaction id from a cryptographic generator (RFC 8489 §6: "uniformly random"). */
export function newTransactionId(): Uint8Array {
  return new Uint8Array(randomBytes(TRANSACTION_ID_BYTES));
}

/**
 * Cheap test for demultiplexing STUN from other traffic on one socket: the first byte is 0–3 (RFC 7983
 * §7; this implies RFC 8489 §5's two zero bits and leaves 20–63 to DTLS), the magic cookie is present,
 * the length is a multiple of 4 and matches the datagram. It does not parse attributes;
 * {@link decodeStunMessage} still may reject the message.
 */
export function isStunMessage(bytes: Uint8Array): boolean {
  if (bytes.length < HEADER_BYTES || bytes[0]! > 3) return false;
  const length = (bytes[2]! << 8) | bytes[3]!;
  if ((length & 3) !== 0 || length + HEADER_BYTES !== bytes.length) return false;
  return bytes[4] === 0x21 && bytes[5] === 0x12 && bytes[6] === 0xa4 && bytes[7] === 0x42;
}

export function transactionIdHex(transactionId: Uint8Array): string {
  return Buffer.from(transactionId.buffer, transactionId.byteOffset, transactionId.byteLength).toString(
    'hex',
  );
}

function classBits(cls: StunClass): number {
  // RFC 8489 §5: C1 is bit 8 of the type, C0 is bit 4.
  switch (cls) {
    case 'request':
      return 0x0000;
    case 'indication':
      return 0x0010;
    case 'success':
      return 0x0100;
    case 'error':
      return 0x0110;
  }
}

function classFromType(type: number): StunClass {
  switch (type & 0x0110) {
    case 0x0000:
      return 'request';
    case 0x0010:
      return 'indication';
    case 0x0100:
      return 'success';
    default:
      return 'error';
  }
}

function methodFromType(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}

function typeField(method: number, cls: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) {
    throw invalidArgument(`STUN method must be a 12-bit integer, got ${method}`);
  }
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | classBits(cls);
}

/** Encodes a STUN message. Throws ANTT_ERR_INVALID_ARGUMENT on caller mistakes (bad transaction id, bad address). */
export function encodeStunMessage(init: StunMessageInit): Uint8Array {
  if (init.transactionId.length !== TRANSACTION_ID_BYTES) {
    throw invalidArgument(`STUN transaction id must be 12 bytes, got ${init.transactionId.length}`);
  }
  const parts: Array<{ type: number; value: Uint8Array }> = [];
  const tid = init.transactionId;
  if (init.xorMappedAddress) {
    parts.push({ type: StunAttribute.XOR_MAPPED_ADDRESS, value: encodeAddress(init.xorMappedAddress, tid) });
  }
  if (init.mappedAddress) {
    parts.push({ type: StunAttribute.MAPPED_ADDRESS, value: encodeAddress(init.mappedAddress) });
  }
  if (init.responseOrigin) {
    parts.push({ type: StunAttribute.RESPONSE_ORIGIN, value: encodeAddress(init.responseOrigin) });
  }
  if (init.otherAddress) {
    parts.push({ type: StunAttribute.OTHER_ADDRESS, value: encodeAddress(init.otherAddress) });
  }
  if (init.changeRequest) {
    const flags = (init.changeRequest.changeIp ? 0x04 : 0) | (init.changeRequest.changePort ? 0x02 : 0);
    parts.push({ type: StunAttribute.CHANGE_REQUEST, value: Uint8Array.of(0, 0, 0, flags) });
  }
  if (init.errorCode) parts.push({ type: StunAttribute.ERROR_CODE, value: encodeErrorCode(init.errorCode) });
  if (init.software !== undefined) {
    const value = Buffer.from(init.software, 'utf8');
    if (value.length > MAX_SOFTWARE_BYTES) {
      throw invalidArgument(`STUN SOFTWARE is limited to ${MAX_SOFTWARE_BYTES} bytes`);
    }
    parts.push({ type: StunAttribute.SOFTWARE, value });
  }
  for (const attribute of init.attributes ?? []) parts.push(attribute);

  const withFingerprint = init.fingerprint ?? true;
  let bodyBytes = 0;
  for (const part of parts) bodyBytes += ATTRIBUTE_HEADER_BYTES + padded(part.value.length);
  const totalBytes =
    HEADER_BYTES + bodyBytes + (withFingerprint ? ATTRIBUTE_HEADER_BYTES + FINGERPRINT_VALUE_BYTES : 0);
  if (totalBytes > MAX_MESSAGE_BYTES)
    throw invalidArgument(`STUN message of ${totalBytes} bytes is too large`);

  const out = Buffer.alloc(totalBytes);
  out.writeUInt16BE(typeField(init.method ?? StunMethod.BINDING, init.class), 0);
  out.writeUInt16BE(totalBytes - HEADER_BYTES, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  out.set(tid, 8);
  let offset = HEADER_BYTES;
  for (const part of parts) {
    if (part.value.length > 0xffff) throw invalidArgument('STUN attribute value is too long');
    out.writeUInt16BE(part.type, offset);
    out.writeUInt16BE(part.value.length, offset + 2);
    out.set(part.value, offset + ATTRIBUTE_HEADER_BYTES);
    offset += ATTRIBUTE_HEADER_BYTES + padded(part.value.length);
  }
  if (withFingerprint) {
    // RFC 8489 §14.7: the CRC covers everything before the attribute, with the header's length field
    // already counting the FINGERPRINT attribute (it was set to the total above).
    out.writeUInt16BE(StunAttribute.FINGERPRINT, offset);
    out.writeUInt16BE(FINGERPRINT_VALUE_BYTES, offset + 2);
    out.writeUInt32BE(fingerprintOf(out.subarray(0, offset)), offset + ATTRIBUTE_HEADER_BYTES);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function fingerprintOf(bytes: Uint8Array): number {
  return (crc32(bytes) ^ FINGERPRINT_XOR) >>> 0;
}

function padded(length: number): number {
  return (length + 3) & ~3;
}

function encodeErrorCode(error: StunErrorCode): Uint8Array {
  if (!Number.isInteger(error.code) || error.code < 300 || error.code > 699) {
    throw invalidArgument(`STUN error code must be 300-699, got ${error.code}`);
  }
  const reason = Buffer.from(error.reason, 'utf8');
  if (reason.length > MAX_REASON_BYTES) throw invalidArgument('STUN error reason is too long');
  const value = Buffer.alloc(4 + reason.length);
  value[2] = Math.floor(error.code / 100);
  value[3] = error.code % 100;
  value.set(reason, 4);
  return value;
}

/** RFC 8489 §14.1/§14.2 address value; XORed with cookie + transaction id when `tid` is given. */
function encodeAddress(address: Address, tid?: Uint8Array): Uint8Array {
  const version = isIP(address.host);
  if (version === 0) throw invalidArgument(`STUN address needs an IP literal, got "${address.host}"`);
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw invalidArgument(`STUN address port out of range: ${address.port}`);
  }
  const ip = version === 4 ? ipv4Bytes(address.host) : ipv6Bytes(address.host);
  const value = Buffer.alloc(4 + ip.length);
  value[1] = version === 4 ? 0x01 : 0x02;
  value.writeUInt16BE(tid ? address.port ^ (MAGIC_COOKIE >>> 16) : address.port, 2);
  value.set(ip, 4);
  if (tid) xorAddressBytes(value.subarray(4), tid);
  return value;
}

/** XOR with the magic cookie followed by the transaction id (RFC 8489 §14.2); its own inverse. */
function xorAddressBytes(ip: Uint8Array, tid: Uint8Array): void {
  const mask = [0x21, 0x12, 0xa4, 0x42];
  for (let i = 0; i < ip.length; i++) ip[i]! ^= i < 4 ? mask[i]! : tid[i - 4]!;
}

function ipv4Bytes(host: string): Uint8Array {
  return Uint8Array.from(host.split('.').map(Number));
}

function ipv6Bytes(host: string): Uint8Array {
  const out = new Uint8Array(16);
  let text = host;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // An embedded dotted quad (::ffff:192.0.2.1) becomes two hextets.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4Bytes(tail);
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const restParts = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = 8 - headParts.length - restParts.length;
  const groups = [...headParts, ...new Array<string>(rest === undefined ? 0 : fill).fill('0'), ...restParts];
  groups.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  });
  return out;
}

function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: compress the longest run (of two or more) of zero groups, the first on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function malformed(what: string): ProtocolError {
  return new ProtocolError(`malformed STUN message: ${what}`);
}

/**
 * Decodes untrusted bytes. Any problem (short header, wrong cookie, lengths that do not add up, a
 * FINGERPRINT that does not match, a truncated address) throws a {@link ProtocolError} naming it; nothing
 * else is thrown. Address attributes are decoded; everything else is kept raw in `attributes`.
 */
export function decodeStunMessage(bytes: Uint8Array): StunMessage {
  if (bytes.length < HEADER_BYTES) malformedThrow(`${bytes.length} bytes is shorter than the 20-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(0);
  if ((type & 0xc000) !== 0) malformedThrow('the first two bits are not zero');
  const length = view.getUint16(2);
  if (view.getUint32(4) !== MAGIC_COOKIE) malformedThrow('wrong magic cookie (not RFC 5389/8489 STUN)');
  if ((length & 3) !== 0) malformedThrow(`length ${length} is not a multiple of 4`);
  if (length + HEADER_BYTES !== bytes.length) {
    malformedThrow(
      `header says ${length} bytes of attributes, datagram carries ${bytes.length - HEADER_BYTES}`,
    );
  }
  // Copies (Uint8Array.from): a Buffer's slice() is a view, and address decoding XORs in place.
  const transactionId = Uint8Array.from(bytes.subarray(8, HEADER_BYTES));
  const message: StunMessage = {
    method: methodFromType(type),
    class: classFromType(type),
    transactionId,
    attributes: [],
    fingerprint: false,
    unknownRequired: [],
  };

  let offset = HEADER_BYTES;
  while (offset < bytes.length) {
    if (message.fingerprint) malformedThrow('attributes after FINGERPRINT');
    if (bytes.length - offset < ATTRIBUTE_HEADER_BYTES) malformedThrow('truncated attribute header');
    const attrType = view.getUint16(offset);
    const attrLength = view.getUint16(offset + 2);
    const start = offset + ATTRIBUTE_HEADER_BYTES;
    if (start + padded(attrLength) > bytes.length) {
      malformedThrow(`attribute 0x${hex4(attrType)} of ${attrLength} bytes runs past the end`);
    }
    const value = bytes.subarray(start, start + attrLength);
    message.attributes.push({ type: attrType, value });
    readAttribute(message, attrType, value, bytes, offset);
    offset = start + padded(attrLength);
  }
  return message;
}

function malformedThrow(what: string): never {
  throw malformed(what);
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function readAttribute(
  message: StunMessage,
  type: number,
  value: Uint8Array,
  whole: Uint8Array,
  attributeOffset: number,
): void {
  // RFC 8489 §14: when an attribute repeats, only the first occurrence counts.
  switch (type) {
    case StunAttribute.XOR_MAPPED_ADDRESS:
      message.xorMappedAddress ??= decodeAddress(value, 'XOR-MAPPED-ADDRESS', message.transactionId);
      return;
    case StunAttribute.MAPPED_ADDRESS:
      message.mappedAddress ??= decodeAddress(value, 'MAPPED-ADDRESS');
      return;
    case StunAttribute.RESPONSE_ORIGIN:
      message.responseOrigin ??= decodeAddress(value, 'RESPONSE-ORIGIN');
      return;
    case StunAttribute.OTHER_ADDRESS:
      message.otherAddress ??= decodeAddress(value, 'OTHER-ADDRESS');
      return;
    case StunAttribute.SOFTWARE:
      message.software ??= Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
      return;
    case StunAttribute.ERROR_CODE: {
      if (value.length < 4) malformedThrow(`ERROR-CODE of ${value.length} bytes`);
      const code = (value[2]! & 0x07) * 100 + value[3]!;
      const reason = Buffer.from(value.buffer, value.byteOffset + 4, value.byteLength - 4).toString('utf8');
      message.errorCode ??= { code, reason };
      return;
    }
    case StunAttribute.CHANGE_REQUEST: {
      if (value.length !== 4) malformedThrow(`CHANGE-REQUEST of ${value.length} bytes`);
      message.changeRequest ??= { changeIp: (value[3]! & 0x04) !== 0, changePort: (value[3]! & 0x02) !== 0 };
      return;
    }
    case StunAttribute.UNKNOWN_ATTRIBUTES: {
      if ((value.length & 1) !== 0) malformedThrow(`UNKNOWN-ATTRIBUTES of odd length ${value.length}`);
      const types: number[] = [];
      for (let i = 0; i < value.length; i += 2) types.push((value[i]! << 8) | value[i + 1]!);
      message.unknownAttributes ??= types;
      return;
    }
    case StunAttribute.FINGERPRINT: {
      if (value.length !== FINGERPRINT_VALUE_BYTES) malformedThrow(`FINGERPRINT of ${value.length} bytes`);
      const expected = fingerprintOf(whole.subarray(0, attributeOffset));
      const actual = ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
      if (expected !== actual) {
        malformedThrow(`FINGERPRINT 0x${actual.toString(16)} does not match 0x${expected.toString(16)}`);
      }
      message.fingerprint = true;
      return;
    }
    default:
      if (type < 0x8000 && !KNOWN_REQUIRED_TYPES.has(type)) message.unknownRequired.push(type);
  }
}

function decodeAddress(value: Uint8Array, name: string, tid?: Uint8Array): Address {
  if (value.length < 4) malformedThrow(`${name} of ${value.length} bytes`);
  const family = value[1];
  const expected = family === 0x01 ? 8 : family === 0x02 ? 20 : 0;
  if (expected === 0) malformedThrow(`${name} has unknown address family 0x${(family ?? 0).toString(16)}`);
  if (value.length !== expected) {
    malformedThrow(
      `${name} for ${family === 1 ? 'IPv4' : 'IPv6'} has ${value.length} bytes, not ${expected}`,
    );
  }
  let port = (value[2]! << 8) | value[3]!;
  const ip = Uint8Array.from(value.subarray(4));
  if (tid) {
    port ^= MAGIC_COOKIE >>> 16;
    xorAddressBytes(ip, tid);
  }
  return family === 0x01
    ? { host: ip.join('.'), port, family: 'IPv4' }
    : { host: formatIpv6(ip), port, family: 'IPv6' };
}

/** The address a Binding success response reports: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS (RFC 3489 servers). */
export function mappedAddressOf(message: StunMessage): Address | undefined {
  return message.xorMappedAddress ?? message.mappedAddress;
}

function invalidArgument(message: string): AnttError {
  return new AnttError(ErrorCode.INVALID_ARGUMENT, message);
}
