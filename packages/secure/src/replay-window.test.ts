import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayWindow } from './replay-window.js';

function accept(window: ReplayWindow, packetNumber: number): boolean {
  if (!window.check(packetNumber)) return false;
  window.commit(packetNumber);
  return true;
}

describe('ReplayWindow', () => {
  it('accepts in-order packets and refuses duplicates', () => {
    const window = new ReplayWindow(64);
    for (let pn = 0; pn < 500; pn++) expect(accept(window, pn)).toBe(true);
    for (let pn = 440; pn < 500; pn++) expect(accept(window, pn)).toBe(false);
    expect(window.highestPacketNumber).toBe(499);
  });

  it('accepts out-of-order packets inside the window once each', () => {
    const window = new ReplayWindow(64);
    expect(accept(window, 100)).toBe(true);
    expect(accept(window, 37)).toBe(true);
    expect(accept(window, 36)).toBe(false); // 100 - 64: just outside
    expect(accept(window, 99)).toBe(true);
    expect(accept(window, 99)).toBe(false);
    expect(accept(window, 37)).toBe(false);
  });

  it('refuses packets older than the window', () => {
    const window = new ReplayWindow(2048);
    accept(window, 10_000);
    expect(window.check(10_000 - 2048)).toBe(false);
    expect(window.check(10_000 - 2047)).toBe(true);
    expect(window.check(-1)).toBe(false);
    expect(window.check(1.5)).toBe(false);
  });

  it('survives huge jumps: old bits do not leak into the new range', () => {
    const window = new ReplayWindow(64);
    for (let pn = 0; pn < 64; pn++) accept(window, pn);
    expect(accept(window, 2 ** 40)).toBe(true);
    for (let pn = 2 ** 40 - 63; pn < 2 ** 40; pn++) expect(window.check(pn)).toBe(true);
    expect(accept(window, Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(accept(window, Number.MAX_SAFE_INTEGER)).toBe(false);
  });

  it('check() alone never changes the window (forged packets cannot poison it)', () => {
    const window = new ReplayWindow(64);
    expect(window.check(5)).toBe(true);
    expect(window.check(5)).toBe(true);
    expect(window.highestPacketNumber).toBe(-1);
  });

  it('agrees with a simple model on random sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(600), { maxLength: 400 }), (sequence) => {
        const window = new ReplayWindow(128);
        const seen = new Set<number>();
        let highest = -1;
        for (const pn of sequence) {
          const expected = !seen.has(pn) && pn > highest - 128;
          expect(accept(window, pn)).toBe(expected);
          if (expected) {
            seen.add(pn);
            highest = Math.max(highest, pn);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses sizes that are not multiples of 32', () => {
    expect(() => new ReplayWindow(100)).toThrow(/multiple of 32/);
  });
});
