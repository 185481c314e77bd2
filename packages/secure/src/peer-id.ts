/**
 * Peer ids: the short fingerprint of an identity's public key that people compare aloud and put in
 * allow lists. A peer id is the first 20 bytes (160 bits) of SHA-256 over the X25519 public key, in
 * RFC 4648 base32 (A–Z, 2–7), upper case, in 8 groups of 4 joined by dashes:
 *
 *     K5QW-3MZA-P7XD-2HJE-Q4RT-B6NY-CUVL-ZS3F
 *
 * The alphabet has no 0, 1 or 8, so a reader that hears "zero", "one" or "eight" meant O, I or B:
 * parsePeerId accepts those digits for their letters.
 *
 * Finding a second key with a given peer id costs about 2^160 hashes. Collisions (two keys, one id)
 * cost 2^80, but only help someone who already owns both keys, so they grant nothing new.
 */
import { AnttError, ErrorCode } from '@antt/core';
import { sha256 } from './noise/hkdf.js';

export const PEER_ID_HASH_BYTES = 20;
const PEER_ID_CHARS = 32;
const GROUP_CHARS = 4;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const PUBLIC_KEY_BYTES = 32;

declare const peerIdBrand: unique symbol;
/** A peer id in canonical form (upper case, dashed). Compare with `===`. */
export type PeerId = string & { readonly [peerIdBrand]: true };

function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

function group(chars: string): PeerId {
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += GROUP_CHARS) groups.push(chars.slice(i, i + GROUP_CHARS));
  return groups.join('-') as PeerId;
}

/** The peer id of an X25519 public key. */
export function peerIdFromPublicKey(publicKey: Uint8Array): PeerId {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `a peer id is made from a ${PUBLIC_KEY_BYTES}-byte public key, got ${publicKey.length} bytes`,
    );
  }
  return group(base32(sha256(publicKey).subarray(0, PEER_ID_HASH_BYTES)));
}

/**
 * Reads a peer id typed by a person: case, dashes, spaces and a leading `antt:` are ignored.
 * Throws AnttError (ANTT_ERR_INVALID_ARGUMENT) naming what is wrong.
 */
export function parsePeerId(text: string): PeerId {
  if (typeof text !== 'string') {
    throw new AnttError(ErrorCode.INVALID_ARGUMENT, `a peer id is a string, got ${typeof text}`);
  }
  const compact = text
    .trim()
    .replace(/^antt:/i, '')
    .replace(/[\s-]/g, '')
    .toUpperCase()
    .replace(/0/g, 'O')
    .replace(/1/g, 'I')
    .replace(/8/g, 'B');
  const bad = [...compact].find((char) => !BASE32_ALPHABET.includes(char));
  if (bad !== undefined) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `${JSON.stringify(text)} is not a peer id: ${JSON.stringify(bad)} is not one of A-Z, 2-7 (or dashes)`,
    );
  }
  if (compact.length !== PEER_ID_CHARS) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `${JSON.stringify(text)} is not a peer id: it has ${compact.length} characters, a peer id has ${PEER_ID_CHARS} (not counting dashes)`,
    );
  }
  return group(compact);
}

/** True when `text` parses as a peer id. */
export function isPeerId(text: string): boolean {
  try {
    parsePeerId(text);
    return true;
  } catch {
    return false;
  }
}
