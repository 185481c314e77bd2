/**
 * The Antt/UDP wire format, version 2 (see the package README for the picture).
 *
 * Every datagram is `header | payload | tag`:
 * - header (18 bytes): magic `0xA7 0x7E`, version, packet type, destination connection ID (64 bits, chosen
 *   by the receiver), packet number (48 bits, sent in full, never reused in a direction). The first byte
 *   0xA7 (top bits 10) tells Antt apart from STUN (first byte 0-3) and the rest of RFC 7983's table
 *   before anything else is read.
 * - payload: INIT and INIT-ACK carry the sender's connection ID and flags (INIT padded to the datagram
 *   size), HANDSHAKE the sender's ID and one Noise message; DATA packets carry PADDING, PING, ACK,
 *   STREAM, STREAM_FIN, RESET, PATH_CHALLENGE and PATH_RESPONSE frames.
 * - tag: a CRC-32 on handshake packets (and on DATA with `insecure: true`); on DATA of a secured
 *   connection the 16-byte AEAD tag (nonce: packet number, associated data: the header).
 *
 * Parsing never throws: readers report truncation through {@link WireReader.ok} and callers drop and
 * count the datagram.
 */

/** 2: the Noise handshake (HANDSHAKE packets, INIT flags and padding) and AEAD-sealed DATA. */
export const WIRE_VERSION = 2;
export const MAGIC_BYTE_0 = 0xa7;
export const MAGIC_BYTE_1 = 0x7e;
export const HEADER_BYTES = 18;
export const CONNECTION_ID_BYTES = 8;
/** Packet numbers travel as 48-bit integers: 2^48 packets of 1200 bytes is 300 PB per connection. */
export const MAX_PACKET_NUMBER = 2 ** 48 - 1;
/** Offsets into the byte stream of messages are 48-bit too (256 TiB per direction). */
export const MAX_STREAM_OFFSET = 2 ** 48 - 1;
/** type + 48-bit offset + 16-bit length. */
export const STREAM_FRAME_HEADER_BYTES = 9;
/** INIT / INIT-ACK payload: the sender's receive connection ID and a flags byte ({@link InitFlag}). */
export const HANDSHAKE_PAYLOAD_BYTES = CONNECTION_ID_BYTES + 1;

export const InitFlag = {
  /** The sender runs the Noise handshake and seals DATA (clear: `insecure: true`). */
  SECURED: 0x01,
  /**
   * The sender understands PATH_CHALLENGE and PATH_RESPONSE (connection migration). Peers that do not set
   * it (older version 2 builds) are never sent those frames.
   */
  MIGRATION: 0x02,
} as const;

export const PacketType = {
  INIT: 1,
  INIT_ACK: 2,
  DATA: 3,
  /** The sender's connection ID, then one Noise handshake message (@antt/secure). */
  HANDSHAKE: 4,
  /** Header and tag only, in answer to an INIT of another wire version: the other side fails at once. */
  VERSION: 5,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export const FrameType = {
  PADDING: 0x00,
  PING: 0x01,
  ACK: 0x02,
  STREAM: 0x03,
  /** A STREAM frame that also ends the stream: the graceful CLOSE. Its acknowledgement is the CLOSE-ACK. */
  STREAM_FIN: 0x04,
  RESET: 0x05,
  /** 8 random bytes the peer must echo from the address they were sent to (RFC 9000 §19.17). */
  PATH_CHALLENGE: 0x06,
  /** The 8 bytes of a PATH_CHALLENGE, sent back to the address it came from (RFC 9000 §19.18). */
  PATH_RESPONSE: 0x07,
} as const;

export const ResetCode = {
  /** The application destroyed the connection. */
  APPLICATION: 0,
  /** The sender saw the peer break the protocol. */
  PROTOCOL: 1,
} as const;

/** A 64-bit connection ID as two unsigned 32-bit halves (no per-datagram allocation). */
export interface ConnectionId {
  hi: number;
  lo: number;
}

export function isZeroId(id: ConnectionId): boolean {
  return id.hi === 0 && id.lo === 0;
}

export function formatConnectionId(id: ConnectionId): string {
  return id.hi.toString(16).padStart(8, '0') + id.lo.toString(16).padStart(8, '0');
}

// ---- fixed-width integers ----------------------------------------------------------------------

export function writeUint32(buf: Uint8Array, pos: number, value: number): void {
  buf[pos] = value >>> 24;
  buf[pos + 1] = value >>> 16;
  buf[pos + 2] = value >>> 8;
  buf[pos + 3] = value;
}

export function readUint32(buf: Uint8Array, pos: number): number {
  return ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
}

export function writeUint48(buf: Uint8Array, pos: number, value: number): void {
  const hi = Math.floor(value / 0x1_0000_0000);
  buf[pos] = hi >>> 8;
  buf[pos + 1] = hi;
  writeUint32(buf, pos + 2, value >>> 0);
}

export function readUint48(buf: Uint8Array, pos: number): number {
  return ((buf[pos]! << 8) | buf[pos + 1]!) * 0x1_0000_0000 + readUint32(buf, pos + 2);
}

// ---- header ------------------------------------------------------------------------------------

/** Writes the 18-byte header; returns its length. */
export function writeHeader(
  buf: Uint8Array,
  type: PacketType,
  destination: ConnectionId,
  packetNumber: number,
): number {
  buf[0] = MAGIC_BYTE_0;
  buf[1] = MAGIC_BYTE_1;
  buf[2] = WIRE_VERSION;
  buf[3] = type;
  writeUint32(buf, 4, destination.hi);
  writeUint32(buf, 8, destination.lo);
  writeUint48(buf, 12, packetNumber);
  return HEADER_BYTES;
}

/** Bits in which the first two bytes differ from the magic: a few flipped bits are corruption, more is "not Antt". */
export function magicDistance(buf: Uint8Array): number {
  if (buf.length < 2) return 16;
  return popcount8(buf[0]! ^ MAGIC_BYTE_0) + popcount8(buf[1]! ^ MAGIC_BYTE_1);
}

function popcount8(x: number): number {
  let n = 0;
  for (let v = x & 0xff; v !== 0; v &= v - 1) n++;
  return n;
}

export function headerVersion(buf: Uint8Array): number {
  return buf[2]!;
}
export function headerType(buf: Uint8Array): number {
  return buf[3]!;
}
export function headerIdHi(buf: Uint8Array): number {
  return readUint32(buf, 4);
}
export function headerIdLo(buf: Uint8Array): number {
  return readUint32(buf, 8);
}
export function headerPacketNumber(buf: Uint8Array): number {
  return readUint48(buf, 12);
}

// ---- variable-length integers (RFC 9000 §16), limited to 2^53 - 1 ---------------------------------

export function varintBytes(value: number): number {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  return 8;
}

export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  if (value < 0x40) {
    buf[pos] = value;
    return pos + 1;
  }
  if (value < 0x4000) {
    buf[pos] = 0x40 | (value >>> 8);
    buf[pos + 1] = value;
    return pos + 2;
  }
  if (value < 0x4000_0000) {
    writeUint32(buf, pos, value);
    buf[pos] = buf[pos]! | 0x80;
    return pos + 4;
  }
  const hi = Math.floor(value / 0x1_0000_0000);
  writeUint32(buf, pos, hi);
  buf[pos] = buf[pos]! | 0xc0;
  writeUint32(buf, pos + 4, value >>> 0);
  return pos + 8;
}

/**
 * A cursor over one received datagram. Reads past the end return 0 and clear `ok`, so a parser checks
 * once per frame instead of guarding every read.
 */
export class WireReader {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  ok = true;

  reset(buf: Uint8Array, pos: number, end: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.ok = true;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  uint8(): number {
    if (this.pos + 1 > this.end) return this.fail();
    return this.buf[this.pos++]!;
  }

  uint16(): number {
    if (this.pos + 2 > this.end) return this.fail();
    const value = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return value;
  }

  uint32(): number {
    if (this.pos + 4 > this.end) return this.fail();
    const value = readUint32(this.buf, this.pos);
    this.pos += 4;
    return value;
  }

  uint48(): number {
    if (this.pos + 6 > this.end) return this.fail();
    const value = readUint48(this.buf, this.pos);
    this.pos += 6;
    return value;
  }

  varint(): number {
    if (this.pos + 1 > this.end) return this.fail();
    const first = this.buf[this.pos]!;
    const length = 1 << (first >>> 6);
    if (this.pos + length > this.end) return this.fail();
    let value: number;
    if (length === 1) value = first;
    else if (length === 2) value = ((first & 0x3f) << 8) | this.buf[this.pos + 1]!;
    else if (length === 4) value = readUint32(this.buf, this.pos) & 0x3fff_ffff;
    else {
      const hi = readUint32(this.buf, this.pos) & 0x3fff_ffff;
      // Above 2^53 a number loses precision: no honest peer sends such a value.
      if (hi > 0x1f_ffff) return this.fail();
      value = hi * 0x1_0000_0000 + readUint32(this.buf, this.pos + 4);
    }
    this.pos += length;
    return value;
  }

  skip(bytes: number): void {
    if (this.pos + bytes > this.end) this.fail();
    else this.pos += bytes;
  }

  private fail(): number {
    this.ok = false;
    this.pos = this.end;
    return 0;
  }
}
