/**
 * `RendezvousTcpChannel`: a TCP connection to the rendezvous server, from a fixed local port, carrying
 * the rendezvous protocol length-framed. A {@link RendezvousClient} runs over it unchanged (its send
 * function writes frames; the channel feeds it the frames it reads). The server sees, and reports, the
 * NAT mapping of that local port: the port TCP punching then connects from.
 *
 * When the server grants a relay, the channel stops framing: the same connection then carries the
 * peer's bytes, and {@link detach} hands it over (with anything read after the grant put back) to a
 * `TcpConnection`.
 */
import { connect as netConnect, type Socket } from 'node:net';
import {
  type Address,
  AnttError,
  abortReasonToError,
  ErrorCode,
  formatAddress,
  networkError,
} from '@antt/core';
import { RendezvousError } from './client.js';
import { bytesHex, MessageType, RENDEZVOUS_HEADER_BYTES } from './protocol.js';
import { encodeFrame, FrameReader, isRelayGranted } from './tcp-framing.js';

export class RendezvousTcpChannel {
  readonly server: Address;
  readonly #socket: Socket;
  readonly #reader = new FrameReader(isRelayGranted);
  #handler: ((message: Uint8Array) => void) | undefined;
  #detached = false;
  #relayAllocSent: string | undefined;
  /** Why the connection ended, once it did. */
  closedReason: AnttError | undefined;

  private constructor(server: Address, socket: Socket) {
    this.server = server;
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => {
      this.closedReason ??= networkError(
        `the TCP connection to the rendezvous server ${formatAddress(server)}`,
        error,
      );
    });
    socket.on('close', () => {
      this.closedReason ??= new AnttError(
        ErrorCode.CLOSED,
        `the rendezvous server ${formatAddress(server)} closed the TCP connection`,
      );
    });
  }

  /**
   * Connects to `server` from `localPort` (0: any), bound explicitly so the port can be bound again for
   * punching while this connection lives (SO_REUSEADDR, which libuv sets on explicit binds only).
   */
  static open(
    server: Address,
    options: { localPort?: number; signal: AbortSignal },
  ): Promise<RendezvousTcpChannel> {
    const where = formatAddress(server);
    const { signal } = options;
    if (signal.aborted) return Promise.reject(abortReasonToError(signal, `connecting to ${where} over TCP`));
    return new Promise((resolve, reject) => {
      const socket = netConnect({
        host: server.host,
        port: server.port,
        localAddress: server.host.includes(':') ? '::' : '0.0.0.0',
        localPort: options.localPort ?? 0,
      });
      const done = (error?: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        if (error === undefined) resolve(new RendezvousTcpChannel(server, socket));
        else {
          socket.destroy();
          reject(error);
        }
      };
      const onConnect = (): void => done();
      const onError = (error: NodeJS.ErrnoException): void => {
        const why =
          error.code === 'ECONNREFUSED'
            ? 'it refused the TCP connection (is it running, with TCP enabled?)'
            : `${error.code ?? error.message} (is TCP to it allowed?)`;
        done(
          new RendezvousError(
            ErrorCode.NETWORK,
            'register',
            `rendezvous server ${where} unreachable over TCP: ${why}`,
            {
              cause: error,
            },
          ),
        );
      };
      const onAbort = (): void => {
        const reason = abortReasonToError(signal, `connecting to ${where} over TCP`);
        done(
          AnttError.is(reason) && reason.code === ErrorCode.TIMEOUT
            ? new RendezvousError(
                ErrorCode.TIMEOUT,
                'register',
                `rendezvous server ${where} unreachable over TCP: no answer to the SYN (is TCP to it allowed?)`,
              )
            : reason,
        );
      };
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  get localPort(): number {
    return this.#socket.localPort ?? 0;
  }

  /** Where frames go: a `RendezvousClient`'s `handleDatagram`, typically. */
  onMessage(handler: (message: Uint8Array) => void): void {
    this.#handler = handler;
  }

  /**
   * A `RendezvousClient` send function. TCP does not lose: a retransmitted RELAY-ALLOC (same transaction
   * id) is not sent again, since once granted the bytes after it would reach the peer; nothing is sent
   * after {@link detach}.
   */
  readonly send = (bytes: Uint8Array): void => {
    if (this.#detached || this.#socket.destroyed) return;
    if (bytes[3] === MessageType.RELAY_ALLOC) {
      const transaction = bytesHex(bytes.subarray(4, RENDEZVOUS_HEADER_BYTES));
      if (transaction === this.#relayAllocSent) return;
      this.#relayAllocSent = transaction;
    }
    this.#socket.write(encodeFrame(bytes));
  };

  /** True once the server granted a relay: the connection now carries the peer's bytes. */
  get relayGranted(): boolean {
    return this.#reader.stopped;
  }

  /** Hands the connection over after a relay grant; this channel no longer reads or writes it. */
  detach(): Socket {
    if (!this.#reader.stopped) {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, 'detach() needs a relay grant first');
    }
    this.#detached = true;
    this.#socket.removeAllListeners('data');
    this.#socket.removeAllListeners('close');
    this.#socket.removeAllListeners('error');
    this.#socket.pause();
    const rest = this.#reader.rest();
    if (rest.length > 0) this.#socket.unshift(Buffer.from(rest));
    return this.#socket;
  }

  close(): void {
    if (!this.#detached) this.#socket.destroy();
  }

  #onData(chunk: Uint8Array): void {
    if (this.#reader.stopped) return;
    let frames: Uint8Array[];
    try {
      frames = this.#reader.push(chunk);
    } catch (error) {
      this.closedReason = error as AnttError;
      this.#socket.destroy();
      return;
    }
    // After a grant no more frames are read: hold the rest until detach() hands it over.
    if (this.#reader.stopped) this.#socket.pause();
    for (const frame of frames) this.#handler?.(frame);
  }
}
