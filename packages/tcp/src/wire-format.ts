/**
 * Antt's TCP wire format, version 2. Everything here is bytes and values; no sockets.
 *
 * After the TCP connection forms, each side sends one HELLO record (not framed, so that a non-Antt peer
 * is recognised from its first bytes):
 *
 * ```
 * offset  size  field
 *      0     8  magic "ANTT/TCP" (41 4e 54 54 2f 54 43 50)
 *      8     1  protocol version (2)
 *      9     1  body length in bytes (26 in version 2; a later version may send more)
 *     10     1  role: 0 client, 1 server
 *     11     1  flags: bit 0 = secured (a Noise handshake follows; frames are sealed); others 0
 *     12    16  nonce: random, detects a connection to oneself
 *     28     4  largest message this side accepts, u32 big-endian
 *     32     4  this side's idle timeout in milliseconds, u32 big-endian
 * ```
 *
 * Then both directions carry frames: `u32 payload length (big-endian) | u8 type | payload`.
 *
 * Secured (the default), the HELLOs are followed by the Noise handshake in HANDSHAKE frames, and from
 * then on the byte stream of frames is cut into sealed records (see sealed-records.ts):
 * `u32 sealed length (big-endian) | AEAD(frames) | 16-byte tag`.
 */

export const HELLO_MAGIC = Buffer.from('ANTT/TCP', 'latin1');
/** 2: HELLO flag "secured", Noise handshake, sealed records (version 1 had neither). */
export const PROTOCOL_VERSION = 2;
/** HELLO flags bit 0: this side runs the Noise handshake and seals everything after it. */
export const HELLO_FLAG_SECURED = 0x01;
export const HELLO_PREFIX_BYTES = HELLO_MAGIC.length + 2;
export const HELLO_BODY_BYTES = 26;
export const HELLO_BYTES = HELLO_PREFIX_BYTES + HELLO_BODY_BYTES;
export const NONCE_BYTES = 16;

export const FRAME_HEADER_BYTES = 5;
/** Largest payload a PING, PONG or CLOSE frame may carry: control frames never need more. */
export const MAX_CONTROL_PAYLOAD_BYTES = 1024;
/** The length prefix is a u32. */
export const MAX_FRAME_PAYLOAD_BYTES = 0xffff_ffff;

export const FrameType = {
  /** One application message. */
  DATA: 0x01,
  /** Heartbeat; payload (8 bytes) is echoed in the PONG. */
  PING: 0x02,
  PONG: 0x03,
  /** Graceful close: no more DATA follows. Answered with CLOSE. Payload: optional UTF-8 reason. */
  CLOSE: 0x04,
  /** One Noise handshake message (@antt/secure), in clear, between the HELLOs and the sealed records. */
  HANDSHAKE: 0x05,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export type Role = 'client' | 'server';

export interface Hello {
  version: number;
  role: Role;
  /** The side runs the Noise handshake and seals its frames (HELLO flag bit 0). */
  secured: boolean;
  nonce: Buffer;
  maxMessageBytes: number;
  idleTimeoutMs: number;
}

export function encodeHello(hello: Omit<Hello, 'version'>): Buffer {
  const out = Buffer.alloc(HELLO_BYTES);
  HELLO_MAGIC.copy(out, 0);
  out[8] = PROTOCOL_VERSION;
  out[9] = HELLO_BODY_BYTES;
  out[10] = hello.role === 'client' ? 0 : 1;
  out[11] = hello.secured ? HELLO_FLAG_SECURED : 0;
  hello.nonce.copy(out, 12, 0, NONCE_BYTES);
  out.writeUInt32BE(Math.min(hello.maxMessageBytes, MAX_FRAME_PAYLOAD_BYTES), 28);
  out.writeUInt32BE(Math.min(Math.round(hello.idleTimeoutMs), 0xffff_ffff), 32);
  return out;
}

/** Frame types of the data phase (HANDSHAKE frames only come before it). */
export function isFrameType(value: number): value is FrameType {
  return value >= FrameType.DATA && value <= FrameType.CLOSE;
}

export function frameTypeName(type: number): string {
  switch (type) {
    case FrameType.DATA:
      return 'DATA';
    case FrameType.PING:
      return 'PING';
    case FrameType.PONG:
      return 'PONG';
    case FrameType.CLOSE:
      return 'CLOSE';
    case FrameType.HANDSHAKE:
      return 'HANDSHAKE';
    default:
      return `unknown type 0x${type.toString(16).padStart(2, '0')}`;
  }
}

/** Writes a frame header at `offset` of `target`. */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  type: FrameType,
  payloadBytes: number,
): void {
  target.writeUInt32BE(payloadBytes, offset);
  target[offset + 4] = type;
}

/**
 * Shows bytes a person can recognise in an error message: printable ASCII as text, the rest as `\xNN`,
 * up to the first line end, `limit` characters at most.
 */
export function previewBytes(bytes: Uint8Array, limit = 48): string {
  let out = '';
  for (const byte of bytes) {
    if (byte === 0x0d || byte === 0x0a) break;
    const piece =
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`;
    if (out.length + piece.length > limit) return `${out}...`;
    out += piece;
  }
  return out;
}
