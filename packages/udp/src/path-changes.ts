/**
 * The application's side of connection migration for one `UdpConnection`: the `migrate()` calls waiting
 * for their path validation to end, and the `onPathChange` handlers told when the connection starts
 * sending to a new address. The protocol side is protocol/migration.ts and protocol/path-validation.ts.
 */
import {
  type Address,
  AnttError,
  ErrorCode,
  formatAddress,
  scopedSignal,
  TimeoutError,
  type WaitOptions,
} from '@antt/core';
import { type PathAddress, ValidationKind, type ValidationOutcome } from './protocol/path-validation.js';

/** migrate() waits at most this long by default (a validation gives up after about 3 s by itself). */
export const DEFAULT_MIGRATE_TIMEOUT_MS = 10_000;

/** What `onPathChange` handlers hear: the connection now sends to `remote` instead of `previous`. */
export interface PathChange {
  remote: Address;
  previous: Address;
  /** 'peer-moved': the peer's datagrams came from a new address (a NAT rebinding); 'migrate': migrate(). */
  reason: 'peer-moved' | 'migrate';
}

type Waiter = { resolve(): void; reject(error: Error): void };

export class PathChanges {
  readonly #handlers = new Set<(change: PathChange) => void>();
  readonly #waiters = new Map<string, Waiter>();

  on(handler: (change: PathChange) => void): () => void {
    this.#handlers.add(handler);
    return () => {
      this.#handlers.delete(handler);
    };
  }

  /**
   * Resolves when the validation of `target` succeeds, rejects when it fails or `options` end the wait
   * (then `cancel` stops the validation). A second wait for the same target supersedes the first.
   */
  async wait(target: PathAddress, options: WaitOptions, cancel: () => void): Promise<void> {
    const key = formatAddress(target);
    const scope = scopedSignal(options, DEFAULT_MIGRATE_TIMEOUT_MS, `migrating to ${key}`);
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.#waiters.delete(key);
          cancel();
          reject(scope.error());
        };
        scope.signal.addEventListener('abort', onAbort, { once: true });
        this.#waiters.get(key)?.reject(new AnttError(ErrorCode.ABORTED, 'superseded by another migrate()'));
        this.#waiters.set(key, {
          resolve: () => {
            scope.signal.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (error) => {
            scope.signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        });
      });
    } finally {
      scope.done();
    }
  }

  /**
   * A validation ended. `previous` is where the connection sent before, `remote` where it sends now (the
   * target when validated).
   */
  ended(outcome: ValidationOutcome, previous: Address, remote: Address): void {
    const key = formatAddress(outcome.target);
    const waiter = this.#waiters.get(key);
    this.#waiters.delete(key);
    if (!outcome.validated) {
      waiter?.reject(
        new TimeoutError(
          `the new path to ${key} did not answer path validation; the connection stays with ${formatAddress(previous)}`,
        ),
      );
      return;
    }
    waiter?.resolve();
    const change: PathChange = {
      remote,
      previous,
      reason: outcome.kind === ValidationKind.DELIBERATE ? 'migrate' : 'peer-moved',
    };
    for (const handler of [...this.#handlers]) {
      try {
        handler(change);
      } catch (error) {
        // A handler's bug must not break the connection; surface it like an unhandled error would.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** The connection ended: every waiting migrate() rejects with `error`. */
  failAll(error: Error): void {
    for (const waiter of this.#waiters.values()) waiter.reject(error);
    this.#waiters.clear();
  }
}
