import { constants as bufferConstants } from 'node:buffer';
import { isIP, Socket } from 'node:net';
import { type Address, AnttError, type BaseConnectionOptions, ErrorCode, parseAddress } from '@antt/core';
import {
  type ResolvedSecurity,
  resolveSecurityOptions,
  type TcpSecurityOptions,
} from './security-options.js';
import { MAX_FRAME_PAYLOAD_BYTES, type Role } from './wire-format.js';

/** Silence after which the peer is declared gone. Kernel keepalive (2 hours) is far too slow for P2P. */
export const DEFAULT_IDLE_TIMEOUT_MS = 12_000;
/** How long the peer has to answer the Antt handshake once the TCP connection formed. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * Exactly one way to say who may connect is required: `passphrase`, `allowedPeers` (the two may be
 * combined), `acceptAnyPeer: true`, or `insecure: true` (alone).
 */
export interface TcpConnectionOptions extends BaseConnectionOptions, TcpSecurityOptions {
  /**
   * The port this side connects from (and briefly listens on). The peer targets it. Not needed with
   * `socket`.
   */
  localPort?: number;
  /** Local IP address to bind. Default: every address of the remote's family. */
  localAddress?: string;
  /**
   * The peer's address as this side reaches it (behind NATs: its public address and mapped port). Not
   * needed with `socket`.
   */
  remote?: { host: string; port: number } | string;
  /**
   * Must differ between the two peers (the prototype's `acts_as`). Decides who speaks first in the
   * handshake, never whether a connection can form.
   */
  role: Role;
  /** Milliseconds of silence after which the peer counts as gone (ANTT_ERR_TIMEOUT). Default 12 s. */
  idleTimeout?: number;
  /**
   * Milliseconds between heartbeats when nothing else is sent. Default: a third of the smaller of the two
   * sides' idle timeouts (each side tells the other its own in the handshake).
   */
  keepAliveInterval?: number;
  /**
   * Milliseconds the peer has to answer the HELLO once TCP connected, and again to finish the security
   * handshake. Default 5 s.
   */
  handshakeTimeout?: number;
  /**
   * A `performance.now()` time before which the first connection attempt is not made: both peers of a
   * NAT traversal start at the moment a rendezvous server gave them, so that their SYNs cross even routers
   * that answer an unsolicited SYN with a reset. Default: at once.
   */
  startAt?: number;
  /**
   * What to do when an attempt is refused (a TCP reset). `'listen'` (default): listen on `localPort` for
   * 50-250 ms, then connect again; this is what makes loopback and LANs work, where the reset comes from
   * the peer's own kernel. `'reconnect'`: connect again after 1-5 ms; for paths through NATs, where the
   * reset comes from the peer's router (its mapping not open yet) and listening cannot help, while every
   * new SYN opens this side's mapping again.
   */
  onRefused?: 'listen' | 'reconnect';
  /**
   * A TCP connection that is already open to the peer, or to something that pipes bytes to it (a relay):
   * the HELLO and security handshakes run on it, with no simultaneous open. `localPort` and `remote` are
   * then taken from it. The connection owns it from then on.
   */
  socket?: Socket;
}

export interface ResolvedTcpOptions {
  localPort: number;
  localAddress: string | undefined;
  remote: { host: string; port: number };
  role: Role;
  idleTimeoutMs: number;
  keepAliveIntervalMs: number | undefined;
  handshakeTimeoutMs: number;
  security: ResolvedSecurity;
  startAt: number | undefined;
  onRefused: 'listen' | 'reconnect';
  socket: Socket | undefined;
}

export function resolveTcpOptions(options: TcpConnectionOptions): ResolvedTcpOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid(
      'new TcpConnection() needs { localPort, remote: { host, port }, role } and a passphrase, allowedPeers, acceptAnyPeer or insecure',
    );
  }
  const socket = options.socket;
  if (socket !== undefined && !(socket instanceof Socket)) {
    throw invalid('option socket must be a connected net.Socket');
  }
  if (socket && (socket.remotePort === undefined || socket.localPort === undefined || socket.destroyed)) {
    throw invalid('option socket must be connected (it has no remote address)');
  }
  const localPort = socket ? socket.localPort! : port(options.localPort, 'localPort');
  const remote = socket
    ? { host: unmapped(socket.remoteAddress!), port: socket.remotePort! }
    : remoteAddress(options.remote);
  if (
    options.onRefused !== undefined &&
    options.onRefused !== 'listen' &&
    options.onRefused !== 'reconnect'
  ) {
    throw invalid(`option onRefused must be 'listen' or 'reconnect', got ${String(options.onRefused)}`);
  }
  if (options.startAt !== undefined && !Number.isFinite(options.startAt)) {
    throw invalid(
      `option startAt must be a performance.now() time in milliseconds, got ${String(options.startAt)}`,
    );
  }
  if (options.role !== 'client' && options.role !== 'server') {
    throw invalid(
      `option role must be 'client' or 'server' (one of each on the two peers), got ${String(options.role)}`,
    );
  }
  if (options.localAddress !== undefined && isIP(options.localAddress) === 0) {
    throw invalid(`option localAddress must be an IP address, got "${String(options.localAddress)}"`);
  }
  const limit = Math.min(MAX_FRAME_PAYLOAD_BYTES, bufferConstants.MAX_LENGTH);
  if (options.maxMessageBytes !== undefined && options.maxMessageBytes > limit) {
    throw invalid(`option maxMessageBytes can be at most ${limit} over TCP, got ${options.maxMessageBytes}`);
  }
  return {
    localPort,
    localAddress: options.localAddress,
    remote,
    role: options.role,
    idleTimeoutMs: positive(options.idleTimeout, 'idleTimeout') ?? DEFAULT_IDLE_TIMEOUT_MS,
    keepAliveIntervalMs: positive(options.keepAliveInterval, 'keepAliveInterval'),
    handshakeTimeoutMs:
      positive(options.handshakeTimeout, 'handshakeTimeout') ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    security: resolveSecurityOptions(options),
    startAt: options.startAt,
    onRefused: options.onRefused ?? 'listen',
    socket,
  };
}

function unmapped(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}

function remoteAddress(value: TcpConnectionOptions['remote']): { host: string; port: number } {
  if (typeof value === 'string') {
    const parsed: Address = parseAddress(value);
    return { host: parsed.host, port: parsed.port };
  }
  if (typeof value !== 'object' || value === null || typeof value.host !== 'string' || value.host === '') {
    throw invalid(
      'option remote must be { host, port } or "host:port", for example { host: "203.0.113.2", port: 4456 }',
    );
  }
  return { host: value.host, port: port(value.port, 'remote.port') };
}

function port(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw invalid(`option ${name} must be a port number from 1 to 65535, got ${String(value)}`);
  }
  return value;
}

function positive(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw invalid(`option ${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function invalid(message: string): AnttError {
  return new AnttError(ErrorCode.INVALID_ARGUMENT, message);
}
