/**
 * Opening the Antt connection both modes use: the transport chosen on the command line, the role derived
 * from the mode (TCP needs one client and one server), and the security settings handed over in one
 * place, `securityOptions`.
 */
import { AnttError, type Connection, ErrorCode } from '@antt/core';
import type { Identity } from '@antt/secure';
import { TcpConnection } from '@antt/tcp';
import { UdpConnection } from '@antt/udp';
import type { Mode, TransportName } from './cli.js';
import { MAX_MESSAGE_BYTES } from './protocol.js';

/**
 * NewReno, not the transport's default BBR: with BBR a bulk transfer that starts after a second or two of
 * quiet (a `put` typed after an `ls`) sometimes stalled for good on loopback (congestion window 4800
 * bytes, nothing in flight, nothing sent; 1 run in 5 to 4 runs in 6). NewReno never stalled in the same runs.
 */
const UDP_CONGESTION_CONTROL = 'newreno';

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
  localPort: number;
  peer: { host: string; port: number };
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

export async function openConnection(options: OpenOptions): Promise<Connection> {
  const common = {
    localPort: options.localPort,
    remote: { ...options.peer },
    maxMessageBytes: MAX_MESSAGE_BYTES,
    receiveBufferBytes: RECEIVE_BUFFER_BYTES,
    connectTimeout: options.timeoutMs,
    ...securityOptions(options.security),
  };
  const connection: Connection =
    options.transport === 'tcp'
      ? new TcpConnection({ ...common, role: options.mode === 'serve' ? 'server' : 'client' })
      : new UdpConnection({
          ...common,
          congestionControl: UDP_CONGESTION_CONTROL,
          sendBufferBytes: UDP_SEND_BUFFER_BYTES,
        });
  try {
    await connection.connect({
      timeout: options.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
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

export function peerInfo(connection: Connection): PeerInfo {
  const secured = connection as Connection & { remotePeerId?: string; encrypted?: boolean };
  return { peerId: secured.remotePeerId, encrypted: secured.encrypted === true };
}
