/**
 * `connect()`: one call from a rendezvous address and a name to an open, encrypted Antt/UDP connection
 * over a punched direct path, or through the rendezvous server's relay when punching fails. Every stage
 * runs on the endpoint socket the connection will use, so the NAT mapping the server saw is the one the
 * peer probes and the connection rides (and, relayed, the one the relay forwards to).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import {
  type Address,
  AnttError,
  ErrorCode,
  formatAddress,
  networkError,
  parseAddress,
  scopedSignal,
  type WaitOptions,
} from '@antt/core';
import { derivePassphraseKey } from '@antt/secure';
import type { TcpConnectionOptions } from '@antt/tcp';
import { UdpConnection, type UdpConnectionOptions, UdpEndpoint, type UdpSecurityOptions } from '@antt/udp';
import { connectAuto, connectTcp, type PunchedTcpConnection } from './connect-tcp.js';
import type { PunchPlan } from './punch/port-prediction.js';
import { type PeerPunchResult, punchPeer } from './punch/punch-peer.js';
import {
  type Candidate,
  type CandidateKind,
  DEFAULT_PUNCH_TIMEOUT_MS,
  orderCandidates,
  PunchError,
  type UdpPunch,
} from './punch/udp-punch.js';
import { type RelayUpgradeOptions, startRelayUpgrade, type UpgradedFromRelay } from './relay-upgrade.js';
import { type RelayGrant, RendezvousClient } from './rendezvous/client.js';
import { isRendezvousMessage, MAX_CANDIDATES } from './rendezvous/protocol.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/**
 * What `connect()` needs from a `UdpEndpoint`: raw datagrams in and out on its socket, beside the Antt
 * connections it hosts.
 */
export interface DatagramEndpoint {
  readonly address: Address | undefined;
  onForeignDatagram(handler: (bytes: Uint8Array, from: Address) => void): () => void;
  sendDatagram(bytes: Uint8Array, to: Address): Promise<void>;
}

/**
 * Who may connect, as `@antt/udp` takes it: `passphrase`, `allowedPeers`, `acceptAnyPeer` or `insecure`
 * (at least one), and `identity` (a fresh one per call when omitted). `passphraseContext` defaults to
 * both peers' rendezvous names, so a passphrase's derived key is specific to this meeting.
 */
export type ConnectSecurityOptions = UdpSecurityOptions;

export interface NatConnectOptions extends ConnectSecurityOptions, WaitOptions {
  /** The rendezvous server, `host:port` (the port is usually 3478). */
  rendezvous: string | Address;
  /** The name this peer registers under. Without `peerName`, a meeting name both peers use. */
  name: string;
  /** The name of the peer to reach, when it registered under its own. */
  peerName?: string;
  /** An endpoint to use (and keep open); by default one is bound and closes with the connection. */
  endpoint?: UdpEndpoint;
  /** Port for the endpoint bound by default (0: any). */
  localPort?: number;
  /** LAN candidates to announce; by default this host's non-internal IPv4 addresses. */
  lanAddresses?: string[];
  /** Bound on the punching stage alone (the whole call is bounded by `timeout`). Default 10 s. */
  punchTimeout?: number;
  /**
   * When punching fails, ask the rendezvous server to relay (default true). `false`: fail in the punch
   * stage instead.
   */
  relay?: boolean;
  /** Skip punching and go through the relay at once (tests; peers known to need it). Default false. */
  forceRelay?: boolean;
  /**
   * When the connection ends up relayed, keep punching in the background and move it to a direct path
   * once one validates both ways (relay-upgrade.ts). Default on, off with `forceRelay` unless given;
   * `false` turns it off, `{ attempts, pauseMs }` bounds it.
   */
  upgrade?: boolean | RelayUpgradeOptions;
  /** More options for the `UdpConnection` (idleTimeout, congestionControl, ...). */
  connection?: Omit<UdpConnectionOptions, 'remote' | 'endpoint' | 'localPort' | 'localHost'>;
  /**
   * `'udp'` (default), `'tcp'` (rendezvous, simultaneous open and relay over TCP, from one local port),
   * or `'auto'`: UDP, and TCP when UDP fails (see connect-tcp.ts and the README for the order).
   */
  transport?: 'udp' | 'tcp' | 'auto';
  /** Bound on each of the register and exchange stages (default: only `timeout`; 5 s for UDP in 'auto'). */
  exchangeTimeout?: number;
  /** More options for the `TcpConnection` with transport 'tcp' or 'auto' (idleTimeout, ...). */
  tcpConnection?: Omit<
    TcpConnectionOptions,
    'remote' | 'localPort' | 'localAddress' | 'role' | 'socket' | 'startAt' | 'onRefused'
  >;
}

interface PathCommon {
  transport: 'udp';
  /** The endpoint socket's address. */
  local: Address;
  /** The address the connection sends to: the peer's (direct) or the relay's (relayed). */
  remote: Address;
  /** Where the rendezvous server saw this side: its public address and port. */
  observed: Address;
  /** Every candidate of the peer that was probed (empty with `forceRelay`). */
  tried: Candidate[];
  peerName: string;
  /**
   * Both NATs' mapping behaviour as the rendezvous server's two ports saw it, and the technique that
   * follows (absent with `forceRelay`, or when the server has no alternate port).
   */
  plan?: PunchPlan;
}

/** A punched path: the connection's datagrams go straight to the peer. */
export interface DirectPath extends PathCommon {
  kind: 'direct';
  candidate: CandidateKind;
  /** Milliseconds spent in each stage (`relayMs` and `upgradeMs` after an upgrade from the relay). */
  stages: {
    registerMs: number;
    exchangeMs: number;
    punchMs: number;
    handshakeMs: number;
    relayMs?: number;
    upgradeMs?: number;
  };
  /** Set when the connection started relayed and was moved to this direct path later. */
  upgradedFromRelay?: UpgradedFromRelay;
}

/**
 * Through the rendezvous server's relay: the connection's datagrams go to `relay`, which forwards them
 * to the peer. The Antt handshake and AEAD run end to end: the relay sees only ciphertext.
 */
export interface RelayedPath extends PathCommon {
  kind: 'relayed';
  candidate: 'relay';
  /** The relay (the rendezvous server's address); the same as `remote`. */
  relay: Address;
  /** Where the relay sees the peer. */
  peerObserved: Address;
  /** Why punching was not enough (its error message), or 'forceRelay'. */
  reason: string;
  /** The relay's rate cap (bytes/s, both directions together) and idle timeout. */
  relayRateBytesPerSec: number;
  relayIdleTimeoutSec: number;
  /** Milliseconds spent in each stage (`punchMs` is 0 with `forceRelay`). */
  stages: { registerMs: number; exchangeMs: number; punchMs: number; relayMs: number; handshakeMs: number };
}

export type ConnectionPath = DirectPath | RelayedPath;

export type PunchedConnection = UdpConnection & { readonly path: ConnectionPath };

/** A stage of `connect()` failed; `stage` says which, the message says what was tried. */
export class NatConnectError extends AnttError {
  readonly stage: 'register' | 'exchange' | 'punch' | 'relay' | 'handshake';
  constructor(
    code: ErrorCode,
    stage: NatConnectError['stage'],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'NatConnectError';
    this.stage = stage;
  }
}

/**
 * Registers with the rendezvous server, learns the peer's candidates, punches a path from the endpoint's
 * socket and opens an Antt/UDP connection over it. Resolves to the connection, with `path` telling how.
 * `transport: 'tcp'` does the same over TCP (`TcpConnection`); `'auto'` tries UDP, then TCP.
 */
export function connect(options: NatConnectOptions & { transport?: 'udp' }): Promise<PunchedConnection>;
export function connect(options: NatConnectOptions & { transport: 'tcp' }): Promise<PunchedTcpConnection>;
export function connect(options: NatConnectOptions): Promise<PunchedConnection | PunchedTcpConnection>;
export async function connect(options: NatConnectOptions): Promise<PunchedConnection | PunchedTcpConnection> {
  checkConnectOptions(options);
  prewarmPassphraseKey(options, options.name);
  const transport = options.transport ?? 'udp';
  if (transport === 'tcp') return connectTcp(options);
  if (transport === 'auto') return connectAuto(options, connectUdp);
  if (transport !== 'udp') {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `option transport must be 'udp', 'tcp' or 'auto', got ${String(transport)}`,
    );
  }
  return connectUdp(options);
}

function checkConnectOptions(options: NatConnectOptions): void {
  if (typeof options?.name !== 'string' || options.name.length === 0) {
    throw new AnttError(ErrorCode.INVALID_ARGUMENT, 'option name is required: the name to register under');
  }
  if (!options.passphrase && !options.allowedPeers && !options.acceptAnyPeer && !options.insecure) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      'say who may connect: passphrase, allowedPeers, acceptAnyPeer (encrypted, unauthenticated) or insecure',
    );
  }
}

async function connectUdp(options: NatConnectOptions): Promise<PunchedConnection> {
  const name = options.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new AnttError(ErrorCode.INVALID_ARGUMENT, 'option name is required: the name to register under');
  }
  if (!options.passphrase && !options.allowedPeers && !options.acceptAnyPeer && !options.insecure) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      'say who may connect: passphrase, allowedPeers, acceptAnyPeer (encrypted, unauthenticated) or insecure',
    );
  }
  const server = await resolveServer(options.rendezvous);
  const scope = scopedSignal(
    options,
    DEFAULT_CONNECT_TIMEOUT_MS,
    `connecting to "${options.peerName ?? name}" via ${formatAddress(server)}`,
  );
  const ownsEndpoint = options.endpoint === undefined;
  let endpoint: UdpEndpoint | undefined = options.endpoint;
  let client: RendezvousClient | undefined;
  let removeHandler: (() => void) | undefined;
  let connection: UdpConnection | undefined;
  /** An endpoint on a winning birthday socket (see punch/birthday.ts), owned by this call. */
  let birthdayEndpoint: UdpEndpoint | undefined;
  let punch: UdpPunch | undefined;
  try {
    endpoint ??= await UdpEndpoint.bind({ port: options.localPort ?? 0, ...securityOptions(options) });
    const raw = datagramEndpoint(endpoint);
    const local = raw.address!;
    const send = (bytes: Uint8Array, to: Address) => raw.sendDatagram(bytes, to);
    client = new RendezvousClient(server, send);
    removeHandler = raw.onForeignDatagram((bytes, from) => {
      if (!isRendezvousMessage(bytes)) return;
      if (client?.handleDatagram(bytes, from)) return;
      punch?.handleDatagram(bytes, from);
    });

    let at = performance.now();
    const registration = await client.register(
      { name, peerId: options.identity?.peerId, candidates: lanCandidates(options.lanAddresses, local.port) },
      { signal: scope.signal, timeout: options.exchangeTimeout },
    );
    const registerMs = performance.now() - at;
    // Beside the lookup: where the server's second port sees this socket (endpoint-dependent or not).
    let onAlternateQuery!: () => void;
    const alternateQueried = new Promise<void>((resolve) => {
      onAlternateQuery = resolve;
    });
    const ownMapping = client.discoverMapping(registration.observed, {
      signal: scope.signal,
      onAlternateQuery,
    });
    ownMapping.catch(() => {}).finally(onAlternateQuery);

    at = performance.now();
    const peer = await client.lookup(options.peerName ?? name, {
      signal: scope.signal,
      timeout: options.exchangeTimeout,
    });
    const exchangeMs = performance.now() - at;

    at = performance.now();
    let punched: PeerPunchResult | undefined;
    let punchFailure: PunchError | undefined;
    if (!options.forceRelay) {
      try {
        punched = await punchPeer({
          client,
          peer,
          ownMapping,
          alternateQueried,
          send,
          onPunch: (created) => {
            punch = created;
          },
          endpointOptions: securityOptions(options),
          signal: scope.signal,
          timeout: options.punchTimeout,
        });
      } catch (error) {
        if (!(error instanceof PunchError) || options.relay === false || scope.signal.aborted) throw error;
        punchFailure = error;
      }
    }
    const punchMs = performance.now() - at;

    let grant: RelayGrant | undefined;
    let relayMs = 0;
    if (!punched) {
      at = performance.now();
      try {
        grant = await client.relay(peer.session, { signal: scope.signal });
      } catch (error) {
        if (!AnttError.is(error) || !punchFailure) throw error;
        throw new NatConnectError(
          error.code,
          'relay',
          `${error.message}; punching had failed first: ${punchFailure.message}`,
          { cause: error },
        );
      }
      relayMs = performance.now() - at;
    }
    const remote = punched ? punched.remote : grant!.relay;
    // A birthday win rides the socket whose mapping met the peer's probe, not the registered one.
    birthdayEndpoint = punched?.endpoint;
    const connectionEndpoint = birthdayEndpoint ?? endpoint;

    // The nominated side learns the other's connection ID first (its INIT follows the NOMINATE): it
    // starts the Noise handshake, half a round trip before the nominating side could.
    const preferredHandshakeRole =
      punched && !punched.endpoint && punch ? (punch.controlling ? 'responder' : 'initiator') : undefined;
    at = performance.now();
    connection = new UdpConnection({
      ...(preferredHandshakeRole ? { preferredHandshakeRole } : {}),
      ...options.connection,
      ...securityOptions(options),
      passphraseContext: options.passphraseContext ?? meetingContext(name, peer.peerName),
      remote,
      endpoint: connectionEndpoint,
    });
    try {
      await connection.connect({ signal: scope.signal });
    } catch (error) {
      throw stageError(
        'handshake',
        error,
        `handshake with ${formatAddress(remote)}${grant ? ' (relayed)' : ''} failed`,
      );
    }
    const handshakeMs = performance.now() - at;
    if (ownsEndpoint) endpoint.closeWhenEmpty = true;
    if (punched?.endpoint) punched.endpoint.closeWhenEmpty = true;
    const common = {
      transport: 'udp' as const,
      local: connectionEndpoint.address ?? local,
      remote,
      observed: registration.observed,
      tried: punchFailure?.tried ?? punched?.tried ?? [],
      peerName: peer.peerName,
      ...(punched?.plan || punchFailure?.plan ? { plan: punched?.plan ?? punchFailure?.plan } : {}),
    };
    const path: ConnectionPath = punched
      ? {
          kind: 'direct',
          ...common,
          candidate: punched.candidate,
          stages: { registerMs, exchangeMs, punchMs, handshakeMs },
        }
      : {
          kind: 'relayed',
          ...common,
          candidate: 'relay',
          relay: grant!.relay,
          peerObserved: grant!.peer,
          reason: punchFailure?.message ?? 'forceRelay',
          relayRateBytesPerSec: grant!.rateBytesPerSec,
          relayIdleTimeoutSec: grant!.idleTimeoutSec,
          stages: { registerMs, exchangeMs, punchMs, relayMs, handshakeMs },
        };
    Object.defineProperty(connection, 'path', { value: path, enumerable: true, configurable: true });
    const upgrade = options.upgrade ?? !options.forceRelay;
    if (grant && upgrade !== false) {
      startRelayUpgrade({
        connection: connection as PunchedConnection,
        endpoint: raw,
        session: peer.session,
        controlling: peer.controlling,
        candidates: orderCandidates(peer.candidates, peer.observed),
        punchTimeoutMs: options.punchTimeout ?? DEFAULT_PUNCH_TIMEOUT_MS,
        options: upgrade === true ? {} : upgrade,
      });
    }
    return connection as PunchedConnection;
  } catch (error) {
    connection?.destroy();
    // The UNREGISTER must leave before the socket closes, or the name stays taken until it expires.
    await client?.close();
    if (ownsEndpoint) await endpoint?.close();
    await birthdayEndpoint?.close();
    throw withExchangeStage(error, scope.signal);
  } finally {
    removeHandler?.();
    // A NOMINATE still unacknowledged stops repeating: the handshake is done (or failed).
    punch?.close();
    client?.close();
    scope.done();
    // The registered socket carried no connection: it closes once its UNREGISTER is out.
    if (ownsEndpoint && birthdayEndpoint && !endpoint?.closed) void endpoint?.close();
  }
}

/** The whole call's timeout fired while no stage had named itself: that wait was the exchange. */
export function withExchangeStage(error: unknown, signal: AbortSignal): unknown {
  if (AnttError.is(error) && error.code === ErrorCode.TIMEOUT && signal.aborted && !('stage' in error)) {
    return new NatConnectError(ErrorCode.TIMEOUT, 'exchange', error.message, { cause: error });
  }
  return error;
}

function stageError(stage: NatConnectError['stage'], error: unknown, what: string): unknown {
  if (!AnttError.is(error) || 'stage' in error) return error;
  return new NatConnectError(error.code, stage, `${what}: ${error.message}`, { cause: error });
}

function datagramEndpoint(endpoint: UdpEndpoint): DatagramEndpoint {
  return endpoint;
}

function securityOptions(options: ConnectSecurityOptions): UdpSecurityOptions {
  const out: Record<string, unknown> = {};
  for (const key of ['passphrase', 'allowedPeers', 'acceptAnyPeer', 'insecure', 'identity'] as const) {
    if (options[key] !== undefined) out[key] = options[key];
  }
  return out as UdpSecurityOptions;
}

/**
 * The passphrase's key (scrypt: tens of ms on an idle machine, hundreds on a busy one) depends only on
 * the passphrase and the names, all known now: derive it while registration, exchange and punching wait
 * on the network, so the handshake finds it in @antt/secure's cache instead of starting it.
 */
function prewarmPassphraseKey(options: NatConnectOptions, name: string): void {
  if (!options.passphrase) return;
  const context = options.passphraseContext ?? meetingContext(name, options.peerName ?? name);
  // A failure here (a bad passphrase) surfaces again, with its stage, in the handshake.
  derivePassphraseKey(options.passphrase, { context }).catch(() => {});
}

/** The same on both sides: the two names, sorted (one name twice for a meeting name). */
export function meetingContext(name: string, peerName: string): string {
  return `antt-rendezvous\0${[name, peerName].sort().join('\0')}`;
}

export async function resolveServer(rendezvous: string | Address): Promise<Address> {
  const address = typeof rendezvous === 'string' ? parseAddress(rendezvous) : rendezvous;
  if (isIP(address.host) !== 0) return { host: address.host, port: address.port };
  try {
    const resolved = await lookup(address.host, { family: 4 });
    return { host: resolved.address, port: address.port };
  } catch (error) {
    throw networkError(`resolving the rendezvous server ${address.host}`, error);
  }
}

/** This host's non-internal IPv4 addresses with the socket's port (or the given hosts). */
export function lanCandidates(hosts: string[] | undefined, port: number): Address[] {
  const found =
    hosts ??
    Object.values(networkInterfaces())
      .flat()
      .filter((info) => info !== undefined && info.family === 'IPv4' && !info.internal)
      .map((info) => info!.address);
  const list = found.length > 0 ? found : ['127.0.0.1'];
  return list.slice(0, MAX_CANDIDATES).map((host) => ({ host, port }));
}
