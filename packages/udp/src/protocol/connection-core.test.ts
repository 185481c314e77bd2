/**
 * Two connection cores joined by a simulated link and driven by a fake clock (quinn-proto's test-pair
 * idea): handshakes, transfers under seeded loss, and fuzzed datagrams, with no sockets and no sleeping.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bbr } from './congestion/bbr.js';
import { NewReno } from './congestion/new-reno.js';
import { ConnectionCore, type CoreHost, ReceiveOutcome } from './connection-core.js';
import { ChecksumProtection } from './protection.js';
import { HEADER_BYTES } from './wire.js';

const DATAGRAM_BYTES = 1200;

interface Side {
  core: ConnectionCore;
  messages: Uint8Array[];
  ended: { error: Error | undefined } | undefined;
  opened: boolean;
}

function side(
  id: number,
  initiator: boolean,
  congestion: 'newreno' | 'bbr' = 'newreno',
  maxDatagramBytes = DATAGRAM_BYTES,
): Side {
  const s = { messages: [], ended: undefined, opened: false } as unknown as Side;
  const host: CoreHost = {
    onOpen: () => {
      s.opened = true;
    },
    onMessage: (m) => s.messages.push(m),
    onEnd: (error) => {
      s.ended = { error };
    },
    onAcked: () => {},
    receiveWindowBytes: () => 16 * 1024 * 1024,
    describePeer: () => `peer ${id}`,
    remotePath: () => ({ host: '192.0.2.1', port: id }),
    onPathValidated: () => {},
  };
  s.core = new ConnectionCore(
    {
      localId: { hi: id, lo: id * 7 + 1 },
      initiator,
      datagramBytes: DATAGRAM_BYTES,
      maxDatagramBytes,
      protection: new ChecksumProtection(),
      secured: false,
      congestion: (bytes) => (congestion === 'bbr' ? new Bbr(bytes) : new NewReno(bytes)),
      idleTimeoutMs: 5_000,
      keepAliveIntervalMs: 1_000,
      maxMessageBytes: 1 << 24,
      reassemblyBytes: 1 << 22,
    },
    host,
    0,
  );
  return s;
}

/** A seeded link: one-way delay, loss, duplication; `run` advances the clock event by event. */
class SimulatedLink {
  now = 0;
  readonly #inFlight: { at: number; to: Side; bytes: Uint8Array }[] = [];
  #random: number;
  delivered = 0;

  constructor(
    readonly a: Side,
    readonly b: Side,
    seed: number,
    readonly options: { delayMs: number; loss: number; duplicate: number; maxBytes?: number },
  ) {
    this.#random = seed >>> 0 || 1;
  }

  #next(): number {
    this.#random ^= this.#random << 13;
    this.#random ^= this.#random >>> 17;
    this.#random ^= this.#random << 5;
    return (this.#random >>> 0) / 2 ** 32;
  }

  #pump(from: Side, to: Side): void {
    const buffer = new Uint8Array(65_536);
    for (let n = 0; n < 1000; n++) {
      const length = from.core.produce(buffer, this.now);
      if (length === 0) return;
      if (this.#next() < this.options.loss) continue;
      if (length > (this.options.maxBytes ?? Number.POSITIVE_INFINITY)) continue; // the path's MTU
      const copies = this.#next() < this.options.duplicate ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        this.#inFlight.push({
          at: this.now + this.options.delayMs + this.#next(),
          to,
          bytes: buffer.slice(0, length),
        });
      }
    }
  }

  /** Runs until `done()` or the time limit; returns the simulated time taken. */
  run(done: () => boolean, limitMs = 60_000): number {
    const start = this.now;
    while (!done() && this.now - start < limitMs) {
      for (const s of [this.a, this.b]) s.core.handleTimeouts(this.now);
      this.#pump(this.a, this.b);
      this.#pump(this.b, this.a);
      this.#inFlight.sort((x, y) => x.at - y.at);
      const nextArrival = this.#inFlight[0]?.at ?? Number.POSITIVE_INFINITY;
      const nextTimer = Math.min(this.a.core.nextDeadline(), this.b.core.nextDeadline());
      this.now = Math.max(this.now + 0.01, Math.min(nextArrival, nextTimer));
      while (this.#inFlight.length > 0 && this.#inFlight[0]!.at <= this.now) {
        const item = this.#inFlight.shift()!;
        item.to.core.receive(item.bytes, this.now);
        this.delivered++;
      }
    }
    return this.now - start;
  }
}

function pair(
  seed: number,
  options = { delayMs: 10, loss: 0, duplicate: 0 },
  congestion: 'newreno' | 'bbr' = 'newreno',
) {
  const a = side(1, true, congestion);
  const b = side(2, true, congestion);
  a.core.startHandshake(0);
  b.core.startHandshake(0);
  return { a, b, link: new SimulatedLink(a, b, seed, options) };
}

describe('ConnectionCore over a simulated link', () => {
  it('opens both sides from simultaneous INITs within two round trips', () => {
    const { a, b, link } = pair(1);
    const took = link.run(() => a.opened && b.opened);
    expect(a.opened && b.opened).toBe(true);
    expect(took).toBeLessThan(45);
    expect(a.core.peerId).toEqual(b.core.localId);
    expect(b.core.peerId).toEqual(a.core.localId);
  });

  it('opens when one side starts late: INITs are retransmitted with backoff', () => {
    const a = side(1, true);
    const b = side(2, true);
    a.core.startHandshake(0);
    const link = new SimulatedLink(a, b, 2, { delayMs: 5, loss: 0, duplicate: 0 });
    // B is not there yet: drop what reaches it for 2 s.
    const realReceive = b.core.receive.bind(b.core);
    b.core.receive = () => ReceiveOutcome.INVALID;
    link.run(() => false, 2_000);
    b.core.receive = realReceive;
    b.core.startHandshake(link.now);
    link.run(() => a.opened && b.opened);
    expect(a.opened && b.opened).toBe(true);
  });

  for (const congestion of ['newreno', 'bbr'] as const) {
    it(`delivers 2 MiB in order through 10% loss and 5% duplication (${congestion})`, () => {
      const { a, b, link } = pair(3, { delayMs: 10, loss: 0.1, duplicate: 0.05 }, congestion);
      link.run(() => a.opened && b.opened);
      const messages = Array.from({ length: 64 }, (_, i) => new Uint8Array(32 * 1024).fill(i));
      for (const m of messages) a.core.write(m);
      link.run(() => b.messages.length === messages.length);
      expect(b.messages.map((m) => m[0])).toEqual(messages.map((m) => m[0]));
      expect(b.core.duplicatesDropped).toBeGreaterThan(0);
      expect(a.core.packetsRetransmitted).toBeGreaterThan(0);
      // Graceful close: the end of the stream is acknowledged and the peer ends cleanly.
      a.core.finish();
      link.run(() => a.core.closeAcknowledged && b.ended !== undefined);
      expect(a.core.closeAcknowledged).toBe(true);
      expect(b.ended).toEqual({ error: undefined });
    });
  }

  it('finds the largest datagram the path carries, and falls back when the path shrinks', () => {
    const a = side(1, true, 'newreno', 16_384);
    const b = side(2, true, 'newreno', 16_384);
    a.core.startHandshake(0);
    b.core.startHandshake(0);
    const options = { delayMs: 5, loss: 0, duplicate: 0, maxBytes: 9_000 };
    const link = new SimulatedLink(a, b, 6, options);
    link.run(() => a.opened && b.opened);
    link.run(() => false, 3_000);
    expect(a.core.pathMtu.current).toBe(8_192); // 16 384 never passed, 8 192 did
    // The path's MTU drops (a route change): big datagrams vanish; the sender must notice and go back.
    options.maxBytes = 1_300;
    const messages = Array.from({ length: 16 }, (_, i) => new Uint8Array(64 * 1024).fill(i));
    for (const m of messages) a.core.write(m);
    link.run(() => b.messages.length === messages.length, 30_000);
    expect(b.messages.map((m) => m[0])).toEqual(messages.map((m) => m[0]));
    expect(a.core.pathMtu.current).toBe(1_200);
    expect(a.core.pathMtu.blackHoles).toBe(1);
  });

  it('ends with a timeout when the peer goes silent', () => {
    const { a, b, link } = pair(4);
    link.run(() => a.opened && b.opened);
    b.core.reset = () => {};
    b.core.produce = () => 0; // b vanishes
    b.core.nextDeadline = () => Number.POSITIVE_INFINITY;
    link.run(() => a.ended !== undefined, 10_000);
    expect((a.ended?.error as { code?: string } | undefined)?.code).toBe('ANTT_ERR_TIMEOUT');
  });

  it('drops and counts random and mutated datagrams without changing anything (fuzz)', () => {
    const { a, b, link } = pair(5);
    link.run(() => a.opened && b.opened);
    a.core.write(Uint8Array.of(1, 2, 3));
    const buffer = new Uint8Array(DATAGRAM_BYTES);
    const length = a.core.produce(buffer, link.now);
    const valid = buffer.slice(0, length);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1500 }),
          // A valid datagram with a few bytes changed (header, frames or checksum) or cut short.
          fc
            .record({ at: fc.nat(), value: fc.integer({ min: 1, max: 255 }), cut: fc.nat() })
            .map(({ at, value, cut }) => {
              const copy = valid.slice(0, Math.max(HEADER_BYTES, valid.length - (cut % 8)));
              const i = at % copy.length;
              copy[i] = copy[i]! ^ value;
              return copy;
            }),
        ),
        (datagram) => {
          const before = b.core.invalidDropped;
          const outcome = b.core.receive(datagram, link.now);
          expect(outcome).toBe(ReceiveOutcome.INVALID);
          expect(b.core.invalidDropped).toBe(before + 1);
        },
      ),
    );
    expect(b.messages).toHaveLength(0);
    expect(b.core.state).toBe('open');
    b.core.receive(valid, link.now);
    expect(b.messages.map((m) => Array.from(m))).toEqual([[1, 2, 3]]);
  });
});
