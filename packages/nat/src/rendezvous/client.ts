/**
 * `RendezvousClient`: registers with a rendezvous server and asks it for a peer, over a socket someone
 * else owns (the endpoint the connection will use: the server must see that socket's NAT mapping). The
 * owner gives it a send function and feeds it datagrams.
 */
import { randomBytes } from 'node:crypto';
import {
  type Address,
  AnttError,
  ErrorCode,
  formatAddress,
  formatMs,
  scopedSignal,
  type WaitOptions,
} from '@antt/core';
import {
  bytesHex,
  COOKIE_BYTES,
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  INSTANCE_BYTES,
  isRendezvousMessage,
  type MappingObservations,
  MessageType,
  type PeerInfoMessage,
  PeerMappingStatus,
  RegisterStatus,
  RelayStatus,
  type RendezvousMessage,
  TRANSACTION_ID_BYTES,
} from './protocol.js';

/** First retransmission of a REGISTER or CONNECT, doubling up to the maximum. */
const INITIAL_RTO_MS = 250;
const MAX_RTO_MS = 2_000;
/** While the peer is not registered yet, ask again this often. */
const LOOKUP_INTERVAL_MS = 500;
/** Bound on learning this socket's mapping from both server ports (an older server never answers). */
export const MAPPING_QUERY_TIMEOUT_MS = 1_500;
/** Bound on waiting for both peers' observations (longer than the server's 1 s freeze). */
export const PEER_MAPPING_TIMEOUT_MS = 2_000;
/** While the server answers PENDING, ask again this often. */
const PEER_MAPPING_POLL_MS = 50;

export type SendDatagramTo = (bytes: Uint8Array, to: Address) => void | Promise<void>;

export interface RegisterInit {
  name: string;
  peerId?: string;
  candidates: Address[];
}

export interface Registration {
  /** Where the server saw this socket: its public candidate. */
  observed: Address;
  ttlSec: number;
  /** Request/answer pairs sent until registered. */
  attempts: number;
}

export type PeerInfo = Omit<PeerInfoMessage, 'type' | 'transactionId'> & {
  /** When the PEER-INFO arrived (performance.now()). */
  receivedAt: number;
};

/** A relay the server granted: Antt datagrams sent to the server's own address reach the peer. */
export interface RelayGrant {
  /** The relay's address: the rendezvous server's. */
  relay: Address;
  /** Where the server sees the peer (relayed datagrams go there). */
  peer: Address;
  idleTimeoutSec: number;
  rateBytesPerSec: number;
  attempts: number;
}

/** Where the server's two ports saw this socket (`alternate` absent: no alternate port, or no answer). */
export interface OwnMapping extends MappingObservations {
  /** The server's alternate port, 0 when it has none (or did not say). */
  alternatePort: number;
}

/** Both peers' observations as the server froze them for the session (the same for both peers). */
export interface SessionMapping {
  self: MappingObservations;
  peer: MappingObservations;
}

/** Why a rendezvous step failed; `stage` says which. */
export class RendezvousError extends AnttError {
  readonly stage: 'register' | 'exchange' | 'relay';
  constructor(
    code: ErrorCode,
    stage: 'register' | 'exchange' | 'relay',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'RendezvousError';
    this.stage = stage;
  }
}

interface Pending {
  transactionId: string;
  onMessage(message: RendezvousMessage): void;
}

export class RendezvousClient {
  readonly server: Address;
  readonly instance = new Uint8Array(randomBytes(INSTANCE_BYTES));
  readonly #send: SendDatagramTo;
  #cookie: Uint8Array = new Uint8Array(COOKIE_BYTES);
  #registered: (RegisterInit & { ttlSec: number }) | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;
  /** Transactions in flight (a mapping query runs beside the lookup), by transaction id. */
  readonly #pending = new Map<string, Pending>();
  /** The server's alternate port once MAPPING-INFO named it: its answers are the server's too. */
  #alternatePort = 0;
  #peerInfo: PeerInfo | undefined;
  #peerInfoWaiter: ((info: PeerInfo) => void) | undefined;
  #closed = false;
  /** Ends every retransmission still going (a CONNECT raced by a pushed PEER-INFO) on close(). */
  readonly #closing = new AbortController();

  constructor(server: Address, send: SendDatagramTo) {
    this.server = server;
    this.#send = send;
  }

  /** Feed every datagram from the socket; returns true when it was this client's. */
  handleDatagram(bytes: Uint8Array, from: Address): boolean {
    const fromServer =
      from.host === this.server.host &&
      (from.port === this.server.port || (this.#alternatePort !== 0 && from.port === this.#alternatePort));
    if (!fromServer || !isRendezvousMessage(bytes)) return false;
    let message: RendezvousMessage;
    try {
      message = decodeRendezvousMessage(bytes);
    } catch {
      return true; // from the server but malformed: consumed, dropped
    }
    if (message.type === MessageType.PEER_INFO) {
      const info: PeerInfo = { ...message, receivedAt: performance.now() };
      // The first PEER-INFO of a session counts: its start delay is what the peer was told too.
      if (this.#peerInfo === undefined || bytesHex(this.#peerInfo.session) !== bytesHex(info.session)) {
        this.#peerInfo = info;
        this.#peerInfoWaiter?.(info);
      }
      return true;
    }
    this.#pending.get(bytesHex(message.transactionId))?.onMessage(message);
    return true;
  }

  /**
   * Registers `name` (REGISTER, answered by a cookie challenge, REGISTER again with the cookie) and
   * keeps the registration alive until {@link close}. Rejects with a `RendezvousError` (stage
   * 'register') when the server does not answer, or refuses.
   */
  async register(init: RegisterInit, options: WaitOptions = {}): Promise<Registration> {
    const where = formatAddress(this.server);
    const scope = scopedSignal(options, undefined, `registering with the rendezvous server ${where}`);
    let attempts = 0;
    const started = performance.now();
    try {
      for (;;) {
        const answer = await this.#transact(
          (id) => this.#registerBytes(init, id),
          (m) => m.type === MessageType.REGISTERED,
          scope.signal,
          () => attempts++,
        );
        if (answer === undefined) {
          const reason = scope.signal.reason;
          if (AnttError.is(reason) && reason.code !== ErrorCode.TIMEOUT) throw reason;
          throw new RendezvousError(
            ErrorCode.TIMEOUT,
            'register',
            `rendezvous server ${where} unreachable: no answer to ${attempts} REGISTER requests over ${formatMs(performance.now() - started)} (is it running, and is UDP to it allowed?)`,
          );
        }
        if (answer.type !== MessageType.REGISTERED) continue;
        this.#cookie = new Uint8Array(answer.cookie);
        if (answer.status === RegisterStatus.CHALLENGE) continue;
        if (answer.status === RegisterStatus.NAME_TAKEN) {
          throw new RendezvousError(
            ErrorCode.REFUSED,
            'register',
            `rendezvous server ${where} refused the name "${init.name}": two other peers are registered under it`,
          );
        }
        if (answer.status === RegisterStatus.FULL) {
          throw new RendezvousError(
            ErrorCode.REFUSED,
            'register',
            `rendezvous server ${where} is full (its maximum number of registrations); try again later`,
          );
        }
        this.#registered = { ...init, ttlSec: answer.ttlSec };
        this.#scheduleRefresh();
        return { observed: answer.observed, ttlSec: answer.ttlSec, attempts };
      }
    } finally {
      scope.done();
    }
  }

  /**
   * Asks the server to pair this peer with `target` (another name, or the shared meeting name), asking
   * again while the peer is not registered, until the timeout. A PEER-INFO pushed by the server because
   * the peer asked first is taken as well.
   */
  async lookup(target: string, options: WaitOptions = {}): Promise<PeerInfo> {
    if (this.#peerInfo) return this.#peerInfo;
    const where = formatAddress(this.server);
    const scope = scopedSignal(options, undefined, `looking up "${target}" on ${where}`);
    const started = performance.now();
    let notFound = 0;
    let answered = false;
    // The CONNECT retransmissions end with the lookup, however it ends (a pushed PEER-INFO included).
    const lookupDone = new AbortController();
    const signal = AbortSignal.any([scope.signal, lookupDone.signal]);
    try {
      const pushed = new Promise<PeerInfo>((resolve) => {
        this.#peerInfoWaiter = resolve;
      });
      for (;;) {
        const answer = await Promise.race([
          this.#transact(
            (id) => this.#connectBytes(target, id),
            (m) => m.type === MessageType.PEER_NOT_FOUND,
            signal,
          ),
          pushed,
        ]);
        if (this.#peerInfo) return this.#peerInfo;
        if (answer === undefined) {
          const reason = scope.signal.reason;
          if (AnttError.is(reason) && reason.code !== ErrorCode.TIMEOUT) throw reason;
          const waited = formatMs(performance.now() - started);
          if (answered) {
            throw new RendezvousError(
              ErrorCode.TIMEOUT,
              'exchange',
              `peer "${target}" is not registered with ${where} (asked ${notFound} times over ${waited}); start the other side with the same rendezvous and name`,
            );
          }
          throw new RendezvousError(
            ErrorCode.TIMEOUT,
            'exchange',
            `rendezvous server ${where} stopped answering while looking up "${target}" (${waited})`,
          );
        }
        answered = true;
        notFound++;
        // The peer may ask first meanwhile: its PEER-INFO is pushed to us and ends the wait at once.
        await Promise.race([sleep(LOOKUP_INTERVAL_MS, scope.signal), pushed]);
        if (this.#peerInfo) return this.#peerInfo;
      }
    } finally {
      lookupDone.abort();
      this.#peerInfoWaiter = undefined;
      scope.done();
    }
  }

  /**
   * Asks the server to relay this session (RELAY-ALLOC, retransmitted with backoff). Resolves with the
   * grant; rejects with a `RendezvousError` (stage 'relay'): ANTT_ERR_REFUSED when the server refuses,
   * ANTT_ERR_TIMEOUT when it does not answer.
   */
  async relay(session: Uint8Array, options: WaitOptions = {}): Promise<RelayGrant> {
    const where = formatAddress(this.server);
    const scope = scopedSignal(options, 5_000, `asking ${where} for a relay`);
    const started = performance.now();
    let attempts = 0;
    try {
      const answer = await this.#transact(
        (id) =>
          encodeRendezvousMessage({
            type: MessageType.RELAY_ALLOC,
            transactionId: id,
            cookie: this.#cookie,
            instance: this.instance,
            session,
          }),
        (m) => m.type === MessageType.RELAY_INFO,
        scope.signal,
        () => attempts++,
      );
      if (answer === undefined || answer.type !== MessageType.RELAY_INFO) {
        const reason = scope.signal.reason;
        if (AnttError.is(reason) && reason.code !== ErrorCode.TIMEOUT) throw reason;
        throw new RendezvousError(
          ErrorCode.TIMEOUT,
          'relay',
          `rendezvous server ${where} did not answer ${attempts} RELAY-ALLOC requests over ${formatMs(performance.now() - started)} (a server without relaying, or it stopped answering)`,
        );
      }
      if (answer.status !== RelayStatus.ALLOCATED) {
        const why =
          answer.status === RelayStatus.FULL
            ? 'it holds its maximum number of relays; try again later'
            : answer.status === RelayStatus.NO_SESSION
              ? 'it no longer knows this pairing (the peer unregistered, or the session expired)'
              : 'it does not relay';
        throw new RendezvousError(
          ErrorCode.REFUSED,
          'relay',
          `rendezvous server ${where} refused a relay: ${why}`,
        );
      }
      return {
        relay: { host: this.server.host, port: this.server.port },
        peer: answer.peer,
        idleTimeoutSec: answer.idleTimeoutSec,
        rateBytesPerSec: answer.rateBytesPerSec,
        attempts,
      };
    } finally {
      scope.done();
    }
  }

  /**
   * Mapping extension: asks the server's main port where it sees this socket (MAPPING-QUERY), which
   * also names the server's alternate port, then asks the alternate port the same from the same socket.
   * Never rejects on silence: an older server, or a lost alternate port, gives a mapping without
   * `alternate` (unknown behaviour) after at most MAPPING_QUERY_TIMEOUT_MS.
   */
  async discoverMapping(
    observed: Address,
    options: WaitOptions & {
      /** Called when the query to the alternate port first leaves (see punch-peer.ts, early probing). */
      onAlternateQuery?: () => void;
    } = {},
  ): Promise<OwnMapping> {
    const scope = scopedSignal(options, MAPPING_QUERY_TIMEOUT_MS, 'learning the NAT mapping');
    const query = (id: Uint8Array) =>
      encodeRendezvousMessage({
        type: MessageType.MAPPING_QUERY,
        transactionId: id,
        cookie: this.#cookie,
        instance: this.instance,
      });
    const isInfo = (m: RendezvousMessage) => m.type === MessageType.MAPPING_INFO;
    const unknown: OwnMapping = { primary: observed, alternatePort: 0 };
    try {
      const main = await this.#transact(query, isInfo, scope.signal);
      if (main?.type !== MessageType.MAPPING_INFO || main.otherPort === 0) return unknown;
      this.#alternatePort = main.otherPort;
      const alternatePort = main.otherPort;
      const to = { host: this.server.host, port: alternatePort };
      let queried = false;
      const onAttempt = (): void => {
        if (queried) return;
        queried = true;
        options.onAlternateQuery?.();
      };
      const other = await this.#transact(query, isInfo, scope.signal, onAttempt, to);
      if (other?.type !== MessageType.MAPPING_INFO) return { ...unknown, alternatePort };
      return { primary: main.observed, alternate: other.observed, alternatePort };
    } finally {
      scope.done();
    }
  }

  /**
   * Mapping extension: both peers' observations for `session` (PEER-MAPPING-QUERY), asked again while
   * the server answers PENDING. Resolves undefined when the server does not know the session, does not
   * answer (an older server), or PEER_MAPPING_TIMEOUT_MS passes.
   */
  async peerMapping(session: Uint8Array, options: WaitOptions = {}): Promise<SessionMapping | undefined> {
    const scope = scopedSignal(options, PEER_MAPPING_TIMEOUT_MS, "learning the peer's NAT mapping");
    try {
      while (!scope.signal.aborted) {
        const answer = await this.#transact(
          (id) =>
            encodeRendezvousMessage({
              type: MessageType.PEER_MAPPING_QUERY,
              transactionId: id,
              cookie: this.#cookie,
              instance: this.instance,
              session,
            }),
          (m) => m.type === MessageType.PEER_MAPPING,
          scope.signal,
        );
        if (answer?.type !== MessageType.PEER_MAPPING) return undefined;
        if (answer.status === PeerMappingStatus.READY && answer.self && answer.peer) {
          return { self: answer.self, peer: answer.peer };
        }
        if (answer.status !== PeerMappingStatus.PENDING) return undefined;
        await sleep(PEER_MAPPING_POLL_MS, scope.signal);
      }
      return undefined;
    } finally {
      scope.done();
    }
  }

  /**
   * Stops refreshing and tells the server to forget this registration (best effort, one datagram).
   * Resolves once that datagram is handed to the socket (or failed to be), so a caller that closes the
   * socket next can await it: an UNREGISTER lost that way leaves the name taken until it expires.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#closing.abort();
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    if (!this.#registered) return Promise.resolve();
    const bytes = encodeRendezvousMessage({
      type: MessageType.UNREGISTER,
      transactionId: newTransactionId(),
      cookie: this.#cookie,
      instance: this.instance,
      name: this.#registered.name,
    });
    return this.#sendQuietly(bytes);
  }

  /** Losses are what retransmission is for: a failed send (closed socket, unreachable) is one of them. */
  #sendQuietly(bytes: Uint8Array, to: Address = this.server): Promise<void> {
    try {
      return Promise.resolve(this.#send(bytes, to)).then(
        () => {},
        () => {},
      );
    } catch {
      // as above
      return Promise.resolve();
    }
  }

  #registerBytes(init: RegisterInit, transactionId = newTransactionId()): Uint8Array {
    return encodeRendezvousMessage({
      type: MessageType.REGISTER,
      transactionId,
      cookie: this.#cookie,
      instance: this.instance,
      name: init.name,
      peerId: init.peerId ?? '',
      candidates: init.candidates,
    });
  }

  #connectBytes(target: string, transactionId: Uint8Array): Uint8Array {
    return encodeRendezvousMessage({
      type: MessageType.CONNECT,
      transactionId,
      cookie: this.#cookie,
      instance: this.instance,
      target,
    });
  }

  /** A refresh every third of the TTL: one lost refresh does not lose the registration. */
  #scheduleRefresh(): void {
    const registered = this.#registered;
    if (!registered || this.#closed) return;
    this.#refreshTimer = setTimeout(
      () => {
        if (this.#closed) return;
        void this.#sendQuietly(this.#registerBytes(registered));
        this.#scheduleRefresh();
      },
      (registered.ttlSec * 1000) / 3,
    );
    this.#refreshTimer.unref();
  }

  /**
   * Sends a request (fresh bytes, a fresh transaction id, each time) with exponential backoff until an
   * answer with its transaction id arrives or the signal fires (then resolves undefined). `accept`
   * filters answers that do not end the transaction; PEER-INFO ends any wait through `lookup`.
   */
  #transact(
    makeRequest: (transactionId: Uint8Array) => Uint8Array,
    accept: (message: RendezvousMessage) => boolean,
    callerSignal: AbortSignal,
    onAttempt?: () => void,
    to: Address = this.server,
  ): Promise<RendezvousMessage | undefined> {
    const signal = AbortSignal.any([callerSignal, this.#closing.signal]);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let rto = INITIAL_RTO_MS;
      const done = (value: RendezvousMessage | undefined): void => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#pending.delete(pending.transactionId);
        resolve(value);
      };
      const onAbort = (): void => done(undefined);
      // One transaction id for every retransmission: a late answer to an early copy still counts.
      const transactionId = newTransactionId();
      const pending: Pending = {
        transactionId: bytesHex(transactionId),
        onMessage: (message) => {
          if (accept(message)) done(message);
        },
      };
      const transmit = (): void => {
        const bytes = makeRequest(transactionId);
        onAttempt?.();
        void this.#sendQuietly(bytes, to);
        timer = setTimeout(transmit, rto);
        rto = Math.min(MAX_RTO_MS, rto * 2);
      };
      if (signal.aborted) return resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(pending.transactionId, pending);
      transmit();
    });
  }
}

function newTransactionId(): Uint8Array {
  return new Uint8Array(randomBytes(TRANSACTION_ID_BYTES));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
