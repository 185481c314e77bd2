import { expect, it } from 'vitest';
import { REFERENCE_THRESHOLD_BYTES, SendStream } from './send-stream.js';

it('frames new data within the flow limit, resends lost ranges first and frees acknowledged data', () => {
  const stream = new SendStream();
  const end = stream.write(new Uint8Array(3000).fill(7));
  expect(end).toBe(3004);
  expect(stream.nextFrame(1000, 1500)).toBe(true);
  expect([stream.frameOffset, stream.frameLength]).toEqual([0, 1000]);
  expect(stream.nextFrame(1000, 1500)).toBe(true);
  expect([stream.frameOffset, stream.frameLength]).toEqual([1000, 500]); // flow limit
  expect(stream.isFlowBlocked(1500)).toBe(true);
  stream.onLost(0, 1000, false);
  expect(stream.nextFrame(600, 1500)).toBe(true);
  expect([stream.frameOffset, stream.frameLength, stream.frameIsRetransmission]).toEqual([0, 600, true]);
  stream.onAcked(300); // the rest of the lost range is partly acknowledged meanwhile
  expect(stream.nextFrame(600, 1500)).toBe(true);
  expect([stream.frameOffset, stream.frameLength]).toEqual([600, 400]);
  stream.finish();
  expect(stream.nextFrame(5000, 1e9)).toBe(true);
  expect([stream.frameOffset, stream.frameLength, stream.frameFin]).toEqual([1500, 1504, true]);
  expect(stream.nextFrame(5000, 1e9)).toBe(false);
  stream.onAcked(3004);
  expect(stream.bufferedBytes).toBe(0);
});

it('references large messages instead of copying them', () => {
  const stream = new SendStream();
  const big = new Uint8Array(REFERENCE_THRESHOLD_BYTES);
  stream.write(big);
  big[10] = 42; // visible through the stream: it was not copied
  const out = new Uint8Array(20);
  stream.copy(4, 20, out, 0);
  expect(out[10]).toBe(42);
});
