import type { Address } from '@antt/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeRendezvousMessage, MessageType } from '../rendezvous/protocol.js';
import { type Candidate, PunchError, type PunchResult, UdpPunch, type UdpPunchOptions } from './udp-punch.js';

const A: Address = { host: '203.0.113.10', port: 40_000 };
const B: Address = { host: '203.0.113.20', port: 50_000 };
const SESSION = new Uint8Array(8).fill(7);
const PUNCH_TIMEOUT_MS = 3_000;

/**
 * Two punches joined by a network with a fixed one-way delay and no NAT: what A sends to B's address
 * reaches B `oneWayMs` later, from A's address, and back. Time is Vitest's fake clock.
 */
function pair(
  oneWayMs: number,
  extra: Partial<UdpPunchOptions> = {},
  drop: (bytes: Uint8Array) => boolean = () => false,
): { a: UdpPunch; b: UdpPunch } {
  const candidates = (address: Address): Candidate[] => [{ address, kind: 'public' }];
  const deliver = (to: () => UdpPunch, from: Address) => (bytes: Uint8Array) => {
    if (drop(bytes)) return;
    const copy = bytes.slice();
    setTimeout(() => to().handleDatagram(copy, from), oneWayMs);
  };
  const a: UdpPunch = new UdpPunch({
    session: SESSION,
    controlling: true,
    candidates: candidates(B),
    send: deliver(() => b, A),
    ...extra,
  });
  const b: UdpPunch = new UdpPunch({
    session: SESSION,
    controlling: false,
    candidates: candidates(A),
    send: deliver(() => a, B),
    ...extra,
  });
  return { a, b };
}

/** A NOMINATE (not its ACK): flags byte after the header and session (see protocol.ts PROBE). */
function isNominate(bytes: Uint8Array): boolean {
  const message = decodeRendezvousMessage(bytes);
  return message.type === MessageType.PROBE && message.nominate && !message.ack;
}

/** Runs both sides; resolves with when (fake clock, ms from the start) each one settled. */
async function settleTimes(
  a: UdpPunch,
  b: UdpPunch,
  beforeAdvance: () => void = () => {},
): Promise<{ ra: PunchResult; rb: PunchResult; atA: number; atB: number }> {
  const started = performance.now();
  let atA = Number.NaN;
  let atB = Number.NaN;
  const both = Promise.all([
    a.run({ timeout: PUNCH_TIMEOUT_MS }).then((r) => {
      atA = performance.now() - started;
      return r;
    }),
    b.run({ timeout: PUNCH_TIMEOUT_MS }).then((r) => {
      atB = performance.now() - started;
      return r;
    }),
  ]);
  beforeAdvance();
  await vi.advanceTimersByTimeAsync(PUNCH_TIMEOUT_MS + 1_000);
  const [ra, rb] = await both;
  return { ra, rb, atA, atB };
}

async function punchBoth(oneWayMs: number): Promise<[PunchResult | PunchError, PunchResult | PunchError]> {
  const { a, b } = pair(oneWayMs);
  const settle = (p: Promise<PunchResult>) => p.catch((error: PunchError) => error);
  const both = Promise.all([
    settle(a.run({ timeout: PUNCH_TIMEOUT_MS })),
    settle(b.run({ timeout: PUNCH_TIMEOUT_MS })),
  ]);
  await vi.advanceTimersByTimeAsync(PUNCH_TIMEOUT_MS + 1_000);
  return both;
}

describe('UdpPunch over a network with delay', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  // 0 ms, and one-way delays that make the round trip longer than the NOMINATE repeat interval (50 ms):
  // the controlling side must accept the ACK of any NOMINATE it sent, not only of the latest.
  for (const oneWayMs of [0, 20, 100, 300]) {
    it(`both sides settle on the same path with ${oneWayMs} ms one way`, async () => {
      const [ra, rb] = await punchBoth(oneWayMs);
      expect(ra).not.toBeInstanceOf(Error);
      expect(rb).not.toBeInstanceOf(Error);
      expect(ra).toMatchObject({ remote: B, candidate: 'public' });
      expect(rb).toMatchObject({ remote: A, candidate: 'public' });
    });
  }

  // 100 ms one way: a round trip of 200 ms. Probe and ACK take one; the NOMINATE's ACK another.
  it('resolveOnNominate: the controlling side goes with its first NOMINATE, a round trip earlier', async () => {
    const plain = pair(100);
    const before = await settleTimes(plain.a, plain.b);
    const fast = pair(100, { resolveOnNominate: true });
    const after = await settleTimes(fast.a, fast.b);
    expect(after.ra).toMatchObject({ remote: B });
    expect(after.rb).toMatchObject({ remote: A });
    expect(before.atA).toBeGreaterThanOrEqual(400);
    // Probe + ACK (200 ms) and the LAN grace, not a second round trip.
    expect(after.atA).toBeLessThan(300);
    expect(after.atA).toBeLessThan(before.atA - 150);
    // The controlled side still learns the path from the NOMINATE, half a round trip later.
    expect(after.atB).toBeGreaterThanOrEqual(after.atA + 100);
    fast.a.close();
  });

  // 110 ms one way: the first ACK arrives at 220 ms, between two 50 ms probe rounds (200, 250).
  it('the controlling side nominates 30 ms (the LAN grace) after the first ACK, not at a later round', async () => {
    const { a, b } = pair(110, { resolveOnNominate: true });
    const { ra, atA } = await settleTimes(a, b);
    expect(ra).toMatchObject({ remote: B });
    expect(atA).toBeGreaterThanOrEqual(250);
    expect(atA).toBeLessThanOrEqual(251);
    a.close();
  });

  it('resolveOnNominate: a lost NOMINATE is repeated after the controlling side resolved', async () => {
    let nominatesDropped = 0;
    const { a, b } = pair(100, { resolveOnNominate: true }, (bytes) => {
      if (!isNominate(bytes) || nominatesDropped >= 3) return false;
      nominatesDropped++;
      return true;
    });
    const { ra, rb, atA, atB } = await settleTimes(a, b);
    expect(nominatesDropped).toBe(3);
    expect(ra).toMatchObject({ remote: B });
    expect(rb).toMatchObject({ remote: A });
    // B was nominated by a repeat that left after A had settled.
    expect(atB).toBeGreaterThan(atA + 100);
  });

  it('holdNomination: nothing is nominated until releaseNomination(), then the validated path', async () => {
    let nominates = 0;
    const { a, b } = pair(20, { holdNomination: true }, (bytes) => {
      if (isNominate(bytes)) nominates++;
      return false;
    });
    const { ra, rb, atA } = await settleTimes(a, b, () => {
      setTimeout(() => {
        expect(nominates).toBe(0);
        a.releaseNomination();
        b.releaseNomination();
      }, 1_000);
    });
    expect(atA).toBeGreaterThanOrEqual(1_000);
    expect(nominates).toBeGreaterThan(0);
    expect(ra).toMatchObject({ remote: B });
    expect(rb).toMatchObject({ remote: A });
  });

  it('holdNomination: a NOMINATE that arrives before the technique is known is not acknowledged', async () => {
    let nominateAcks = 0;
    const link = (to: () => UdpPunch, from: Address) => (bytes: Uint8Array) => {
      const message = decodeRendezvousMessage(bytes);
      if (message.type === MessageType.PROBE && message.nominate && message.ack) nominateAcks++;
      const copy = bytes.slice();
      setTimeout(() => to().handleDatagram(copy, from), 20);
    };
    const a: UdpPunch = new UdpPunch({
      session: SESSION,
      controlling: true,
      candidates: [{ address: B, kind: 'public' }],
      send: link(() => held, A),
      resolveOnNominate: true,
    });
    // Only the controlled side still waits for its technique.
    const held: UdpPunch = new UdpPunch({
      session: SESSION,
      controlling: false,
      candidates: [{ address: A, kind: 'public' }],
      send: link(() => a, B),
      holdNomination: true,
    });
    const { ra, rb, atB } = await settleTimes(a, held, () => {
      setTimeout(() => {
        expect(nominateAcks).toBe(0);
        held.releaseNomination();
      }, 500);
    });
    expect(atB).toBeGreaterThanOrEqual(500);
    // The NOMINATE held back is taken at the release, not at the next 50 ms repeat.
    expect(atB).toBeLessThan(501);
    expect(nominateAcks).toBeGreaterThan(0);
    expect(ra).toMatchObject({ remote: B });
    expect(rb).toMatchObject({ remote: A });
  });

  it('without a peer, the controlling side times out with a PunchError that says what it tried', async () => {
    const lonely = new UdpPunch({
      session: SESSION,
      controlling: true,
      candidates: [{ address: B, kind: 'public' }],
      send: () => {},
    });
    const outcome = lonely.run({ timeout: 500 }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(1_000);
    const error = await outcome;
    expect(error).toBeInstanceOf(PunchError);
    expect((error as PunchError).message).toMatch(/probes to 203\.0\.113\.20:50000 \(public\); no answer/);
  });
});
