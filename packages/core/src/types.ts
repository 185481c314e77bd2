import type { Duplex } from 'node:stream';
import type { Packet } from '@antt/packet';

/** An IP address and port, as both transports report them. */
export interface Address {
  host: string;
  port: number;
  family?: 'IPv4' | 'IPv6';
}

/**
 * - `new`: constructed, `connect()` not yet called.
 * - `connecting`: handshake under way.
 * - `open`: both sides completed the handshake; messages flow.
 * - `closing`: `close()` was called; what was sent is being delivered.
 * - `closed`: finished, cleanly or not; `closeError` says which.
 */
export type ConnectionState = 'new' | 'connecting' | 'open' | 'closing' | 'closed';

/** Every wait in Antt takes an AbortSignal, and a timeout in milliseconds where people expect one. */
export interface WaitOptions {
  signal?: AbortSignal;
  /** Milliseconds; 0 or undefined means the operation's default (receive: wait forever). */
  timeout?: number;
}

export interface SendOptions {
  signal?: AbortSignal;
}

export interface ConnectionStats {
  /** Application payload bytes accepted by `send()`. */
  bytesSent: number;
  /** Application payload bytes delivered to the receive queue. */
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Smoothed round-trip time in milliseconds, where the transport measures it. */
  rttMs?: number;
  /** Smallest round-trip time seen, in milliseconds. */
  minRttMs?: number;
  /** Frames or packets sent again after a loss, where the transport knows. */
  retransmissions?: number;
  /** Transports add their own counters (congestion window, drops, ...). */
  [extra: string]: number | undefined;
}

export type Message = Uint8Array;
export type Sendable = Uint8Array | Packet;

export interface ConnectionEvents {
  open: [];
  message: [message: Uint8Array];
  close: [error: Error | undefined];
  error: [error: Error];
}

/**
 * What every Antt connection promises, whatever its transport. The prototype's queue API maps onto it:
 * `start()` + `block_until_verify()` is `connect()`, `in_queue.put` is `send()`,
 * `block_until_message()` is `receive()`, and the out-queue is `for await (const m of connection)`.
 */
export interface Connection extends AsyncIterable<Uint8Array> {
  /** 'udp', 'tcp', 'memory', ... */
  readonly transport: string;
  readonly state: ConnectionState;
  /** Why the connection ended, if it ended badly. */
  readonly closeError: Error | undefined;
  readonly localAddress: Address | undefined;
  readonly remoteAddress: Address | undefined;
  /** Resolves when both sides completed the handshake. */
  connect(options?: WaitOptions): Promise<void>;
  /** Resolves when the transport accepted the message; waits while the peer or network cannot keep up. */
  send(message: Sendable, options?: SendOptions): Promise<void>;
  /** The next message, whole, in order. Rejects with ANTT_ERR_CLOSED once closed and drained. */
  receive(options?: WaitOptions): Promise<Uint8Array>;
  /** Graceful: what was sent before is delivered first. Idempotent. */
  close(options?: WaitOptions): Promise<void>;
  /** Abrupt: drops what is queued and tells the peer if it can. Idempotent. */
  destroy(error?: Error): void;
  stats(): ConnectionStats;
  /** A Node Duplex over the connection: each write is one message, reads yield message bytes. */
  duplex(): Duplex;
  on<K extends keyof ConnectionEvents>(event: K, listener: (...args: ConnectionEvents[K]) => void): this;
  once<K extends keyof ConnectionEvents>(event: K, listener: (...args: ConnectionEvents[K]) => void): this;
  off<K extends keyof ConnectionEvents>(event: K, listener: (...args: ConnectionEvents[K]) => void): this;
}
