/**
 * @packageDocumentation
 * NAT traversal for Antt, first pieces: STUN address discovery (RFC 8489 Binding) and a NAT behaviour
 * check (RFC 5780, RFC 4787). Rendezvous, hole punching and relaying build on these.
 *
 * ```ts
 * import { createSocket } from 'node:dgram';
 * import { checkNat, formatNatReport, stunBinding } from '@antt/nat';
 *
 * // Learn the public address of the socket you will use for the connection.
 * const socket = createSocket('udp4');
 * await new Promise<void>((resolve) => socket.bind(0, resolve));
 * const { mapped } = await stunBinding({ server: 'stun.l.google.com:19302', socket, timeout: 5000 });
 * console.log(`peers can reach this socket at ${mapped.host}:${mapped.port}`);
 *
 * // Or describe the NAT in front of this host.
 * const report = await checkNat({ servers: ['stun.l.google.com:19302', 'stun1.l.google.com:19302'] });
 * console.log(formatNatReport(report));
 * socket.close();
 * ```
 */
export {
  type CheckNatOptions,
  checkNat,
  DEFAULT_PORT_SAMPLES,
  DEFAULT_TIMEOUT_PER_TEST_MS,
  type FilteringBehaviour,
  type FilteringTest,
  type MappingBehaviour,
  type MappingObservation,
  type NatReport,
  type PortAllocation,
} from './nat/check.js';
export { formatNatReport, natSummary } from './nat/report.js';
export {
  type SendDatagram,
  type StunBindingOptions,
  type StunBindingResult,
  StunClient,
  StunErrorResponse,
  type StunRequestOptions,
  stunBinding,
} from './stun/client.js';
export {
  type ChangeRequest,
  decodeStunMessage,
  encodeStunMessage,
  HEADER_BYTES,
  isStunMessage,
  MAGIC_COOKIE,
  mappedAddressOf,
  newTransactionId,
  StunAttribute,
  type StunAttributeValue,
  StunClass,
  type StunErrorCode,
  type StunMessage,
  type StunMessageInit,
  StunMethod,
  TRANSACTION_ID_BYTES,
} from './stun/message.js';
export {
  DEFAULT_LAST_WAIT_FACTOR,
  DEFAULT_MAX_TRANSMISSIONS,
  DEFAULT_RTO_MS,
  type RetransmissionOptions,
  type RetransmissionSchedule,
  retransmissionSchedule,
} from './stun/retransmission.js';
