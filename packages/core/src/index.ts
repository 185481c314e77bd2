/**
 * @packageDocumentation
 * The connection contract every Antt transport implements, and the shared machinery behind it.
 * Applications use a transport (`@antt/udp`, `@antt/tcp`); they meet this package through its types
 * and errors:
 *
 * ```ts
 * import { AnttError, ErrorCode, type Connection } from '@antt/core';
 *
 * async function echo(connection: Connection) {
 *   await connection.connect({ timeout: 10_000 });
 *   try {
 *     for await (const message of connection) await connection.send(message);
 *   } catch (error) {
 *     if (AnttError.is(error) && error.code === ErrorCode.TIMEOUT) console.log('peer vanished');
 *     else throw error;
 *   }
 * }
 * ```
 *
 * Transport authors extend {@link BaseConnection} and implement `_connect`, `_send`, `_close` and
 * `_destroy`.
 */

export { formatAddress, parseAddress } from './address.js';
export {
  BaseConnection,
  type BaseConnectionOptions,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_RECEIVE_BUFFER_BYTES,
} from './base-connection.js';
export { connectionDuplex } from './duplex.js';
export {
  AbortError,
  AnttError,
  type AnttErrorOptions,
  AuthError,
  abortReasonToError,
  ClosedError,
  ErrorCode,
  MessageTooLargeError,
  networkError,
  ProtocolError,
  ResetError,
  TimeoutError,
} from './errors.js';
export { MessageQueue } from './message-queue.js';
export { formatMs, type ScopedSignal, scopedSignal } from './signals.js';
export type {
  Address,
  Connection,
  ConnectionEvents,
  ConnectionState,
  ConnectionStats,
  Message,
  Sendable,
  SendOptions,
  WaitOptions,
} from './types.js';
