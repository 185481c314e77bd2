/**
 * @packageDocumentation
 * Reliable, congestion-controlled, message-oriented connections over UDP, implementing `@antt/core`'s
 * connection contract. Both peers may connect to each other at the same moment (what NAT hole punching
 * needs), or one side may accept. Secured by default: a Noise handshake (`@antt/secure`) authenticates
 * the peer by a shared passphrase or its peer id, and every datagram after it is sealed with an AEAD.
 *
 * ```ts
 * import { UdpConnection } from '@antt/udp';
 *
 * // Peer A (run B the same way with the ports swapped):
 * const connection = new UdpConnection({
 *   localPort: 4456,
 *   remote: { host: '127.0.0.1', port: 4457 },
 *   passphrase: 'correct horse battery staple',
 * });
 * await connection.connect({ timeout: 10_000 });
 * console.log(`connected to peer ${connection.remotePeerId}`);
 * await connection.send(new TextEncoder().encode('hello'));
 * for await (const message of connection) console.log(new TextDecoder().decode(message));
 * ```
 *
 * {@link UdpEndpoint} hosts many connections on one socket and accepts incoming ones.
 */
export { UdpConnection, type UdpConnectionOptions } from './connection.js';
export {
  type ForeignDatagramHandler,
  UdpEndpoint,
  type UdpEndpointOptions,
  type UdpEndpointStats,
} from './endpoint.js';
export {
  type CongestionControlName,
  DEFAULT_DATAGRAM_BYTES,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  DEFAULT_REASSEMBLY_BUFFER_BYTES,
  DEFAULT_SEND_BUFFER_BYTES,
  type UdpTransportOptions,
} from './options.js';
export type { PathChange } from './path-changes.js';
export { Bbr } from './protocol/congestion/bbr.js';
export type {
  AckEvent,
  CongestionController,
  CongestionControllerFactory,
  LossEvent,
} from './protocol/congestion/controller.js';
export { NewReno } from './protocol/congestion/new-reno.js';
export { ChecksumProtection, type PacketProtection, RESERVED_TAG_BYTES } from './protocol/protection.js';
export { WIRE_VERSION } from './protocol/wire.js';
export type { UdpSecurityOptions } from './security-options.js';
