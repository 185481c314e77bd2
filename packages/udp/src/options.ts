/**
 * Options shared by connections and endpoints, their defaults and their validation.
 */
import { isIP } from 'node:net';
import { AnttError, ErrorCode } from '@antt/core';
import { Bbr } from './protocol/congestion/bbr.js';
import type { CongestionControllerFactory } from './protocol/congestion/controller.js';
import { NewReno } from './protocol/congestion/new-reno.js';
import { ChecksumProtection, type PacketProtection, RESERVED_TAG_BYTES } from './protocol/protection.js';
import { HEADER_BYTES, STREAM_FRAME_HEADER_BYTES } from './protocol/wire.js';

/** Crosses any IPv4 or IPv6 internet path without fragmentation (RFC 9000 §14 uses the same floor). */
export const DEFAULT_DATAGRAM_BYTES = 1200;
/** Room for headers, the tag and an ACK frame with a few ranges. */
export const MIN_DATAGRAM_BYTES = 256;
/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM_BYTES = 65_507;
/** Path MTU discovery's ceiling on a loopback interface (MTU 65 536): fewer, larger datagrams. */
export const LOOPBACK_MAX_DATAGRAM_BYTES = 16_384;
/** Ceilings elsewhere: a 1500-byte Ethernet MTU minus IPv4 + UDP (28) or IPv6 + UDP (48) headers. */
export const IPV4_MAX_DATAGRAM_BYTES = 1_472;
export const IPV6_MAX_DATAGRAM_BYTES = 1_452;
/** NAT mappings for UDP commonly expire after 30 s of silence; keepalives go out well before. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 12_000;
/** Written but unacknowledged bytes a connection holds before send() waits. */
export const DEFAULT_SEND_BUFFER_BYTES = 8 * 1024 * 1024;
/** Out-of-order bytes a receiver holds at most (also the largest flow-control window it grants). */
export const DEFAULT_REASSEMBLY_BUFFER_BYTES = 8 * 1024 * 1024;
/** Kernel socket buffers asked for (the kernel caps them at net.core.rmem_max / wmem_max). */
export const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export type CongestionControlName = 'newreno' | 'bbr';

export interface UdpTransportOptions {
  /** Milliseconds of silence from the peer after which the connection ends with ANTT_ERR_TIMEOUT. Default 12 000. */
  idleTimeout?: number;
  /** Milliseconds without sending after which a PING goes out. Default 5 000, and at most a third of idleTimeout. */
  keepAliveInterval?: number;
  /** Datagram size every path is assumed to carry, in bytes. Default 1200. */
  datagramBytes?: number;
  /**
   * Probe the path for larger datagrams (RFC 8899 style), falling back to `datagramBytes` if the path
   * stops carrying them. Default true.
   */
  mtuProbing?: boolean;
  /**
   * Largest datagram probing may reach. Default: 16 384 on loopback, else 1472 (IPv4) or 1452 (IPv6),
   * what a 1500-byte Ethernet MTU carries; larger sizes would only pass as IP fragments.
   */
  maxDatagramBytes?: number;
  /** Bytes written but not yet acknowledged before send() waits. Default 8 MiB. */
  sendBufferBytes?: number;
  /** Out-of-order bytes the receiver holds at most. Default 8 MiB. */
  reassemblyBufferBytes?: number;
  /** 'bbr' (default) or 'newreno' (RFC 9002), or a factory for your own controller. */
  congestionControl?: CongestionControlName | CongestionControllerFactory;
  /**
   * The integrity check of handshake packets, and of DATA with `insecure: true`. Default: CRC-32. DATA of
   * a secured connection is always sealed with the AEAD keys of its Noise handshake.
   */
  protection?: PacketProtection;
}

export interface ResolvedTransportOptions {
  idleTimeoutMs: number;
  keepAliveIntervalMs: number;
  datagramBytes: number;
  mtuProbing: boolean;
  /** Undefined: chosen per path (see {@link maxDatagramBytesFor}). */
  maxDatagramBytes: number | undefined;
  sendBufferBytes: number;
  reassemblyBytes: number;
  congestion: CongestionControllerFactory;
  protection: PacketProtection;
}

export function resolveTransportOptions(options: UdpTransportOptions): ResolvedTransportOptions {
  const idleTimeoutMs = positive(options.idleTimeout, 'idleTimeout') ?? DEFAULT_IDLE_TIMEOUT_MS;
  const keepAlive = positive(options.keepAliveInterval, 'keepAliveInterval') ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
  const datagramBytes = positive(options.datagramBytes, 'datagramBytes') ?? DEFAULT_DATAGRAM_BYTES;
  if (
    datagramBytes < MIN_DATAGRAM_BYTES ||
    datagramBytes > MAX_DATAGRAM_BYTES ||
    !Number.isInteger(datagramBytes)
  ) {
    throw invalid(
      `option datagramBytes must be an integer from ${MIN_DATAGRAM_BYTES} to ${MAX_DATAGRAM_BYTES}, got ${datagramBytes}`,
    );
  }
  const maxDatagramBytes = positive(options.maxDatagramBytes, 'maxDatagramBytes');
  if (
    maxDatagramBytes !== undefined &&
    (maxDatagramBytes < datagramBytes || maxDatagramBytes > MAX_DATAGRAM_BYTES)
  ) {
    throw invalid(
      `option maxDatagramBytes must be from datagramBytes (${datagramBytes}) to ${MAX_DATAGRAM_BYTES}`,
    );
  }
  const protection = options.protection ?? new ChecksumProtection();
  if (protection.overheadBytes > RESERVED_TAG_BYTES) {
    throw invalid(`a protection may add at most ${RESERVED_TAG_BYTES} bytes per datagram`);
  }
  const sendBufferBytes = positive(options.sendBufferBytes, 'sendBufferBytes') ?? DEFAULT_SEND_BUFFER_BYTES;
  const reassemblyBytes =
    positive(options.reassemblyBufferBytes, 'reassemblyBufferBytes') ?? DEFAULT_REASSEMBLY_BUFFER_BYTES;
  const minimumBuffer = 4 * (datagramBytes - HEADER_BYTES - STREAM_FRAME_HEADER_BYTES);
  if (reassemblyBytes < minimumBuffer)
    throw invalid(`option reassemblyBufferBytes must be at least ${minimumBuffer}`);
  return {
    idleTimeoutMs,
    keepAliveIntervalMs: Math.min(keepAlive, idleTimeoutMs / 3),
    datagramBytes,
    mtuProbing: options.mtuProbing ?? true,
    maxDatagramBytes,
    sendBufferBytes,
    reassemblyBytes,
    congestion: congestionFactory(options.congestionControl ?? 'bbr'),
    protection,
  };
}

function congestionFactory(
  choice: CongestionControlName | CongestionControllerFactory,
): CongestionControllerFactory {
  if (typeof choice === 'function') return choice;
  if (choice === 'newreno') return (bytes) => new NewReno(bytes);
  if (choice === 'bbr') return (bytes) => new Bbr(bytes);
  throw invalid(`option congestionControl must be 'bbr', 'newreno' or a factory, got ${String(choice)}`);
}

function positive(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw invalid(`option ${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

function invalid(message: string): AnttError {
  return new AnttError(ErrorCode.INVALID_ARGUMENT, message);
}

/** The ceiling of path MTU discovery toward `host` (an IP address). */
export function maxDatagramBytesFor(options: ResolvedTransportOptions, host: string): number {
  if (!options.mtuProbing) return options.datagramBytes;
  if (options.maxDatagramBytes !== undefined) return options.maxDatagramBytes;
  const family = isIP(host);
  const loopback = family === 4 ? host.startsWith('127.') : host === '::1' || host.startsWith('::ffff:127.');
  const ceiling = loopback
    ? LOOPBACK_MAX_DATAGRAM_BYTES
    : family === 6
      ? IPV6_MAX_DATAGRAM_BYTES
      : IPV4_MAX_DATAGRAM_BYTES;
  return Math.max(ceiling, options.datagramBytes);
}

/** Size of the endpoint's send buffers: the largest datagram any of its connections may build. */
export function poolDatagramBytes(options: ResolvedTransportOptions): number {
  return Math.max(options.datagramBytes, options.maxDatagramBytes ?? LOOPBACK_MAX_DATAGRAM_BYTES);
}
