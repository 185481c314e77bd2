/**
 * `UdpConnection`: the `@antt/core` contract over an Antt/UDP connection core. Constructed with
 * `{ localPort, remote }` it binds a private endpoint; with `{ endpoint, remote }` it shares one.
 */
import { randomFillSync } from 'node:crypto';
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
} from '@antt/core';
import { type Attachment, UdpEndpoint } from './endpoint.js';
import {
  maxDatagramBytesFor,
  type ResolvedTransportOptions,
  resolveTransportOptions,
  type UdpTransportOptions,
} from './options.js';
import { ConnectionCore, type CoreHost } from './protocol/connection-core.js';
import { REFERENCE_THRESHOLD_BYTES } from './protocol/send-stream.js';
import type { ConnectionId } from './protocol/wire.js';

export interface UdpConnectionOptions extends BaseConnectionOptions, UdpTransportOptions {
  /** The peer's address. A host name is resolved once, at connect(). */
  remote: { host: string; port: number };
  /** Share this endpoint's socket instead of binding a private one. */
  endpoint?: UdpEndpoint;
  /** Port of the private endpoint (ignored with `endpoint`). Default 0: any free port. */
  localPort?: number;
  /** Address of the private endpoint. Default: all interfaces of the remote's family. */
  localHost?: string;
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

  constructor(options: UdpConnectionOptions) {
    super(options);
    if (!options?.remote || typeof options.remote.host !== 'string' || !(options.remote.port > 0)) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        'option remote must be { host, port }, for example { host: "203.0.113.2", port: 4456 }',
      );
    }
    this.#transport = resolveTransportOptions(options);
    this.#remote = { ...options.remote };
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
    const opened = new Promise<void>((resolve, reject) => {
      this.#openWaiter = { resolve, reject };
    });
    this.#attachCore(true);
    this.#attachment!.core.startHandshake(performance.now());
    this.#endpoint._kick(this.#attachment!);
    await raceAbort(opened, signal);
  }

  /** @internal Sets up the core of an accepted connection. */
  _acceptFrom(peerId: ConnectionId): Attachment {
    this.#attachCore(false);
    const attachment = this.#attachment!;
    attachment.core.acceptInit(peerId);
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
    };
    for (;;) {
      const core = new ConnectionCore(
        {
          localId: randomConnectionId(),
          initiator,
          datagramBytes: this.#transport.datagramBytes,
          maxDatagramBytes: maxDatagramBytesFor(this.#transport, this.#remote.host),
          protection: this.#transport.protection,
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

function randomConnectionId(): ConnectionId {
  const bytes = new Uint32Array(2);
  do randomFillSync(bytes);
  while (bytes[0] === 0 && bytes[1] === 0);
  return { hi: bytes[0]!, lo: bytes[1]! };
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
