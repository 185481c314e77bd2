import { describe, expect, it } from 'vitest';
import { AmplificationLimiter } from './amplification-limiter.js';

describe('AmplificationLimiter', () => {
  it('allows at most 3x the received bytes until the address is validated', () => {
    const limiter = new AmplificationLimiter();
    expect(limiter.trySend(1)).toBe(false);
    limiter.onReceived(100);
    expect(limiter.allowance).toBe(300);
    expect(limiter.trySend(250)).toBe(true);
    expect(limiter.trySend(51)).toBe(false);
    expect(limiter.trySend(50)).toBe(true);
    expect(limiter.bytesSent).toBe(300);
    limiter.onReceived(10);
    expect(limiter.canSend(30)).toBe(true);
    limiter.validate();
    expect(limiter.validated).toBe(true);
    expect(limiter.trySend(1_000_000)).toBe(true);
  });

  it('supports another factor', () => {
    const limiter = new AmplificationLimiter(1);
    limiter.onReceived(10);
    expect(limiter.canSend(11)).toBe(false);
    expect(() => new AmplificationLimiter(0)).toThrow();
  });
});
