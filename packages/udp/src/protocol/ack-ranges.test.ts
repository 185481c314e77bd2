import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ACK_RANGES, ReceivedPacketRanges, RecordResult, readAckRanges } from './ack-ranges.js';
import { WireReader } from './wire.js';

function decode(ranges: ReceivedPacketRanges): number[][] {
  const buf = new Uint8Array(4096);
  const end = ranges.writeAckRanges(buf, 0, 1234);
  expect(end).toBeLessThanOrEqual(ranges.encodedBytes());
  const reader = new WireReader();
  reader.reset(buf, 0, end);
  const out = new Array(512).fill(0);
  const delay = { micros: 0 };
  const count = readAckRanges(reader, out, delay);
  expect(delay.micros).toBe(1234);
  return Array.from({ length: count }, (_, i) => [out[2 * i + 1], out[2 * i]]);
}

describe('ReceivedPacketRanges', () => {
  it('tells in-order, out-of-order and duplicate packets apart', () => {
    const r = new ReceivedPacketRanges();
    expect(r.record(0)).toBe(RecordResult.IN_ORDER);
    expect(r.record(1)).toBe(RecordResult.IN_ORDER);
    expect(r.record(4)).toBe(RecordResult.OUT_OF_ORDER); // a gap: 2 and 3 are missing
    expect(r.record(1)).toBe(RecordResult.DUPLICATE);
    expect(r.record(4)).toBe(RecordResult.DUPLICATE);
    expect(decode(r)).toEqual([
      [4, 4],
      [0, 1],
    ]);
    expect(r.record(3)).toBe(RecordResult.OUT_OF_ORDER);
    expect(r.record(2)).toBe(RecordResult.OUT_OF_ORDER); // fills the gap: ranges merge
    expect(decode(r)).toEqual([[0, 4]]);
    expect(r.largest).toBe(4);
  });

  it('keeps only the newest ranges and says so for older packet numbers', () => {
    const r = new ReceivedPacketRanges();
    for (let pn = 0; pn < (MAX_ACK_RANGES + 10) * 2; pn += 2) r.record(pn);
    expect(r.rangeCount).toBe(MAX_ACK_RANGES);
    expect(r.record(0)).toBe(RecordResult.UNKNOWN);
    expect(decode(r)).toHaveLength(MAX_ACK_RANGES);
  });

  it('encodes exactly the set it was given, whatever the arrival order (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 300 }),
        (pns) => {
          const r = new ReceivedPacketRanges();
          for (const pn of pns) r.record(pn);
          const decoded = decode(r);
          const expected = new Set(pns);
          const covered = new Set<number>();
          for (const [lo, hi] of decoded) for (let pn = lo!; pn <= hi!; pn++) covered.add(pn);
          // Everything encoded was received; everything received above the oldest kept range is encoded.
          for (const pn of covered) expect(expected.has(pn)).toBe(true);
          const floor = decoded[decoded.length - 1]![0]!;
          for (const pn of pns) if (pn >= floor) expect(covered.has(pn)).toBe(true);
        },
      ),
    );
  });
});
