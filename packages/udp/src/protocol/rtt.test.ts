import { expect, it } from 'vitest';
import { INITIAL_RTT_MS, MAX_ACK_DELAY_MS, RttEstimator, TIMER_GRANULARITY_MS } from './rtt.js';

it('follows RFC 9002 §5.3: first sample, smoothing, ack delay only above min_rtt', () => {
  const rtt = new RttEstimator();
  expect(rtt.smoothedRtt).toBe(INITIAL_RTT_MS);
  rtt.update(100, 0);
  expect([rtt.smoothedRtt, rtt.rttVariation, rtt.minRtt]).toEqual([100, 50, 100]);
  rtt.update(120, 10); // adjusted to 110
  expect(rtt.smoothedRtt).toBeCloseTo(0.875 * 100 + 0.125 * 110);
  expect(rtt.rttVariation).toBeCloseTo(0.75 * 50 + 0.25 * 10);
  rtt.update(101, 10); // 101 - 10 < min_rtt 100: the delay is not subtracted
  expect(rtt.latestRtt).toBe(101);
  expect(rtt.minRtt).toBe(100);
});

it('computes the probe timeout and the loss delay with their floors', () => {
  const rtt = new RttEstimator();
  rtt.update(0.05, 0); // loopback
  expect(rtt.probeTimeoutMs()).toBeCloseTo(0.05 + TIMER_GRANULARITY_MS + MAX_ACK_DELAY_MS);
  expect(rtt.lossDelayMs()).toBe(TIMER_GRANULARITY_MS);
  rtt.update(80, 0);
  expect(rtt.lossDelayMs()).toBeCloseTo((9 / 8) * Math.max(rtt.smoothedRtt, 80));
});
