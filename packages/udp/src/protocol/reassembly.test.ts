import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reassembly, StreamResult } from './reassembly.js';
import { SendStream } from './send-stream.js';

/** The stream bytes of `messages` as SendStream frames them. */
function streamOf(messages: Uint8Array[]): Uint8Array {
  const stream = new SendStream();
  for (const message of messages) stream.write(message);
  const out = new Uint8Array(stream.writeOffset);
  stream.copy(0, stream.writeOffset, out, 0);
  return out;
}

function collector(cap = 1 << 20, max = 1 << 24) {
  const delivered: Uint8Array[] = [];
  return { delivered, reassembly: new Reassembly(cap, max, (m) => delivered.push(m)) };
}

describe('Reassembly', () => {
  it('cuts in-order bytes into messages and puts out-of-order frames back in order', () => {
    const messages = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(9)];
    const bytes = streamOf(messages);
    const { delivered, reassembly } = collector();
    expect(reassembly.receive(5, bytes.subarray(5), true)).toBe(StreamResult.ACCEPTED);
    expect(delivered).toHaveLength(0);
    expect(reassembly.outOfOrderBytes).toBe(bytes.length - 5);
    expect(reassembly.receive(0, bytes.subarray(0, 5), false)).toBe(StreamResult.ACCEPTED);
    expect(delivered.map((m) => Array.from(m))).toEqual(messages.map((m) => Array.from(m)));
    expect(reassembly.complete).toBe(true);
    expect(reassembly.outOfOrderBytes).toBe(0);
  });

  it('ignores a delayed duplicate of delivered data instead of asking for it again', () => {
    const bytes = streamOf([Uint8Array.of(1, 2, 3, 4)]);
    const { delivered, reassembly } = collector();
    reassembly.receive(0, bytes, false);
    expect(reassembly.receive(0, bytes, false)).toBe(StreamResult.DUPLICATE);
    expect(reassembly.receive(2, bytes.subarray(2), false)).toBe(StreamResult.DUPLICATE);
    expect(delivered).toHaveLength(1);
  });

  it('drops out-of-order frames past its hard byte cap', () => {
    const { reassembly } = collector(1000);
    expect(reassembly.receive(100, new Uint8Array(900), false)).toBe(StreamResult.ACCEPTED);
    expect(reassembly.receive(2000, new Uint8Array(200), false)).toBe(StreamResult.OVER_CAP);
    expect(reassembly.outOfOrderBytes).toBe(900);
  });

  it('assembles a large message into one buffer of its size', () => {
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const bytes = streamOf([big]);
    const { delivered, reassembly } = collector();
    for (let offset = 0; offset < bytes.length; offset += 1157) {
      reassembly.receive(offset, bytes.subarray(offset, offset + 1157), false);
    }
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.buffer.byteLength).toBe(big.length);
    expect(Buffer.from(delivered[0]!).equals(Buffer.from(big))).toBe(true);
  });

  it('refuses a message over the limit and data past the end as protocol errors', () => {
    const { reassembly } = collector(1 << 20, 10);
    expect(reassembly.receive(0, streamOf([new Uint8Array(11)]), false)).toBe(StreamResult.PROTOCOL_ERROR);
    const other = collector();
    other.reassembly.receive(0, new Uint8Array(0), true);
    expect(other.reassembly.receive(0, Uint8Array.of(1), false)).toBe(StreamResult.PROTOCOL_ERROR);
  });

  it('delivers the same messages whatever the framing, order and duplication (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 1500 }),
        fc.integer(),
        (messages, frameBytes, seed) => {
          const bytes = streamOf(messages);
          const frames: [number, Uint8Array][] = [];
          for (let offset = 0; offset < bytes.length; offset += frameBytes) {
            frames.push([offset, bytes.subarray(offset, offset + frameBytes)]);
          }
          let x = seed | 1;
          const rand = () => {
            x = (x * 1103515245 + 12345) & 0x7fffffff;
            return x / 0x7fffffff;
          };
          const shuffled = [...frames, ...frames.filter(() => rand() < 0.2)].sort(() => rand() - 0.5);
          const { delivered, reassembly } = collector();
          for (const [offset, data] of shuffled) reassembly.receive(offset, data, false);
          expect(delivered.map((m) => Buffer.from(m).toString('hex'))).toEqual(
            messages.map((m) => Buffer.from(m).toString('hex')),
          );
        },
      ),
    );
  });
});
