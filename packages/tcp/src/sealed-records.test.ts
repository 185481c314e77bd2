import { OpeningKey, SealingKey } from '@antt/secure';
import { describe, expect, it } from 'vitest';
import { MAX_RECORD_PLAINTEXT_BYTES, RecordOpener, RecordSealer } from './sealed-records.js';

const secret = new Uint8Array(32).fill(7);

/** A sealer and an opener on one key, and the plaintexts the opener delivered. */
function pair() {
  const sealer = new RecordSealer(new SealingKey('AESGCM', secret));
  const delivered: Buffer[] = [];
  const opener = new RecordOpener({
    key: new OpeningKey('AESGCM', secret, { replayWindow: false }),
    peer: '192.0.2.1:4000',
    inner: {
      push: (chunk) => delivered.push(Buffer.from(chunk)),
      readTarget: () => undefined,
      commitRead: () => {},
      atFrameBoundary: true,
      describePosition: () => 'between frames',
      stop: () => {},
    },
  });
  return { sealer, opener, delivered };
}

/** Distinct content per seed, cheap to make at 1 MiB: a fill with a few marked bytes. */
function pattern(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes, seed & 0xff);
  for (let i = 0; i < bytes; i += 4099) out[i] = (i + seed) & 0xff;
  return out;
}

/** Buffer.equals per element (toEqual walks 1 MiB buffers byte by byte, far too slowly). */
function expectSameBuffers(actual: Buffer[], expected: Buffer[]): void {
  expect(actual.length).toBe(expected.length);
  for (const [i, buffer] of expected.entries()) expect(actual[i]!.equals(buffer), `buffer ${i}`).toBe(true);
}

describe('RecordSealer', () => {
  it('writes prefix and sealed body as one buffer that the opener reads back', () => {
    const { sealer, opener, delivered } = pair();
    const plaintexts = [pattern(10, 1), pattern(MAX_RECORD_PLAINTEXT_BYTES, 2), pattern(300_000, 3)];
    for (const plaintext of plaintexts) {
      const record = sealer.seal(plaintext);
      expect(record.readUInt32BE(0)).toBe(plaintext.length + 16);
      expect(record.length).toBe(4 + plaintext.length + 16);
      opener.push(record);
      sealer.release(record);
    }
    expectSameBuffers(delivered, plaintexts);
  });

  it('seals large records into buffers it takes back after the write, and never into one in use', () => {
    const { sealer, opener, delivered } = pair();
    const first = sealer.seal(pattern(MAX_RECORD_PLAINTEXT_BYTES, 4));
    const second = sealer.seal(pattern(MAX_RECORD_PLAINTEXT_BYTES, 5));
    // Both still "in the socket": distinct memory.
    expect(second.buffer).not.toBe(first.buffer);
    expect(sealer.recycledBuffersAllocated).toBe(2);
    opener.push(first);
    opener.push(second);
    sealer.release(first);
    sealer.release(second);
    const sent: Buffer[] = [pattern(MAX_RECORD_PLAINTEXT_BYTES, 4), pattern(MAX_RECORD_PLAINTEXT_BYTES, 5)];
    // A long stream of large records, one in flight at a time, allocates nothing more.
    for (let i = 0; i < 20; i++) {
      const plaintext = pattern(MAX_RECORD_PLAINTEXT_BYTES - i * 1000, 10 + i);
      const record = sealer.seal(plaintext);
      expect([first.buffer, second.buffer]).toContain(record.buffer);
      opener.push(record);
      sealer.release(record);
      sent.push(plaintext);
    }
    expect(sealer.recycledBuffersAllocated).toBe(2);
    expectSameBuffers(delivered, sent);
  });

  it('seals small records into fresh buffers and ignores buffers that are not its own', () => {
    const { sealer } = pair();
    const small = sealer.seal(pattern(100, 6));
    sealer.release(small);
    const foreign = Buffer.alloc(MAX_RECORD_PLAINTEXT_BYTES + 20);
    sealer.release(foreign);
    sealer.seal(pattern(100, 7));
    expect(sealer.recycledBuffersAllocated).toBe(0);
    const large = sealer.seal(pattern(MAX_RECORD_PLAINTEXT_BYTES, 8));
    expect(sealer.recycledBuffersAllocated).toBe(1);
    expect(large.buffer).not.toBe(foreign.buffer);
  });

  it('takes a record back once even when released twice', () => {
    const { sealer } = pair();
    const record = sealer.seal(pattern(MAX_RECORD_PLAINTEXT_BYTES, 9));
    sealer.release(record);
    sealer.release(record);
    const a = sealer.seal(pattern(MAX_RECORD_PLAINTEXT_BYTES, 10));
    const b = sealer.seal(pattern(MAX_RECORD_PLAINTEXT_BYTES, 11));
    expect(a.buffer).toBe(record.buffer);
    expect(b.buffer).not.toBe(a.buffer);
  });
});
