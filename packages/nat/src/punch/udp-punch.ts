/**
 * UDP hole punching from a socket someone else owns: PROBE every candidate address of the peer (LAN
 * first, then public), answer the peer's PROBEs, and settle on one path that carried a PROBE and its
 * ACK. The controlling peer (the one the rendezvous server named) picks the path and NOMINATEs it; the
 * other side takes the address the nomination came from, so both connect over the same pair.
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
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  isRendezvousMessage,
  MessageType,
  type ProbeMessage,
  TRANSACTION_ID_BYTES,
} from '../rendezvous/protocol.js';
import type { PunchPlan } from './port-prediction.js';

/** A round of PROBEs to every candidate goes out this often until a path is chosen. */
export const PROBE_INTERVAL_MS = 50;
/** After the first path validates, LAN paths still in flight get this long to win. */
const LAN_GRACE_MS = 30;
/** The NOMINATE is repeated this often until acknowledged. */
const NOMINATE_INTERVAL_MS = 50;
export const DEFAULT_PUNCH_TIMEOUT_MS = 10_000;
/** Addresses learned from the peer's PROBEs (its birthday sockets) that are probed back, at most. */
const MAX_LEARNED_CANDIDATES = 16;

/**
 * `predicted`: a port the peer's sequential NAT should hand out next; `birthday`: a port of the peer's
 * public IP that one of its many sockets turned out to hold (see `birthday.ts`).
 */
export type CandidateKind = 'lan' | 'public' | 'predicted' | 'birthday';

export interface Candidate {
  address: Address;
  kind: CandidateKind;
}

export interface PunchResult {
  remote: Address;
  candidate: CandidateKind;
  /** Every candidate probed, in order. */
  tried: Candidate[];
  probesSent: number;
}

export interface UdpPunchOptions {
  /** The session id from PEER-INFO. */
  session: Uint8Array;
  controlling: boolean;
  /** The peer's candidates, in order of preference (LAN first). */
  candidates: Candidate[];
  send: (bytes: Uint8Array, to: Address) => void | Promise<void>;
  /** More addresses to probe once each, asked every round (the birthday spray). */
  extraProbes?: (nowMs: number) => Candidate[];
  /**
   * A PROBE of this session from an address that is no candidate: return a kind to probe it back every
   * round (at most 16 such), or undefined to only answer it.
   */
  learnCandidate?: (from: Address) => CandidateKind | undefined;
  /** Appended to the timeout message: what else was tried. */
  failureNote?: () => string;
  /**
   * Probe and answer, but nominate nothing until `releaseNomination()`: punch-peer.ts starts probing
   * while it still asks the server which technique the pair needs, so that round trip hides under the
   * probes' instead of preceding them.
   */
  holdNomination?: boolean;
  /**
   * The controlling side resolves with its first NOMINATE instead of waiting a round trip for its ACK,
   * and repeats it (until acknowledged, `close()`, or the punch timeout) while the connection's
   * handshake follows it on the same path. The other side still connects only once nominated, over the
   * nominated pair, so both use one path; the handshake cannot complete over a path the peer was not
   * nominated on.
   */
  resolveOnNominate?: boolean;
}

/** Punching gave up; `tried` lists what was probed. */
export class PunchError extends AnttError {
  readonly stage = 'punch';
  readonly tried: Candidate[];
  /** The technique that was tried and both NATs' mapping, when known (set by `punchPeer`). */
  plan?: PunchPlan;
  constructor(message: string, tried: Candidate[], options?: { cause?: unknown }) {
    super(ErrorCode.TIMEOUT, message, options);
    this.name = 'PunchError';
    this.tried = tried;
  }
}

/**
 * Orders candidates LAN first and drops duplicates. A peer without NAT announces its public address as a
 * LAN address too: that one counts as public.
 */
export function orderCandidates(lan: Address[], observed: Address): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const observedKey = formatAddress(observed);
  for (const [address, kind] of [...lan.map((a) => [a, 'lan'] as const), [observed, 'public'] as const]) {
    const key = formatAddress(address);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      address: { host: address.host, port: address.port },
      kind: key === observedKey ? 'public' : kind,
    });
  }
  return out;
}

export class UdpPunch {
  readonly #options: UdpPunchOptions;
  readonly #session: string;
  /** Nonce hex → the candidate it probed. */
  readonly #sentProbes = new Map<string, Candidate>();
  #validated: Candidate[] = [];
  /**
   * Every NOMINATE sent: a repeat gets a fresh nonce, and the ACK of an earlier one may arrive after a
   * later one left (the round trip is longer than NOMINATE_INTERVAL_MS), so any of them counts.
   */
  readonly #nominateNonces = new Set<string>();
  readonly #learned: Candidate[] = [];
  #chosen: ((result: Candidate) => void) | undefined;
  #probesSent = 0;
  /**
   * Set on the controlled side once nominated, and on the controlling side once the NOMINATE is acked
   * (or, with `resolveOnNominate`, sent).
   */
  #result: Candidate | undefined;
  #nominationHeld: boolean;
  /** The latest NOMINATE that arrived while held. */
  #heldNomination: { transactionId: Uint8Array; from: Address } | undefined;
  #nominationAcked = false;
  /** Repeats the NOMINATE after run() resolved with `resolveOnNominate`. */
  #nominateTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** When the first path validated: the LAN grace runs from there. */
  #firstValidatedAt: number | undefined;
  /** Runs the next round at once (set while run() is probing). */
  #wake: (() => void) | undefined;

  constructor(options: UdpPunchOptions) {
    this.#options = options;
    this.#session = bytesHex(options.session);
    this.#nominationHeld = options.holdNomination === true;
  }

  /** This side picks the path and nominates it (the other side takes the nomination). */
  get controlling(): boolean {
    return this.#options.controlling;
  }

  /** The technique is known: the controlling side may nominate its preferred validated path. */
  releaseNomination(): void {
    this.#nominationHeld = false;
    const held = this.#heldNomination;
    this.#heldNomination = undefined;
    if (held && !this.#options.controlling && this.#result === undefined) {
      // The other side nominated while this side still asked for the technique: take it now instead
      // of waiting for its next repeat (which would also find the handshake's first datagram dropped).
      this.#sendProbe(held.from, { transactionId: held.transactionId, ack: true, nominate: true });
      this.#finish({ address: held.from, kind: this.#kindOf(held.from) });
      return;
    }
    if (this.#validated.length > 0) this.#wake?.();
  }

  /** Stops repeating a NOMINATE that was never acknowledged (idempotent). */
  close(): void {
    this.#closed = true;
    if (this.#nominateTimer) clearTimeout(this.#nominateTimer);
    this.#nominateTimer = undefined;
  }

  /** Feed datagrams from the socket; returns true for this session's PROBEs. */
  handleDatagram(bytes: Uint8Array, from: Address): boolean {
    if (!isRendezvousMessage(bytes) || bytes[3] !== MessageType.PROBE) return false;
    let probe: ProbeMessage;
    try {
      const message = decodeRendezvousMessage(bytes);
      if (message.type !== MessageType.PROBE) return false;
      probe = message;
    } catch {
      return true;
    }
    if (bytesHex(probe.session) !== this.#session) return true;
    // Not before the technique is known (the other side nominated first): unanswered for now; taken
    // (and answered) at releaseNomination(), else the repeat that comes next.
    if (probe.nominate && !probe.ack && this.#nominationHeld) {
      this.#heldNomination = {
        transactionId: probe.transactionId,
        from: { host: from.host, port: from.port },
      };
      return true;
    }
    if (!probe.ack) {
      // Answer every PROBE, even after choosing: the peer's own validation needs our ACK. Same size.
      this.#sendProbe(from, { transactionId: probe.transactionId, ack: true, nominate: probe.nominate });
      if (!probe.nominate) this.#learn(from);
      if (probe.nominate && !this.#options.controlling && this.#result === undefined) {
        this.#finish({ address: from, kind: this.#kindOf(from) });
      }
      return true;
    }
    const nonce = bytesHex(probe.transactionId);
    if (probe.nominate) {
      if (this.#options.controlling && this.#nominateNonces.has(nonce)) {
        this.#nominationAcked = true;
        this.close();
        if (this.#result === undefined) this.#finish({ address: from, kind: this.#kindOf(from) });
      }
      return true;
    }
    const candidate = this.#sentProbes.get(nonce);
    // The ACK must come from where the PROBE went: that pair works both ways.
    if (candidate && sameAddress(candidate.address, from)) {
      if (!this.#validated.some((c) => sameAddress(c.address, from))) {
        this.#validated.push(candidate);
        this.#firstValidatedAt ??= performance.now();
        if (this.#options.controlling && !this.#nominationHeld) this.#wake?.();
      }
    }
    return true;
  }

  /**
   * Probes after `startDelayMs`, until a path is chosen (resolves) or the timeout or signal ends it
   * (rejects with a `PunchError` listing what was tried).
   */
  async run(options: WaitOptions & { startDelayMs?: number } = {}): Promise<PunchResult> {
    const scope = scopedSignal(options, DEFAULT_PUNCH_TIMEOUT_MS, 'hole punching');
    const tried = this.#options.candidates;
    let timer: NodeJS.Timeout | undefined;
    const started = performance.now();
    try {
      const chosen = await new Promise<Candidate>((resolve, reject) => {
        // Nominated before run() was called: nothing left to do.
        if (this.#result) return resolve(this.#result);
        this.#chosen = resolve;
        const onAbort = (): void => reject(scope.error());
        scope.signal.addEventListener('abort', onAbort, { once: true });
        const tick = (): void => {
          if (this.#result || this.#closed) return;
          const validated = this.#preferred();
          const mayNominate = this.#options.controlling && validated && !this.#nominationHeld;
          const graceLeftMs = LAN_GRACE_MS - (performance.now() - (this.#firstValidatedAt ?? 0));
          if (mayNominate) {
            // A LAN path wins outright; a public one waits a moment for a LAN path still in flight.
            if (validated.kind === 'lan' || graceLeftMs <= 0) {
              if (this.#options.resolveOnNominate) {
                this.#keepNominating(validated, started + (options.timeout || DEFAULT_PUNCH_TIMEOUT_MS));
                this.#finish(validated);
                return;
              }
              this.#nominate(validated);
              timer = setTimeout(tick, NOMINATE_INTERVAL_MS);
              return;
            }
          }
          for (const candidate of tried) this.#probe(candidate);
          for (const candidate of this.#learned) this.#probe(candidate);
          for (const candidate of this.#options.extraProbes?.(performance.now()) ?? [])
            this.#probe(candidate);
          timer = setTimeout(
            tick,
            mayNominate ? Math.min(graceLeftMs, PROBE_INTERVAL_MS) : PROBE_INTERVAL_MS,
          );
        };
        // A path validated (or the nomination released) between rounds: decide now, not at the next round.
        this.#wake = () => {
          clearTimeout(timer);
          timer = setTimeout(tick, 0);
        };
        timer = setTimeout(tick, Math.max(0, options.startDelayMs ?? 0));
      });
      return { remote: chosen.address, candidate: chosen.kind, tried, probesSent: this.#probesSent };
    } catch (error) {
      if (AnttError.is(error) && error.code === ErrorCode.TIMEOUT) {
        const list = tried.map((c) => `${formatAddress(c.address)} (${c.kind})`).join(', ');
        const validated = this.#validated.map((c) => formatAddress(c.address)).join(', ');
        throw new PunchError(
          `punching timed out after ${formatMs(performance.now() - started)}: ` +
            `${this.#probesSent} probes to ${list || 'no candidates'}; ` +
            (validated
              ? `paths validated (${validated}) but the peer never confirmed one`
              : this.#options.controlling
                ? 'no answer on any path'
                : 'no path was nominated by the peer') +
            (this.#options.failureNote?.() ??
              ' (both NATs may map each destination to a new port: a relay is needed)'),
          tried,
          { cause: error },
        );
      }
      throw error;
    } finally {
      if (timer) clearTimeout(timer);
      this.#chosen = undefined;
      this.#wake = undefined;
      scope.done();
    }
  }

  #preferred(): Candidate | undefined {
    return this.#validated.find((c) => c.kind === 'lan') ?? this.#validated[0];
  }

  #kindOf(address: Address): CandidateKind {
    const known = [...this.#options.candidates, ...this.#learned, ...this.#validated];
    return known.find((c) => sameAddress(c.address, address))?.kind ?? 'public';
  }

  /** A peer-reflexive address (RFC 8445 §7.3.1.3's idea): the peer reached us from it; probe it back. */
  #learn(from: Address): void {
    if (!this.#options.learnCandidate || this.#result || this.#learned.length >= MAX_LEARNED_CANDIDATES)
      return;
    if ([...this.#options.candidates, ...this.#learned].some((c) => sameAddress(c.address, from))) return;
    const kind = this.#options.learnCandidate(from);
    if (!kind) return;
    const candidate = { address: { host: from.host, port: from.port }, kind };
    this.#learned.push(candidate);
    this.#probe(candidate);
  }

  #probe(candidate: Candidate): void {
    const transactionId = new Uint8Array(randomBytes(TRANSACTION_ID_BYTES));
    this.#sentProbes.set(bytesHex(transactionId), candidate);
    this.#sendProbe(candidate.address, { transactionId, ack: false, nominate: false });
  }

  /** NOMINATE now and every NOMINATE_INTERVAL_MS until acknowledged, closed, or `untilMs`. */
  #keepNominating(candidate: Candidate, untilMs: number): void {
    const repeat = (): void => {
      this.#nominateTimer = undefined;
      if (this.#closed || this.#nominationAcked || performance.now() >= untilMs) return;
      this.#nominate(candidate);
      this.#nominateTimer = setTimeout(repeat, NOMINATE_INTERVAL_MS);
      // Whoever owns the punch closes it; a forgotten one must not hold the process open.
      this.#nominateTimer.unref?.();
    };
    repeat();
  }

  #nominate(candidate: Candidate): void {
    const transactionId = new Uint8Array(randomBytes(TRANSACTION_ID_BYTES));
    this.#nominateNonces.add(bytesHex(transactionId));
    this.#sendProbe(candidate.address, { transactionId, ack: false, nominate: true });
  }

  #sendProbe(to: Address, fields: Pick<ProbeMessage, 'transactionId' | 'ack' | 'nominate'>): void {
    if (!fields.ack) this.#probesSent++;
    const bytes = encodeRendezvousMessage({
      type: MessageType.PROBE,
      session: this.#options.session,
      ...fields,
    });
    try {
      void Promise.resolve(this.#options.send(bytes, to)).catch(() => {});
    } catch {
      // A probe that cannot leave is a lost probe; the next round tries again.
    }
  }

  #finish(candidate: Candidate): void {
    this.#result = candidate;
    this.#chosen?.(candidate);
  }
}

function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}
