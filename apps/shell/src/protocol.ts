/**
 * The antt-shell protocol: every message is one `@antt/packet` Packet whose first value names it.
 * The client sends one request at a time (with an id); the server answers with messages carrying that
 * id and always ends a request with exactly one final message (`exit`, `done`, `saved`, `cwd`,
 * `entries` or `error`).
 *
 *   server → client  ['hello', 'antt-shell', VERSION]             (after the transport's handshake:
 *   client → server  ['start', VERSION]                            the peer is authenticated and all
 *   server → client  ['welcome', { root, cwd, exec }] | ['refused', message]     of this is encrypted)
 *
 *   ['run', id, command]          → ['out', id, 1|2, bytes]* ['exit', id, code|null, signal|null]
 *   ['interrupt', id]                (Ctrl-C: SIGINT to the running command)
 *   ['cd', id, path] ['pwd', id]  → ['cwd', id, cwd]
 *   ['ls', id, path]              → ['entries', id, [[name, kind, size, mtimeMs], ...], more]
 *   ['get', id, path]             → ['file', id, name, size] ['chunk', id, bytes]* ['done', id, sha256]
 *   ['put', id, path, size]       → ['ready', id, name]; then client ['chunk', id, bytes]* ['done', id, sha256]
 *                                 → ['saved', id, path, sha256]
 *   ['cancel', id]                   stops a get or put; the server answers ['error', id, 'cancelled', …]
 *   any request                   → ['error', id, code, message]
 *
 * Everything the peer sends is checked here before use: a malformed message is a ProtocolMessageError,
 * which ends that session, never the process.
 */
import { Packet, type PacketValue } from '@antt/packet';

export const PROTOCOL_NAME = 'antt-shell';
/** 2: the transport authenticates and encrypts; version 1 carried the shell's own passphrase proof. */
export const PROTOCOL_VERSION = 2;
/** File data travels in messages of this size: large enough for speed, small enough for steady memory. */
export const CHUNK_BYTES = 256 * 1024;
/** The biggest message either side accepts (a chunk plus framing, or a long directory listing). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Longest path or command line accepted from the peer. */
export const MAX_TEXT_CHARS = 16 * 1024;
/** Entries an `ls` answer carries at most; the rest is summarised as a count. */
export const MAX_LISTING_ENTRIES = 5_000;

export type ErrorCodeName =
  | 'refused'
  | 'not-found'
  | 'failed'
  | 'cancelled'
  | 'busy'
  | 'no-exec'
  | 'mismatch';

export class ProtocolMessageError extends Error {}

/** A decoded message: its name and the values after it. */
export interface Message {
  type: string;
  values: readonly PacketValue[];
}

export function encode(...values: PacketValue[]): Uint8Array {
  return new Packet(...values).encode();
}

export function decode(bytes: Uint8Array): Message {
  let values: readonly PacketValue[];
  try {
    values = Packet.decode(bytes, { maxBytes: MAX_MESSAGE_BYTES }).values;
  } catch (error) {
    throw new ProtocolMessageError(`undecodable message (${(error as Error).message})`);
  }
  const type = values[0];
  if (typeof type !== 'string') throw new ProtocolMessageError('message without a name');
  return { type, values: values.slice(1) };
}

export function text(message: Message, at: number, name: string): string {
  const value = message.values[at];
  if (typeof value !== 'string' || value.length > MAX_TEXT_CHARS) {
    throw new ProtocolMessageError(`'${message.type}' needs ${name} as text`);
  }
  return value;
}

export function integer(message: Message, at: number, name: string): number {
  const value = message.values[at];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ProtocolMessageError(`'${message.type}' needs ${name} as a whole number`);
  }
  return value;
}

export function bytes(message: Message, at: number, name: string): Uint8Array {
  const value = message.values[at];
  if (!(value instanceof Uint8Array))
    throw new ProtocolMessageError(`'${message.type}' needs ${name} as bytes`);
  return value;
}

export function optionalText(message: Message, at: number): string | undefined {
  const value = message.values[at];
  return typeof value === 'string' ? value : undefined;
}
