/**
 * Antt/UDP through the test kit's impairment relay: loss, duplication, reordering, delay and bit flips
 * between two endpoints. The relay's upstream socket is what the far side sees, so that side accepts
 * (listen/accept) instead of connecting to a known address.
 */
import { createHash } from 'node:crypto';
import { createImpairmentRelay, filled, type ImpairmentProfile } from '@antt/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { type UdpConnection, UdpEndpoint } from '../src/index.js';
import { LOOPBACK, TEST_SECURITY, testSeed } from './helpers.js';

const MiB = 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;
/** A transfer that makes no progress for this long has stalled. */
const STALL_MS = 10_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function impairedPair(profile: ImpairmentProfile & { seed: number }) {
  // Datagrams no larger than an Ethernet path carries, as on the internet (loopback would allow 16 KiB).
  const options = { host: LOOPBACK, idleTimeout: 5_000, maxDatagramBytes: 1_472, ...TEST_SECURITY };
  const [server, client] = await Promise.all([UdpEndpoint.bind(options), UdpEndpoint.bind(options)]);
  cleanups.push(
    () => server.close(),
    () => client.close(),
  );
  server.listen();
  const relay = await createImpairmentRelay({ target: server.address!, ...profile });
  cleanups.push(() => relay.close());
  const accepted = server.accept({ timeout: 10_000 });
  const a = await client.connect(relay.address, { timeout: 10_000 });
  const b = await accepted;
  return { a, b, relay, server, client };
}

/** Sends `total` bytes of seeded content from `from` while `to` reads them; returns both hashes. */
async function oneWay(from: UdpConnection, to: UdpConnection, total: number, seed: number) {
  const sent = createHash('sha256');
  const received = createHash('sha256');
  let progressAt = Date.now();
  const sending = (async () => {
    for (let offset = 0, i = 0; offset < total; offset += CHUNK_BYTES, i++) {
      const chunk = filled(Math.min(CHUNK_BYTES, total - offset), seed + i);
      sent.update(chunk);
      await from.send(chunk);
    }
  })();
  let got = 0;
  while (got < total) {
    const message = await to.receive({ timeout: STALL_MS });
    received.update(message);
    got += message.byteLength;
    progressAt = Date.now();
  }
  await sending;
  expect(Date.now() - progressAt).toBeLessThan(STALL_MS);
  return { sent: sent.digest('hex'), received: received.digest('hex') };
}

describe('through the impairment relay', () => {
  it('moves 64 MiB each way through 5% loss, 2% duplication, reordering and 0.1% bit flips', {
    timeout: 120_000,
  }, async () => {
    const seed = testSeed('udp impairment 64 MiB');
    const { a, b, relay } = await impairedPair({
      seed,
      loss: 0.05,
      duplicate: 0.02,
      reorder: 0.02,
      corrupt: 0.001,
    });
    const rssBefore = process.memoryUsage.rss();
    let peakRss = rssBefore;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 100);
    try {
      const [ab, ba] = await Promise.all([
        oneWay(a, b, 64 * MiB, seed),
        oneWay(b, a, 64 * MiB, seed + 1_000_000),
      ]);
      expect(ab.received).toBe(ab.sent);
      expect(ba.received).toBe(ba.sent);
    } finally {
      clearInterval(sampler);
    }
    const stats = relay.stats;
    const sa = a.stats();
    const sb = b.stats();
    console.log('relay', stats.toTarget, stats.toClient);
    console.log('a', sa);
    console.log('b', sb);
    // The impairments really happened, and the transport saw them.
    expect(stats.toTarget.droppedLoss).toBeGreaterThan(1_000);
    expect(stats.toTarget.corrupted + stats.toClient.corrupted).toBeGreaterThan(10);
    expect((sa.packetsRetransmitted ?? 0) + (sb.packetsRetransmitted ?? 0)).toBeGreaterThan(1_000);
    // Secured: a flipped bit fails the AEAD tag, a duplicate the replay window (before any decryption).
    const count = (name: string) => (sa[name] ?? 0) + (sb[name] ?? 0);
    expect(count('invalidDropped') + count('datagramsRejectedAuth')).toBeGreaterThan(0);
    expect(count('duplicatesDropped') + count('datagramsRejectedReplay')).toBeGreaterThan(100);
    // Both processes' buffers are bounded: 128 MiB moved, far less held (the test's own 2 × 64 MiB of
    // hashing input is streamed, not kept).
    expect(peakRss - rssBefore).toBeLessThan(200 * MiB);
    await a.close({ timeout: 10_000 });
    expect(b.state).toBe('closed');
    expect(b.closeError).toBeUndefined();
  });

  const profiles: (ImpairmentProfile & { name: string })[] = [
    { name: 'heavy loss', loss: 0.15 },
    { name: 'delay and jitter', delayMs: 20, jitterMs: 5 },
    { name: 'reordering storm', reorder: 0.3, reorderDelayMs: 10 },
    { name: 'duplication and corruption', duplicate: 0.2, corrupt: 0.02 },
    { name: 'rate cap with loss', rateBytesPerSecond: 4 * MiB, loss: 0.03 },
  ];
  for (const profile of profiles) {
    it(`delivers 4 MiB each way under ${profile.name} (seeded)`, { timeout: 60_000 }, async () => {
      const seed = testSeed(`udp impairment sweep: ${profile.name}`);
      const { name: _name, ...impairments } = profile;
      const { a, b } = await impairedPair({ seed, ...impairments });
      const [ab, ba] = await Promise.all([oneWay(a, b, 4 * MiB, seed), oneWay(b, a, 4 * MiB, seed + 7)]);
      expect(ab.received).toBe(ab.sent);
      expect(ba.received).toBe(ba.sent);
      await a.close({ timeout: 10_000 });
    });
  }
});
