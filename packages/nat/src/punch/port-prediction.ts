/**
 * What two observations of one socket say about its NAT, and which punching technique a pair of NATs
 * calls for. Sans-IO: plain functions of the addresses the rendezvous server saw on its two ports.
 *
 * RFC 4787 §4.1: a NAT whose mapping is endpoint-independent shows every destination the same outside
 * port; an endpoint-dependent ("symmetric") one picks a new port per destination. §4.2: the new port is
 * often the previous one plus a small step (sequential), which lets the peer predict the mapping toward
 * itself; otherwise it is random, and only many tries on both sides meet (the birthday technique).
 */
import type { Address } from '@antt/core';
import type { MappingObservations } from '../rendezvous/protocol.js';

/** Consecutive mappings at most this far apart (and not equal) count as sequential allocation. */
export const MAX_SEQUENTIAL_DELTA = 16;
/**
 * Predicted ports probed: the peer's NAT also allocates for each of its probes toward our LAN
 * candidates (up to 8) before the one toward our public address, and for other hosts' flows.
 */
export const PREDICTION_WINDOW_PORTS = 24;
/** With a sequential peer, the birthday technique starts this long after prediction alone. */
export const PREDICTION_HEAD_START_MS = 1_000;
/**
 * Endpoint-dependent on both sides: only a LAN path can work (the same NAT, or NATs that can reach each
 * other's inside), and one answers within a few probe rounds; the punch stage gives up after this long
 * instead of the whole punch timeout, and the relay takes over.
 */
export const DEPENDENT_PAIR_PUNCH_MS = 1_500;
/** Outside ports a NAT draws from (Linux masquerade: 1024–65535 for a source port ≥ 1024). */
export const FIRST_NAT_PORT = 1024;
export const LAST_NAT_PORT = 65_535;

export type MappingKind = 'endpoint-independent' | 'endpoint-dependent' | 'unknown';

export interface MappingProfile {
  kind: MappingKind;
  /** For endpoint-dependent mappings: how the second port followed the first. */
  allocation?: 'sequential' | 'random';
  /** Second port minus first, when sequential. */
  delta?: number;
  /** The public address, and the last port seen (the alternate port's). */
  last: Address;
}

/** Classifies one socket's NAT from the two ports' observations. */
export function classifyMapping(observations: MappingObservations): MappingProfile {
  const { primary, alternate } = observations;
  if (!alternate) return { kind: 'unknown', last: primary };
  if (alternate.host === primary.host && alternate.port === primary.port) {
    return { kind: 'endpoint-independent', last: alternate };
  }
  const delta = alternate.port - primary.port;
  // Another public IP per destination (address pooling "arbitrary", RFC 4787 §4.1) is not predictable.
  const sequential =
    alternate.host === primary.host && delta !== 0 && Math.abs(delta) <= MAX_SEQUENTIAL_DELTA;
  return sequential
    ? { kind: 'endpoint-dependent', allocation: 'sequential', delta, last: alternate }
    : { kind: 'endpoint-dependent', allocation: 'random', last: alternate };
}

/** The ports a sequential NAT will hand out next, nearest first; empty unless sequential. */
export function predictPorts(profile: MappingProfile, window = PREDICTION_WINDOW_PORTS): number[] {
  if (profile.allocation !== 'sequential' || profile.delta === undefined) return [];
  const out: number[] = [];
  for (let k = 1; k <= window; k++) {
    const port = profile.last.port + k * profile.delta;
    if (port < 1 || port > LAST_NAT_PORT) break;
    out.push(port);
  }
  return out;
}

/**
 * Which technique a pair calls for, the same on both peers (they get the same frozen observations):
 * - `standard`: probe the candidates (both endpoint-independent, or unknown, or both dependent: then
 *   only the relay helps).
 * - `predict`: this side is endpoint-independent and the peer's NAT allocates sequentially: probe the
 *   predicted ports, and after PREDICTION_HEAD_START_MS the birthday technique as well.
 * - `birthday`: one side endpoint-independent, the other random.
 * `role` says this side's part: `prober` (the endpoint-independent side: probes ports of the peer's
 * public IP and nominates) or `opener` (the endpoint-dependent side: opens mappings toward the prober).
 */
export interface PunchPlan {
  technique: 'standard' | 'predict' | 'birthday';
  role?: 'prober' | 'opener';
  self: MappingProfile;
  peer: MappingProfile;
}

export function planPunch(self: MappingObservations, peer: MappingObservations): PunchPlan {
  const mine = classifyMapping(self);
  const theirs = classifyMapping(peer);
  const plan = (technique: PunchPlan['technique'], role?: PunchPlan['role']): PunchPlan => ({
    technique,
    ...(role ? { role } : {}),
    self: mine,
    peer: theirs,
  });
  if (mine.kind === 'endpoint-independent' && theirs.kind === 'endpoint-dependent') {
    return plan(theirs.allocation === 'sequential' ? 'predict' : 'birthday', 'prober');
  }
  if (mine.kind === 'endpoint-dependent' && theirs.kind === 'endpoint-independent') {
    return plan(mine.allocation === 'sequential' ? 'predict' : 'birthday', 'opener');
  }
  return plan('standard');
}

/** How long to punch for a plan, given the caller's bound (undefined: the default). */
export function punchBudgetMs(plan: PunchPlan | undefined, requestedMs: number): number {
  const bothDependent = plan?.self.kind === 'endpoint-dependent' && plan.peer.kind === 'endpoint-dependent';
  return bothDependent ? Math.min(requestedMs, DEPENDENT_PAIR_PUNCH_MS) : requestedMs;
}

/** A short description for messages: "endpoint-dependent (random)". */
export function describeMapping(profile: MappingProfile): string {
  if (profile.kind !== 'endpoint-dependent') return profile.kind;
  return profile.allocation === 'sequential'
    ? `endpoint-dependent (sequential, step ${profile.delta})`
    : 'endpoint-dependent (random)';
}

/**
 * The chance that `probes` distinct random ports miss all of `sockets` distinct random mappings in a
 * range of `range` ports: C(range − sockets, probes) / C(range, probes), computed in logs.
 */
export function birthdayMissProbability(
  sockets: number,
  probes: number,
  range = LAST_NAT_PORT - FIRST_NAT_PORT + 1,
): number {
  if (sockets + probes > range) return 0;
  let log = 0;
  for (let j = 0; j < probes; j++) log += Math.log((range - sockets - j) / (range - j));
  return Math.exp(log);
}
