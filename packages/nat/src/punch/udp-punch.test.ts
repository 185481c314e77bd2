import type { Address } from '@antt/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Candidate, PunchError, type PunchResult, UdpPunch } from './udp-punch.js';

const A: Address = { host: '203.0.113.10', port: 40_000 };
const B: Address = { host: '203.0.113.20', port: 50_000 };
const SESSION = new Uint8Array(8).fill(7);
const PUNCH_TIMEOUT_MS = 3_000;

/**
 * Two punches joined by a network with a fixed one-way delay and no NAT: what A sends to B's address
 * reaches B `oneWayMs` later, from A's address, and back. Time is Vitest's fake clock.
 */
function pair(oneWayMs: number): { a: UdpPunch; b: UdpPunch } {
  const candidates = (address: Address): Candidate[] => [{ address, kind: 'public' }];
  const deliver = (to: () => UdpPunch, from: Address) => (bytes: Uint8Array) => {
    const copy = bytes.slice();
    setTimeout(() => to().handleDatagram(copy, from), oneWayMs);
  };
  const a: UdpPunch = new UdpPunch({
    session: SESSION,
    controlling: true,
    candidates: candidates(B),
    send: deliver(() => b, A),
  });
  const b: UdpPunch = new UdpPunch({
    session: SESSION,
    controlling: false,
    candidates: candidates(A),
    send: deliver(() => a, B),
  });
  return { a, b };
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
