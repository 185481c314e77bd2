/**
 * `UdpEndpoint`: one bound UDP socket hosting any number of connections (to different peers and to the
 * same peer), demultiplexed by the destination connection ID each receiver chose. It owns the socket, runs
 * each connection's timer, batches outgoing datagrams per event-loop turn, and accepts incoming
 * connections once `listen()` was called. A datagram that matches no live connection ID is dropped and
 * counted, never delivered and never answered (except an INIT while listening, answered by a smaller
 * INIT-ACK, or by a VERSION packet when it is of another wire version). One for a live ID from another
 * address goes to that connection's core, which accepts it only as path validation allows
 * (path-validation.ts).
 *
 * Datagrams that are not Antt at all (STUN, a rendezvous protocol) go to `onForeignDatagram` handlers,
 * and `sendDatagram` sends raw bytes from the same socket: NAT traversal shares the socket whose port
 * the NAT opened.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Address, AnttError, ErrorCode, networkError, scopedSignal, type WaitOptions } from '@antt/core';
import { warnInsecure } from '@antt/secure';
import { BatchReceiver, type BatchSource } from './batch-receiver.js';
import { BatchSender } from './batch-sender.js';
import { acceptConnection, UdpConnection, type UdpConnectionOptions } from './connection.js';
import { DatagramPool } from './datagram-pool.js';
import {
  DEFAULT_SOCKET_BUFFER_BYTES,
  poolDatagramBytes,
  resolveTransportOptions,
  type UdpTransportOptions,
} from './options.js';
import { type ConnectionCore, ReceiveOutcome } from './protocol/connection-core.js';
import type { PathAddress } from './protocol/path-validation.js';
import { ChecksumProtection } from './protocol/protection.js';
import {
  CONNECTION_ID_BYTES,
  HEADER_BYTES,
  headerIdHi,
  headerIdLo,
  headerType,
  headerVersion,
  magicDistance,
  PacketType,
  readUint32,
  WIRE_VERSION,
  writeHeader,
} from './protocol/wire.js';
import {
  hasSecurityOptions,
  omitSecurityOptions,
  pickSecurityOptions,
  resolveSecurityOptions,
  SECURITY_CHOICES,
  SecuritySource,
  type UdpSecurityOptions,
} from './security-options.js';

/** More differing bits than a bit-flip impairment makes: the datagram is not Antt at all. */
const NOT_ANTT_MAGIC_DISTANCE = 4;
/** Datagrams produced per connection before yielding to the event loop (so acknowledgements get read). */
const MAX_BURST_DATAGRAMS = 64;
const EMPTY = new Uint8Array(0);
/** Bytes of send buffers per endpoint: bounds what may wait in libuv's send queue. */
const SEND_POOL_BYTES = 4 * 1024 * 1024;
const MIN_POOL_DATAGRAMS = 128;
/** Connections accepted but not yet taken by accept(). */
const DEFAULT_ACCEPT_BACKLOG = 64;
/** IDs of closed connections remembered so their stray datagrams are counted as such. */
const RECENTLY_CLOSED_IDS = 1024;

/**
 * The security options (`identity`, `passphrase`, `passphraseContext`, `allowedPeers`, `acceptAnyPeer`,
 * `insecure`) are the defaults of the connections this endpoint makes and accepts; `listen()` requires
 * a choice. A connection given any of them uses only its own.
 */
export interface UdpEndpointOptions extends UdpTransportOptions, UdpSecurityOptions {
  /** Address to bind. Default '0.0.0.0', or '::' when `type` is 'udp6'. */
  host?: string;
  /** Port to bind; 0 (default) picks a free one. */
  port?: number;
  /** Default: 'udp6' when `host` is an IPv6 address, else 'udp4'. */
  type?: 'udp4' | 'udp6';
  /** Kernel socket buffer sizes asked for. Default 4 MiB. */
  socketBufferBytes?: number;
  /** Accepted connections waiting for accept(). Default 64; more incoming handshakes are ignored. */
  acceptBacklog?: number;
  /** Options of accepted connections (connectTimeout, receiveBufferBytes, maxMessageBytes, ...). */
  connectionDefaults?: Omit<UdpConnectionOptions, 'remote' | 'endpoint' | 'localPort' | 'localHost'>;
}

export interface UdpEndpointStats {
  datagramsReceived: number;
  datagramsSent: number;
  /**
   * Of `datagramsSent`, those the kernel took many per system call (sendmmsg, UDP GSO) through the
   * optional @antt/native addon; 0 without it.
   */
  datagramsSentBatched: number;
  /** System calls that sent those. */
  batchSendCalls: number;
  /**
   * Of `datagramsReceived`, those read many per system call (recvmmsg) through the addon; 0 without it.
   */
  datagramsReceivedBatched: number;
  /** System calls that read those. */
  batchReceiveCalls: number;
  /** Destination ID or source address matched no live connection. */
  droppedUnknownConnection: number;
  /** For a connection that already closed. */
  droppedClosedConnection: number;
  /** Too short, corrupted, not Antt, or failing the integrity check. */
  droppedInvalid: number;
  /** Network duplicates of packets already received. */
  droppedDuplicate: number;
  /** Sealed DATA that failed authentication: forged, spoofed or corrupted. Never delivered. */
  datagramsRejectedAuth: number;
  /** Sealed DATA with a packet number already received or older than the replay window. */
  datagramsRejectedReplay: number;
  /** Not Antt (first bytes not the magic), handed to `onForeignDatagram` handlers. */
  foreignDatagrams: number;
  connections: number;
}

/** Receives datagrams that are not Antt packets (STUN, a rendezvous protocol). */
export type ForeignDatagramHandler = (bytes: Uint8Array, from: Address) => void;

/** What the endpoint keeps per connection. */
export interface Attachment {
  core: ConnectionCore;
  remoteHost: string;
  remotePort: number;
  connection: UdpConnection;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  queued: boolean;
  /** core.datagramsRejectedReplay as last seen, to attribute the endpoint's counters. */
  rejectedReplay: number;
}

export class UdpEndpoint {
  readonly #socket: Socket;
  readonly #ready: Promise<void>;
  readonly #options: UdpEndpointOptions;
  readonly #attachments = new Map<number, Attachment>();
  readonly #recentlyClosed = new Set<number>();
  readonly #pool: DatagramPool;
  readonly #flushQueue: Attachment[] = [];
  #flushScheduled = false;
  readonly #sender: BatchSender;
  /** Reads the socket many datagrams per call once bound, where the addon is built; else dgram does. */
  #receiver: BatchReceiver | null = null;
  /** The datagrams of one flush, reused. */
  readonly #burst: Uint8Array[] = new Array<Uint8Array>(MAX_BURST_DATAGRAMS).fill(EMPTY);
  #address: Address | undefined;
  #closed = false;
  #listening = false;
  readonly #backlog: UdpConnection[] = [];
  readonly #acceptWaiters: { resolve(c: UdpConnection): void; reject(e: Error): void }[] = [];
  #bindError: Error | undefined;
  /** Set for an endpoint a connection created for itself: closes with its last connection. */
  closeWhenEmpty = false;
  readonly #stats: Omit<
    UdpEndpointStats,
    | 'connections'
    | 'datagramsSentBatched'
    | 'batchSendCalls'
    | 'datagramsReceivedBatched'
    | 'batchReceiveCalls'
  > = {
    datagramsReceived: 0,
    datagramsSent: 0,
    droppedUnknownConnection: 0,
    droppedClosedConnection: 0,
    droppedInvalid: 0,
    droppedDuplicate: 0,
    datagramsRejectedAuth: 0,
    datagramsRejectedReplay: 0,
    foreignDatagrams: 0,
  };
  readonly #foreignHandlers = new Set<ForeignDatagramHandler>();
  #securitySource: SecuritySource | undefined;

  constructor(options: UdpEndpointOptions = {}) {
    resolveTransportOptions(options); // validate early
    this.#options = options;
    const type = options.type ?? (options.host !== undefined && isIPv6(options.host) ? 'udp6' : 'udp4');
    const host = options.host ?? (type === 'udp6' ? '::' : '0.0.0.0');
    // Addresses are resolved before sending, so "lookup" can answer synchronously: no DNS round per datagram.
    const family = type === 'udp6' ? 6 : 4;
    this.#socket = createSocket({
      type,
      lookup: (
        address: string,
        _options: unknown,
        callback: (e: Error | null, a: string, f: number) => void,
      ) => callback(null, address, family),
    } as Parameters<typeof createSocket>[0]);
    const bufferBytes = poolDatagramBytes(resolveTransportOptions(options));
    this.#pool = new DatagramPool(
      Math.max(MIN_POOL_DATAGRAMS, Math.floor(SEND_POOL_BYTES / bufferBytes)),
      bufferBytes,
    );
    this.#sender = new BatchSender(this.#socket, this.#onSent);
    this.#socket.on('message', (datagram, remote) => this.#onDatagram(datagram, remote));
    this.#socket.on('error', () => {}); // per-send errors arrive in the send callback
    this.#ready = new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.#bindError = networkError(`binding UDP ${host}:${options.port ?? 0}`, error);
        reject(this.#bindError);
      };
      this.#socket.once('error', onError);
      this.#socket.bind({ port: options.port ?? 0, address: host, exclusive: true }, () => {
        this.#socket.off('error', onError);
        const bytes = options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES;
        try {
          this.#socket.setRecvBufferSize(bytes);
          this.#socket.setSendBufferSize(bytes);
        } catch {
          // The kernel caps the sizes (net.core.rmem_max); its default still works, only slower.
        }
        this.#receiver = BatchReceiver.start(this.#socket, this.#onBatchedDatagram, bufferBytes);
        const bound = this.#socket.address();
        this.#address = {
          host: bound.address,
          port: bound.port,
          family: bound.family === 'IPv6' ? 'IPv6' : 'IPv4',
        };
        resolve();
      });
    });
    this.#ready.catch(() => {});
  }

  /** Binds a new endpoint and resolves once it is ready. */
  static async bind(options: UdpEndpointOptions = {}): Promise<UdpEndpoint> {
    const endpoint = new UdpEndpoint(options);
    await endpoint.ready();
    return endpoint;
  }

  /** Resolves once the socket is bound; rejects with ANTT_ERR_NETWORK if it cannot be. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The bound address (undefined until ready). */
  get address(): Address | undefined {
    return this.#address;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Opens a connection to `remote` through this endpoint and resolves once it is connected. */
  async connect(
    remote: { host: string; port: number },
    options: Omit<UdpConnectionOptions, 'remote' | 'endpoint'> & WaitOptions = {},
  ): Promise<UdpConnection> {
    const { signal, timeout, ...rest } = options;
    // Security options given here replace the endpoint's (the connection then has its own identity too).
    const connection = new UdpConnection({ ...this.#inherited(), ...rest, remote, endpoint: this });
    await connection.connect({ signal, timeout });
    return connection;
  }

  /**
   * From now on, INITs from unknown peers create connections that accept() returns. Throws
   * ANTT_ERR_INVALID_ARGUMENT unless the endpoint's options say who may connect.
   */
  listen(): void {
    if (this.#closed) throw new AnttError(ErrorCode.CLOSED, 'listen() on a closed endpoint');
    // Starts stretching the passphrase now, so the first peer does not wait for it.
    this._securitySource().context();
    this.#listening = true;
  }

  /**
   * Registers a handler for datagrams that are not Antt packets (their first two bytes are far from
   * Antt's magic 0xA7 0x7E: STUN starts with 0x00-0x03, see the README's wire format). Returns its
   * remover. Without handlers such datagrams are dropped and counted as invalid.
   */
  onForeignDatagram(handler: ForeignDatagramHandler): () => void {
    this.#foreignHandlers.add(handler);
    return () => {
      this.#foreignHandlers.delete(handler);
    };
  }

  /** Sends `bytes` as one datagram from this endpoint's socket (STUN, rendezvous, hole punching). */
  async sendDatagram(bytes: Uint8Array, to: Address | { host: string; port: number }): Promise<void> {
    await this.#ready;
    if (this.#closed) throw new AnttError(ErrorCode.CLOSED, 'sendDatagram() on a closed endpoint');
    await new Promise<void>((resolve, reject) => {
      this.#socket.send(bytes, to.port, to.host, (error) => {
        if (error) reject(networkError(`sending a datagram to ${to.host}:${to.port}`, error));
        else resolve();
      });
    });
  }

  /** @internal The security every connection without its own options uses (and accepted ones). */
  _securitySource(): SecuritySource {
    if (this.#securitySource) return this.#securitySource;
    const defaults = pickSecurityOptions({
      ...pickSecurityOptions(this.#options),
      ...pickSecurityOptions(this.#options.connectionDefaults ?? {}),
    } as UdpSecurityOptions);
    if (!hasSecurityOptions(defaults)) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `say who may connect, on the connection or its endpoint: give one of ${SECURITY_CHOICES}`,
      );
    }
    const source = new SecuritySource(resolveSecurityOptions(defaults));
    if (!source.security.secured) warnInsecure(`udp endpoint ${this.#describe()}`);
    this.#securitySource = source;
    return source;
  }

  #describe(): string {
    const address = this.#address;
    return address ? `${address.host}:${address.port}` : 'on a port not bound yet';
  }

  /** The next incoming connection, already open. Call listen() first. */
  accept(options?: WaitOptions): Promise<UdpConnection> {
    if (this.#closed) return Promise.reject(new AnttError(ErrorCode.CLOSED, 'accept() on a closed endpoint'));
    if (!this.#listening) {
      return Promise.reject(new AnttError(ErrorCode.INVALID_STATE, 'call listen() before accept()'));
    }
    const queued = this.#backlog.shift();
    if (queued) return Promise.resolve(queued);
    let scope: ReturnType<typeof scopedSignal>;
    try {
      scope = scopedSignal(options, undefined, 'accept()');
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<UdpConnection>((resolve, reject) => {
      const waiter = {
        resolve: (c: UdpConnection) => {
          done();
          resolve(c);
        },
        reject: (e: Error) => {
          done();
          reject(e);
        },
      };
      const onAbort = (): void => {
        const at = this.#acceptWaiters.indexOf(waiter);
        if (at >= 0) this.#acceptWaiters.splice(at, 1);
        waiter.reject(scope.error());
      };
      const done = (): void => {
        scope.signal.removeEventListener('abort', onAbort);
        scope.done();
      };
      scope.signal.addEventListener('abort', onAbort, { once: true });
      this.#acceptWaiters.push(waiter);
    });
  }

  /** Counters since bind. Auth and replay drops are summed over connections, live and gone. */
  stats(): UdpEndpointStats {
    return {
      ...this.#stats,
      datagramsSentBatched: this.#sender.stats.datagramsBatched,
      batchSendCalls: this.#sender.stats.batchCalls,
      datagramsReceivedBatched: this.#receiver?.stats.datagrams ?? 0,
      batchReceiveCalls: this.#receiver?.stats.batches ?? 0,
      connections: this.#attachments.size,
    };
  }

  /** Resets every connection (the peers hear a RESET) and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const attachment of [...this.#attachments.values()]) attachment.connection.destroy();
    for (const attachment of this.#attachments.values()) this.#flush(attachment);
    // Let the RESETs leave before the socket goes.
    await new Promise((resolve) => setImmediate(resolve));
    this.#shutdown(new AnttError(ErrorCode.CLOSED, 'the endpoint was closed'));
  }

  /**
   * Closes the socket at once without telling any peer: they notice only by their idle timeout, as if
   * this machine lost power. Connections on it end with ANTT_ERR_CLOSED. Meant for tests.
   */
  abandon(): void {
    this.#shutdown(new AnttError(ErrorCode.CLOSED, 'the endpoint was abandoned'));
  }

  #shutdown(error: AnttError): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const attachment of [...this.#attachments.values()]) {
      attachment.core.release();
      attachment.core.state = 'closed';
      this.#detach(attachment);
      attachment.connection.destroy(error);
    }
    for (const waiter of this.#acceptWaiters.splice(0)) waiter.reject(error);
    for (const connection of this.#backlog.splice(0)) connection.destroy(error);
    this.#receiver?.stop();
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }

  // ---- for connections ------------------------------------------------------------------------

  /** @internal Registers a connection's core under its receive ID; returns false if the ID is taken. */
  _attach(attachment: Attachment): boolean {
    if (this.#closed) throw new AnttError(ErrorCode.CLOSED, 'the endpoint is closed');
    const key = attachment.core.localId.lo;
    if (this.#attachments.has(key) || key === 0) return false;
    this.#attachments.set(key, attachment);
    return true;
  }

  /** @internal Something changed for this connection: send what is due at the end of this turn. */
  _kick(attachment: Attachment): void {
    if (attachment.queued) return;
    attachment.queued = true;
    this.#flushQueue.push(attachment);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushAll);
    }
  }

  /** @internal Sends what is due now (used for a RESET before the connection goes away). */
  _flushNow(attachment: Attachment): void {
    this.#flush(attachment);
  }

  // ---- receiving ------------------------------------------------------------------------------

  /** A datagram from the batch receiver: a view into memory reused for the next batch. */
  readonly #onBatchedDatagram = (datagram: Buffer, remote: BatchSource): void =>
    this.#onDatagram(datagram, remote, true);

  /**
   * `reused`: the bytes are a view the batch receiver reuses for its next batch. Only DATA of a live
   * connection is processed in place (whatever the connection keeps of it, it copies); what else is
   * kept past this call (handshake packets, foreign datagrams, which handlers may keep) is copied first.
   */
  #onDatagram(datagram: Buffer, remote: RemoteInfo | BatchSource, reused = false): void {
    const stats = this.#stats;
    stats.datagramsReceived++;
    if (this.#closed) return;
    const distance = magicDistance(datagram);
    if (distance !== 0 || datagram.byteLength < HEADER_BYTES) {
      if (distance >= NOT_ANTT_MAGIC_DISTANCE && this.#foreignHandlers.size > 0) {
        stats.foreignDatagrams++;
        this.#deliverForeign(reused ? Buffer.from(datagram) : datagram, remote);
        return;
      }
      stats.droppedInvalid++;
      // A reply that is not Antt at all, from a peer we are handshaking with: the peer is not Antt.
      if (distance >= NOT_ANTT_MAGIC_DISTANCE) this.#failHandshakes(remote);
      return;
    }
    const lo = headerIdLo(datagram);
    const hi = headerIdHi(datagram);
    let attachment: Attachment | undefined;
    let from: PathAddress | undefined;
    if (lo === 0 && hi === 0) {
      if (reused) datagram = Buffer.from(datagram);
      attachment = this.#routeInit(datagram, remote);
      if (attachment === undefined) return;
    } else {
      attachment = this.#attachments.get(lo);
      if (attachment === undefined || attachment.core.localId.hi !== hi) {
        if (this.#recentlyClosed.has(lo)) stats.droppedClosedConnection++;
        else stats.droppedUnknownConnection++;
        return;
      }
      if (attachment.remotePort !== remote.port || attachment.remoteHost !== remote.address) {
        // A live connection ID from another address: the peer's NAT may have given it a new port. The
        // core decides (path validation); nothing from there is trusted before it authenticates.
        from = { host: remote.address, port: remote.port };
      }
      if (reused && headerType(datagram) !== PacketType.DATA) datagram = Buffer.from(datagram);
    }
    const core = attachment.core;
    const duplicatesBefore = core.duplicatesDropped;
    const invalidBefore = core.invalidDropped;
    const outcome = core.receive(datagram, performance.now(), from);
    if (outcome === ReceiveOutcome.UNKNOWN_PATH) {
      stats.droppedUnknownConnection++;
      return;
    }
    stats.droppedDuplicate += core.duplicatesDropped - duplicatesBefore;
    stats.droppedInvalid += core.invalidDropped - invalidBefore;
    if (outcome === ReceiveOutcome.REJECTED) {
      // Forged, spoofed or replayed: counted, and nothing to send because of it.
      if (core.datagramsRejectedReplay > attachment.rejectedReplay) stats.datagramsRejectedReplay++;
      else stats.datagramsRejectedAuth++;
      attachment.rejectedReplay = core.datagramsRejectedReplay;
      return;
    }
    // The connection just ended or opened: answer now, before the application (which may exit the
    // process as soon as it hears the news) runs.
    if (core.state !== 'open') this.#flush(attachment);
    else this._kick(attachment);
  }

  /** An INIT (or a handshake packet) that names no destination ID yet: route by source address and ID. */
  #routeInit(datagram: Buffer, remote: RemoteInfo): Attachment | undefined {
    const stats = this.#stats;
    if (
      datagram.byteLength < HEADER_BYTES + CONNECTION_ID_BYTES ||
      headerType(datagram) !== PacketType.INIT
    ) {
      stats.droppedInvalid++;
      return undefined;
    }
    if (headerVersion(datagram) !== WIRE_VERSION && this.#listening) {
      // Every version's INIT names its sender's ID first: answer with our version so it fails at once.
      stats.droppedInvalid++;
      this.#answerVersion(datagram, remote);
      return undefined;
    }
    const peerHi = readUint32(datagram, HEADER_BYTES);
    const peerLo = readUint32(datagram, HEADER_BYTES + 4);
    let candidate: Attachment | undefined;
    for (const attachment of this.#attachments.values()) {
      if (attachment.remotePort !== remote.port || attachment.remoteHost !== remote.address) continue;
      const core = attachment.core;
      if (core.peerKnown) {
        if (core.peerId.hi === peerHi && core.peerId.lo === peerLo) return attachment;
      } else if (candidate === undefined && core.state === 'handshake') {
        candidate = attachment; // our own connect() to this address, simultaneous open
      }
    }
    if (candidate) return candidate;
    if (!this.#listening || this.#backlog.length >= (this.#options.acceptBacklog ?? DEFAULT_ACCEPT_BACKLOG)) {
      stats.droppedUnknownConnection++;
      return undefined;
    }
    const protection = resolveTransportOptions(this.#inherited()).protection;
    if (protection.open(datagram, HEADER_BYTES, 0) < 0) {
      stats.droppedInvalid++;
      return undefined;
    }
    this._securitySource(); // listen() checked that there is a choice
    const connection = acceptConnection(
      this,
      { host: remote.address, port: remote.port },
      { hi: peerHi, lo: peerLo },
      this.#inherited(),
    );
    return connection;
  }

  /** A VERSION packet (header and CRC-32, never larger than what it answers) to an INIT's sender. */
  #answerVersion(init: Buffer, remote: RemoteInfo): void {
    const protection = new ChecksumProtection();
    const bytes = HEADER_BYTES + protection.overheadBytes;
    if (init.byteLength < bytes) return;
    const reply = new Uint8Array(bytes);
    writeHeader(
      reply,
      PacketType.VERSION,
      { hi: readUint32(init, HEADER_BYTES), lo: readUint32(init, HEADER_BYTES + 4) },
      0,
    );
    protection.seal(reply, HEADER_BYTES, HEADER_BYTES);
    this.#socket.send(reply, 0, bytes, remote.port, remote.address, () => {});
  }

  #deliverForeign(datagram: Buffer, remote: RemoteInfo): void {
    const from: Address = {
      host: remote.address,
      port: remote.port,
      family: remote.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    for (const handler of [...this.#foreignHandlers]) {
      try {
        handler(datagram, from);
      } catch (error) {
        // A handler's bug must not take the socket down; surface it like an unhandled error would.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Transport options of this endpoint, then `connectionDefaults`, for connections made through it. */
  #inherited(): Omit<UdpConnectionOptions, 'remote' | 'endpoint'> {
    const {
      host: _host,
      port: _port,
      type: _type,
      socketBufferBytes: _s,
      acceptBacklog: _b,
      connectionDefaults,
      ...transport
    } = this.#options;
    // Not the security options: a connection without its own uses the endpoint's SecuritySource.
    return omitSecurityOptions({ ...transport, ...connectionDefaults });
  }

  /** @internal An accepted connection finished its handshake. */
  _accepted(connection: UdpConnection): void {
    const waiter = this.#acceptWaiters.shift();
    if (waiter) waiter.resolve(connection);
    else this.#backlog.push(connection);
  }

  #failHandshakes(remote: RemoteInfo): void {
    for (const attachment of this.#attachments.values()) {
      if (
        attachment.core.state === 'handshake' &&
        attachment.remotePort === remote.port &&
        attachment.remoteHost === remote.address
      ) {
        attachment.connection._notAntt();
      }
    }
  }

  // ---- sending and timers ---------------------------------------------------------------------

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const queue = this.#flushQueue.splice(0);
    for (const attachment of queue) {
      attachment.queued = false;
      this.#flush(attachment);
    }
  };

  #flush(attachment: Attachment): void {
    const core = attachment.core;
    const now = performance.now();
    core.handleTimeouts(now);
    // The burst is collected per destination and handed over in runs (many per system call where the
    // addon is built); a connection's destination changes only between datagrams of a path change.
    const burst = this.#burst;
    let runHost = '';
    let runPort = 0;
    let run = 0;
    let sent = 0;
    while (sent < MAX_BURST_DATAGRAMS && this.#pool.available > 0 && !this.#closed) {
      const buffer = this.#pool.acquire();
      const length = core.produce(buffer, now);
      if (length === 0) {
        this.#pool.release();
        break;
      }
      this.#stats.datagramsSent++;
      const to = core.destination;
      const host = to ? to.host : attachment.remoteHost;
      const port = to ? to.port : attachment.remotePort;
      if (run > 0 && (host !== runHost || port !== runPort)) {
        this.#sender.send(burst, run, runHost, runPort);
        run = 0;
      }
      runHost = host;
      runPort = port;
      burst[run++] = buffer.subarray(0, length);
      sent++;
    }
    if (run > 0) this.#sender.send(burst, run, runHost, runPort);
    burst.fill(EMPTY, 0, run);
    if (core.state === 'closed') {
      this.#detach(attachment);
      return;
    }
    if (sent === MAX_BURST_DATAGRAMS || this.#pool.available === 0) {
      // More may be due: continue after the event loop has read what arrived meanwhile.
      this._kick(attachment);
      return;
    }
    this.#arm(attachment, core.nextDeadline());
  }

  readonly #onSent = (): void => {
    this.#pool.release();
  };

  #arm(attachment: Attachment, at: number): void {
    if (at === Number.POSITIVE_INFINITY) {
      if (attachment.timer) clearTimeout(attachment.timer);
      attachment.timer = undefined;
      attachment.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    // A timer already due no later than needed will do (the flush re-arms for anything after it).
    if (attachment.timer && attachment.timerAt <= at) return;
    if (attachment.timer) clearTimeout(attachment.timer);
    const delay = Math.max(0, at - performance.now());
    attachment.timerAt = at;
    attachment.timer = setTimeout(() => {
      attachment.timer = undefined;
      attachment.timerAt = Number.POSITIVE_INFINITY;
      this.#flush(attachment);
    }, delay);
  }

  #detach(attachment: Attachment): void {
    if (attachment.timer) clearTimeout(attachment.timer);
    attachment.timer = undefined;
    const key = attachment.core.localId.lo;
    if (this.#attachments.get(key) !== attachment) return;
    this.#attachments.delete(key);
    this.#recentlyClosed.add(key);
    if (this.#recentlyClosed.size > RECENTLY_CLOSED_IDS) {
      const oldest = this.#recentlyClosed.values().next().value;
      if (oldest !== undefined) this.#recentlyClosed.delete(oldest);
    }
    if (this.closeWhenEmpty && this.#attachments.size === 0) {
      // After this turn, so datagrams just queued (a RESET) leave first.
      setImmediate(() => {
        if (this.#attachments.size === 0) this.#shutdown(new AnttError(ErrorCode.CLOSED, 'closed'));
      });
    }
  }
}
