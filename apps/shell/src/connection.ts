/**
 * Opening the Antt connection both modes use: the transport chosen on the command line, the role derived
 * from the mode (TCP needs one client and one server), and the security settings handed over in one
 * place, `securityOptions`.
 */
import { AnttError, type Connection, ErrorCode } from '@antt/core';
import { type ConnectionPath, connect, type TcpConnectionPath } from '@antt/nat';
import type { Identity } from '@antt/secure';
import { TcpConnection } from '@antt/tcp';
import { UdpConnection, UdpEndpoint } from '@antt/udp';
import type { Mode, RendezvousTarget, TransportName } from './cli.js';
import { MAX_MESSAGE_BYTES } from './protocol.js';

/**
 * Half the transports' defaults: less for a transfer to hold in flight and in queues (each process
 * peaked at 93-143 MB resident for 760 MB files), with no measurable loss of speed on loopback.
 */
const RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;
const UDP_SEND_BUFFER_BYTES = 4 * 1024 * 1024;

export interface Security {
  identity: Identity;
  passphrase: string | undefined;
  /** Peer ids the other side must have (serve: --allow; connect: --peer-id). Empty: any, if it knows the passphrase. */
  allowedPeers: readonly string[];
}

export interface OpenOptions {
  mode: Mode;
  transport: TransportName;
  /** 0: any free port (with a rendezvous). */
  localPort: number;
  /** The other side's address, or undefined to meet it through `rendezvous`. */
  peer: { host: string; port: number } | undefined;
  rendezvous: RendezvousTarget | undefined;
  security: Security;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** What the transport tells about the authenticated peer, once it can (see `securityOptions`). */
export interface PeerInfo {
  peerId: string | undefined;
  encrypted: boolean;
}

/**
 * The transports' security options (`identity`, `passphrase`, `allowedPeers`): at least one of a
 * passphrase and an allow list is always set (the command line insists), and never `insecure` or
 * `acceptAnyPeer`, so the transport's handshake authenticates the peer and encrypts everything.
 */
export function securityOptions(security: Security): Record<string, unknown> {
  return {
    identity: security.identity,
    ...(security.passphrase !== undefined ? { passphrase: security.passphrase } : {}),
    ...(security.allowedPeers.length > 0 ? { allowedPeers: security.allowedPeers } : {}),
  };
}

/**
 * Opens the connection, by address or through the rendezvous; rejects with the transport's or (through
 * the rendezvous) the failed stage's `AnttError`. Only an encrypted connection is returned.
 */
export async function openConnection(options: OpenOptions): Promise<Connection> {
  const wait = { timeout: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) };
  const common = {
    maxMessageBytes: MAX_MESSAGE_BYTES,
    receiveBufferBytes: RECEIVE_BUFFER_BYTES,
    connectTimeout: options.timeoutMs,
  };
  const udp = { ...common, sendBufferBytes: UDP_SEND_BUFFER_BYTES };
  let connection: Connection;
  if (options.rendezvous) {
    connection = await meet(options, options.rendezvous, { tcp: common, udp }, wait);
  } else {
    const direct = {
      ...common,
      localPort: options.localPort,
      remote: { ...options.peer! },
      ...securityOptions(options.security),
    };
    connection =
      options.transport === 'tcp'
        ? new TcpConnection({ ...direct, role: options.mode === 'serve' ? 'server' : 'client' })
        : new UdpConnection({ ...direct, ...udp });
  }
  try {
    if (connection.state !== 'open') await connection.connect(wait);
    if (!peerInfo(connection).encrypted) {
      throw new AnttError(
        ErrorCode.AUTH,
        'the connection is not encrypted; antt-shell never runs without encryption',
      );
    }
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return connection;
}

/**
 * Through the rendezvous (`@antt/nat`'s `connect()`), on an endpoint of our own: connect() leaves it open
 * when it fails, so its UNREGISTER still leaves (on an endpoint of its own it closes the socket first) and
 * a failed attempt leaves no registration behind to block the next one under the same name. Once
 * connected, the endpoint closes with the connection.
 */
async function meet(
  options: OpenOptions,
  target: RendezvousTarget,
  transportOptions: { tcp: Record<string, number>; udp: Record<string, number> },
  wait: { timeout: number; signal?: AbortSignal },
): Promise<Connection> {
  const security = securityOptions(options.security);
  const names = {
    rendezvous: target.server,
    name: target.name,
    ...(target.peerName !== undefined ? { peerName: target.peerName } : {}),
  };
  if (options.transport === 'tcp') {
    // Over TCP the registration lives as long as the rendezvous connection, which connect() closes.
    return connect({
      ...names,
      transport: 'tcp',
      localPort: options.localPort,
      tcpConnection: transportOptions.tcp,
      ...security,
      ...wait,
    });
  }
  const endpoint = await UdpEndpoint.bind({ port: options.localPort, ...security });
  try {
    const connected = await connect({
      ...names,
      endpoint,
      connection: transportOptions.udp,
      ...security,
      ...wait,
    });
    endpoint.closeWhenEmpty = true;
    return connected;
  } catch (error) {
    await new Promise((resolve) => setImmediate(resolve));
    await endpoint.close();
    throw error;
  }
}

/** How a connection made through the rendezvous got to the peer; undefined for one made by address. */
export function pathOf(connection: Connection): ConnectionPath | TcpConnectionPath | undefined {
  return (connection as Connection & { path?: ConnectionPath | TcpConnectionPath }).path;
}

export function peerInfo(connection: Connection): PeerInfo {
  const secured = connection as Connection & { remotePeerId?: string; encrypted?: boolean };
  return { peerId: secured.remotePeerId, encrypted: secured.encrypted === true };
}
