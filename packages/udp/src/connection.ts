/**
 * `UdpConnection`: the `@antt/core` contract over an Antt/UDP connection core. Constructed with
 * `{ localPort, remote }` it binds a private endpoint; with `{ endpoint, remote }` it shares one.
 *
 * Secured by default: a Noise handshake (@antt/secure) proves who is at the other end, and every DATA
 * datagram after it is sealed. `insecure: true` turns that off, for benchmarks and debugging only.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  type Address,
  AnttError,
  abortReasonToError,
  BaseConnection,
  type BaseConnectionOptions,
  ClosedError,
  type ConnectionStats,
  ErrorCode,
  formatAddress,
  networkError,
  ProtocolError,
  type WaitOptions,
} from '@antt/core';
import { warnInsecure } from '@antt/secure';
import { type Attachment, UdpEndpoint } from './endpoint.js';
import {
  maxDatagramBytesFor,
  type ResolvedTransportOptions,
  resolveTransportOptions,
  type UdpTransportOptions,
} from './options.js';
import { type PathChange, PathChanges } from './path-changes.js';
import { ConnectionCore, type CoreHost } from './protocol/connection-core.js';
import { randomConnectionId } from './protocol/handshake.js';
import type { ValidationOutcome } from './protocol/path-validation.js';
import { REFERENCE_THRESHOLD_BYTES } from './protocol/send-stream.js';
import type { ConnectionId } from './protocol/wire.js';
import {
  hasSecurityOptions,
  resolveSecurityOptions,
  SecuritySource,
  type UdpSecurityOptions,
} from './security-options.js';

/**
 * Say who may connect: `passphrase` and/or `allowedPeers`, `acceptAnyPeer: true`, or `insecure: true`
 * (alone). Through an endpoint, a connection without any of these uses the endpoint's.
 */
export interface UdpConnectionOptions extends BaseConnectionOptions, UdpTransportOptions, UdpSecurityOptions {
  /** The peer's address. A host name is resolved once, at connect(). */
  remote: { host: string; port: number };
  /** Share this endpoint's socket instead of binding a private one. */
  endpoint?: UdpEndpoint;
  /** Port of the private endpoint (ignored with `endpoint`). Default 0: any free port. */
  localPort?: number;
  /** Address of the private endpoint. Default: all interfaces of the remote's family. */
  localHost?: string;
  /**
   * The Noise role this side would rather have, when the caller knows which side learns the other's
   * connection ID first (that side saves half a round trip by initiating; `@antt/nat` sets it on both
   * sides of a punched path). Roles still follow from the two random connection IDs, so any peer works;
   * when both sides prefer the same role it is random as without. Default: random.
   */
  preferredHandshakeRole?: 'initiator' | 'responder';
}

type Waiter = { resolve(): void; reject(error: Error): void };

export class UdpConnection extends BaseConnection {
  readonly transport = 'udp';
  readonly #endpoint: UdpEndpoint;
  readonly #transport: ResolvedTransportOptions;
  #remote: Address;
  #attachment: Attachment | undefined;
  #openWaiter: Waiter | undefined;
  readonly #ackWaiters: Waiter[] = [];
  #ended = false;
  #endError: Error | undefined;
  readonly #security: SecuritySource;
  #remotePeerId: string | undefined;
  readonly #paths = new PathChanges();
  readonly #preferredRole: 'initiator' | 'responder' | undefined;

  constructor(options: UdpConnectionOptions) {
    super(options);
    if (!options?.remote || typeof options.remote.host !== 'string' || !(options.remote.port > 0)) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        'option remote must be { host, port }, for example { host: "203.0.113.2", port: 4456 }',
      );
    }
    this.#transport = resolveTransportOptions(options);
    const role = options.preferredHandshakeRole;
    if (role !== undefined && role !== 'initiator' && role !== 'responder') {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `option preferredHandshakeRole must be 'initiator' or 'responder', got ${String(role)}`,
      );
    }
    this.#preferredRole = role;
    this.#security =
      options.endpoint && !hasSecurityOptions(options)
        ? options.endpoint._securitySource()
        : new SecuritySource(resolveSecurityOptions(options));
    this.#remote = { ...options.remote };
    if (!this.#security.security.secured) warnInsecure(`udp connection to ${formatAddress(this.#remote)}`);
    if (options.endpoint) this.#endpoint = options.endpoint;
    else {
      const v6 = isIP(options.remote.host) === 6;
      this.#endpoint = new UdpEndpoint({
        ...options,
        host: options.localHost ?? (v6 ? '::' : '0.0.0.0'),
        port: options.localPort ?? 0,
      });
      this.#endpoint.closeWhenEmpty = true;
    }
  }

  get localAddress(): Address | undefined {
    return this.#endpoint.address;
  }

  get remoteAddress(): Address | undefined {
    return this.#remote;
  }

  /** True unless made with `insecure: true`: the peer is authenticated and every datagram is sealed. */
  get encrypted(): boolean {
    return this.#security.security.secured;
  }

  /** This side's peer id (its identity's); undefined with `insecure: true`. */
  get localPeerId(): string | undefined {
    return this.#security.localPeerId;
  }

  /** The peer's id, proven by the handshake, once connected; undefined with `insecure: true`. */
  get remotePeerId(): string | undefined {
    return this.#remotePeerId;
  }

  /** The endpoint (socket) this connection runs on. */
  get endpoint(): UdpEndpoint {
    return this.#endpoint;
  }

  /** @internal Internal state of the protocol core, for diagnosing a stall. */
  _debugState(): Record<string, unknown> | undefined {
    const attachment = this.#attachment;
    return (
      attachment && {
        ...attachment.core.debugState(performance.now()),
        timerAt: attachment.timerAt - performance.now(),
        queued: attachment.queued,
      }
    );
  }

  /**
   * Moves the connection to a new remote address: PATH_CHALLENGEs go there until the peer answers from
   * that address (both directions work), then every datagram goes there. Nothing sent is lost; the
   * congestion controller and RTT estimate start over when the host changes (RFC 9000 §9.4). Resolves
   * once the connection switched; rejects with ANTT_ERR_TIMEOUT when the new path does not answer (the
   * connection stays on its current path), ANTT_ERR_INVALID_STATE when the connection is not open or the
   * peer cannot migrate (an older build). `remote` must be an IP address.
   */
  async migrate(remote: { host: string; port: number }, options: WaitOptions = {}): Promise<void> {
    const family = isIP(remote?.host);
    if (family === 0 || !(remote.port > 0 && remote.port < 65_536)) {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, 'migrate() takes { host, port } with an IP address');
    }
    const attachment = this.#requireOpen();
    if (remote.host === this.#remote.host && remote.port === this.#remote.port) return;
    const target = { host: remote.host, port: remote.port };
    options.signal?.throwIfAborted();
    if (!attachment.core.migrate(target, performance.now())) {
      throw new AnttError(
        ErrorCode.INVALID_STATE,
        `cannot migrate the connection with ${formatAddress(this.#remote)}: ` +
          (attachment.core.state === 'open' ? 'the peer does not support migration' : 'it is not open'),
      );
    }
    this.#endpoint._kick(attachment);
    await this.#paths.wait(target, options, () => attachment.core.cancelMigration(target));
  }

  /**
   * Calls `handler` each time the connection starts sending to a new remote address (after validating
   * it): the peer moved, or migrate() succeeded. Returns its remover.
   */
  onPathChange(handler: (change: PathChange) => void): () => void {
    return this.#paths.on(handler);
  }

  #onPathValidated(outcome: ValidationOutcome): void {
    const previous = this.#remote;
    if (outcome.validated) {
      const { host, port } = outcome.target;
      this.#remote = { host, port, family: isIP(host) === 6 ? 'IPv6' : 'IPv4' };
      const attachment = this.#attachment;
      if (attachment) {
        attachment.remoteHost = host;
        attachment.remotePort = port;
      }
    }
    this.#paths.ended(outcome, previous, this.#remote);
  }

  // ---- hooks ----------------------------------------------------------------------------------

  protected async _connect(signal: AbortSignal): Promise<void> {
    await raceAbort(this.#endpoint.ready(), signal);
    const host = this.#remote.host;
    if (isIP(host) === 0) {
      try {
        const family = this.#endpoint.address?.family === 'IPv6' ? 6 : 4;
        const found = await raceAbort(lookup(host, { family }), signal);
        this.#remote = {
          host: found.address,
          port: this.#remote.port,
          family: found.family === 6 ? 'IPv6' : 'IPv4',
        };
      } catch (error) {
        if (signal.aborted) throw error;
        throw networkError(`resolving ${host}`, error);
      }
    } else {
      this.#remote.family = isIP(host) === 6 ? 'IPv6' : 'IPv4';
    }
    const pending = this.#security.context();
    const context = pending && (this.#security.ready ?? (await raceAbort(pending, signal)));
    const opened = new Promise<void>((resolve, reject) => {
      this.#openWaiter = { resolve, reject };
    });
    this.#attachCore(true);
    const attachment = this.#attachment!;
    if (context) attachment.core.setSecureContext(context, performance.now());
    attachment.core.startHandshake(performance.now());
    this.#endpoint._kick(attachment);
    try {
      await raceAbort(opened, signal);
    } catch (error) {
      // Timed out or aborted: a handshake that saw a forged or tampered message says so (and tells the peer).
      const cause = signal.aborted ? attachment.core.abandonHandshake() : undefined;
      if (cause) {
        this.#endpoint._flushNow(attachment);
        throw cause;
      }
      throw error;
    }
  }

  /** @internal Sets up the core of an accepted connection. */
  _acceptFrom(peerId: ConnectionId): Attachment {
    this.#attachCore(false);
    const attachment = this.#attachment!;
    const core = attachment.core;
    const ready = this.#security.ready;
    if (ready) core.setSecureContext(ready, performance.now());
    else {
      // The endpoint's context is still being created (scrypt): the peer's handshake waits for it.
      this.#security.context()?.then(
        (context) => {
          if (core.state === 'closed') return;
          core.setSecureContext(context, performance.now());
          this.#endpoint._kick(attachment);
        },
        (error: unknown) => this.destroy(error as Error),
      );
    }
    core.acceptInit(peerId);
    return attachment;
  }

  #attachCore(initiator: boolean): void {
    const host: CoreHost = {
      onOpen: () => this.#onCoreOpen(),
      onMessage: (message) => this._deliver(message),
      onEnd: (error) => this.#onCoreEnd(error),
      onAcked: () => this.#wakeAckWaiters(),
      receiveWindowBytes: () => this._receiveWindowBytes,
      describePeer: () => `the peer ${formatAddress(this.#remote)}`,
      remotePath: () => this.#remote,
      onPathValidated: (outcome) => this.#onPathValidated(outcome),
    };
    for (;;) {
      const core = new ConnectionCore(
        {
          localId: randomConnectionId(this.#preferredRole),
          initiator,
          datagramBytes: this.#transport.datagramBytes,
          maxDatagramBytes: maxDatagramBytesFor(this.#transport, this.#remote.host),
          protection: this.#transport.protection,
          secured: this.#security.security.secured,
          congestion: this.#transport.congestion,
          idleTimeoutMs: this.#transport.idleTimeoutMs,
          keepAliveIntervalMs: this.#transport.keepAliveIntervalMs,
          maxMessageBytes: this.maxMessageBytes,
          reassemblyBytes: this.#transport.reassemblyBytes,
        },
        host,
        performance.now(),
      );
      const attachment: Attachment = {
        core,
        remoteHost: this.#remote.host,
        remotePort: this.#remote.port,
        connection: this,
        timer: undefined,
        timerAt: Number.POSITIVE_INFINITY,
        queued: false,
        rejectedReplay: 0,
      };
      // 32 of the 64 random bits index the endpoint's table: draw again on the rare clash.
      if (this.#endpoint._attach(attachment)) {
        this.#attachment = attachment;
        return;
      }
    }
  }

  protected async _send(message: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const attachment = this.#requireOpen();
    const core = attachment.core;
    const limit = this.#transport.sendBufferBytes;
    while (core.stream.bufferedBytes > 0 && core.stream.bufferedBytes + message.byteLength > limit) {
      await this.#waitAck(signal);
      this.#requireOpen();
    }
    const end = core.write(message);
    this.#endpoint._kick(attachment);
    // A large message is referenced, not copied: it must stay untouched until the peer has it all.
    if (message.byteLength >= REFERENCE_THRESHOLD_BYTES) {
      while (core.stream.ackedOffset < end) {
        await this.#waitAck(signal);
        this.#requireOpen();
      }
    }
  }

  protected async _close(signal: AbortSignal): Promise<void> {
    const attachment = this.#attachment;
    if (!attachment || this.#ended) {
      if (this.#endError) throw this.#endError;
      return;
    }
    attachment.core.finish();
    this.#endpoint._kick(attachment);
    while (!attachment.core.closeAcknowledged && !this.#ended) {
      await this.#waitAck(signal);
    }
    if (this.#endError) throw this.#endError;
  }

  protected _destroy(error: Error | undefined, abrupt: boolean): void {
    const attachment = this.#attachment;
    this.#ended = true;
    if (this.#endError === undefined) this.#endError = error;
    if (attachment) {
      if (abrupt) {
        attachment.core.reset();
        this.#endpoint._flushNow(attachment);
      } else {
        attachment.core.release();
        this.#endpoint._kick(attachment);
      }
    } else if (this.#endpoint.closeWhenEmpty) {
      void this.#endpoint.ready().then(
        () => this.#endpoint.abandon(),
        () => {},
      );
    }
    const reason = error ?? new ClosedError();
    this.#openWaiter?.reject(reason);
    this.#openWaiter = undefined;
    for (const waiter of this.#ackWaiters.splice(0)) waiter.resolve();
    this.#paths.failAll(reason);
  }

  protected override _transportStats(): Partial<ConnectionStats> {
    const core = this.#attachment?.core;
    if (!core) return {};
    const loss = core.loss;
    return {
      rttMs: loss.rtt.hasSample ? loss.rtt.smoothedRtt : undefined,
      minRttMs: loss.rtt.hasSample ? loss.rtt.minRtt : undefined,
      retransmissions: core.packetsRetransmitted,
      congestionWindowBytes: loss.cc.congestionWindow,
      bytesInFlight: loss.bytesInFlight,
      packetsSent: core.packetsSent,
      packetsReceived: core.packetsReceived,
      packetsLost: loss.packetsLost,
      packetsRetransmitted: core.packetsRetransmitted,
      duplicatesDropped: core.duplicatesDropped,
      invalidDropped: core.invalidDropped,
      outOfOrderDropped: core.overCapDropped,
      datagramBytes: core.pathMtu.current,
      mtuProbesSent: core.pathMtu.probesSent,
      bytesSentOnWire: core.bytesSentOnWire,
      bytesReceivedOnWire: core.bytesReceivedOnWire,
      encrypted: this.encrypted ? 1 : 0,
      datagramsRejectedAuth: core.datagramsRejectedAuth,
      datagramsRejectedReplay: core.datagramsRejectedReplay,
      pathMigrations: core.pathMigrations,
      pathChallengesSent: core.path.challengesSent,
      pathValidationsFailed: core.path.validationsFailed,
    };
  }

  protected override _onReceiveQueueDrained(): void {
    const attachment = this.#attachment;
    if (!attachment) return;
    attachment.core.onReceiveWindowOpened();
    this.#endpoint._kick(attachment);
  }

  // ---- core events ----------------------------------------------------------------------------

  #onCoreOpen(): void {
    this.#remotePeerId = this.#attachment?.core.remotePeerId;
    const waiter = this.#openWaiter;
    this.#openWaiter = undefined;
    if (waiter) waiter.resolve();
    else {
      // An accepted connection: open now and hand it to accept().
      this._markOpen();
      this.#endpoint._accepted(this);
    }
  }

  #onCoreEnd(error: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endError = error;
    const waiter = this.#openWaiter;
    this.#openWaiter = undefined;
    if (waiter) {
      waiter.reject(error ?? new ClosedError('the peer closed the connection during the handshake'));
      return;
    }
    for (const ack of this.#ackWaiters.splice(0)) ack.resolve();
    this.#paths.failAll(error ?? new ClosedError());
    if (this.state === 'new' || this.state === 'connecting') return;
    // Not synchronously: the core may be in the middle of processing a datagram.
    queueMicrotask(() => this._finish(error));
  }

  /** @internal The peer answered the handshake with something that is not Antt/UDP. */
  _notAntt(): void {
    const waiter = this.#openWaiter;
    if (!waiter) return;
    this.#openWaiter = undefined;
    waiter.reject(
      new ProtocolError(
        `${formatAddress(this.#remote)} answered with a datagram that is not Antt/UDP: is the port right, and is the peer an Antt peer?`,
      ),
    );
  }

  #requireOpen(): Attachment {
    const attachment = this.#attachment;
    if (this.#ended || !attachment || (this.state !== 'open' && this.state !== 'closing')) {
      throw this.#endError ?? new ClosedError();
    }
    return attachment;
  }

  #waitAck(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.#ackWaiters.indexOf(waiter);
        if (at >= 0) this.#ackWaiters.splice(at, 1);
        reject(abortReasonToError(signal!, 'send()'));
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#ackWaiters.push(waiter);
    });
  }

  #wakeAckWaiters(): void {
    const waiters = this.#ackWaiters.splice(0);
    for (const waiter of waiters) waiter.resolve();
  }
}

/** For the endpoint: a connection for a peer's INIT, open once its handshake completes. */
export function acceptConnection(
  endpoint: UdpEndpoint,
  remote: { host: string; port: number },
  peerId: ConnectionId,
  options: Omit<UdpConnectionOptions, 'remote' | 'endpoint'>,
): Attachment {
  const connection = new UdpConnection({ ...options, remote, endpoint });
  return connection._acceptFrom(peerId);
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
