import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import {
  AnttError,
  abortReasonToError,
  ErrorCode,
  formatAddress,
  formatMs,
  networkError,
  TimeoutError,
} from '@antt/core';
import { adoptAccepted, ReadSink } from './read-sink.js';

/** After a refused attempt, listen on the local port for a random time in this range, then try again. */
export const RETRY_MIN_MS = 50;
export const RETRY_MAX_MS = 250;
/** With `onRefused: 'reconnect'`, the next attempt follows a refused one after a random pause in this range. */
export const RECONNECT_MIN_MS = 1;
export const RECONNECT_MAX_MS = 5;
/** Consecutive "address in use" failures after which the local port is taken for good. */
const MAX_ADDRESS_IN_USE_FAILURES = 20;

export interface OpenerOptions {
  localPort: number;
  /** Local address to bind; undefined binds the wildcard of the remote's family. */
  localAddress: string | undefined;
  /** The peer, with `host` already an IP address. */
  remote: { host: string; port: number };
  family: 4 | 6;
  /** A `performance.now()` time before which the first attempt is not made. */
  startAt?: number;
  /** After a refused attempt: listen for a while (default), or connect again almost at once. */
  onRefused?: 'listen' | 'reconnect';
}

/** Thrown by a handshake on a connection that was reset before it finished: try again. */
export class TransientFailure extends Error {}

type AttemptOutcome = { socket: Socket } | { error: NodeJS.ErrnoException };

/**
 * TCP simultaneous open, made to work on loopback and LANs too. Both peers call this at about the same
 * time, each from its fixed local port towards the other's:
 *
 * - It connects from `localPort` and keeps that attempt open until it succeeds, fails, or time runs out.
 *   Across NATs that silently drop unsolicited packets, the first SYN each side sends opens its own NAT;
 *   the other side's next SYN then passes, and the two SYNs meet (simultaneous open) or one meets a socket
 *   already waiting in SYN_SENT. Either way a single connection with the same four-tuple forms.
 * - When the attempt is refused (a TCP reset: nobody bound to the peer's port yet, as on a LAN or loopback
 *   when the peer starts a little later), it listens on `localPort` for a random 50-250 ms, accepting only
 *   the peer's address, and then connects again. Linux lets a port either listen or carry an outgoing
 *   bind, never both without SO_REUSEPORT (which Node 20 cannot set), so the two alternate.
 *
 * A router that answers unsolicited SYNs with resets makes every attempt look refused; at the deadline the
 * error says so.
 */
export class SimultaneousOpener {
  readonly #options: OpenerOptions;
  attempts = 0;
  refused = 0;
  /** Attempts still waiting for an answer when the deadline came. */
  unanswered = 0;
  resetDuringHandshake = 0;
  strangersTurnedAway = 0;
  /** Connections that came in on the listen window rather than from an attempt of ours. */
  accepted = 0;
  #addressInUseStreak = 0;
  #lastError: NodeJS.ErrnoException | undefined;
  readonly #startedAt = performance.now();

  constructor(options: OpenerOptions) {
    this.#options = options;
  }

  /** A TCP connection to the peer, or the error that explains why there is none by `deadline`. */
  async next(signal: AbortSignal, deadline: number): Promise<Socket> {
    const startAt = this.#options.startAt;
    if (this.attempts === 0 && startAt !== undefined && startAt > performance.now()) {
      await pause(Math.min(startAt, deadline) - performance.now(), signal);
    }
    for (;;) {
      if (signal.aborted) throw abortReasonToError(signal, `connect to ${this.#peer()}`);
      if (performance.now() >= deadline) throw this.deadlineError(deadline);
      const outcome = await this.#attempt(signal, deadline);
      if ('socket' in outcome) {
        this.#addressInUseStreak = 0;
        return outcome.socket;
      }
      const code = outcome.error.code;
      this.#lastError = outcome.error;
      if (code === 'EADDRINUSE') {
        if (++this.#addressInUseStreak >= MAX_ADDRESS_IN_USE_FAILURES) {
          throw new AnttError(
            ErrorCode.NETWORK,
            `local port ${this.#options.localPort} is in use by another socket on this machine: ` +
              'choose another localPort',
            { cause: outcome.error },
          );
        }
      } else {
        this.#addressInUseStreak = 0;
      }
      if (code === 'ECONNREFUSED') this.refused++;
      else if (!isTransient(code)) {
        throw networkError(
          `connect from local port ${this.#options.localPort} to ${this.#peer()}`,
          outcome.error,
        );
      }
      if (this.#options.onRefused === 'reconnect') {
        // Through NATs the reset came from the peer's router: listening cannot help, a new SYN can.
        const wait = RECONNECT_MIN_MS + Math.random() * (RECONNECT_MAX_MS - RECONNECT_MIN_MS);
        await pause(Math.min(wait, deadline - performance.now()), signal);
        continue;
      }
      const accepted = await this.#listenWindow(signal, deadline);
      if (accepted) return accepted;
    }
  }

  /** The error for a deadline that passed without a connection, naming the likely cause. */
  deadlineError(deadline: number): AnttError {
    const waited = formatMs(Math.max(0, deadline - this.#startedAt));
    const from = `from local port ${this.#options.localPort}`;
    const peer = this.#peer();
    const counts = `${this.attempts} attempt${this.attempts === 1 ? '' : 's'} in ${waited}`;
    if (this.resetDuringHandshake > 0) {
      return new AnttError(
        ErrorCode.RESET,
        `the TCP connection to ${peer} formed ${this.resetDuringHandshake} time(s) but was reset before the ` +
          `Antt handshake finished (${counts}): the peer keeps restarting or something on the path resets it`,
      );
    }
    // The last attempt may still be in flight at the deadline: that says nothing about the path.
    const answered = this.attempts - this.unanswered;
    if (this.refused > 0 && this.refused === answered) {
      return new AnttError(
        ErrorCode.REFUSED,
        `could not connect ${from} to ${peer}: every attempt (${counts}) was refused with a TCP reset: ` +
          'the peer is not running, or a router between you answers unsolicited SYNs with resets',
        { cause: this.#lastError },
      );
    }
    if (this.refused === 0 && answered > 0 && this.#lastError !== undefined) {
      return networkError(`connect ${from} to ${peer} (${counts})`, this.#lastError);
    }
    if (this.refused > 0) {
      return new TimeoutError(
        `could not connect ${from} to ${peer} within ${waited}: ${this.refused} of ${this.attempts} attempts ` +
          'were refused with a TCP reset and the rest got no answer: the peer is not running, or a router ' +
          'between you drops or resets unsolicited SYNs',
        { cause: this.#lastError },
      );
    }
    return new TimeoutError(
      `could not connect ${from} to ${peer} within ${waited}: no answer at all (no SYN, no reset): the ` +
        'peer is not running or not connecting to this side at the same time, or a firewall drops the packets',
      { cause: this.#lastError },
    );
  }

  #peer(): string {
    return formatAddress(this.#options.remote);
  }

  #attempt(signal: AbortSignal, deadline: number): Promise<AttemptOutcome> {
    this.attempts++;
    const { remote, localPort, localAddress, family } = this.#options;
    return new Promise<AttemptOutcome>((resolve) => {
      let socket: Socket;
      try {
        const sink = new ReadSink();
        socket = netConnect({
          onread: sink.onread,
          host: remote.host,
          port: remote.port,
          localPort,
          localAddress: localAddress ?? (family === 6 ? '::' : '0.0.0.0'),
          family,
          allowHalfOpen: true,
          noDelay: true,
        });
        sink.attach(socket);
      } catch (error) {
        resolve({ error: error as NodeJS.ErrnoException });
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const done = (outcome: AttemptOutcome): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        resolve(outcome);
      };
      function onConnect(): void {
        done({ socket });
      }
      function onError(error: NodeJS.ErrnoException): void {
        socket.destroy();
        done({ error });
      }
      const onDeadline = (): void => {
        this.unanswered++;
        socket.destroy();
        done({ error: Object.assign(new Error('no answer before the deadline'), { code: 'ETIMEDOUT' }) });
      };
      function onAbort(): void {
        socket.destroy();
        done({ error: Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }) });
      }
      timer = setTimeout(onDeadline, Math.max(0, deadline - performance.now()));
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Listens on the local port for a random window; resolves with the peer's connection if it came. */
  #listenWindow(signal: AbortSignal, deadline: number): Promise<Socket | undefined> {
    const windowMs = Math.min(
      RETRY_MIN_MS + Math.random() * (RETRY_MAX_MS - RETRY_MIN_MS),
      Math.max(0, deadline - performance.now()),
    );
    const { localPort, localAddress, family, remote } = this.#options;
    return new Promise<Socket | undefined>((resolve) => {
      const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
      const timer = setTimeout(() => finish(undefined), windowMs);
      let settled = false;
      const finish = (socket: Socket | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        // Closing releases the port at once (the fd closes synchronously), so the next connect can bind.
        server.close();
        server.removeAllListeners('connection');
        resolve(socket);
      };
      const onAbort = (): void => finish(undefined);
      server.on('connection', (socket: Socket) => {
        if (settled || !sameEndpoint(socket, remote)) {
          if (!settled) this.strangersTurnedAway++;
          socket.resetAndDestroy();
          return;
        }
        socket.setNoDelay(true);
        this.accepted++;
        // Re-wrapped so it reads like a dialled socket (through `onread`, no per-read allocation or copy).
        const adopted = adoptAccepted(socket, { allowHalfOpen: true });
        if (adopted === socket) socket.resume();
        finish(adopted);
      });
      server.on('error', (error: NodeJS.ErrnoException) => {
        this.#lastError = error;
        if (error.code === 'EADDRINUSE') this.#addressInUseStreak++;
        // Could not listen: wait out the window anyway so retries stay paced.
      });
      signal.addEventListener('abort', onAbort, { once: true });
      server.listen({
        port: localPort,
        host: localAddress ?? (family === 6 ? '::' : '0.0.0.0'),
        exclusive: true,
        ipv6Only: family === 6 && localAddress === undefined,
      });
    });
  }
}

/** Waits `ms` (at most), ending early when `signal` fires; the caller checks the signal next. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Failures worth another attempt before the deadline. */
function isTransient(code: string | undefined): boolean {
  switch (code) {
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRINUSE':
    case 'EADDRNOTAVAIL':
    case 'ABORT_ERR':
      return true;
    default:
      return false;
  }
}

/** Strips the IPv4-mapped prefix a dual-stack socket reports. */
export function normalizeHost(host: string | undefined): string {
  if (host === undefined) return '';
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}

function sameEndpoint(socket: Socket, remote: { host: string; port: number }): boolean {
  return (
    normalizeHost(socket.remoteAddress) === normalizeHost(remote.host) && socket.remotePort === remote.port
  );
}
