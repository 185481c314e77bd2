import {
  type Address,
  BaseConnection,
  type BaseConnectionOptions,
  ClosedError,
  formatMs,
  ResetError,
  TimeoutError,
} from '@antt/core';

export const DEFAULT_MEMORY_IDLE_TIMEOUT_MS = 3_000;

export interface MemoryPairOptions extends BaseConnectionOptions {
  /** Silence after which a side gives up on its peer. Heartbeats go out at a third of it. */
  idleTimeoutMs?: number;
  /** One-way delivery delay in milliseconds (0: next tick). */
  latencyMs?: number;
}

export interface MemoryPair {
  a: MemoryConnection;
  b: MemoryConnection;
  /** Makes `side` go silent without telling its peer, like a machine that lost power. */
  vanish(side: MemoryConnection): void;
}

/**
 * Two connected in-memory connections: the reference implementation of the contract, used to prove the
 * conformance suite itself. Messages are copied on send (as a wire would), flow control follows the
 * receiver's queue, and a heartbeat/idle timer notices a vanished peer the way real transports do.
 */
export function createMemoryPair(options: MemoryPairOptions = {}): MemoryPair {
  const a = new MemoryConnection(options, { host: 'memory', port: 1 });
  const b = new MemoryConnection(options, { host: 'memory', port: 2 });
  a.peer = b;
  b.peer = a;
  return { a, b, vanish: (side) => side.vanish() };
}

export class MemoryConnection extends BaseConnection {
  readonly transport = 'memory';
  peer: MemoryConnection | undefined;
  readonly #local: Address;
  readonly #idleTimeoutMs: number;
  readonly #latencyMs: number;
  #silent = false;
  #wantsOpen = false;
  #openWaiter: (() => void) | undefined;
  #inFlightBytes = 0;
  #inFlightMessages = 0;
  #flushWaiters: (() => void)[] = [];
  #windowWaiters: (() => void)[] = [];
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryPairOptions, local: Address) {
    super(options);
    this.#local = local;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_MEMORY_IDLE_TIMEOUT_MS;
    this.#latencyMs = options.latencyMs ?? 0;
  }

  get localAddress(): Address | undefined {
    return this.#local;
  }

  get remoteAddress(): Address | undefined {
    return this.peer ? this.peer.#local : undefined;
  }

  vanish(): void {
    this.#silent = true;
    this.#stopTimers();
    this.destroy();
  }

  protected _connect(signal: AbortSignal): Promise<void> {
    this.#wantsOpen = true;
    const peer = this.peer;
    if (peer !== undefined && peer.#openWaiter !== undefined) {
      peer.#openWaiter();
      this.#startTimers();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#openWaiter = undefined;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#openWaiter = () => {
        signal.removeEventListener('abort', onAbort);
        this.#openWaiter = undefined;
        this.#startTimers();
        resolve();
      };
      if (peer !== undefined && peer.#wantsOpen && peer.state === 'open') this.#openWaiter();
    });
  }

  protected async _send(message: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const peer = this.peer;
    if (!peer) throw new ClosedError();
    while (peer.#windowFull(message.byteLength, this.#inFlightBytes)) {
      await this.#waitWindow(signal);
      if (this.state !== 'open' && this.state !== 'closing') throw new ClosedError();
    }
    const copy = message.slice();
    this.#inFlightBytes += copy.byteLength;
    this.#inFlightMessages++;
    this.#later(() => {
      this.#inFlightBytes -= copy.byteLength;
      this.#inFlightMessages--;
      if (!this.#silent && peer.state !== 'closed') peer._deliver(copy);
      if (this.#inFlightMessages === 0) for (const wake of this.#flushWaiters.splice(0)) wake();
    });
  }

  protected async _close(signal: AbortSignal): Promise<void> {
    if (this.#inFlightMessages > 0) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        this.#flushWaiters.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
    const peer = this.peer;
    this.#later(() => peer?._finish(undefined));
  }

  protected _destroy(_error: Error | undefined, abrupt: boolean): void {
    this.#stopTimers();
    for (const wake of this.#windowWaiters.splice(0)) wake();
    const peer = this.peer;
    // An abrupt local end reaches the peer as a reset, as a RST or a close frame would.
    if (abrupt && !this.#silent && peer && peer.state !== 'closed') {
      this.#later(() =>
        peer._finish(new ResetError(`the peer ${formatAddressShort(this.#local)} reset the connection`)),
      );
    }
  }

  protected override _onReceiveQueueDrained(): void {
    const peer = this.peer;
    if (peer) for (const wake of peer.#windowWaiters.splice(0)) wake();
  }

  #windowFull(incoming: number, inFlight: number): boolean {
    if (this.listenerCount('message') > 0) return false;
    const used = this._queuedBytes + inFlight;
    return used > 0 && used + incoming > this.receiveBufferBytes;
  }

  #waitWindow(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Deliveries in flight also free window when they land; re-check on a short poll as well.
      const timer = setTimeout(wake, 5);
      function wake(): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      this.#windowWaiters.push(wake);
    });
  }

  #later(task: () => void): void {
    if (this.#latencyMs > 0) setTimeout(task, this.#latencyMs);
    else setImmediate(task);
  }

  #startTimers(): void {
    const interval = Math.max(1, Math.floor(this.#idleTimeoutMs / 3));
    this.#heartbeatTimer = setInterval(() => {
      if (this.peer) this.peer.#heard();
    }, interval);
    this.#heartbeatTimer.unref();
    this.#heard();
  }

  #heard(): void {
    if (this.state === 'closed' || this.state === 'new') return;
    if (this.#idleTimer) this.#idleTimer.refresh();
    else {
      this.#idleTimer = setTimeout(() => {
        this._finish(
          new TimeoutError(
            `the peer ${formatAddressShort(this.remoteAddress)} went silent for ${formatMs(this.#idleTimeoutMs)}`,
          ),
        );
      }, this.#idleTimeoutMs);
      this.#idleTimer.unref();
    }
  }

  #stopTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#idleTimer);
    this.#heartbeatTimer = undefined;
    this.#idleTimer = undefined;
  }
}

function formatAddressShort(address: Address | undefined): string {
  return address ? `${address.host}:${address.port}` : 'unknown';
}
