import { expect, it } from 'vitest';
import { MIN_BURST_PACKETS, Pacer } from './pacer.js';

it('lets a burst go, then spaces datagrams at the rate', () => {
  const pacer = new Pacer(1200);
  pacer.setRate(1200, 0); // one datagram per millisecond
  for (let i = 0; i < MIN_BURST_PACKETS; i++) {
    expect(pacer.delayMs(1200, 0)).toBe(0);
    pacer.onSent(1200);
  }
  // The bucket is empty: the next one waits for a token, and the one after for the debt it left.
  expect(pacer.delayMs(1200, 0)).toBeGreaterThan(0);
  pacer.onSent(1200);
  expect(pacer.delayMs(1200, 0)).toBeCloseTo(1, 2);
  expect(pacer.delayMs(1200, 1.01)).toBe(0);
});

it("never waits longer than the last datagram's debt, whatever the sizes", () => {
  const pacer = new Pacer(1200);
  pacer.setRate(100, 0); // a slow path: 100 bytes/ms
  expect(pacer.delayMs(16_384, 0)).toBe(0);
  pacer.onSent(16_384);
  pacer.setRate(100, 0);
  const delay = pacer.delayMs(40, 0); // a PING waits for the big datagram's debt only
  expect(delay).toBeLessThan(16_384 / 100 + 1);
  expect(pacer.delayMs(40, delay + 0.01)).toBe(0);
});
