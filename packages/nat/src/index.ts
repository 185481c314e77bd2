/**
 * @packageDocumentation
 * NAT traversal for Antt: STUN address discovery (RFC 8489 Binding), a NAT behaviour check (RFC 5780,
 * RFC 4787), a rendezvous protocol with its server core, and UDP hole punching behind one call:
 *
 * ```ts
 * import { connect } from '@antt/nat';
 *
 * // Both peers run this; the rendezvous server is `antt-rendezvous` (apps/rendezvous).
 * const connection = await connect({ rendezvous: '203.0.113.2:3478', name: 'our-meeting', passphrase: 'secret' });
 * console.log(connection.path.kind, connection.path.remote, connection.path.stages);
 * ```
 *
 * The lower-level pieces:
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
  type ConnectionPath,
  type ConnectSecurityOptions,
  connect,
  type DatagramEndpoint,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type DirectPath,
  lanCandidates,
  NatConnectError,
  type NatConnectOptions,
  type PunchedConnection,
  type RelayedPath,
} from './connect.js';
export {
  DEFAULT_AUTO_UDP_EXCHANGE_TIMEOUT_MS,
  type PunchedTcpConnection,
  type TcpConnectionPath,
  type TcpDirectPath,
  type TcpRelayedPath,
} from './connect-tcp.js';
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
  BIRTHDAY_PROBES,
  BIRTHDAY_PROBES_PER_SEC,
  BIRTHDAY_REOPEN_INTERVAL_MS,
  BIRTHDAY_SOCKETS,
  BirthdayOpener,
  type BirthdayOpenerOptions,
  type BirthdaySocket,
  BirthdaySpray,
  type BirthdayWin,
} from './punch/birthday.js';
export {
  birthdayMissProbability,
  classifyMapping,
  MAX_SEQUENTIAL_DELTA,
  type MappingKind,
  type MappingProfile,
  PREDICTION_HEAD_START_MS,
  PREDICTION_WINDOW_PORTS,
  type PunchPlan,
  planPunch,
  predictPorts,
} from './punch/port-prediction.js';
export { type PeerPunchResult, type PunchPeerOptions, punchPeer } from './punch/punch-peer.js';
export {
  type Candidate,
  type CandidateKind,
  DEFAULT_PUNCH_TIMEOUT_MS,
  orderCandidates,
  PROBE_INTERVAL_MS,
  PunchError,
  type PunchResult,
  UdpPunch,
  type UdpPunchOptions,
} from './punch/udp-punch.js';
export {
  DEFAULT_UPGRADE_ATTEMPTS,
  type RelayUpgradeOptions,
  UPGRADE_PAUSE_MS,
  type UpgradedFromRelay,
} from './relay-upgrade.js';
export {
  MAPPING_QUERY_TIMEOUT_MS,
  type OwnMapping,
  PEER_MAPPING_TIMEOUT_MS,
  type PeerInfo,
  type RegisterInit,
  type Registration,
  type RelayGrant,
  RendezvousClient,
  RendezvousError,
  type SendDatagramTo,
  type SessionMapping,
} from './rendezvous/client.js';
export {
  type ConnectMessage,
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  isRendezvousMessage,
  MAX_CANDIDATES,
  MAX_NAME_BYTES,
  type MappingInfoMessage,
  type MappingObservations,
  type MappingQueryMessage,
  MessageType,
  type PeerInfoMessage,
  type PeerMappingMessage,
  type PeerMappingQueryMessage,
  PeerMappingStatus,
  type PeerNotFoundMessage,
  type ProbeMessage,
  RENDEZVOUS_HEADER_BYTES,
  RENDEZVOUS_VERSION,
  REQUEST_MIN_BYTES,
  type RegisteredMessage,
  type RegisterMessage,
  RegisterStatus,
  type RelayAllocMessage,
  type RelayInfoMessage,
  RelayStatus,
  type RendezvousMessage,
  type UnregisterMessage,
} from './rendezvous/protocol.js';
export { DEFAULT_RENDEZVOUS_PORT, type ListenOptions, RendezvousServer } from './rendezvous/server.js';
export {
  DEFAULT_MAX_REGISTRATIONS,
  DEFAULT_MAX_RELAYS,
  DEFAULT_RATE_BURST,
  DEFAULT_RATE_PER_SEC,
  DEFAULT_REGISTRATION_TTL_SEC,
  DEFAULT_RELAY_IDLE_TIMEOUT_SEC,
  DEFAULT_RELAY_RATE_BYTES_PER_SEC,
  MAPPING_FREEZE_MS,
  type OutgoingDatagram,
  RendezvousServerCore,
  type RendezvousServerOptions,
  type RendezvousServerStats,
  type ServerPort,
} from './rendezvous/server-core.js';
export {
  DEFAULT_MAX_TCP_CONNECTIONS,
  DEFAULT_MAX_TCP_CONNECTIONS_PER_IP,
  type TcpListenerOptions,
  type TcpListenerStats,
} from './rendezvous/server-tcp.js';
export { RendezvousTcpChannel } from './rendezvous/tcp-channel.js';
export { MAX_TCP_FRAME_BYTES } from './rendezvous/tcp-framing.js';
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
