/**
 * Antt's framing around Noise handshake messages. Every handshake message starts with three bytes:
 *
 *     byte 0  handshake version (HANDSHAKE_VERSION; a peer on another version gets ANTT_ERR_PROTOCOL)
 *     byte 1  message type: 1, 2, 3 = Noise XX messages, 4 = confirm, 0xF0 = reject
 *     byte 2  suite (types 1–4): bit 0 = passphrase (XXpsk3), bit 1 = AESGCM (else ChaChaPoly);
 *             reason (type 0xF0): see RejectReason
 *
 * followed by the Noise message (types 1–3), a 16-byte AEAD tag plus optional payload (confirm), or
 * nothing (reject). The version also sits in the Noise prologue, and the suite picks the Noise protocol
 * name, so tampering with either byte makes the handshake fail authentication.
 */
import { type AnttError, AuthError, ProtocolError } from '@antt/core';
import type { CipherName } from './noise/aead.js';

export const HANDSHAKE_VERSION = 1;
export const HANDSHAKE_HEADER_BYTES = 3;

export const MessageType = {
  FIRST: 1,
  SECOND: 2,
  THIRD: 3,
  CONFIRM: 4,
  REJECT: 0xf0,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Why a side gave up, sent in a reject message so the other side can say so too. */
export const RejectReason = {
  PROTOCOL: 1,
  VERSION: 2,
  AUTHENTICATION: 3,
  PASSPHRASE: 4,
  PEER_NOT_ALLOWED: 5,
  PASSPHRASE_MISMATCH: 6,
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

const REJECT_TEXT: Record<RejectReason, string> = {
  [RejectReason.PROTOCOL]: 'it received a malformed handshake message',
  [RejectReason.VERSION]: 'it speaks another Antt handshake version',
  [RejectReason.AUTHENTICATION]: 'a handshake message failed authentication (tampered in transit?)',
  [RejectReason.PASSPHRASE]: 'we did not prove we know the passphrase (wrong passphrase?)',
  [RejectReason.PEER_NOT_ALLOWED]: 'our peer id is not in its allowed list',
  [RejectReason.PASSPHRASE_MISMATCH]: 'one side is configured with a passphrase and the other is not',
};

export interface Suite {
  readonly psk: boolean;
  readonly cipher: CipherName;
}

const SUITE_PSK_BIT = 0b01;
const SUITE_AESGCM_BIT = 0b10;
const SUITE_KNOWN_BITS = SUITE_PSK_BIT | SUITE_AESGCM_BIT;

export function encodeSuite(suite: Suite): number {
  return (suite.psk ? SUITE_PSK_BIT : 0) | (suite.cipher === 'AESGCM' ? SUITE_AESGCM_BIT : 0);
}

export function protocolNameOf(suite: Suite): string {
  return `Noise_XX${suite.psk ? 'psk3' : ''}_25519_${suite.cipher}_SHA256`;
}

export interface DecodedHeader {
  readonly type: MessageType;
  /** Suite for types 1–4, reason for reject. */
  readonly suite: Suite;
  readonly reason: number;
  readonly body: Uint8Array;
}

/** Parses the three-byte header; throws ProtocolError for anything that is not an Antt handshake message. */
export function decodeHeader(message: Uint8Array): DecodedHeader {
  if (!(message instanceof Uint8Array)) {
    throw new ProtocolError('a handshake message must be a Uint8Array');
  }
  if (message.length < HANDSHAKE_HEADER_BYTES) {
    throw new ProtocolError(
      `not an Antt handshake message: ${message.length} bytes, shorter than the ${HANDSHAKE_HEADER_BYTES}-byte header`,
    );
  }
  const version = message[0]!;
  if (version !== HANDSHAKE_VERSION) {
    throw new ProtocolError(
      `peer speaks Antt handshake version ${version}, we speak ${HANDSHAKE_VERSION}; upgrade the older side`,
    );
  }
  const type = message[1]!;
  if (!Object.values(MessageType).includes(type as MessageType)) {
    throw new ProtocolError(`not an Antt handshake message: unknown message type ${type}`);
  }
  const third = message[2]!;
  if (type !== MessageType.REJECT && (third & ~SUITE_KNOWN_BITS) !== 0) {
    throw new ProtocolError(`not an Antt handshake message: unknown suite bits 0x${third.toString(16)}`);
  }
  return {
    type: type as MessageType,
    suite: { psk: (third & SUITE_PSK_BIT) !== 0, cipher: third & SUITE_AESGCM_BIT ? 'AESGCM' : 'ChaChaPoly' },
    reason: third,
    body: message.subarray(HANDSHAKE_HEADER_BYTES),
  };
}

export function encodeMessage(type: MessageType, third: number, body: Uint8Array): Uint8Array {
  const message = new Uint8Array(HANDSHAKE_HEADER_BYTES + body.length);
  message[0] = HANDSHAKE_VERSION;
  message[1] = type;
  message[2] = third;
  message.set(body, HANDSHAKE_HEADER_BYTES);
  return message;
}

/** The error a side raises when the peer's reject message arrives (unauthenticated: a hint). */
export function rejectToError(reason: number): AnttError {
  const text = REJECT_TEXT[reason as RejectReason] ?? `reason code ${reason}`;
  const message = `the peer rejected the handshake: ${text}`;
  return reason === RejectReason.PROTOCOL || reason === RejectReason.VERSION
    ? new ProtocolError(message)
    : new AuthError(message);
}
