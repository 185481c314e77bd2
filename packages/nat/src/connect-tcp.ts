/**
 * `connect({ transport: 'tcp' })` and `'auto'`: the TCP half of NAT traversal.
 *
 * Over TCP, everything starts from one local port P: the rendezvous connection is made from P (so the
 * server sees, and reports, P's NAT mapping), and stays open; at the start time the server gave both
 * peers, each does a TCP simultaneous open from P to the other's observed address (`@antt/tcp`'s
 * `TcpConnection` with `startAt` and `onRefused: 'reconnect'`), so that the two SYNs cross even routers
 * that answer an unsolicited SYN with a reset. When no direct connection forms, the rendezvous
 * connection itself becomes the relay: the server pipes the two peers' connections, and the Antt
 * handshake runs end to end over the pipe.
 */
import { networkInterfaces } from 'node:os';
import { type Address, AnttError, ErrorCode, formatAddress, formatMs, scopedSignal } from '@antt/core';
import { TcpConnection, type TcpConnectionOptions } from '@antt/tcp';
import {
  type ConnectionPath,
  type ConnectSecurityOptions,
  DEFAULT_CONNECT_TIMEOUT_MS,
  lanCandidates,
  meetingContext,
  NatConnectError,
  type NatConnectOptions,
  type PunchedConnection,
  resolveServer,
  withExchangeStage,
} from './connect.js';
import { type Candidate, DEFAULT_PUNCH_TIMEOUT_MS, PunchError } from './punch/udp-punch.js';
import { type PeerInfo, RendezvousClient } from './rendezvous/client.js';
import { RendezvousTcpChannel } from './rendezvous/tcp-channel.js';

/** With `transport: 'auto'`, how long UDP gets to register and find the peer before TCP is tried. */
export const DEFAULT_AUTO_UDP_EXCHANGE_TIMEOUT_MS = 5_000;

interface TcpPathCommon {
  transport: 'tcp';
  /** The local end: P, the port the rendezvous connection and the punching came from. */
  local: Address;
  remote: Address;
  /** Where the rendezvous server saw P: its public address and port. */
  observed: Address;
  tried: Candidate[];
  peerName: string;
  /** With `transport: 'auto'`: why UDP was given up (its error message). */
  fallbackReason?: string;
}

/** A TCP connection made by simultaneous open straight to the peer. */
export interface TcpDirectPath extends TcpPathCommon {
  kind: 'direct';
  candidate: Candidate['kind'];
  /** Connection attempts (SYNs from P) this side made until the simultaneous open succeeded. */
  attempts: number;
  /** `punchMs`: the simultaneous open and both handshakes (HELLO, Noise), from the start time on. */
  stages: { udpMs?: number; registerMs: number; exchangeMs: number; punchMs: number };
}

/** Through the rendezvous server, which pipes this side's rendezvous connection to the peer's. */
export interface TcpRelayedPath extends TcpPathCommon {
  kind: 'relayed';
  candidate: 'relay';
  relay: Address;
  peerObserved: Address;
  /** Why punching was not enough (its error message), or 'forceRelay'. */
  reason: string;
  relayRateBytesPerSec: number;
  relayIdleTimeoutSec: number;
  stages: {
    udpMs?: number;
    registerMs: number;
    exchangeMs: number;
    punchMs: number;
    relayMs: number;
    handshakeMs: number;
  };
}

export type TcpConnectionPath = TcpDirectPath | TcpRelayedPath;
export type PunchedTcpConnection = TcpConnection & { readonly path: TcpConnectionPath };

type TcpOnlyOptions = Omit<
  TcpConnectionOptions,
  'remote' | 'localPort' | 'localAddress' | 'role' | 'socket' | 'startAt' | 'onRefused'
>;

/** Registers over TCP from a fixed port, punches by simultaneous open at the common start, else relays. */
export async function connectTcp(
  options: NatConnectOptions,
  fallback?: { reason: string; udpMs: number },
): Promise<PunchedTcpConnection> {
  if (options.endpoint !== undefined) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      "option endpoint is a UDP endpoint: not with transport 'tcp'",
    );
  }
  const name = options.name;
  const server = await resolveServer(options.rendezvous);
  const scope = scopedSignal(
    options,
    DEFAULT_CONNECT_TIMEOUT_MS,
    `connecting to "${options.peerName ?? name}" via ${formatAddress(server)} over TCP`,
  );
  let channel: RendezvousTcpChannel | undefined;
  let client: RendezvousClient | undefined;
  let connection: TcpConnection | undefined;
  try {
    let at = performance.now();
    channel = await RendezvousTcpChannel.open(server, { localPort: options.localPort, signal: scope.signal });
    const port = channel.localPort;
    client = new RendezvousClient(server, channel.send);
    const rendezvous = client;
    channel.onMessage((frame) => rendezvous.handleDatagram(frame, server));
    const registration = await client.register(
      { name, peerId: options.identity?.peerId, candidates: lanCandidates(options.lanAddresses, port) },
      { signal: scope.signal },
    );
    const registerMs = performance.now() - at;

    at = performance.now();
    const peer = await client.lookup(options.peerName ?? name, { signal: scope.signal });
    const exchangeMs = performance.now() - at;

    const role = peer.controlling ? 'client' : 'server';
    const common = {
      ...securityOptions(options),
      ...options.tcpConnection,
      passphraseContext: options.passphraseContext ?? meetingContext(name, peer.peerName),
      role,
    } as const;
    const candidate = pickCandidate(peer, registration.observed);
    const tried = options.forceRelay ? [] : [candidate];
    const base = {
      transport: 'tcp' as const,
      local: { host: '0.0.0.0', port },
      observed: registration.observed,
      tried,
      peerName: peer.peerName,
      ...(fallback ? { fallbackReason: fallback.reason } : {}),
    };
    const udpMs = fallback ? { udpMs: fallback.udpMs } : {};

    at = performance.now();
    let punchFailure: PunchError | undefined;
    if (!options.forceRelay) {
      connection = new TcpConnection({
        ...common,
        localPort: port,
        remote: candidate.address,
        startAt: peer.receivedAt + peer.startDelayMs,
        onRefused: refusedPolicy(candidate, registration.observed),
      });
      try {
        await connection.connect({
          signal: scope.signal,
          timeout: options.punchTimeout ?? DEFAULT_PUNCH_TIMEOUT_MS,
        });
        const path: TcpDirectPath = {
          ...base,
          kind: 'direct',
          candidate: candidate.kind,
          remote: candidate.address,
          attempts: connection.connectAttempts,
          stages: { ...udpMs, registerMs, exchangeMs, punchMs: performance.now() - at },
        };
        return withPath(connection, path);
      } catch (error) {
        connection.destroy();
        connection = undefined;
        if (!AnttError.is(error) || scope.signal.aborted) throw error;
        if (error.code === ErrorCode.AUTH || error.code === ErrorCode.PROTOCOL) {
          throw new NatConnectError(
            error.code,
            'handshake',
            `handshake with ${formatAddress(candidate.address)} failed: ${error.message}`,
            { cause: error },
          );
        }
        punchFailure = new PunchError(
          `TCP punching timed out after ${formatMs(performance.now() - at)}: simultaneous open from port ${port} to ${formatAddress(candidate.address)} (${candidate.kind}): ${error.message}`,
          tried,
          { cause: error },
        );
        if (options.relay === false) throw punchFailure;
      }
    }
    const punchMs = performance.now() - at;

    at = performance.now();
    let grant: Awaited<ReturnType<RendezvousClient['relay']>>;
    try {
      grant = await client.relay(peer.session, { signal: scope.signal });
    } catch (error) {
      if (!AnttError.is(error) || !punchFailure) throw error;
      throw new NatConnectError(
        error.code,
        'relay',
        `${error.message}; punching had failed first: ${punchFailure.message}`,
        {
          cause: error,
        },
      );
    }
    const relayMs = performance.now() - at;
    at = performance.now();
    connection = new TcpConnection({ ...common, socket: channel.detach() });
    try {
      await connection.connect({ signal: scope.signal });
    } catch (error) {
      if (!AnttError.is(error)) throw error;
      throw new NatConnectError(
        error.code,
        'handshake',
        `handshake through the relay ${formatAddress(server)} failed: ${error.message}`,
        { cause: error },
      );
    }
    const path: TcpRelayedPath = {
      ...base,
      kind: 'relayed',
      candidate: 'relay',
      remote: grant.relay,
      relay: grant.relay,
      peerObserved: grant.peer,
      reason: punchFailure?.message ?? 'forceRelay',
      relayRateBytesPerSec: grant.rateBytesPerSec,
      relayIdleTimeoutSec: grant.idleTimeoutSec,
      stages: { ...udpMs, registerMs, exchangeMs, punchMs, relayMs, handshakeMs: performance.now() - at },
    };
    return withPath(connection, path);
  } catch (error) {
    connection?.destroy();
    throw withExchangeStage(error, scope.signal);
  } finally {
    client?.close();
    channel?.close();
    scope.done();
  }
}

/**
 * `transport: 'auto'`: UDP first, with `exchangeTimeout` (default 5 s) to register and find the peer;
 * when UDP fails (the server unreachable over UDP, the peer not there, or punching and the UDP relay
 * both failed), TCP: simultaneous open, then the TCP relay.
 */
export async function connectAuto(
  options: NatConnectOptions,
  connectUdp: (options: NatConnectOptions) => Promise<PunchedConnection>,
): Promise<PunchedConnection | PunchedTcpConnection> {
  const started = performance.now();
  const scope = scopedSignal(
    options,
    DEFAULT_CONNECT_TIMEOUT_MS,
    `connecting to "${options.peerName ?? options.name}"`,
  );
  try {
    try {
      return await connectUdp({
        ...options,
        signal: scope.signal,
        timeout: undefined,
        exchangeTimeout: options.exchangeTimeout ?? DEFAULT_AUTO_UDP_EXCHANGE_TIMEOUT_MS,
      });
    } catch (error) {
      if (!AnttError.is(error) || scope.signal.aborted || error.code === ErrorCode.AUTH) throw error;
      if (error.code === ErrorCode.INVALID_ARGUMENT) throw error;
      const stage = 'stage' in error ? ` (${String(error.stage)} stage)` : '';
      return await connectTcp(
        { ...options, signal: scope.signal, timeout: undefined },
        { reason: `UDP failed${stage}: ${error.message}`, udpMs: performance.now() - started },
      );
    }
  } finally {
    scope.done();
  }
}

/**
 * The peer's observed address, except when both sides were seen on one public IP: then they sit behind
 * one NAT, which (like most) does not hairpin, and the peer's first LAN address is the way.
 */
function pickCandidate(peer: PeerInfo, observed: Address): Candidate {
  const lan = peer.candidates[0];
  if (lan && peer.observed.host === observed.host && lan.host !== peer.observed.host) {
    return { address: { host: lan.host, port: lan.port }, kind: 'lan' };
  }
  return { address: { host: peer.observed.host, port: peer.observed.port }, kind: 'public' };
}

/**
 * Behind a NAT, a reset to an early SYN comes from the peer's router: only a new SYN (which also reopens
 * our own mapping) can help, so reconnect at once. Without a NAT on our side (the server saw one of this
 * host's own addresses), or toward a LAN peer, the reset comes from the peer's kernel and listening on P
 * lets its later SYN in: the `TcpConnection` default.
 */
function refusedPolicy(candidate: Candidate, observed: Address): 'listen' | 'reconnect' {
  if (candidate.kind === 'lan') return 'listen';
  const own = Object.values(networkInterfaces())
    .flat()
    .some((info) => info?.address === observed.host);
  return own ? 'listen' : 'reconnect';
}

function withPath<P extends TcpConnectionPath>(connection: TcpConnection, path: P): PunchedTcpConnection {
  Object.defineProperty(connection, 'path', { value: path, enumerable: true });
  return connection as PunchedTcpConnection;
}

function securityOptions(options: ConnectSecurityOptions): Partial<TcpOnlyOptions> {
  const out: Record<string, unknown> = {};
  for (const key of ['passphrase', 'allowedPeers', 'acceptAnyPeer', 'insecure', 'identity'] as const) {
    if (options[key] !== undefined) out[key] = options[key];
  }
  return out as Partial<TcpOnlyOptions>;
}

export type { ConnectionPath };
