import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import {
  type Address,
  AuthError,
  BaseConnection,
  ClosedError,
  type ConnectionStats,
  formatAddress,
  formatMs,
  MessageTooLargeError,
  networkError,
  ProtocolError,
  ResetError,
  TimeoutError,
  type WaitOptions,
} from '@antt/core';
import {
  type CipherName,
  chooseRoles,
  type SecureContext,
  type TransportKeys,
  warnInsecure,
} from '@antt/secure';
import { FrameDecoder, type FrameInput } from './frame-decoder.js';
import { FrameWriter } from './frame-writer.js';
import { runHandshake } from './handshake.js';
import { type ResolvedTcpOptions, resolveTcpOptions, type TcpConnectionOptions } from './options.js';
import { chunksAreTransient, onChunks, setDirectTarget } from './read-sink.js';
import { RecordOpener, RecordSealer } from './sealed-records.js';
import { runSecureExchange } from './secure-exchange.js';
import { createSecureContext } from './security-options.js';
import { normalizeHost, SimultaneousOpener, TransientFailure } from './simultaneous-open.js';
import { encodeHello, FrameType, type Hello, NONCE_BYTES, type Role } from './wire-format.js';

/**
 * Records carry up to 1 MiB, so the per-call cost that makes a cipher library's buffer-writing calls
 * matter for datagrams hardly counts here; what counts is bulk speed. AES-256-GCM (AES-NI) is the faster
 * cipher on every backend here: on the @antt/native addon 4.4 against 4.1 GB/s per 1 MiB seal
 * (`cd packages/native && pnpm bench`), and on node:crypto alone ChaChaPoly cost each side 10-20 % more
 * CPU per 256 MiB in `pnpm bench --quick`. The initiator's choice counts; an endpoint's own `cipher`
 * option still wins.
 */
const RECORD_CIPHER: CipherName = 'AESGCM';
/** `_connect` gives up this much before the caller's deadline so its own, more specific error wins. */
const DEADLINE_MARGIN_MAX_MS = 250;
const HEARTBEAT_TICK_MIN_MS = 10;
const PING_PAYLOAD_BYTES = 8;
/** Weight of a new RTT sample in the smoothed RTT (RFC 6298 §2: alpha = 1/8). */
const RTT_ALPHA = 1 / 8;

/** Test hook: makes the connection go silent without telling the peer. Not part of the public API. */
export const goSilent: unique symbol = Symbol('antt.tcp.goSilent');

/**
 * An Antt connection over TCP, formed by simultaneous open: both peers connect from their `localPort` to
 * each other. See the package README for how that works on loopback, LANs and through NATs.
 *
 * Secured by default: after the HELLOs, a Noise handshake (@antt/secure) proves who is at the other end,
 * and every frame after it is sealed. `insecure: true` turns that off, for benchmarks and debugging only.
 */
export class TcpConnection extends BaseConnection {
  readonly transport = 'tcp';
  readonly #options: ResolvedTcpOptions;
  readonly #nonce = randomBytes(NONCE_BYTES);
  /** Fails an in-progress connect when the application destroys the connection. */
  readonly #lifetime = new AbortController();
  #connectDeadline = 0;
  #opener: SimultaneousOpener | undefined;
  #socket: Socket | undefined;
  #writer: FrameWriter | undefined;
  /** Where received bytes go: the decoder, or the record opener in front of it. */
  #input: FrameInput | undefined;
  #secureContext: Promise<SecureContext> | undefined;
  #remotePeerId: string | undefined;
  #peerHello: Hello | undefined;
  #remote: Address | undefined;
  #local: Address | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #keepAliveMs = 0;
  #lastHeardAt = 0;
  #pausedForQueue = false;
  #silent = false;
  #closeSent = false;
  #peerClosed = false;
  #closeAck: { resolve(): void; reject(error: Error): void } | undefined;
  #smoothedRttMs: number | undefined;
  #minRttMs: number | undefined;
  #pingsSent = 0;

  constructor(options: TcpConnectionOptions) {
    super(options);
    this.#options = resolveTcpOptions(options);
    if (!this.#options.security.secured) {
      warnInsecure(`tcp connection to ${formatAddress(this.#options.remote)}`);
    }
  }

  /** True unless made with `insecure: true`: the peer is authenticated and every frame is sealed. */
  get encrypted(): boolean {
    return this.#options.security.secured;
  }

  /** This side's peer id (its identity's); undefined with `insecure: true`. */
  get localPeerId(): string | undefined {
    const security = this.#options.security;
    return security.secured ? security.identity.peerId : undefined;
  }

  /** The peer's id, proven by the handshake, once connected; undefined with `insecure: true`. */
  get remotePeerId(): string | undefined {
    return this.#remotePeerId;
  }

  get localAddress(): Address | undefined {
    if (this.#local) return this.#local;
    const host = this.#options.localAddress ?? (isIP(this.#options.remote.host) === 6 ? '::' : '0.0.0.0');
    return { host, port: this.#options.localPort };
  }

  /** TCP connection attempts made by `connect()` so far (SYNs sent from `localPort`; 0 with `socket`). */
  get connectAttempts(): number {
    return this.#opener?.attempts ?? 0;
  }

  get remoteAddress(): Address | undefined {
    return this.#remote ?? this.#options.remote;
  }

  override connect(options?: WaitOptions): Promise<void> {
    if (this.state === 'new') {
      const timeout = options?.timeout && options.timeout > 0 ? options.timeout : this.connectTimeoutMs;
      this.#connectDeadline = performance.now() + timeout;
    }
    return super.connect(options);
  }

  // ---- hooks -----------------------------------------------------------------------------------

  protected async _connect(callerSignal: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([callerSignal, this.#lifetime.signal]);
    const total = this.#connectDeadline - performance.now();
    const deadline = this.#connectDeadline - Math.min(DEADLINE_MARGIN_MAX_MS, total * 0.05);
    const given = this.#options.socket;
    const remote = given ? this.#options.remote : await this.#resolveRemote(signal);
    const opener = new SimultaneousOpener({
      localPort: this.#options.localPort,
      localAddress: this.#options.localAddress,
      remote,
      family: isIP(remote.host) === 6 ? 6 : 4,
      startAt: this.#options.startAt,
      onRefused: this.#options.onRefused,
    });
    this.#opener = opener;
    const security = this.#options.security;
    // Stretching the passphrase (scrypt, tens of ms the first time) overlaps with opening TCP.
    if (security.secured) this.#secureContext ??= createSecureContext(security, signal);
    this.#secureContext?.catch(ignore);
    const hello = encodeHello({
      role: this.#options.role,
      secured: security.secured,
      nonce: this.#nonce,
      maxMessageBytes: this.maxMessageBytes,
      idleTimeoutMs: this.#options.idleTimeoutMs,
    });
    for (let round = 0; ; round++) {
      if (given && round > 0) throw opener.deadlineError(deadline);
      const socket = given ?? (await opener.next(signal, deadline));
      // Errors are handled by whoever listens now; this keeps a late one from crashing the process.
      socket.on('error', ignore);
      this.#socket = socket;
      try {
        const peer = formatAddress(remote);
        const result = await runHandshake(socket, {
          role: this.#options.role,
          hello,
          nonce: this.#nonce,
          peer,
          timeoutMs: Math.max(1, Math.min(this.#options.handshakeTimeoutMs, deadline - performance.now())),
          signal,
        });
        checkSecurityMatch(security.secured, result.hello.secured, peer);
        let rest = result.rest;
        let keys: TransportKeys | undefined;
        if (this.#secureContext) {
          const context = await this.#secureContext;
          // The prologue binds both HELLOs (versions, roles, nonces, limits): a tampered HELLO fails
          // the Noise handshake. The initiator's comes first.
          const initiator = this.#isNoiseInitiator(result.hello);
          const prologue = initiator
            ? Buffer.concat([hello, result.helloBytes])
            : Buffer.concat([result.helloBytes, hello]);
          const exchange = await runSecureExchange(socket, {
            handshake: context.handshake({
              role: initiator ? 'initiator' : 'responder',
              transport: 'tcp',
              prologue,
              replayWindow: false,
              cipher: RECORD_CIPHER,
            }),
            rest,
            peer,
            timeoutMs: Math.max(1, Math.min(this.#options.handshakeTimeoutMs, deadline - performance.now())),
            signal,
          });
          keys = exchange.keys;
          rest = exchange.rest;
          this.#remotePeerId = exchange.remotePeerId;
        }
        this.#attach(socket, result.hello, rest, keys);
        return;
      } catch (error) {
        this.#socket = undefined;
        if (error instanceof TransientFailure) {
          socket.destroy();
          opener.resetDuringHandshake++;
          if (given) {
            throw new ResetError(
              `the connection to ${formatAddress(remote)} closed before the Antt handshake finished: ${error.message}`,
            );
          }
          if (performance.now() < deadline) continue;
          throw opener.deadlineError(deadline);
        }
        // Ending (not resetting) lets a peer of another protocol version read our HELLO first.
        socket.end();
        setTimeout(() => socket.destroy(), 1_000).unref();
        throw error;
      }
    }
  }

  protected async _send(message: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const writer = this.#writer;
    if (!writer || this.#closeSent) throw new ClosedError(`the connection to ${this.peerLabel} is closing`);
    const peerLimit = this.#peerHello?.maxMessageBytes ?? this.maxMessageBytes;
    if (message.byteLength > peerLimit) {
      const error = new MessageTooLargeError(message.byteLength, peerLimit);
      error.message = `message of ${message.byteLength} bytes exceeds the peer's limit of ${peerLimit} bytes (its option maxMessageBytes)`;
      throw error;
    }
    return writer.writeMessage(message, signal);
  }

  protected _close(signal: AbortSignal): Promise<void> {
    const socket = this.#socket!;
    const writer = this.#writer!;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#closeAck = undefined;
        reject(signal.reason);
      };
      this.#closeAck = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          this.#closeAck = undefined;
          resolve();
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          this.#closeAck = undefined;
          reject(error);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#sendClose(writer, socket);
      // Keep reading so the peer's CLOSE (the acknowledgement) can arrive even if the queue filled up.
      if (this.#pausedForQueue) this.#resumeReading();
      if (this.#peerClosed) this.#closeAck.resolve();
    });
  }

  protected _destroy(error: Error | undefined, abrupt: boolean): void {
    this.#lifetime.abort(error ?? new ClosedError('the connection was destroyed while connecting'));
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#input?.stop();
    this.#writer?.fail(new ClosedError(`the connection to ${this.peerLabel} is closed`, { cause: error }));
    this.#closeAck?.reject(error ?? new ClosedError());
    const socket = this.#socket;
    if (!socket || socket.destroyed) return;
    const graceful = !abrupt && error === undefined && this.#closeSent;
    if (graceful) {
      // Both CLOSE frames crossed: let TCP finish the FIN exchange, but not forever.
      if (socket.readableEnded) socket.destroy();
      else {
        socket.once('end', () => socket.destroy());
        socket.resume();
        setTimeout(() => socket.destroy(), this.closeTimeoutMs).unref();
      }
      return;
    }
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }

  protected override _transportStats(): Partial<ConnectionStats> {
    return {
      encrypted: this.#options.security.secured ? 1 : 0,
      rttMs: this.#smoothedRttMs,
      minRttMs: this.#minRttMs,
      wireBytesSent: this.#socket?.bytesWritten,
      wireBytesReceived: this.#socket?.bytesRead,
      connectAttempts: this.#opener?.attempts,
      pingsSent: this.#pingsSent,
    };
  }

  protected override _onReceiveQueueDrained(): void {
    if (this.#pausedForQueue && !this.#silent) this.#resumeReading();
  }

  /** Stops reading, writing and heartbeats without telling the peer, like a machine losing power. */
  [goSilent](): void {
    this.#silent = true;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#socket?.pause();
  }

  // ---- internals -------------------------------------------------------------------------------

  async #resolveRemote(signal: AbortSignal): Promise<{ host: string; port: number }> {
    const { host, port } = this.#options.remote;
    if (isIP(host) !== 0) return { host, port };
    try {
      const found = await lookup(host);
      signal.throwIfAborted();
      return { host: found.address, port };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw networkError(`looking up the peer's host name "${host}"`, error);
    }
  }

  /** The Noise initiator is the client; two peers of the same role let their HELLO nonces decide. */
  #isNoiseInitiator(peerHello: Hello): boolean {
    const role: Role = this.#options.role;
    if (role !== peerHello.role) return role === 'client';
    return chooseRoles(this.#nonce, peerHello.nonce) === 'initiator';
  }

  #attach(socket: Socket, hello: Hello, rest: Buffer, keys: TransportKeys | undefined): void {
    this.#peerHello = hello;
    this.#remote = {
      host: normalizeHost(socket.remoteAddress),
      port: socket.remotePort ?? this.#options.remote.port,
      family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    this.#local = {
      host: normalizeHost(socket.localAddress),
      port: socket.localPort ?? this.#options.localPort,
      family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    const peer = this.peerLabel;
    this.#writer = new FrameWriter(
      socket,
      () => this.closeError ?? new ClosedError(),
      keys ? new RecordSealer(keys.send) : undefined,
    );
    const decoder = new FrameDecoder({
      maxMessageBytes: this.maxMessageBytes,
      peer,
      onMessage: (message) => this._deliver(message),
      onControl: (type, payload) => this.#onControl(type, payload),
      // Opened records are fresh buffers, never reused.
      transientChunks: !keys && chunksAreTransient(socket),
    });
    this.#input = keys ? new RecordOpener({ key: keys.receive, peer, inner: decoder }) : decoder;
    socket.off('error', ignore);
    onChunks(socket, (chunk) => this.#onData(chunk));
    setDirectTarget(socket, {
      readTarget: (minBytes) => (this.#silent ? undefined : this.#input?.readTarget(minBytes)),
      commitRead: (bytes) => this.#onDirectRead(bytes),
    });
    socket.on('end', () => this.#onEnd());
    socket.on('error', (error: NodeJS.ErrnoException) => this.#onSocketError(error));
    socket.on('close', () => {
      if (!this.#peerClosed) this.#fail(new ResetError(`the connection to ${peer} closed unexpectedly`));
    });
    this.#startHeartbeat(hello);
    if (rest.length > 0) this.#onData(rest);
    if (!this.#pausedForQueue && this.state !== 'closed') socket.resume();
  }

  #onData(chunk: Buffer): void {
    if (this.#silent) return;
    this.#lastHeardAt = performance.now();
    try {
      this.#input!.push(chunk);
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    this.#pauseIfQueueFull();
  }

  /** Bytes the kernel wrote straight into the message being assembled. */
  #onDirectRead(bytes: number): void {
    if (this.#silent) return;
    this.#lastHeardAt = performance.now();
    try {
      this.#input!.commitRead(bytes);
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    this.#pauseIfQueueFull();
  }

  #pauseIfQueueFull(): void {
    // Not while closing: the peer's CLOSE must get through however full the queue is.
    if (this._receiveQueueFull && !this.#pausedForQueue && !this.#closeSent && this.state !== 'closed') {
      this.#pausedForQueue = true;
      this.#socket!.pause();
    }
  }

  #resumeReading(): void {
    this.#pausedForQueue = false;
    // The idle clock stood still while we were not reading; restart it.
    this.#lastHeardAt = performance.now();
    this.#socket?.resume();
  }

  #onControl(type: FrameType, payload: Buffer): void {
    switch (type) {
      case FrameType.PING:
        this.#writer!.writeControl(FrameType.PONG, payload);
        return;
      case FrameType.PONG:
        if (payload.length === PING_PAYLOAD_BYTES)
          this.#onRttSample(performance.now() - payload.readDoubleBE(0));
        return;
      case FrameType.CLOSE:
        this.#peerClosed = true;
        this.#input!.stop();
        if (this.#closeAck) {
          this.#closeAck.resolve();
          return;
        }
        // Also while connecting: a peer may close right after its HELLO, in the same chunk.
        if (this.state === 'open' || this.state === 'connecting') {
          this.#sendClose(this.#writer!, this.#socket!);
          this._finish(undefined);
        }
        return;
      default:
        return;
    }
  }

  #sendClose(writer: FrameWriter, socket: Socket): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    writer.writeControl(FrameType.CLOSE);
    writer.flush();
    socket.end();
    // Sends still waiting for their turn were never accepted: they fail rather than follow the CLOSE.
    writer.fail(new ClosedError(`the connection to ${this.peerLabel} is closing`));
  }

  #onEnd(): void {
    if (this.#silent) return;
    // After the CLOSE exchange the peer's FIN is expected; the socket destroys itself once ours is sent.
    if (this.#peerClosed) return;
    if (!this.#input!.atFrameBoundary) {
      this.#fail(
        new ProtocolError(
          `the peer at ${this.peerLabel} closed the connection ${this.#input!.describePosition()}: a truncated frame`,
        ),
      );
      return;
    }
    this.#fail(
      new ResetError(
        `the peer at ${this.peerLabel} closed the TCP connection without an Antt CLOSE: it crashed, was killed, ` +
          'or is not an Antt peer',
      ),
    );
  }

  #onSocketError(error: NodeJS.ErrnoException): void {
    if (this.#peerClosed && this.#closeSent) return;
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
      this.#fail(new ResetError(`the peer at ${this.peerLabel} reset the connection`, { cause: error }));
    } else {
      const wrapped = networkError(`the connection to ${this.peerLabel}`, error);
      this.#fail(wrapped);
    }
  }

  /** The connection ended badly while open or closing. */
  #fail(error: Error): void {
    if (this.state === 'closed' || this.#silent) return;
    if (this.#closeAck) {
      this.#closeAck.reject(error);
      return;
    }
    this._finish(error);
  }

  #startHeartbeat(peer: Hello): void {
    const idle = this.#options.idleTimeoutMs;
    this.#keepAliveMs = this.#options.keepAliveIntervalMs ?? Math.min(idle, peer.idleTimeoutMs) / 3;
    const tick = Math.max(HEARTBEAT_TICK_MIN_MS, Math.min(this.#keepAliveMs, idle / 4));
    this.#lastHeardAt = performance.now();
    this.#heartbeat = setInterval(() => this.#onHeartbeat(), tick);
    this.#heartbeat.unref();
  }

  #onHeartbeat(): void {
    if (this.state === 'closed' || this.#silent) return;
    const now = performance.now();
    const idle = this.#options.idleTimeoutMs;
    if (!this.#pausedForQueue && now - this.#lastHeardAt >= idle) {
      this.#fail(
        new TimeoutError(
          `the peer at ${this.peerLabel} sent nothing for ${formatMs(idle)} (idle timeout): it vanished, or ` +
            'the path between you broke',
        ),
      );
      return;
    }
    const writer = this.#writer;
    if (writer && !this.#closeSent && now - writer.lastWriteAt >= this.#keepAliveMs) {
      const payload = Buffer.allocUnsafe(PING_PAYLOAD_BYTES);
      payload.writeDoubleBE(now, 0);
      writer.writeControl(FrameType.PING, payload);
      this.#pingsSent++;
    }
  }

  #onRttSample(sampleMs: number): void {
    if (!(sampleMs >= 0) || !Number.isFinite(sampleMs)) return;
    this.#minRttMs = this.#minRttMs === undefined ? sampleMs : Math.min(this.#minRttMs, sampleMs);
    this.#smoothedRttMs =
      this.#smoothedRttMs === undefined
        ? sampleMs
        : (1 - RTT_ALPHA) * this.#smoothedRttMs + RTT_ALPHA * sampleMs;
  }
}

/** Both sides read both HELLOs, so both fail with the same cause before any handshake traffic. */
function checkSecurityMatch(localSecured: boolean, peerSecured: boolean, peer: string): void {
  if (localSecured === peerSecured) return;
  throw new AuthError(
    localSecured
      ? `the peer at ${peer} runs with insecure: true (no authentication, no encryption); this side ` +
          'requires a secured connection: remove insecure on the peer'
      : `the peer at ${peer} requires a secured connection (passphrase, allowedPeers or acceptAnyPeer); ` +
          'this side runs with insecure: true',
  );
}

function ignore(): void {}
