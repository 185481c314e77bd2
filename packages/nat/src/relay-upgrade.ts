/**
 * Relay -> direct upgrade: a connection `connect()` left on the rendezvous server's relay keeps trying
 * to punch a direct path in the background, from the same endpoint socket, and when one is validated
 * both ways moves the live connection onto it with `@antt/udp`'s `migrate()` (PATH_CHALLENGE /
 * PATH_RESPONSE, sealed like all DATA: a PROBE answered from a forged address cannot take the connection
 * anywhere, since only the real peer can answer the challenge). The transfer in progress goes on; nothing
 * is resent by the application.
 *
 * Both peers run the same schedule from the moment their connection opened (within a round trip of each
 * other): a punching attempt of `punchTimeout`, then a pause, a bounded number of times. Each side
 * migrates to the address the punch chose; the peer sees the first data from there and follows too.
 */
import type { Address } from '@antt/core';
import type { UdpConnection } from '@antt/udp';
import type { ConnectionPath, DatagramEndpoint, DirectPath } from './connect.js';
import { type Candidate, type PunchResult, UdpPunch } from './punch/udp-punch.js';

/** Punching attempts after a relayed connect(). */
export const DEFAULT_UPGRADE_ATTEMPTS = 3;
/** Pause between two attempts (both peers keep the same schedule). */
export const UPGRADE_PAUSE_MS = 5_000;
/** Bound on one migrate() once a path was punched (a validation gives up after ~3 s by itself). */
const MIGRATE_TIMEOUT_MS = 10_000;

export interface RelayUpgradeOptions {
  /** Attempts before giving up (default 3); 0 turns the upgrade off. */
  attempts?: number;
  /** Pause between attempts in ms (default 5 000). */
  pauseMs?: number;
}

/** What `connection.path` says after a successful upgrade: direct, and where it came from. */
export interface UpgradedFromRelay {
  /** The relay the connection used until then. */
  relay: Address;
  /** Why it had been relayed (the relayed path's reason). */
  reason: string;
  /** Milliseconds from the relayed connect() to the switch. */
  afterMs: number;
  /** Punching attempts made, the successful one included. */
  attempts: number;
}

interface UpgradeContext {
  connection: UdpConnection & { path: ConnectionPath };
  endpoint: DatagramEndpoint;
  session: Uint8Array;
  controlling: boolean;
  candidates: Candidate[];
  punchTimeoutMs: number;
  options: RelayUpgradeOptions;
}

/**
 * Starts the background upgrade of a relayed connection; returns its stopper. It stops by itself when
 * the connection closes, after the last attempt, or once the connection is direct.
 */
export function startRelayUpgrade(context: UpgradeContext): () => void {
  const attempts = context.options.attempts ?? DEFAULT_UPGRADE_ATTEMPTS;
  const pauseMs = context.options.pauseMs ?? UPGRADE_PAUSE_MS;
  const stop = new AbortController();
  const { connection, endpoint } = context;
  let punch: UdpPunch | undefined;
  const removeHandler = endpoint.onForeignDatagram((bytes, from) => {
    punch?.handleDatagram(bytes, from);
  });
  const onClose = (): void => stop.abort();
  connection.once('close', onClose);
  const done = (): void => {
    removeHandler();
    connection.off('close', onClose);
  };
  const started = performance.now();
  void (async () => {
    for (let attempt = 1; attempt <= attempts && !stop.signal.aborted; attempt++) {
      punch = new UdpPunch({
        session: context.session,
        controlling: context.controlling,
        candidates: context.candidates,
        send: (bytes, to) => endpoint.sendDatagram(bytes, to),
      });
      let punched: PunchResult | undefined;
      try {
        punched = await punch.run({ signal: stop.signal, timeout: context.punchTimeoutMs });
      } catch {
        // Timed out (the NATs still do not let a direct path through) or stopped.
      }
      if (punched && !stop.signal.aborted) {
        try {
          await connection.migrate(punched.remote, { signal: stop.signal, timeout: MIGRATE_TIMEOUT_MS });
          markUpgraded(connection, punched, attempt, performance.now() - started);
          return;
        } catch {
          // The punched path did not validate (or the connection ended): try again later.
        }
      }
      if (attempt < attempts) await pause(pauseMs, stop.signal);
    }
  })().finally(done);
  return () => stop.abort();
}

function markUpgraded(
  connection: UdpConnection & { path: ConnectionPath },
  punched: PunchResult,
  attempts: number,
  afterMs: number,
): void {
  const relayed = connection.path;
  if (relayed.kind !== 'relayed') return;
  const path: DirectPath = {
    kind: 'direct',
    transport: 'udp',
    local: relayed.local,
    remote: punched.remote,
    observed: relayed.observed,
    tried: punched.tried,
    peerName: relayed.peerName,
    candidate: punched.candidate,
    stages: { ...relayed.stages, upgradeMs: afterMs },
    upgradedFromRelay: { relay: relayed.relay, reason: relayed.reason, afterMs, attempts },
  };
  Object.defineProperty(connection, 'path', { value: path, enumerable: true, configurable: true });
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener('abort', finish, { once: true });
  });
}
