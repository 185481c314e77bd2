/**
 * @packageDocumentation
 * Antt connections over TCP, formed by TCP simultaneous open: both peers connect from a fixed local port
 * to each other, so it works on one machine, across a LAN, and through NATs that keep the source port
 * and silently drop unsolicited packets. Same contract as every Antt transport (`@antt/core`).
 *
 * Secured by default: a Noise handshake (`@antt/secure`) authenticates the peer by a shared passphrase or
 * an allow list of peer ids, and every frame after it is sealed (AES-256-GCM).
 *
 * ```ts
 * import { TcpConnection } from '@antt/tcp';
 *
 * // Peer A (run the mirror image on peer B: localPort 4001, remote port 4000, role 'server').
 * const connection = new TcpConnection({
 *   localPort: 4000,
 *   remote: { host: '127.0.0.1', port: 4001 },
 *   role: 'client',
 *   passphrase: 'correct horse battery staple',
 * });
 * await connection.connect({ timeout: 10_000 });
 * console.log(`connected to peer ${connection.remotePeerId}`);
 * await connection.send(new TextEncoder().encode('hello'));
 * console.log(new TextDecoder().decode(await connection.receive()));
 * await connection.close();
 * ```
 */

export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  type TcpConnectionOptions,
} from './options.js';
export { MAX_RECORD_PLAINTEXT_BYTES } from './sealed-records.js';
export type { TcpSecurityOptions } from './security-options.js';
export { TcpConnection } from './tcp-connection.js';
export { PROTOCOL_VERSION, type Role } from './wire-format.js';
