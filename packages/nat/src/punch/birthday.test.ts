import type { Address } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { decodeRendezvousMessage, encodeRendezvousMessage, MessageType } from '../rendezvous/protocol.js';
import { BirthdayOpener, type BirthdaySocket, BirthdaySpray } from './birthday.js';
import { FIRST_NAT_PORT, LAST_NAT_PORT } from './port-prediction.js';
import { UdpPunch } from './udp-punch.js';

const SESSION = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const PROBER_PUBLIC: Address = { host: '198.51.100.1', port: 5000 };
const OPENER_IP = '203.0.113.77';
/** The simulated random NAT draws from this many ports, so the spray can cover all of them. */
const SMALL_RANGE = 512;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Two NATs in memory. The prober's is endpoint-independent (one public address) with
 * address-and-port-dependent filtering; the opener's gives every (socket, destination) a new random
 * port of a small range, and lets in only what comes from that destination. Delivery is asynchronous.
 */
class SimulatedPair {
  readonly #permits = new Set<string>();
  readonly #mappings = new Map<number, { socket: FakeSocket; toward: string }>();
  readonly #bySocket = new Map<string, number>();
  readonly #random: () => number;
  proberReceive: (bytes: Uint8Array, from: Address) => void = () => {};
  droppedAtOpenerNat = 0;
  droppedAtProberNat = 0;
  sockets: FakeSocket[] = [];

  constructor(seed: number) {
    this.#random = prng(seed);
  }

  fromProber(bytes: Uint8Array, to: Address): void {
    this.#permits.add(`${to.host}:${to.port}`);
    setImmediate(() => {
      const mapping = to.host === OPENER_IP ? this.#mappings.get(to.port) : undefined;
      if (!mapping || mapping.toward !== `${PROBER_PUBLIC.host}:${PROBER_PUBLIC.port}`) {
        this.droppedAtOpenerNat++;
        return;
      }
      mapping.socket.deliver(bytes, PROBER_PUBLIC);
    });
  }

  fromOpener(socket: FakeSocket, bytes: Uint8Array, to: Address): void {
    const key = `${socket.port}>${to.host}:${to.port}`;
    let port = this.#bySocket.get(key);
    if (port === undefined) {
      do port = FIRST_NAT_PORT + Math.floor(this.#random() * SMALL_RANGE);
      while (this.#mappings.has(port));
      this.#mappings.set(port, { socket, toward: `${to.host}:${to.port}` });
      this.#bySocket.set(key, port);
    }
    const from = { host: OPENER_IP, port };
    setImmediate(() => {
      if (to.host !== PROBER_PUBLIC.host || to.port !== PROBER_PUBLIC.port) return;
      if (!this.#permits.has(`${from.host}:${from.port}`)) {
        this.droppedAtProberNat++;
        return;
      }
      this.proberReceive(bytes, from);
    });
  }

  /** The opener's public port toward the prober for this socket. */
  mappingOf(socket: BirthdaySocket): number | undefined {
    return this.#bySocket.get(`${socket.port}>${PROBER_PUBLIC.host}:${PROBER_PUBLIC.port}`);
  }

  bind = async (): Promise<BirthdaySocket> => {
    const socket = new FakeSocket(this, 40_000 + this.sockets.length);
    this.sockets.push(socket);
    return socket;
  };
}

class FakeSocket implements BirthdaySocket {
  #handler: ((bytes: Uint8Array, from: Address) => void) | undefined;
  closed = false;
  sent: { bytes: Uint8Array; to: Address }[] = [];
  constructor(
    readonly pair: SimulatedPair,
    readonly port: number,
  ) {}
  send(bytes: Uint8Array, to: Address): void {
    if (this.closed) return;
    this.sent.push({ bytes, to });
    this.pair.fromOpener(this, bytes, to);
  }
  onMessage(handler: (bytes: Uint8Array, from: Address) => void): void {
    this.#handler = handler;
  }
  deliver(bytes: Uint8Array, from: Address): void {
    if (!this.closed) this.#handler?.(bytes, from);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function probe(fields: { session?: Uint8Array; ack?: boolean; nominate?: boolean } = {}): Uint8Array {
  return encodeRendezvousMessage({
    type: MessageType.PROBE,
    transactionId: Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9),
    session: fields.session ?? SESSION,
    ack: fields.ack ?? false,
    nominate: fields.nominate ?? false,
  });
}

describe('BirthdaySpray', () => {
  it('sends distinct ports of the NAT range, at its rate, never beyond its budget', () => {
    const spray = new BirthdaySpray(OPENER_IP, { probes: 3000, probesPerSec: 1000 });
    expect(spray.due(10_000)).toHaveLength(1); // the clock starts at the first call
    expect(spray.due(10_000)).toHaveLength(0);
    const second = spray.due(10_500);
    expect(second).toHaveLength(500);
    const rest = spray.due(20_000);
    expect(rest).toHaveLength(2499);
    expect(spray.due(30_000)).toHaveLength(0);
    const ports = [...second, ...rest].map((c) => c.address.port);
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(FIRST_NAT_PORT);
      expect(port).toBeLessThanOrEqual(LAST_NAT_PORT);
    }
    expect(rest.every((c) => c.kind === 'birthday' && c.address.host === OPENER_IP)).toBe(true);
    expect(spray.sent).toBe(3000);
  });
});

describe('birthday punching between simulated NATs', () => {
  for (const seed of [1, 2, 3]) {
    it(`the prober's spray meets one of the opener's mappings; both pick that path (seed ${seed})`, async () => {
      const pair = new SimulatedPair(seed);
      const random = prng(seed + 100);
      // A spray as large as the simulated range cannot miss, so the test cannot flake.
      const spray = new BirthdaySpray(OPENER_IP, {
        probes: SMALL_RANGE,
        random: () => FIRST_NAT_PORT + Math.floor(random() * SMALL_RANGE),
      });
      const prober = new UdpPunch({
        session: SESSION,
        controlling: true,
        // The port the rendezvous server saw: useless toward the prober (another mapping).
        candidates: [{ address: { host: OPENER_IP, port: 65_000 }, kind: 'public' }],
        send: (bytes, to) => pair.fromProber(bytes, to),
        extraProbes: (now) => spray.due(now),
        learnCandidate: (from) => (from.host === OPENER_IP ? 'birthday' : undefined),
      });
      pair.proberReceive = (bytes, from) => prober.handleDatagram(bytes, from);
      const opener = new BirthdayOpener({
        session: SESSION,
        peer: PROBER_PUBLIC,
        sockets: 16,
        reopenIntervalMs: 100,
        bindSocket: pair.bind,
      });
      const signal = AbortSignal.timeout(10_000);
      const [proberResult, win] = await Promise.all([
        prober.run({ signal, timeout: 10_000 }),
        opener.run({ signal }),
      ]);
      expect(win.remote).toEqual(PROBER_PUBLIC);
      expect(proberResult.candidate).toBe('birthday');
      expect(proberResult.remote).toEqual({ host: OPENER_IP, port: pair.mappingOf(win.socket) });
      // Only the winning socket stays open; the unsolicited opens were dropped by the prober's NAT.
      expect(pair.sockets.filter((s) => !s.closed)).toEqual([win.socket]);
      expect(pair.droppedAtProberNat).toBeGreaterThan(0);
      expect(spray.sent).toBeLessThanOrEqual(SMALL_RANGE);
      await win.socket.close();
    });
  }

  it('the opener answers only this session from the prober IP; strays cannot nominate a socket', async () => {
    const pair = new SimulatedPair(9);
    const opener = new BirthdayOpener({
      session: SESSION,
      peer: PROBER_PUBLIC,
      sockets: 2,
      bindSocket: pair.bind,
    });
    const controller = new AbortController();
    const run = opener.run({ signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [socket] = pair.sockets;
    const sentBefore = socket!.sent.length;
    // A nomination with another session, and one from another IP with the right session.
    socket!.deliver(probe({ session: Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1), nominate: true }), PROBER_PUBLIC);
    socket!.deliver(probe({ nominate: true }), { host: '192.0.2.66', port: PROBER_PUBLIC.port });
    socket!.deliver(Uint8Array.of(0x52, 0x56, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1), PROBER_PUBLIC);
    expect(socket!.sent.length).toBe(sentBefore);
    expect(opener.describe()).toContain('3 stray datagrams dropped');
    // The genuine PROBE is answered, from that socket, with an ACK of the same size.
    socket!.deliver(probe(), PROBER_PUBLIC);
    const answer = socket!.sent.at(-1)!;
    expect(answer.to).toEqual(PROBER_PUBLIC);
    expect(answer.bytes.length).toBe(probe().length);
    expect(decodeRendezvousMessage(answer.bytes)).toMatchObject({ type: MessageType.PROBE, ack: true });
    controller.abort();
    await expect(run).rejects.toThrow();
    expect(pair.sockets.every((s) => s.closed)).toBe(true);
  });
});
