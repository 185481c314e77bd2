import { AnttError, ErrorCode } from '@antt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** fast-check prints the seed of a failing run; ANTT_TEST_SEED replays it. */
const FUZZ = process.env.ANTT_TEST_SEED ? { seed: Number(process.env.ANTT_TEST_SEED) } : {};

import { FrameDecoder } from './frame-decoder.js';
import { FRAME_HEADER_BYTES, FrameType, writeFrameHeader } from './wire-format.js';

interface Decoded {
  type: number;
  payload: Buffer;
}

function decoder(maxMessageBytes = 1024 * 1024): { decoder: FrameDecoder; frames: Decoded[] } {
  const frames: Decoded[] = [];
  const d = new FrameDecoder({
    maxMessageBytes,
    peer: '192.0.2.1:4000',
    onMessage: (message) => frames.push({ type: FrameType.DATA, payload: Buffer.from(message) }),
    onControl: (type, payload) => frames.push({ type, payload: Buffer.from(payload) }),
  });
  return { decoder: d, frames };
}

function frame(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrameHeader(out, 0, type as FrameType, payload.byteLength);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

function protocolError(run: () => void): AnttError {
  try {
    run();
  } catch (error) {
    if (AnttError.is(error) && error.code === ErrorCode.PROTOCOL) return error;
    throw error;
  }
  throw new Error('expected a ProtocolError');
}

const frameArbitrary = fc.oneof(
  fc.record({ type: fc.constant<number>(FrameType.DATA), payload: fc.uint8Array({ maxLength: 3000 }) }),
  fc.record({
    type: fc.constantFrom<number>(FrameType.PING, FrameType.PONG, FrameType.CLOSE),
    payload: fc.uint8Array({ maxLength: 64 }),
  }),
);

describe('FrameDecoder', () => {
  it('decodes frames however the stream is split into chunks', () => {
    fc.assert(
      fc.property(fc.array(frameArbitrary, { maxLength: 30 }), fc.array(fc.nat(4000)), (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => frame(f.type, f.payload)));
        const { decoder: d, frames: got } = decoder();
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
        let from = 0;
        for (const point of [...points, stream.length]) {
          d.push(stream.subarray(from, point));
          from = point;
        }
        expect(got.length).toBe(frames.length);
        got.forEach((g, i) => {
          expect(g.type).toBe(frames[i]!.type);
          expect(g.payload.equals(Buffer.from(frames[i]!.payload))).toBe(true);
        });
        expect(d.atFrameBoundary).toBe(true);
      }),
      FUZZ,
    );
  });

  it('decodes a stream fed one byte at a time', () => {
    const stream = Buffer.concat([
      frame(FrameType.DATA, Buffer.from('hello')),
      frame(FrameType.PING, Buffer.alloc(8)),
    ]);
    const { decoder: d, frames } = decoder();
    for (const byte of stream) d.push(Buffer.of(byte));
    expect(frames.map((f) => f.type)).toEqual([FrameType.DATA, FrameType.PING]);
    expect(frames[0]!.payload.toString()).toBe('hello');
  });

  it('refuses an oversized length prefix before allocating anything', () => {
    const { decoder: d } = decoder(1024);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    writeFrameHeader(header, 0, FrameType.DATA, 0xffff_fff0);
    // 4 GiB could not be allocated at all: getting a ProtocolError proves nothing was tried.
    const error = protocolError(() => d.push(header));
    expect(error.message).toMatch(/4294967280 bytes, over this connection's limit of 1024/);
    const { decoder: atLimit, frames } = decoder(1024);
    atLimit.push(frame(FrameType.DATA, new Uint8Array(1024)));
    expect(frames).toHaveLength(1);
  });

  it('refuses unknown frame types and oversized control frames', () => {
    expect(protocolError(() => decoder().decoder.push(frame(0x7f, Buffer.alloc(3)))).message).toMatch(/0x7f/);
    expect(
      protocolError(() => decoder().decoder.push(frame(FrameType.PING, Buffer.alloc(2000)))).message,
    ).toMatch(/PING frame of 2000 bytes/);
  });

  it('says where a truncated stream stopped', () => {
    const { decoder: d } = decoder();
    d.push(frame(FrameType.DATA, Buffer.alloc(100)).subarray(0, 50));
    expect(d.atFrameBoundary).toBe(false);
    expect(d.describePosition()).toMatch(/45 of 100 payload bytes/);
  });

  it('throws nothing but ProtocolError on random or mutated bytes', () => {
    const valid = Buffer.concat([
      frame(FrameType.DATA, Buffer.from('a message')),
      frame(FrameType.PING, Buffer.alloc(8, 1)),
      frame(FrameType.DATA, Buffer.alloc(300, 7)),
      frame(FrameType.CLOSE, Buffer.alloc(0)),
    ]);
    const mutated = fc
      .array(fc.record({ at: fc.nat(valid.length - 1), value: fc.integer({ min: 0, max: 255 }) }), {
        minLength: 1,
        maxLength: 8,
      })
      .map((edits) => {
        const copy = Buffer.from(valid);
        for (const edit of edits) copy[edit.at] = edit.value;
        return copy;
      });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
          mutated,
        ),
        fc.nat(60),
        (bytes, chunk) => {
          const { decoder: d } = decoder(64 * 1024);
          try {
            for (let i = 0; i < bytes.length; i += chunk + 1) d.push(bytes.subarray(i, i + chunk + 1));
          } catch (error) {
            if (!(AnttError.is(error) && error.code === ErrorCode.PROTOCOL)) throw error;
          }
        },
      ),
      FUZZ,
    );
  });

  it('stops in the middle of a chunk when told to', () => {
    const frames: number[] = [];
    const d: FrameDecoder = new FrameDecoder({
      maxMessageBytes: 1024,
      peer: 'x',
      onMessage: () => {
        frames.push(1);
        d.stop();
      },
      onControl: () => frames.push(2),
    });
    d.push(Buffer.concat([frame(FrameType.DATA, Buffer.alloc(1)), frame(FrameType.PING, Buffer.alloc(8))]));
    expect(frames).toEqual([1]);
  });
});

describe('FrameDecoder with reused chunks and direct reads', () => {
  it('copies messages out of transient chunks', () => {
    const got: Uint8Array[] = [];
    const d = new FrameDecoder({
      maxMessageBytes: 1024,
      peer: 'x',
      onMessage: (message) => got.push(message),
      onControl: () => {},
      transientChunks: true,
    });
    const chunk = frame(FrameType.DATA, Buffer.from('first'));
    d.push(chunk);
    chunk.fill(0);
    expect(Buffer.from(got[0]!).toString()).toBe('first');
  });

  it('lets the rest of a large message be read straight into its buffer', () => {
    const { decoder: d, frames } = decoder();
    const payload = Buffer.alloc(100_000, 3);
    const stream = frame(FrameType.DATA, payload);
    d.push(stream.subarray(0, 1000));
    expect(d.readTarget(200_000)).toBeUndefined();
    const target = d.readTarget(16 * 1024)!;
    expect(target.length).toBe(100_000 - 995);
    stream.copy(target, 0, 1000, 50_000);
    d.commitRead(49_000);
    const rest = d.readTarget(1)!;
    stream.copy(rest, 0, 50_000);
    d.commitRead(stream.length - 50_000);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.payload.equals(payload)).toBe(true);
    expect(d.readTarget(1)).toBeUndefined();
    expect(d.atFrameBoundary).toBe(true);
  });
});
