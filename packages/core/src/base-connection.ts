import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Packet } from '@antt/packet';
import { connectionDuplex } from './duplex.js';
import { AnttError, abortReasonToError, ClosedError, ErrorCode, MessageTooLargeError } from './errors.js';
import { MessageQueue } from './message-queue.js';
import { type ScopedSignal, scopedSignal } from './signals.js';
import type {
  Address,
  Connection,
  ConnectionEvents,
  ConnectionState,
  ConnectionStats,
  Sendable,
  SendOptions,
  WaitOptions,
} from './types.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
/** Bytes of received messages held for the application before the transport stops taking more. */
export const DEFAULT_RECEIVE_BUFFER_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

export interface BaseConnectionOptions {
  /** Milliseconds `connect()` waits for the handshake unless given its own `timeout`. */
  connectTimeout?: number;
  /** Milliseconds `close()` waits for the peer to acknowledge what was sent. */
  closeTimeout?: number;
  /** Received bytes held while the application is not reading, before the peer is made to wait. */
  receiveBufferBytes?: number;
  /** Largest message `send()` accepts and the peer may deliver. */
  maxMessageBytes?: number;
}

interface Waiter {
  resolve(message: Uint8Array): void;
  reject(error: Error): void;
}

/**
 * The shared half of every transport: state machine, receive queue, waits with signal and timeout,
 * events, async iteration, the Duplex view and the application-level counters. A transport implements
 * the four `_` hooks and feeds received messages to `_deliver()`.
 */
export abstract class BaseConnection extends EventEmitter<ConnectionEvents> implements Connection {
  abstract readonly transport: string;

  protected readonly connectTimeoutMs: number;
  protected readonly closeTimeoutMs: number;
  protected readonly receiveBufferBytes: number;
  readonly maxMessageBytes: number;

  #state: ConnectionState = 'new';
  #closeError: Error | undefined;
  #connectScope: ScopedSignal | undefined;
  #closePromise: Promise<void> | undefined;
  #connectPromise: Promise<void> | undefined;
  readonly #queue = new MessageQueue();
  readonly #waiters: Waiter[] = [];
  #queueWasFull = false;
  #nextDrainSignalBytes = 0;
  #bytesSent = 0;
  #bytesReceived = 0;
  #messagesSent = 0;
  #messagesReceived = 0;

  constructor(options: BaseConnectionOptions = {}) {
    super();
    this.connectTimeoutMs = positive(options.connectTimeout, 'connectTimeout') ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.closeTimeoutMs = positive(options.closeTimeout, 'closeTimeout') ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.receiveBufferBytes =
      positive(options.receiveBufferBytes, 'receiveBufferBytes') ?? DEFAULT_RECEIVE_BUFFER_BYTES;
    this.maxMessageBytes = positive(options.maxMessageBytes, 'maxMessageBytes') ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get closeError(): Error | undefined {
    return this.#closeError;
  }

  abstract get localAddress(): Address | undefined;
  abstract get remoteAddress(): Address | undefined;

  /**
   * When the running `connect()` gives up, in `Date.now()` milliseconds, so a transport can stop its own
   * attempts in time to report why they failed. Undefined outside `connect()`.
   */
  protected get connectDeadline(): number | undefined {
    return this.#connectScope?.deadline;
  }

  /** Human-readable peer name for error messages. */
  protected get peerLabel(): string {
    const remote = this.remoteAddress;
    if (!remote) return 'the peer';
    return remote.host.includes(':') ? `[${remote.host}]:${remote.port}` : `${remote.host}:${remote.port}`;
  }

  // ---- transport hooks -------------------------------------------------------------------------

  /** Runs the handshake; resolves once both sides completed it. Must honour `signal`. */
  protected abstract _connect(signal: AbortSignal): Promise<void>;
  /** Resolves once the transport accepted `message`; waits while flow or congestion control says so. */
  protected abstract _send(message: Uint8Array, signal: AbortSignal | undefined): Promise<void>;
  /** Delivers everything sent so far, tells the peer, and resolves when it acknowledged. */
  protected abstract _close(signal: AbortSignal): Promise<void>;
  /**
   * Releases every resource now. Never throws. `abrupt` is true when the application called `destroy()`
   * or `connect()` failed: tell the peer (reset) if it cheaply can. It is false when the connection
   * ended by itself (graceful close completed, peer closed or reset, idle timeout).
   */
  protected abstract _destroy(error: Error | undefined, abrupt: boolean): void;
  /** Transport-specific counters merged into `stats()`. */
  protected _transportStats(): Partial<ConnectionStats> {
    return {};
  }
  /**
   * Called as the application drains a receive queue that had filled: once below the limit, once below
   * half of it, and once empty.
   */
  protected _onReceiveQueueDrained(): void {}

  // ---- for transports --------------------------------------------------------------------------

  /** Hands a received message to the application (a waiting receive(), 'message' listeners, or the queue). */
  protected _deliver(message: Uint8Array): void {
    if (this.#state === 'closed') return;
    this.#messagesReceived++;
    this.#bytesReceived += message.byteLength;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve(message);
      return;
    }
    if (this.listenerCount('message') > 0) {
      this.emit('message', message);
      return;
    }
    this.#queue.push(message);
    if (this.#queue.bytes >= this.receiveBufferBytes && !this.#queueWasFull) {
      this.#queueWasFull = true;
      this.#nextDrainSignalBytes = this.receiveBufferBytes;
    }
  }

  /** Bytes the application has not read yet. */
  protected get _queuedBytes(): number {
    return this.#queue.bytes;
  }

  /** How many more bytes the receive queue takes before the transport should make the peer wait. */
  protected get _receiveWindowBytes(): number {
    return Math.max(0, this.receiveBufferBytes - this.#queue.bytes);
  }

  protected get _receiveQueueFull(): boolean {
    return this.#queue.bytes >= this.receiveBufferBytes;
  }

  /** For connections that arrive already open (accepted by an endpoint). */
  protected _markOpen(): void {
    if (this.#state !== 'new' && this.#state !== 'connecting') return;
    this.#state = 'open';
    this.emit('open');
  }

  /**
   * The connection ended without the application asking: the peer closed cleanly (no error), reset it,
   * vanished (timeout) or broke the protocol. Messages already received stay readable.
   */
  protected _finish(error?: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeError = error;
    this._destroy(error, false);
    this.#settleWaiters();
    if (error && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error);
  }

  // ---- the contract ----------------------------------------------------------------------------

  connect(options?: WaitOptions): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') {
      return Promise.reject(new ClosedError('connect() called on a closed connection; create a new one'));
    }
    if (this.#connectPromise) return this.#connectPromise;
    if (this.#state === 'open') return Promise.resolve();
    this.#state = 'connecting';
    this.#connectPromise = this.#runConnect(options);
    return this.#connectPromise;
  }

  async #runConnect(options: WaitOptions | undefined): Promise<void> {
    let scope: ReturnType<typeof scopedSignal>;
    try {
      scope = scopedSignal(options, this.connectTimeoutMs, `connect to ${this.peerLabel}`);
    } catch (error) {
      this.destroy(error as Error);
      throw error;
    }
    this.#connectScope = scope;
    try {
      await this._connect(scope.signal);
      if (scope.signal.aborted) throw scope.error();
    } catch (error) {
      // A transport that knows why it failed (every attempt refused, wrong version) says so; otherwise the
      // caller sees why the wait ended (its timeout, its abort, destroy()).
      const specific =
        AnttError.is(error) && error !== scope.signal.reason && error.code !== ErrorCode.ABORTED;
      const reported = specific || !scope.signal.aborted ? (error as Error) : scope.error();
      this.#failOpen(reported);
      throw reported;
    } finally {
      this.#connectScope = undefined;
      scope.done();
    }
    if (this.#state === 'closed')
      throw this.#closeError ?? new ClosedError('the connection closed while connecting');
    this._markOpen();
  }

  #failOpen(error: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeError = error;
    this._destroy(error, true);
    this.#settleWaiters();
    this.emit('close', error);
  }

  async send(message: Sendable, options?: SendOptions): Promise<void> {
    const bytes = toBytes(message);
    if (this.#state !== 'open') throw this.#notOpenError('send()');
    if (bytes.byteLength > this.maxMessageBytes)
      throw new MessageTooLargeError(bytes.byteLength, this.maxMessageBytes);
    const signal = options?.signal;
    if (signal?.aborted) throw abortReasonToError(signal, 'send()');
    await this._send(bytes, signal);
    this.#messagesSent++;
    this.#bytesSent += bytes.byteLength;
  }

  receive(options?: WaitOptions): Promise<Uint8Array> {
    const queued = this.#queue.shift();
    if (queued !== undefined) {
      this.#checkDrained();
      return Promise.resolve(queued);
    }
    if (this.#state === 'closed' || this.#state === 'closing') {
      return Promise.reject(this.#endOfStreamError());
    }
    if (options?.signal === undefined && !options?.timeout) {
      // The common `for await` case: no timer, no listener, no controller per message.
      return new Promise<Uint8Array>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    }
    let scope: ReturnType<typeof scopedSignal>;
    try {
      scope = scopedSignal(options, undefined, 'receive()');
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (message) => {
          cleanup();
          resolve(message);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        waiter.reject(scope.error());
      };
      const cleanup = (): void => {
        scope.signal.removeEventListener('abort', onAbort);
        scope.done();
      };
      scope.signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  close(options?: WaitOptions): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    if (this.#state === 'closed') return Promise.resolve();
    if (this.#state !== 'open') {
      this.destroy();
      return Promise.resolve();
    }
    this.#state = 'closing';
    this.#closePromise = this.#runClose(options);
    return this.#closePromise;
  }

  async #runClose(options: WaitOptions | undefined): Promise<void> {
    const scope = scopedSignal(options, this.closeTimeoutMs, `close of the connection to ${this.peerLabel}`);
    try {
      await this._close(scope.signal);
      if (scope.signal.aborted) throw scope.error();
    } catch (error) {
      const reported = scope.signal.aborted ? scope.error() : (error as Error);
      this._finish(reported);
      throw reported;
    } finally {
      scope.done();
    }
    this._finish(undefined);
  }

  destroy(error?: Error): void {
    if (this.#state === 'closed') return;
    this.#connectScope?.abort(error ?? new ClosedError('the connection was destroyed while connecting'));
    this.#state = 'closed';
    this.#closeError = error;
    this.#queue.clear();
    this._destroy(error, true);
    this.#settleWaiters();
    if (error && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error);
  }

  stats(): ConnectionStats {
    return {
      ...this._transportStats(),
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      messagesSent: this.#messagesSent,
      messagesReceived: this.#messagesReceived,
    };
  }

  duplex(): Duplex {
    return connectionDuplex(this);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      let message: Uint8Array;
      try {
        message = await this.receive();
      } catch (error) {
        if (this.#isCleanEnd(error)) return;
        throw error;
      }
      yield message;
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  #isCleanEnd(error: unknown): boolean {
    return (
      AnttError.is(error) &&
      error.code === ErrorCode.CLOSED &&
      (this.#state === 'closed' || this.#state === 'closing') &&
      this.#closeError === undefined
    );
  }

  /**
   * After the queue filled, the transport hears as it drains: below the limit, below half of it, and
   * empty, so a peer waiting on a closed flow-control window learns of each large reopening, not only
   * the first sliver.
   */
  #checkDrained(): void {
    if (!this.#queueWasFull) return;
    const bytes = this.#queue.bytes;
    if (bytes >= this.#nextDrainSignalBytes) return;
    if (bytes === 0) {
      this.#queueWasFull = false;
      this.#nextDrainSignalBytes = this.receiveBufferBytes;
    } else {
      this.#nextDrainSignalBytes = bytes < this.receiveBufferBytes / 2 ? 1 : this.receiveBufferBytes / 2;
    }
    this._onReceiveQueueDrained();
  }

  #endOfStreamError(): Error {
    return this.#closeError ?? new ClosedError(`the connection to ${this.peerLabel} is closed`);
  }

  #notOpenError(what: string): Error {
    switch (this.#state) {
      case 'new':
      case 'connecting':
        return new AnttError(
          ErrorCode.INVALID_STATE,
          `${what} before the connection is open: await connect() first`,
        );
      default:
        return new ClosedError(`${what} on a connection to ${this.peerLabel} that is ${this.#state}`, {
          cause: this.#closeError,
        });
    }
  }

  #settleWaiters(): void {
    const error = this.#endOfStreamError();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}

function toBytes(message: Sendable): Uint8Array {
  if (message instanceof Uint8Array) return message;
  if (message instanceof Packet) return message.encode();
  throw new AnttError(ErrorCode.INVALID_ARGUMENT, 'send() takes a Uint8Array (or Buffer) or a Packet');
}

function positive(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `option ${name} must be a positive number, got ${String(value)}`,
    );
  }
  return value;
}
