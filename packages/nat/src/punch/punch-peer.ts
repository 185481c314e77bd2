/**
 * The punch stage of `connect()`: learns both peers' NAT mapping behaviour from the rendezvous server,
 * picks the technique for the pair (see `port-prediction.ts`), and runs it:
 * - standard: {@link UdpPunch} over the candidates;
 * - predict (endpoint-independent × sequential endpoint-dependent): the prober also probes the ports
 *   the peer's NAT should allocate next, and after PREDICTION_HEAD_START_MS both add the birthday
 *   technique;
 * - birthday (endpoint-independent × random endpoint-dependent): the prober sprays random ports
 *   ({@link BirthdaySpray}, inside its UdpPunch), the opener opens many sockets ({@link BirthdayOpener});
 *   when the opener's winning socket is not the endpoint's, it becomes the connection's endpoint.
 * In both extra techniques the prober (endpoint-independent side) nominates, whatever the server's
 * `controlling` flag said: it is the side that sees a probe answered.
 */
import { type Address, networkError, type WaitOptions } from '@antt/core';
import { UdpEndpoint, type UdpEndpointOptions } from '@antt/udp';
import type { OwnMapping, PeerInfo, RendezvousClient, SessionMapping } from '../rendezvous/client.js';
import {
  bytesHex,
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  isRendezvousMessage,
  MessageType,
} from '../rendezvous/protocol.js';
import { BIRTHDAY_PROBES_PER_SEC, BIRTHDAY_SOCKETS, BirthdayOpener, BirthdaySpray } from './birthday.js';
import {
  classifyMapping,
  DEPENDENT_PAIR_PUNCH_MS,
  describeMapping,
  PREDICTION_HEAD_START_MS,
  type PunchPlan,
  planPunch,
  predictPorts,
  punchBudgetMs,
} from './port-prediction.js';
import {
  type Candidate,
  DEFAULT_PUNCH_TIMEOUT_MS,
  orderCandidates,
  PunchError,
  type PunchResult,
  UdpPunch,
} from './udp-punch.js';

export interface PeerPunchResult extends PunchResult {
  /** The technique used and both sides' mapping as classified (undefined: the server did not say). */
  plan: PunchPlan | undefined;
  /** Set when the path rides a birthday socket: the endpoint bound on it, for the connection. */
  endpoint?: UdpEndpoint;
}

export interface PunchPeerOptions extends WaitOptions {
  client: RendezvousClient;
  peer: PeerInfo;
  /** This socket's mapping, as `client.discoverMapping()` found it (started beside the lookup). */
  ownMapping: Promise<OwnMapping>;
  /**
   * Resolves once `discoverMapping()`'s query to the server's alternate port has left (or discovery
   * ended): from then on probes cannot change what that port sees, so probing may start early.
   */
  alternateQueried?: Promise<void>;
  send: (bytes: Uint8Array, to: Address) => void | Promise<void>;
  /** Called with the UdpPunch before it runs, so the caller can feed it the endpoint's datagrams. */
  onPunch: (punch: UdpPunch) => void;
  /** Options for an endpoint bound on a winning birthday socket (the security options). */
  endpointOptions: UdpEndpointOptions;
  /** Bound on punching (the `punchTimeout` option). */
  timeout?: number;
}

/** Runs the punch stage; rejects with a `PunchError` naming what was tried when nothing met. */
export async function punchPeer(options: PunchPeerOptions): Promise<PeerPunchResult> {
  let plan: PunchPlan | undefined;
  try {
    return await punchWith(options, (chosen) => {
      plan = chosen;
    });
  } catch (error) {
    if (error instanceof PunchError) error.plan = plan;
    throw error;
  }
}

async function punchWith(
  options: PunchPeerOptions,
  onPlan: (plan: PunchPlan | undefined) => void,
): Promise<PeerPunchResult> {
  const { client, peer, signal } = options;
  let plan: PunchPlan | undefined;
  // Probing starts early unless this side's NAT is already known not to map endpoint-independently
  // (or the server has no alternate port, so the technique will not be known).
  const known = await Promise.race([
    options.ownMapping,
    (options.alternateQueried ?? options.ownMapping).then(() => undefined),
  ]);
  const notIndependent =
    known !== undefined && (!known.alternate || classifyMapping(known).kind !== 'endpoint-independent');
  const early = notIndependent
    ? undefined
    : probeEarly(options, () => failureNote(plan, undefined, undefined));
  let own: OwnMapping;
  try {
    own = await options.ownMapping;
    // Only worth a round trip when the server has the extension (it answered on its alternate port).
    const mapping: SessionMapping | undefined = own.alternate
      ? await client.peerMapping(peer.session, { signal })
      : undefined;
    plan = mapping ? planPunch(mapping.self, mapping.peer) : undefined;
  } catch (error) {
    early?.stop();
    throw error;
  }
  onPlan(plan);
  if (early) {
    if (plan?.technique === 'standard' && plan.self.kind === 'endpoint-independent') {
      early.punch.releaseNomination();
      return { ...(await early.result), plan };
    }
    // Prediction or birthday: the technique's own punch, from the synchronised start, takes over.
    early.stop();
    await early.result.catch(() => {});
  }
  const timeout = punchBudgetMs(plan, options.timeout ?? DEFAULT_PUNCH_TIMEOUT_MS);
  const startDelayMs = (): number => peer.startDelayMs - (performance.now() - peer.receivedAt);

  const candidates: Candidate[] = orderCandidates(peer.candidates, peer.observed);
  let spray: BirthdaySpray | undefined;
  let opener: BirthdayOpener | undefined;
  const headStartMs = plan?.technique === 'predict' ? PREDICTION_HEAD_START_MS : 0;
  if (plan?.role === 'prober') {
    for (const port of predictPorts(plan.peer)) {
      candidates.push({ address: { host: plan.peer.last.host, port }, kind: 'predicted' });
    }
    spray = new BirthdaySpray(plan.peer.last.host);
  } else if (plan?.role === 'opener') {
    opener = new BirthdayOpener({ session: peer.session, peer: plan.peer.last });
  }
  const sprayFrom = performance.now() + Math.max(0, startDelayMs()) + headStartMs;
  const punch = new UdpPunch({
    session: peer.session,
    controlling: plan?.role ? plan.role === 'prober' : peer.controlling,
    candidates,
    send: options.send,
    ...(spray
      ? {
          extraProbes: (now: number) => (now >= sprayFrom ? spray.due(now) : []),
          learnCandidate: (from: Address) => (from.host === plan?.peer.last.host ? 'birthday' : undefined),
        }
      : {}),
    failureNote: () => failureNote(plan, spray, opener),
  });
  options.onPunch(punch);

  if (!opener) {
    const result = await punch.run({ signal, timeout, startDelayMs: startDelayMs() });
    return { ...result, plan };
  }
  // The opener: whichever comes first, a nomination on the endpoint's socket or on a birthday socket.
  const stop = new AbortController();
  const both = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const viaPunch = punch.run({ signal: both, timeout, startDelayMs: startDelayMs() });
  viaPunch.catch(() => stop.abort());
  const viaOpener = opener.run({ signal: both, startDelayMs: startDelayMs() + headStartMs });
  try {
    const winner = await Promise.any([
      viaPunch.then((result) => ({ result }) as const),
      viaOpener.then((win) => ({ win }) as const),
    ]);
    if ('result' in winner) return { ...winner.result, plan };
    const { win } = winner;
    // The mapping that met belongs to this socket's port: bind the connection's endpoint on that port.
    const port = win.socket.port;
    await win.socket.close();
    let endpoint: UdpEndpoint;
    try {
      endpoint = await UdpEndpoint.bind({ ...options.endpointOptions, port });
    } catch (error) {
      throw networkError(`taking over birthday socket port ${port}`, error);
    }
    answerProbes(endpoint, peer.session);
    return {
      remote: win.remote,
      candidate: 'birthday',
      tried: candidates,
      probesSent: win.probesSent,
      plan,
      endpoint,
    };
  } catch (error) {
    if (error instanceof AggregateError)
      throw await viaPunch.then(
        () => error,
        (e: unknown) => e,
      );
    throw error;
  } finally {
    stop.abort();
    await Promise.allSettled([viaPunch, viaOpener]);
  }
}

/**
 * Probing from PEER-INFO on, instead of at the server's synchronised start, while the technique is still
 * being asked for: nothing is nominated (or accepted as nominated) before it is known. Safe once the
 * query to the server's alternate port has left: a probe can no longer shift the mapping that port sees,
 * which port prediction starts from. Retransmitted probes make up for the peer's NAT not being open yet.
 * Kept only when the plan is standard and this side's NAT maps endpoint-independently; prediction and
 * birthday rely on both sides starting together, and take over with their own punch.
 */
function probeEarly(
  options: PunchPeerOptions,
  note: () => string,
): { punch: UdpPunch; result: Promise<PunchResult>; stop: () => void } {
  const { peer } = options;
  const punch = new UdpPunch({
    session: peer.session,
    controlling: peer.controlling,
    candidates: orderCandidates(peer.candidates, peer.observed),
    send: options.send,
    holdNomination: true,
    resolveOnNominate: true,
    failureNote: note,
  });
  options.onPunch(punch);
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const result = punch.run({ signal, timeout: options.timeout ?? DEFAULT_PUNCH_TIMEOUT_MS });
  result.catch(() => {});
  return {
    punch,
    result,
    stop: () => {
      stop.abort();
      punch.close();
    },
  };
}

/**
 * The prober repeats its NOMINATE until acknowledged; the birthday socket is now the endpoint's, so the
 * endpoint answers this session's PROBEs from then on (ACKs the size of the PROBE, nothing else).
 */
function answerProbes(endpoint: UdpEndpoint, session: Uint8Array): void {
  const sessionHex = bytesHex(session);
  endpoint.onForeignDatagram((bytes, from) => {
    if (!isRendezvousMessage(bytes)) return;
    try {
      const message = decodeRendezvousMessage(bytes);
      if (message.type !== MessageType.PROBE || message.ack || bytesHex(message.session) !== sessionHex)
        return;
      const ack = encodeRendezvousMessage({ ...message, ack: true });
      void endpoint.sendDatagram(ack, from).catch(() => {});
    } catch {
      // malformed: dropped
    }
  });
}

function failureNote(
  plan: PunchPlan | undefined,
  spray: BirthdaySpray | undefined,
  opener: BirthdayOpener | undefined,
): string {
  if (!plan) return ' (both NATs may map each destination to a new port: a relay is needed)';
  const nats = `this side's NAT ${describeMapping(plan.self)}, the peer's ${describeMapping(plan.peer)}`;
  if (spray) {
    return (
      `; ${plan.technique}: ${spray.sent} of ${spray.budget} probes to random ports of ` +
      `${spray.host} at ${BIRTHDAY_PROBES_PER_SEC}/s met none of the peer's ${BIRTHDAY_SOCKETS} sockets (${nats})`
    );
  }
  if (opener) return `; ${plan.technique}: ${opener.describe()} (${nats})`;
  return plan.self.kind === 'endpoint-dependent' && plan.peer.kind === 'endpoint-dependent'
    ? ` (${nats}: only a LAN path could work, given ${DEPENDENT_PAIR_PUNCH_MS / 1000} s; a relay is needed)`
    : ` (${nats})`;
}
