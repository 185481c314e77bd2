import type { Socket as DgramSocket, RemoteInfo, SocketType } from 'node:dgram';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  type Address,
  AnttError,
  ErrorCode,
  formatAddress,
  formatMs,
  networkError,
  ProtocolError,
  parseAddress,
  scopedSignal,
  TimeoutError,
  type WaitOptions,
} from '@antt/core';
import {
  type ChangeRequest,
  decodeStunMessage,
  encodeStunMessage,
  isStunMessage,
  mappedAddressOf,
  newTransactionId,
  type StunMessage,
  StunMethod,
  transactionIdHex,
} from './message.js';
import { type RetransmissionOptions, retransmissionSchedule } from './retransmission.js';

/** Sends one datagram; for a shared socket, the transport's own send. */
export type SendDatagram = (bytes: Uint8Array, to: Address) => void | Promise<void>;

export interface StunRequestOptions extends WaitOptions, RetransmissionOptions {
  /** RFC 5780 §7.2: ask the server to answer from its other IP and/or port. */
  changeRequest?: ChangeRequest;
  /** SOFTWARE attribute to send; omitted by default (RFC 8489 §16.1.2: it helps attackers fingerprint). */
  software?: string;
}

/** What a Binding transaction learned. */
export interface StunBindingResult {
  /** The server-reflexive address: where the server saw the request come from. */
  mapped: Address;
  /** RFC 5780 RESPONSE-ORIGIN: the address the server says it answered from. */
  responseOrigin?: Address;
  /** RFC 5780 OTHER-ADDRESS: the server's alternate IP and port, present when it supports NAT discovery. */
  otherAddress?: Address;
  /** Milliseconds from the last transmission to the answer (exact when `attempts` is 1). */
  rttMs: number;
  /** The server's address as an IP literal (after DNS resolution). */
  server: Address;
  /** Where the answer actually came from (differs from `server` after a CHANGE-REQUEST). */
  from: Address;
  /** Requests sent, retransmissions included. */
  attempts: number;
  /** The server's SOFTWARE attribute, if it sent one. */
  software?: string;
}

/** The server answered with an ERROR-CODE (RFC 8489 §14.8). */
export class StunErrorResponse extends ProtocolError {
  readonly stunCode: number;
  readonly reason: string;
  readonly unknownAttributes: number[];

  constructor(server: Address, stunCode: number, reason: string, unknownAttributes: number[] = []) {
    const unknown =
      unknownAttributes.length > 0
        ? ` (does not understand ${unknownAttributes.map((t) => `0x${t.toString(16).padStart(4, '0')}`).join(', ')})`
        : '';
    super(`STUN server ${formatAddress(server)} answered with error ${stunCode} ${reason}${unknown}`);
    this.name = 'StunErrorResponse';
    this.stunCode = stunCode;
    this.reason = reason;
    this.unknownAttributes = unknownAttributes;
  }
}

/**
 * Time as the client sees it. The default is the system clock; tests inject a manual one to walk
 * through a full retransmission schedule without waiting 39.5 s.
 */
export interface StunClock {
  /** Milliseconds from an arbitrary origin. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_CLOCK: StunClock = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface StunClientOptions {
  clock?: StunClock;
}

interface PendingTransaction {
  server: Address;
  /** Time of the latest transmission (clock.now()). */
  lastSentAt: number;
  attempts: number;
  /** Why the latest answer with this transaction id was thrown away, if one was. */
  discarded?: string;
  settle(outcome: { message: StunMessage; from: Address } | { error: AnttError }): void;
}

/**
 * STUN Binding transactions over a socket someone else owns. The owner sends through `send` and feeds
 * every received datagram to {@link StunClient.handleDatagram}, which consumes only answers to this
 * client's own transactions. This is how NAT traversal learns the mapping of the very socket it will use
 * for the connection:
 *
 * ```ts
 * const stun = new StunClient((bytes, to) => socket.send(bytes, to.port, to.host));
 * socket.on('message', (bytes, from) => {
 *   if (stun.handleDatagram(bytes, { host: from.address, port: from.port })) return;
 *   // ...the application's own traffic
 * });
 * const { mapped } = await stun.binding({ host: '192.0.2.1', port: 3478 }, { timeout: 5000 });
 * ```
 */
export class StunClient {
  readonly #send: SendDatagram;
  readonly #clock: StunClock;
  readonly #pending = new Map<string, PendingTransaction>();
  #discardedDatagrams = 0;

  constructor(send: SendDatagram, options: StunClientOptions = {}) {
    this.#send = send;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
  }

  /** STUN-looking datagrams that were malformed or answered no pending transaction. */
  get discardedDatagrams(): number {
    return this.#discardedDatagrams;
  }

  /** Transactions in flight. */
  get pendingTransactions(): number {
    return this.#pending.size;
  }

  /**
   * Offers a received datagram. Returns true when it answered one of this client's transactions (the
   * caller should not treat it as its own traffic), false otherwise. Never throws.
   */
  handleDatagram(bytes: Uint8Array, from: Address): boolean {
    if (!isStunMessage(bytes)) return false;
    const key = transactionIdHex(bytes.subarray(8, 20));
    const pending = this.#pending.get(key);
    if (!pending) {
      this.#discardedDatagrams++;
      return false;
    }
    let message: StunMessage;
    try {
      message = decodeStunMessage(bytes);
    } catch (error) {
      // RFC 8489 §6.3: a malformed answer (a bad FINGERPRINT included) is discarded; the transaction
      // goes on, and the reason is reported if it ends without a good answer.
      this.#discardedDatagrams++;
      pending.discarded = (error as Error).message;
      return true;
    }
    if (message.method !== StunMethod.BINDING || (message.class !== 'success' && message.class !== 'error')) {
      this.#discardedDatagrams++;
      return false;
    }
    pending.settle({ message, from });
    return true;
  }

  /** Runs one Binding transaction with `server` (an IP literal; see {@link stunBinding} for names). */
  async binding(server: Address, options: StunRequestOptions = {}): Promise<StunBindingResult> {
    if (isIP(server.host) === 0) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `StunClient.binding needs an IP address, got "${server.host}"`,
      );
    }
    const schedule = retransmissionSchedule(options);
    const what = `STUN binding with ${formatAddress(server)}`;
    const scope = scopedSignal(options, undefined, what);
    const transactionId = newTransactionId();
    const key = transactionIdHex(transactionId);
    const request = encodeStunMessage({
      class: 'request',
      transactionId,
      ...(options.changeRequest ? { changeRequest: options.changeRequest } : {}),
      ...(options.software !== undefined ? { software: options.software } : {}),
    });
    const clock = this.#clock;
    const startedAt = clock.now();

    return await new Promise<StunBindingResult>((resolve, reject) => {
      const timers: unknown[] = [];
      const pending: PendingTransaction = {
        server,
        lastSentAt: startedAt,
        attempts: 0,
        settle: (outcome) => {
          done();
          if ('error' in outcome) reject(outcome.error);
          else {
            try {
              resolve(bindingResult(outcome.message, outcome.from, pending, server, clock.now()));
            } catch (error) {
              reject(error);
            }
          }
        },
      };
      const done = (): void => {
        for (const timer of timers) clock.clearTimeout(timer);
        this.#pending.delete(key);
        scope.signal.removeEventListener('abort', onAbort);
        scope.done();
      };
      const giveUp = (): void => {
        const elapsed = clock.now() - startedAt;
        pending.settle({ error: noAnswerError(pending, elapsed) });
      };
      const onAbort = (): void => {
        if (options.signal?.aborted) pending.settle({ error: scope.error() });
        else giveUp(); // our own `timeout` ran out before the schedule did
      };
      const sendFailed = (error: unknown): void => {
        if (this.#pending.get(key) !== pending) return;
        pending.settle({ error: networkError(`sending a STUN request to ${formatAddress(server)}`, error) });
      };
      const transmit = (): void => {
        pending.attempts++;
        pending.lastSentAt = clock.now();
        try {
          Promise.resolve(this.#send(request, server)).catch(sendFailed);
        } catch (error) {
          sendFailed(error);
        }
      };

      this.#pending.set(key, pending);
      scope.signal.addEventListener('abort', onAbort, { once: true });
      transmit();
      if (this.#pending.get(key) !== pending) return; // the first send already failed
      for (const at of schedule.sendAtMs.slice(1)) timers.push(clock.setTimeout(transmit, at));
      timers.push(clock.setTimeout(giveUp, schedule.giveUpAtMs));
    });
  }

  /** Fails every transaction in flight (for instance when the socket closes). */
  close(reason: AnttError = new AnttError(ErrorCode.CLOSED, 'the STUN client was closed')): void {
    for (const pending of [...this.#pending.values()]) pending.settle({ error: reason });
  }
}

function noAnswerError(pending: PendingTransaction, elapsedMs: number): AnttError {
  const attempts = `${pending.attempts} attempt${pending.attempts === 1 ? '' : 's'}`;
  const server = formatAddress(pending.server);
  if (pending.discarded !== undefined) {
    return new ProtocolError(
      `STUN server ${server} answered but the answer was discarded (${pending.discarded}); ${attempts} over ${formatMs(elapsedMs)}`,
    );
  }
  return new TimeoutError(
    `no STUN answer from ${server} after ${attempts} over ${formatMs(elapsedMs)}: UDP may be blocked`,
  );
}

function bindingResult(
  message: StunMessage,
  from: Address,
  pending: PendingTransaction,
  server: Address,
  now: number,
): StunBindingResult {
  if (message.class === 'error') {
    const { code, reason } = message.errorCode ?? { code: 0, reason: 'without an ERROR-CODE attribute' };
    throw new StunErrorResponse(server, code, reason, message.unknownAttributes);
  }
  // RFC 8489 §6.3.4: unknown comprehension-required attributes in a success response fail the transaction.
  if (message.unknownRequired.length > 0) {
    const types = message.unknownRequired.map((t) => `0x${t.toString(16).padStart(4, '0')}`).join(', ');
    throw new ProtocolError(
      `STUN server ${formatAddress(server)} answered with comprehension-required attributes this client does not know: ${types}`,
    );
  }
  const mapped = mappedAddressOf(message);
  if (!mapped) {
    throw new ProtocolError(
      `STUN server ${formatAddress(server)} answered without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS`,
    );
  }
  return {
    mapped,
    ...(message.responseOrigin ? { responseOrigin: message.responseOrigin } : {}),
    ...(message.otherAddress ? { otherAddress: message.otherAddress } : {}),
    ...(message.software !== undefined ? { software: message.software } : {}),
    rttMs: now - pending.lastSentAt,
    server,
    from,
    attempts: pending.attempts,
  };
}

export interface StunBindingOptions extends StunRequestOptions {
  /** `{ host, port }` or `"host:port"`; a host name is resolved with the system resolver. */
  server: Address | string;
  /**
   * An existing, bound socket to send from, so the answer describes that socket's mapping. The client
   * adds a 'message' listener for the duration of the transaction and only acts on answers to its own
   * transaction id; the socket's other listeners keep receiving every datagram (filter with
   * {@link isStunMessage}). Without it a fresh socket is bound to an ephemeral port and closed after.
   */
  socket?: DgramSocket;
  /** For a fresh socket: the local address to bind (default: all interfaces). */
  localAddress?: string;
}

/**
 * One RFC 8489 Binding transaction: asks a STUN server which address and port it saw.
 *
 * Errors: ANTT_ERR_TIMEOUT when nothing answered ("no STUN answer from 203.0.113.1:3478 after 7 attempts
 * over 39.5 s: UDP may be blocked"), ANTT_ERR_PROTOCOL when the answer was wrong
 * ({@link StunErrorResponse} for an ERROR-CODE), ANTT_ERR_NETWORK when the name does not resolve or the
 * socket fails, ANTT_ERR_ABORTED when `signal` fires.
 */
export async function stunBinding(options: StunBindingOptions): Promise<StunBindingResult> {
  options.signal?.throwIfAborted();
  const serverSpec = typeof options.server === 'string' ? parseAddress(options.server) : options.server;
  const ownSocket = options.socket === undefined;
  const family = options.socket ? socketFamily(options.socket) : undefined;
  const server = await resolveServer(serverSpec, family);
  const socket =
    options.socket ?? (await bindSocket(server.family === 'IPv6' ? 'udp6' : 'udp4', options.localAddress));
  const client = new StunClient(
    (bytes, to) =>
      new Promise<void>((resolve, reject) => {
        socket.send(bytes, to.port, to.host, (error) => (error ? reject(error) : resolve()));
      }),
  );
  const onMessage = (bytes: Buffer, from: RemoteInfo): void => {
    client.handleDatagram(bytes, { host: from.address, port: from.port });
  };
  const onClose = (): void =>
    client.close(new AnttError(ErrorCode.CLOSED, 'the socket closed during a STUN binding'));
  const onError = (error: Error): void =>
    client.close(networkError('the UDP socket of a STUN binding', error));
  socket.on('message', onMessage);
  socket.once('close', onClose);
  socket.on('error', onError);
  try {
    return await client.binding(server, options);
  } finally {
    socket.off('message', onMessage);
    socket.off('close', onClose);
    socket.off('error', onError);
    if (ownSocket) socket.close();
  }
}

/** Resolves a host name to one IP literal of the wanted family (any family when undefined). */
export async function resolveServer(server: Address, family?: 'IPv4' | 'IPv6'): Promise<Address> {
  const version = isIP(server.host);
  if (version !== 0) return { host: server.host, port: server.port, family: version === 6 ? 'IPv6' : 'IPv4' };
  try {
    const found = await lookup(server.host, { family: family === 'IPv6' ? 6 : family === 'IPv4' ? 4 : 0 });
    return { host: found.address, port: server.port, family: found.family === 6 ? 'IPv6' : 'IPv4' };
  } catch (error) {
    throw networkError(`resolving STUN server ${server.host}`, error);
  }
}

/** Binds a fresh UDP socket to an ephemeral port. */
export async function bindSocket(type: SocketType, address?: string): Promise<DgramSocket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(networkError(`binding a UDP socket`, error));
    socket.once('error', onError);
    socket.bind(0, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  return socket;
}

function socketFamily(socket: DgramSocket): 'IPv4' | 'IPv6' | undefined {
  try {
    const family = socket.address().family as string | number;
    return family === 'IPv6' || family === 6 ? 'IPv6' : 'IPv4';
  } catch {
    return undefined; // not bound yet: the first send binds it
  }
}
