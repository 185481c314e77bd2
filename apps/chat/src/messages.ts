/**
 * The chat's own messages, one `Packet` each: a kind string first, then its fields. Anything that does
 * not decode to a known kind with the right field types is `undefined`: the peer is another version or
 * misbehaves, and the chat says so instead of crashing.
 */
import { Packet, type PacketValue } from '@antt/packet';

/** A text line or a name larger than this is refused (a chat line, not a file). */
export const MAX_TEXT_CHARS = 16 * 1024;
/** Bytes of file data per message: large enough for speed, small enough to keep text lines flowing. */
export const FILE_CHUNK_BYTES = 256 * 1024;

export type ChatMessage =
  /** Sent by both sides right after connecting. */
  | { kind: 'hello'; name: string }
  /** The receiver answers each text with an ack, so a line lost with a connection is sent again. */
  | { kind: 'text'; id: string; text: string }
  | { kind: 'ack'; id: string }
  /** Round-trip probe: the peer echoes `sentAt`. */
  | { kind: 'ping'; sentAt: number }
  | { kind: 'pong'; sentAt: number }
  | { kind: 'file-start'; name: string; size: number }
  | { kind: 'file-chunk'; bytes: Uint8Array }
  | { kind: 'file-end'; sha256: string }
  /** The receiver's verdict after 'file-end'. */
  | { kind: 'file-result'; ok: boolean; detail: string };

export function encodeMessage(message: ChatMessage): Packet {
  switch (message.kind) {
    case 'hello':
      return new Packet('hello', message.name);
    case 'text':
      return new Packet('text', message.id, message.text);
    case 'ack':
      return new Packet('ack', message.id);
    case 'ping':
    case 'pong':
      return new Packet(message.kind, message.sentAt);
    case 'file-start':
      return new Packet('file-start', message.name, message.size);
    case 'file-chunk':
      return new Packet('file-chunk', message.bytes);
    case 'file-end':
      return new Packet('file-end', message.sha256);
    case 'file-result':
      return new Packet('file-result', message.ok, message.detail);
  }
}

export function decodeMessage(bytes: Uint8Array): ChatMessage | undefined {
  let values: readonly PacketValue[];
  try {
    values = Packet.decode(bytes).values;
  } catch {
    return undefined;
  }
  const [kind, a, b] = values;
  switch (kind) {
    case 'hello':
      return isText(a) ? { kind, name: a } : undefined;
    case 'text':
      return isText(a) && isText(b) ? { kind, id: a, text: b } : undefined;
    case 'ack':
      return isText(a) ? { kind, id: a } : undefined;
    case 'ping':
    case 'pong':
      return typeof a === 'number' ? { kind, sentAt: a } : undefined;
    case 'file-start':
      return isText(a) && isSize(b) ? { kind, name: a, size: b } : undefined;
    case 'file-chunk':
      return a instanceof Uint8Array ? { kind, bytes: a } : undefined;
    case 'file-end':
      return typeof a === 'string' && /^[0-9a-f]{64}$/.test(a) ? { kind, sha256: a } : undefined;
    case 'file-result':
      return typeof a === 'boolean' && isText(b) ? { kind, ok: a, detail: b } : undefined;
    default:
      return undefined;
  }
}

function isText(value: PacketValue | undefined): value is string {
  return typeof value === 'string' && value.length <= MAX_TEXT_CHARS;
}

function isSize(value: PacketValue | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
