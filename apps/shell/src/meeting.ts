/**
 * Meeting the other side through a rendezvous server (`--rendezvous`, `@antt/nat`'s `connect()`): the
 * words both modes use for whom they wait for, the path a connection took, and a stage that failed.
 */
import { AnttError, formatAddress } from '@antt/core';
import type { ConnectionPath, TcpConnectionPath } from '@antt/nat';
import type { RendezvousTarget } from './cli.js';

/** The words for each of `connect()`'s stages, in order. */
const STAGE_WORDS: Record<string, string> = {
  udpMs: 'udp tried first',
  registerMs: 'register',
  exchangeMs: 'waiting for the peer',
  punchMs: 'punch',
  relayMs: 'relay',
  handshakeMs: 'handshake',
};

/** `"office" at rendezvous 203.0.113.2:3478`: whom this side waits for, and where. */
export function describeMeeting(target: RendezvousTarget): string {
  return `"${target.peerName ?? target.name}" at rendezvous ${target.serverText}`;
}

/** The rendezvous options the other side gives to meet this one. */
export function otherSideOptions(target: RendezvousTarget): string {
  const names =
    target.peerName === undefined
      ? `--name ${target.name}`
      : `--name ${target.peerName} --peer-name ${target.name}`;
  return `--rendezvous ${target.serverText} ${names}`;
}

/** One line: direct (to which candidate) or relayed (and why), and how long each stage took. */
export function describePath(path: ConnectionPath | TcpConnectionPath): string {
  // A direct TCP path's punch is the simultaneous open and both handshakes.
  const words: Record<string, string> =
    path.transport === 'tcp' && path.kind === 'direct'
      ? { ...STAGE_WORDS, punchMs: 'open and handshake' }
      : STAGE_WORDS;
  const stages = Object.entries(path.stages)
    .map(([stage, ms]) => `${words[stage] ?? stage} ${milliseconds(ms ?? 0)}`)
    .join(', ');
  const total = Object.values(path.stages).reduce((sum: number, ms) => sum + (ms ?? 0), 0);
  const took = `connected in ${milliseconds(total)} (${stages})`;
  if (path.kind === 'direct') {
    const which =
      path.candidate === 'lan'
        ? "the peer's LAN address"
        : path.candidate === 'public'
          ? "the peer's public address, as the rendezvous server saw it"
          : `the peer's ${path.candidate} candidate`;
    return `path: direct to ${formatAddress(path.remote)} (${which}); ${took}`;
  }
  const rate = `${(path.relayRateBytesPerSec / 1e6).toFixed(1)} MB/s`;
  // "punching timed out after 3 s", without the list of probes that follows.
  const reason = path.reason.split(': ')[0]!;
  return `path: relayed by the rendezvous server ${formatAddress(path.relay)} (it sees only ciphertext; at most ${rate}) because ${reason}; ${took}`;
}

/** The stage of `connect()` an error comes from (register, exchange, punch, relay, handshake), if any. */
export function stageOf(error: unknown): string | undefined {
  if (!AnttError.is(error) || !('stage' in error)) return undefined;
  return typeof error.stage === 'string' ? error.stage : undefined;
}

/** `could not connect (punch stage): <what was tried>`, for an error of a stage. */
export function describeStageFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const stage = stageOf(error);
  return stage === undefined
    ? `could not connect: ${message}`
    : `could not connect (${stage} stage): ${message}`;
}

/** connect() names the stage in front of the transport's handshake message: "handshake with H:P failed: ". */
export const STAGE_PREFIX = /^handshake with \S+(?: \(relayed\))? failed: /;

function milliseconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
