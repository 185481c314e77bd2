import type { Socket as DgramSocket, RemoteInfo } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import {
  type Address,
  AnttError,
  ErrorCode,
  formatAddress,
  ProtocolError,
  parseAddress,
  TimeoutError,
} from '@antt/core';
import { bindSocket, resolveServer, type StunBindingResult, stunBinding } from '../stun/client.js';
import {
  type ChangeRequest,
  decodeStunMessage,
  encodeStunMessage,
  isStunMessage,
  newTransactionId,
  transactionIdHex,
} from '../stun/message.js';
import { type RetransmissionOptions, retransmissionSchedule } from '../stun/retransmission.js';

/** Per-test bound: with the RFC's 500 ms RTO this allows three transmissions (0, 0.5, 1.5 s). */
export const DEFAULT_TIMEOUT_PER_TEST_MS = 3000;
/** Fresh sockets used to learn how the NAT picks outside ports. */
export const DEFAULT_PORT_SAMPLES = 4;
/** Consecutive mappings this close together (and increasing) count as sequential allocation. */
const MAX_SEQUENTIAL_DELTA = 16;

/** RFC 4787 §4.1 mapping behaviour; `endpoint-dependent` when two servers showed a change but not which kind. */
export type MappingBehaviour =
  | 'endpoint-independent'
  | 'address-dependent'
  | 'address-and-port-dependent'
  | 'endpoint-dependent'
  | 'unknown';

/** RFC 4787 §5 filtering behaviour. */
export type FilteringBehaviour =
  | 'endpoint-independent'
  | 'address-dependent'
  | 'address-and-port-dependent'
  | 'unknown';

/** RFC 4787 §4.2: how the NAT chooses the outside port of a new mapping. */
export type PortAllocation = 'preserved' | 'sequential' | 'random' | 'unknown';

/** One request and the mapping the server reported for it. */
export interface MappingObservation {
  local: Address;
  server: Address;
  /** Absent when the server did not answer. */
  mapped?: Address;
  /** Why there is no mapping. */
  error?: string;
}

export interface FilteringTest {
  changeIp: boolean;
  changePort: boolean;
  /** True when the answer from the changed address got through the NAT. */
  answered: boolean;
  from?: Address;
  error?: string;
}

export interface NatReport {
  /** No server answered a Binding request at all. */
  udpBlocked: boolean;
  /** The first server that answered; the other tests use it. */
  server?: Address;
  /** The server sent OTHER-ADDRESS (RFC 5780), so alternate-address and CHANGE-REQUEST tests could run. */
  rfc5780: boolean;
  /** The checked socket's local address as bound (0.0.0.0 means all interfaces). */
  local: Address;
  /** The checked socket's server-reflexive address. */
  publicAddress?: Address;
  /** False when the mapped address is one of this machine's own addresses with the same port. */
  behindNat?: boolean;
  mapping: { behaviour: MappingBehaviour; observations: MappingObservation[]; note?: string };
  filtering: { behaviour: FilteringBehaviour; tests: FilteringTest[]; note?: string };
  portAllocation: { pattern: PortAllocation; delta?: number; samples: MappingObservation[] };
  hairpinning: { works?: boolean; note: string };
  /** Round-trip time of the first successful Binding, in milliseconds. */
  rttMs?: number;
  /** Servers that failed in ways other than silence, with what went wrong. */
  problems: string[];
}

export interface CheckNatOptions extends RetransmissionOptions {
  /** STUN servers, `"host:port"` or `{ host, port }`. One with RFC 5780 support gives the full picture. */
  servers: Array<Address | string>;
  /** The bound socket whose mapping matters (NAT traversal checks the socket it will use). */
  socket?: DgramSocket;
  signal?: AbortSignal;
  /** Bound on each Binding transaction, in milliseconds. Default 3000. */
  timeoutPerTest?: number;
  /** Fresh sockets sampled for the port allocation pattern. Default 4. */
  portSamples?: number;
  /** Local address for the sockets the check binds itself (default: all interfaces). */
  localAddress?: string;
}

/**
 * Measures this host's NAT the way RFC 5780 §4 describes: is UDP blocked, what is the public address,
 * does the mapping depend on the destination (RFC 4787 §4.1), which inbound packets does the NAT let
 * through (§5, needs a server that honours CHANGE-REQUEST), how does it pick ports (§4.2), and does it
 * hairpin (§6). Every verdict comes with the observations behind it; {@link formatNatReport} prints them.
 *
 * Each Binding is bounded by `timeoutPerTest`; a test that expects silence (filtering, hairpinning)
 * takes that long when the NAT is strict, so the whole check lasts a few such periods.
 */
export async function checkNat(options: CheckNatOptions): Promise<NatReport> {
  options.signal?.throwIfAborted();
  if (options.servers.length === 0) {
    throw new AnttError(ErrorCode.INVALID_ARGUMENT, 'checkNat needs at least one STUN server');
  }
  const specs = options.servers.map((s) => (typeof s === 'string' ? parseAddress(s) : s));
  const owned: DgramSocket[] = [];
  const main = options.socket ?? (await bindOwned(options, owned));
  try {
    return await runChecks(options, specs, main, owned);
  } finally {
    for (const socket of owned) socket.close();
  }
}

async function bindOwned(options: CheckNatOptions, owned: DgramSocket[], type: 'udp4' | 'udp6' = 'udp4') {
  const socket = await bindSocket(type, options.localAddress);
  owned.push(socket);
  return socket;
}

async function runChecks(
  options: CheckNatOptions,
  specs: Address[],
  main: DgramSocket,
  owned: DgramSocket[],
): Promise<NatReport> {
  try {
    main.address();
  } catch {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      'checkNat needs a bound socket: call socket.bind() first',
    );
  }
  const family = main.address().family === 'IPv6' ? 'IPv6' : 'IPv4';
  const local = addressOf(main);
  const problems: string[] = [];
  const report: NatReport = {
    udpBlocked: false,
    rfc5780: false,
    local,
    mapping: { behaviour: 'unknown', observations: [] },
    filtering: { behaviour: 'unknown', tests: [] },
    portAllocation: { pattern: 'unknown', samples: [] },
    hairpinning: { note: 'not tested' },
    problems,
  };
  const bind = (socket: DgramSocket, server: Address, extra: { changeRequest?: ChangeRequest } = {}) =>
    observe(socket, server, options, extra);

  // Test I (RFC 5780 §4.3): one Binding from the checked socket, trying each server until one answers.
  const servers: Address[] = [];
  let first: { server: Address; result: StunBindingResult } | undefined;
  let silent = 0;
  for (const spec of specs) {
    let server: Address;
    try {
      server = await resolveServer(spec, family);
    } catch (error) {
      problems.push((error as Error).message);
      continue;
    }
    servers.push(server);
    if (first) continue;
    const outcome = await bind(main, server);
    report.mapping.observations.push(outcome.observation);
    if (outcome.result) first = { server, result: outcome.result };
    else if (outcome.error instanceof TimeoutError) silent++;
    else problems.push(outcome.observation.error ?? 'unknown error');
  }
  if (!first) {
    report.udpBlocked = silent > 0 && silent === servers.length;
    report.hairpinning.note = 'not tested: no server answered';
    return report;
  }

  const primary = first.server;
  const m1 = first.result.mapped;
  report.server = primary;
  report.publicAddress = m1;
  report.rttMs = first.result.rttMs;
  report.behindNat = !isOwnAddress(m1, local);
  const other = first.result.otherAddress;
  report.rfc5780 = other !== undefined && other.host !== primary.host && other.port !== primary.port;

  await checkMapping(report, primary, m1, other, servers, (server) => bind(main, server));
  const filteringSocket = await bindOwned(options, owned, family === 'IPv6' ? 'udp6' : 'udp4');
  await checkPortAllocation(report, filteringSocket, primary, options, owned, family, bind);
  await checkFiltering(report, (extra) => bind(filteringSocket, primary, extra));
  await checkHairpinning(report, main, m1, options, owned, family);
  return report;
}

interface Outcome {
  observation: MappingObservation;
  result?: StunBindingResult;
  error?: unknown;
}

async function observe(
  socket: DgramSocket,
  server: Address,
  options: CheckNatOptions,
  extra: { changeRequest?: ChangeRequest },
): Promise<Outcome> {
  const local = addressOf(socket);
  try {
    const result = await stunBinding({
      server,
      socket,
      ...(options.rtoMs !== undefined ? { rtoMs: options.rtoMs } : {}),
      ...(options.maxTransmissions !== undefined ? { maxTransmissions: options.maxTransmissions } : {}),
      ...(options.lastWaitFactor !== undefined ? { lastWaitFactor: options.lastWaitFactor } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...extra,
      timeout: options.timeoutPerTest ?? DEFAULT_TIMEOUT_PER_TEST_MS,
    });
    return { observation: { local, server, mapped: result.mapped }, result };
  } catch (error) {
    // The caller's own abort ends the whole check; everything else is evidence.
    if (AnttError.is(error) && error.code === ErrorCode.ABORTED) throw error;
    return { observation: { local, server, error: (error as Error).message }, error };
  }
}

async function checkMapping(
  report: NatReport,
  primary: Address,
  m1: Address,
  other: Address | undefined,
  servers: Address[],
  bind: (server: Address) => Promise<Outcome>,
): Promise<void> {
  const mapping = report.mapping;
  if (report.rfc5780 && other) {
    // RFC 5780 §4.3 Test II: the alternate IP, the primary port.
    const test2 = await bind({ host: other.host, port: primary.port, family: other.family ?? 'IPv4' });
    mapping.observations.push(test2.observation);
    if (!test2.result) {
      mapping.note = `the server's alternate address did not answer (${test2.observation.error})`;
      return;
    }
    if (sameAddress(test2.result.mapped, m1)) {
      mapping.behaviour = 'endpoint-independent';
      return;
    }
    // Test III: the alternate IP and the alternate port.
    const test3 = await bind(other);
    mapping.observations.push(test3.observation);
    if (!test3.result) {
      mapping.behaviour = 'endpoint-dependent';
      mapping.note = `the server's alternate port did not answer (${test3.observation.error})`;
      return;
    }
    mapping.behaviour = sameAddress(test3.result.mapped, test2.result.mapped)
      ? 'address-dependent'
      : 'address-and-port-dependent';
    return;
  }
  // Without RFC 5780, compare what the other servers saw from the same socket.
  const others = servers.filter((s) => !sameAddress(s, primary));
  if (others.length === 0) {
    mapping.note =
      'one STUN server without RFC 5780 support (no OTHER-ADDRESS): give a second server to compare mappings';
    return;
  }
  let answered = 0;
  let changedSameHost = false;
  let changed = false;
  for (const server of others) {
    const outcome = await bind(server);
    mapping.observations.push(outcome.observation);
    if (!outcome.result) continue;
    answered++;
    if (!sameAddress(outcome.result.mapped, m1)) {
      changed = true;
      if (server.host === primary.host) changedSameHost = true;
    }
  }
  if (answered === 0) {
    mapping.note = 'the other servers did not answer';
    return;
  }
  if (!changed) mapping.behaviour = 'endpoint-independent';
  else if (changedSameHost) mapping.behaviour = 'address-and-port-dependent';
  else mapping.behaviour = 'endpoint-dependent';
}

async function checkPortAllocation(
  report: NatReport,
  firstFresh: DgramSocket,
  primary: Address,
  options: CheckNatOptions,
  owned: DgramSocket[],
  family: 'IPv4' | 'IPv6',
  bind: (socket: DgramSocket, server: Address) => Promise<Outcome>,
): Promise<void> {
  // Fresh sockets, one Binding each, back to back, so no other new mapping sits between them.
  const count = Math.max(2, options.portSamples ?? DEFAULT_PORT_SAMPLES);
  const sockets = [firstFresh];
  for (let i = 1; i < count; i++)
    sockets.push(await bindOwned(options, owned, family === 'IPv6' ? 'udp6' : 'udp4'));
  const samples: MappingObservation[] = [];
  for (const socket of sockets) samples.push((await bind(socket, primary)).observation);
  const mainSample = report.mapping.observations.find((o) => o.mapped && sameAddress(o.server, primary));
  const allocation = report.portAllocation;
  allocation.samples = mainSample ? [mainSample, ...samples] : samples;
  const mapped = samples.filter((s) => s.mapped);
  if (mapped.length < 2) return;
  if (allocation.samples.every((s) => !s.mapped || s.mapped.port === s.local.port)) {
    allocation.pattern = 'preserved';
    return;
  }
  const deltas: number[] = [];
  for (let i = 1; i < mapped.length; i++) deltas.push(mapped[i]!.mapped!.port - mapped[i - 1]!.mapped!.port);
  if (deltas.every((d) => d >= 1 && d <= MAX_SEQUENTIAL_DELTA)) {
    allocation.pattern = 'sequential';
    allocation.delta = mostCommon(deltas);
  } else {
    allocation.pattern = 'random';
  }
}

async function checkFiltering(
  report: NatReport,
  bind: (extra: { changeRequest: ChangeRequest }) => Promise<Outcome>,
): Promise<void> {
  const filtering = report.filtering;
  if (!report.rfc5780) {
    filtering.note = 'the server does not support RFC 5780 CHANGE-REQUEST';
    return;
  }
  // RFC 5780 §4.4. The socket already holds a mapping towards the primary address (its port sample), and
  // it never talked to the alternate address: answers from there are unsolicited for the NAT.
  for (const change of [
    { changeIp: true, changePort: true },
    { changeIp: false, changePort: true },
  ]) {
    const outcome = await bind({ changeRequest: change });
    const test: FilteringTest = { ...change, answered: outcome.result !== undefined };
    if (outcome.result) test.from = outcome.result.from;
    else test.error = outcome.observation.error;
    filtering.tests.push(test);
    if (outcome.error instanceof ProtocolError) {
      filtering.note = `the server refused CHANGE-REQUEST: ${outcome.observation.error}`;
      return;
    }
    if (outcome.result) {
      filtering.behaviour = change.changeIp ? 'endpoint-independent' : 'address-dependent';
      return;
    }
  }
  filtering.behaviour = 'address-and-port-dependent';
}

/**
 * RFC 5780 §4.5: a second socket sends a Binding request to the first socket's mapped address; the NAT
 * hairpins when it arrives. Sent with the same retransmission schedule as any Binding request.
 */
async function checkHairpinning(
  report: NatReport,
  main: DgramSocket,
  target: Address,
  options: CheckNatOptions,
  owned: DgramSocket[],
  family: 'IPv4' | 'IPv6',
): Promise<void> {
  const sender = await bindOwned(options, owned, family === 'IPv6' ? 'udp6' : 'udp4');
  const transactionId = newTransactionId();
  const key = transactionIdHex(transactionId);
  const request = encodeStunMessage({ class: 'request', transactionId });
  const schedule = retransmissionSchedule(options);
  const waitMs = options.timeoutPerTest ?? DEFAULT_TIMEOUT_PER_TEST_MS;
  const from = addressOf(sender);
  const arrived = await new Promise<Address | undefined>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const finish = (value: Address | undefined, error?: unknown): void => {
      for (const timer of timers) clearTimeout(timer);
      main.off('message', onMessage);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(value);
    };
    const onMessage = (bytes: Buffer, rinfo: RemoteInfo): void => {
      if (!isStunMessage(bytes) || transactionIdHex(bytes.subarray(8, 20)) !== key) return;
      try {
        if (decodeStunMessage(bytes).class !== 'request') return;
      } catch {
        return;
      }
      finish({ host: rinfo.address, port: rinfo.port });
    };
    const onAbort = (): void =>
      finish(undefined, new AnttError(ErrorCode.ABORTED, 'the NAT check was aborted'));
    main.on('message', onMessage);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    for (const at of schedule.sendAtMs.filter((t) => t < waitMs)) {
      timers.push(setTimeout(() => sender.send(request, target.port, target.host, () => {}), at));
    }
    timers.push(setTimeout(() => finish(undefined), Math.min(waitMs, schedule.giveUpAtMs)));
  });
  report.hairpinning = arrived
    ? {
        works: true,
        note: `a request from ${formatAddress(from)} to ${formatAddress(target)} arrived, from ${formatAddress(arrived)}`,
      }
    : {
        works: false,
        note: `a request from ${formatAddress(from)} to ${formatAddress(target)} never arrived`,
      };
}

function addressOf(socket: DgramSocket): Address {
  const { address, port, family } = socket.address();
  return { host: address, port, family: family === 'IPv6' ? 'IPv6' : 'IPv4' };
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}

/** True when `mapped` is `local` itself: one of this machine's addresses with the socket's own port. */
function isOwnAddress(mapped: Address, local: Address): boolean {
  if (mapped.port !== local.port) return false;
  if (mapped.host === local.host) return true;
  const wildcard = local.host === '0.0.0.0' || local.host === '::';
  if (!wildcard) return false;
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.address === mapped.host) return true;
  }
  return false;
}

function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
}
