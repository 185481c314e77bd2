/**
 * What the two demo peers say to each other (one `Packet` per message, the same file messages as
 * antt-chat), and what each peer reports to the demo process over IPC.
 */
import { Packet, type PacketValue } from '@antt/packet';

/** Below @antt/udp's 1 MiB reference threshold, so send() returns once the bytes are queued. */
export const CHUNK_BYTES = 256 * 1024;
/** Round trips measured before the transfer, on an idle connection. */
export const RTT_PROBES = 10;

export type PeerMessage =
  | { kind: 'ping'; sentAt: number }
  | { kind: 'pong'; sentAt: number }
  | { kind: 'file-start'; name: string; size: number }
  | { kind: 'file-chunk'; bytes: Uint8Array }
  | { kind: 'file-end'; sha256: string }
  | { kind: 'file-result'; ok: boolean; sha256: string; goodputBytesPerSecond: number };

export function encode(message: PeerMessage): Uint8Array {
  switch (message.kind) {
    case 'ping':
    case 'pong':
      return new Packet(message.kind, message.sentAt).encode();
    case 'file-start':
      return new Packet('file-start', message.name, message.size).encode();
    case 'file-chunk':
      return new Packet('file-chunk', message.bytes).encode();
    case 'file-end':
      return new Packet('file-end', message.sha256).encode();
    case 'file-result':
      return new Packet('file-result', message.ok, message.sha256, message.goodputBytesPerSecond).encode();
  }
}

export function decode(bytes: Uint8Array): PeerMessage {
  const values: readonly PacketValue[] = Packet.decode(bytes).values;
  const [kind, a, b, c] = values;
  if ((kind === 'ping' || kind === 'pong') && typeof a === 'number') return { kind, sentAt: a };
  if (kind === 'file-start' && typeof a === 'string' && typeof b === 'number')
    return { kind, name: a, size: b };
  if (kind === 'file-chunk' && a instanceof Uint8Array) return { kind, bytes: a };
  if (kind === 'file-end' && typeof a === 'string') return { kind, sha256: a };
  if (kind === 'file-result' && typeof a === 'boolean' && typeof b === 'string' && typeof c === 'number') {
    return { kind, ok: a, sha256: b, goodputBytesPerSecond: c };
  }
  throw new Error(`unexpected message from the other peer: ${String(kind)}`);
}

/** How the demo process tells a peer what to do (JSON in argv). */
export interface PeerTask {
  role: 'sender' | 'receiver';
  transport: 'udp' | 'tcp';
  /** The rendezvous server both peers meet at (host:port), and the meeting name they both give. */
  rendezvous: string;
  name: string;
  passphrase: string;
  /** Sender: the file to send. Receiver: the directory to save into. */
  path: string;
  connectTimeoutMs: number;
}

/** What a peer reports back over IPC. */
export type PeerReport =
  | { type: 'ready' }
  | {
      type: 'connected';
      connectMs: number;
      encrypted: boolean | undefined;
      remotePeerId: string | undefined;
      /** How `connect()` reached the other peer: 'direct' or 'relayed', and which candidate won. */
      path: { kind: string; candidate: string };
    }
  | { type: 'progress'; bytes: number }
  | {
      type: 'done';
      role: 'sender' | 'receiver';
      rttMs?: number;
      retransmissions?: number;
      goodputBytesPerSecond?: number;
      sha256?: string;
      hashOk?: boolean;
    }
  | { type: 'failed'; message: string };
