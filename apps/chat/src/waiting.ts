/**
 * Waiting for the peer: connection attempts, by address or through the rendezvous, until one opens, the
 * person quits, or --connect-timeout passes; each problem said once, in words a person can act on.
 */
import { AnttError, type Connection, ErrorCode } from '@antt/core';
import type { ConnectionPath, TcpConnectionPath } from '@antt/nat';
import type { ChatOptions } from './cli-options.js';
import { formatDuration } from './format.js';
import { describePath, describeStageFailure, describeWait, otherSideFlags, stageOf } from './meeting.js';
import { describeAuthFailure } from './security.js';
import { type ConnectionPlan, openConnection } from './transport.js';

/**
 * Each transport connect to an address gives up after this; the chat then tries again until
 * --connect-timeout. Through a rendezvous one attempt waits the whole time once the server has
 * answered (it tells when the peer comes; a new registration every few seconds would only race the
 * peer's lookup).
 */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** Pause after an attempt that failed fast (the peer's port refused), so retries do not spin. */
const RETRY_DELAY_MS = 1_000;
const STILL_WAITING_EVERY_MS = 60_000;

export class PeerWaiter {
  readonly #options: ChatOptions;
  readonly #plan: ConnectionPlan;
  readonly #say: (text: string) => void;
  readonly #signal: AbortSignal;
  /** The local port was ours once, so "in use" later is the system still releasing it. */
  #everBound = false;
  /** When the current wait began (for /status). */
  waitingSince = performance.now();

  constructor(options: ChatOptions, plan: ConnectionPlan, say: (text: string) => void, signal: AbortSignal) {
    this.#options = options;
    this.#plan = plan;
    this.#say = say;
    this.#signal = signal;
  }

  /**
   * Resolves to the open connection; 'gave-up' after --connect-timeout or a problem no retry can fix
   * (both said); undefined when the person quit meanwhile.
   */
  async wait(): Promise<Connection | 'gave-up' | undefined> {
    const { peerText, transport, connectTimeoutMs, rendezvous } = this.#options;
    this.waitingSince = performance.now();
    const deadline = this.waitingSince + connectTimeoutMs;
    this.#say(
      `waiting for ${rendezvous ? describeWait(rendezvous) : `peer ${peerText} over ${transport}`} ... (gives up after ${formatDuration(connectTimeoutMs)}; Ctrl-C to quit)`,
    );
    const reminder = setInterval(() => {
      this.#say(
        `still waiting for ${rendezvous ? '' : 'peer '}${peerText} (${formatDuration(performance.now() - this.waitingSince)} so far)`,
      );
    }, STILL_WAITING_EVERY_MS);
    try {
      return await this.#attemptUntil(deadline);
    } finally {
      clearInterval(reminder);
    }
  }

  async #attemptUntil(deadline: number): Promise<Connection | 'gave-up' | undefined> {
    const { rendezvous } = this.#options;
    let lastProblem = '';
    // Until the rendezvous server has answered once, attempts stay short so an unreachable server is
    // said within seconds; after that one attempt waits for the peer as long as it takes.
    let serverAnswered = false;
    while (!this.#signal.aborted) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        this.#say(this.#gaveUp(serverAnswered));
        return 'gave-up';
      }
      const startedAt = performance.now();
      try {
        const timeout = rendezvous && serverAnswered ? remaining : Math.min(ATTEMPT_TIMEOUT_MS, remaining);
        const connection = await openConnection(this.#plan, { timeout, signal: this.#signal });
        this.#everBound = true;
        const path = (connection as { path?: ConnectionPath | TcpConnectionPath }).path;
        if (path) this.#say(describePath(path));
        return connection;
      } catch (error) {
        if (this.#signal.aborted) return undefined;
        if (stageOf(error) !== undefined && stageOf(error) !== 'register') serverAnswered = true;
        const problem = this.#connectProblem(error);
        if (problem === 'fatal') return 'gave-up';
        // Said once per cause: the same failure with other counts or times is not news.
        if (problem && withoutNumbers(problem) !== withoutNumbers(lastProblem)) {
          this.#say(`${problem}; still trying`);
        }
        lastProblem = problem ?? lastProblem;
        const spent = performance.now() - startedAt;
        if (spent < RETRY_DELAY_MS) await sleep(RETRY_DELAY_MS - spent, this.#signal);
      }
    }
    return undefined;
  }

  #gaveUp(serverAnswered: boolean): string {
    const { peerText, connectTimeoutMs, rendezvous } = this.#options;
    const within = `within ${formatDuration(connectTimeoutMs)} (--connect-timeout)`;
    if (!rendezvous) {
      return `gave up: ${peerText} did not answer ${within}. Is it running, with --peer pointing here and the same --transport?`;
    }
    if (!serverAnswered) {
      return `gave up: the rendezvous server ${rendezvous.serverText} did not answer ${within}. Is antt-rendezvous running there, and is UDP to it allowed?`;
    }
    return `gave up: ${peerText} did not come ${within}. Is it running, with --rendezvous ${rendezvous.serverText} and ${otherSideFlags(rendezvous)}?`;
  }

  /** `undefined`: the peer is simply not there yet. A string: worth telling the person. */
  #connectProblem(error: unknown): string | 'fatal' | undefined {
    if (!AnttError.is(error)) return `could not connect: ${String(error)}`;
    // Through a rendezvous every failed stage is news (the server unreachable, punching, the relay)
    // except the peer not being registered yet, which the waiting line already says.
    const stage = stageOf(error);
    if (stage === 'exchange' && error.code === ErrorCode.TIMEOUT) return undefined;
    if (stage !== undefined && error.code !== ErrorCode.AUTH && error.code !== ErrorCode.NETWORK) {
      return describeStageFailure(error);
    }
    switch (error.code) {
      case ErrorCode.TIMEOUT:
      case ErrorCode.REFUSED:
      case ErrorCode.RESET:
      case ErrorCode.CLOSED:
        return undefined;
      case ErrorCode.NETWORK:
        // After a connection ended, the system may hold the port a moment longer: retry then.
        if (/EADDRINUSE/.test(error.message) && !this.#everBound && this.#options.localPort !== 0) {
          this.#fatal(
            new Error(
              `port ${this.#options.localPort} is already in use (another antt-chat?); pick another --port`,
            ),
          );
          return 'fatal';
        }
        if (/EACCES/.test(error.message)) {
          this.#fatal(new Error(`not allowed to use port ${this.#options.localPort}; pick one above 1023`));
          return 'fatal';
        }
        return `network problem: ${error.message}`;
      case ErrorCode.AUTH:
        return `the peer could not be authenticated: ${describeAuthFailure(error.message)}`;
      case ErrorCode.INVALID_ARGUMENT:
        this.#fatal(error);
        return 'fatal';
      default:
        return `could not connect: ${error.message}`;
    }
  }

  #fatal(error: unknown): void {
    this.#say(`cannot continue: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The same failure with other counts or times is not news. */
function withoutNumbers(text: string): string {
  return text.replace(/\d+(\.\d+)?/g, '#');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
