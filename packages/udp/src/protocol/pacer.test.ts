import { expect, it } from 'vitest';
import { MIN_BURST_PACKETS, Pacer } from './pacer.js';

it('lets a burst go, then spaces datagrams at the rate', () => {
  const pacer = new Pacer(1200);
  pacer.setRate(1200, 0); // one datagram per millisecond
  for (let i = 0; i < MIN_BURST_PACKETS; i++) {
    expect(pacer.delayMs(1200, 0)).toBe(0);
    pacer.onSent(1200);
  }
  expect(pacer.delayMs(1200, 0)).toBeCloseTo(1);
  expect(pacer.delayMs(1200, 1)).toBe(0);
});

it('never stalls when the datagram size grows past the bucket (path MTU discovery)', () => {
  const pacer = new Pacer(1200);
  pacer.setRate(100, 0);
  const delay = pacer.delayMs(16_384, 0);
  expect(Number.isFinite(delay)).toBe(true);
  expect(pacer.delayMs(16_384, delay + 1)).toBe(0);
});
