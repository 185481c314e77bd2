/**
 * Meeting the peer through a rendezvous server (`--rendezvous`, `@antt/nat`'s `connect()`): the words
 * for the path a connection took and for a stage that failed. The chat's own flow (waiting, retrying,
 * reconnecting) is the same as with an address; only these lines differ.
 */
import { type Address, AnttError, formatAddress } from '@antt/core';
import type { ConnectionPath, TcpConnectionPath } from '@antt/nat';
import type { RendezvousTarget } from './cli-options.js';
import { formatDuration, formatRate } from './format.js';

/** Whom the chat waits for, and what the other side must give to meet it there. */
export function describeWait(target: RendezvousTarget): string {
  return `"${target.peerName ?? target.name}" at rendezvous ${target.serverText} (there: ${otherSideFlags(target)})`;
}

/** The names the other side gives to meet this one. */
export function otherSideFlags(target: RendezvousTarget): string {
  return target.peerName === undefined
    ? `--name ${target.name}`
    : `--name ${target.peerName} --peer-name ${target.name}`;
}

/** The words for each of `connect()`'s stages, in order. */
const STAGE_WORDS: Record<string, string> = {
  udpMs: 'udp tried first',
  registerMs: 'register',
  exchangeMs: 'waiting for the peer',
  punchMs: 'punch',
  relayMs: 'relay',
  handshakeMs: 'handshake',
};

/** The connection's path: direct or relayed, which candidate won, and how long each stage took. */
export function describePath(path: ConnectionPath | TcpConnectionPath): string {
  // A direct TCP path's punch is the simultaneous open and both handshakes.
  const words: Record<string, string> =
    path.transport === 'tcp' && path.kind === 'direct'
      ? { ...STAGE_WORDS, punchMs: 'open and handshake' }
      : STAGE_WORDS;
  const stages = Object.entries(path.stages)
    .map(([stage, ms]) => `${words[stage] ?? stage} ${formatDuration(ms ?? 0)}`)
    .join(', ');
  const took = `connected in ${formatDuration(totalMs(path.stages))} (${stages})`;
  if (path.kind === 'direct') {
    return `path: direct to ${formatAddress(path.remote)} (${candidateWords(path.candidate, path.remote)}); ${took}`;
  }
  return `path: relayed by the rendezvous server ${formatAddress(path.relay)} (it sees only ciphertext; at most ${formatRate(path.relayRateBytesPerSec)}) because ${firstClause(path.reason)}; ${took}`;
}

/**
 * The reason a path is relayed, as long as a line allows: "punching timed out after 3 s" without the
 * list of probes that follows (the whole reason is in `path.reason`, shown by /status).
 */
function firstClause(reason: string): string {
  return reason.split(': ')[0]!;
}

/** The stage of `connect()` an error comes from (register, exchange, punch, relay, handshake), if any. */
export function stageOf(error: unknown): string | undefined {
  if (!AnttError.is(error) || !('stage' in error)) return undefined;
  return typeof error.stage === 'string' ? error.stage : undefined;
}

/** The stage of `connect()` that failed, and its message: one line. `undefined` for other errors. */
export function describeStageFailure(error: unknown): string | undefined {
  const stage = stageOf(error);
  if (stage === undefined) return undefined;
  return `could not connect (${stage} stage): ${(error as Error).message}`;
}

function candidateWords(candidate: string, remote: Address): string {
  if (candidate === 'lan') return "the peer's LAN address";
  if (candidate === 'public') return `the peer's public address, as the rendezvous server saw it`;
  return `the peer's ${candidate} candidate ${formatAddress(remote)}`;
}

function totalMs(stages: Record<string, number | undefined>): number {
  return Object.values(stages).reduce((sum: number, ms) => sum + (ms ?? 0), 0);
}
