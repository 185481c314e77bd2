/**
 * Batched sends (sendmmsg, UDP GSO) and receives (recvmmsg) through the optional @antt/native addon:
 * the endpoint hands each burst to the kernel in one call and reads many datagrams per call where it
 * can, and the bytes arrive as with one dgram call per datagram.
 * @antt/native's own tests fail under CI when the addon was not built; without it (not Linux, no
 * compiler) the batched half here has nothing to run on.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { loadNative } from '@antt/native';
import { filled } from '@antt/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchReceiver,
  type BatchSource,
  RECEIVE_SLOT_BYTES,
  setBatchReceives,
} from '../src/batch-receiver.js';
import { BatchSender, setBatchSends } from '../src/batch-sender.js';
import { type UdpConnection, UdpEndpoint } from '../src/index.js';
import { LOOPBACK, TEST_SECURITY } from './helpers.js';

const MiB = 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;
const batching = process.platform === 'linux' && typeof loadNative()?.sendBatch === 'function';
const batchReceiving = process.platform === 'linux' && typeof loadNative()?.startReceiver === 'function';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  setBatchSends(true);
  setBatchReceives(true);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function transfer(sender: UdpConnection, receiver: UdpConnection, total: number) {
  const sent = createHash('sha256');
  const received = createHash('sha256');
  const sending = (async () => {
    for (let offset = 0, i = 0; offset < total; offset += CHUNK_BYTES, i++) {
      const chunk = filled(CHUNK_BYTES, 3 + i);
      sent.update(chunk);
      await sender.send(chunk);
    }
  })();
  for (let got = 0; got < total; ) {
    const message = await receiver.receive({ timeout: 15_000 });
    received.update(message);
    got += message.byteLength;
  }
  await sending;
  return { sent: sent.digest('hex'), received: received.digest('hex') };
}

async function connectedPair(host: string) {
  const server = await UdpEndpoint.bind({ host, ...TEST_SECURITY });
  cleanups.push(() => server.close());
  server.listen();
  const client = await UdpEndpoint.bind({ host, ...TEST_SECURITY });
  cleanups.push(() => client.close());
  const accepted = server.accept({ timeout: 5_000 });
  const connection = await client.connect(server.address!, { timeout: 5_000 });
  return { client, server, connection, accepted: await accepted };
}

async function bound(host = LOOPBACK): Promise<Socket> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  cleanups.push(() => socket.close());
  return socket;
}

describe('batched sends', () => {
  for (const host of [LOOPBACK, '::1']) {
    it.skipIf(!batching)(
      `carry a secured 16 MiB transfer over ${host} many datagrams per call`,
      {
        timeout: 60_000,
      },
      async () => {
        const { client, connection, accepted } = await connectedPair(host);
        const digests = await transfer(connection, accepted, 16 * MiB);
        expect(digests.received).toBe(digests.sent);
        const stats = client.stats();
        console.log(`batched sends over ${host}`, stats);
        // Most of the bulk went through the addon, several datagrams per system call.
        expect(stats.datagramsSentBatched).toBeGreaterThan(stats.datagramsSent / 2);
        expect(stats.batchSendCalls * 4).toBeLessThan(stats.datagramsSentBatched);
        await connection.close({ timeout: 10_000 });
      },
    );
  }

  it('are off when switched off, and the transfer is the same', { timeout: 60_000 }, async () => {
    setBatchSends(false);
    setBatchReceives(false);
    const { client, server, connection, accepted } = await connectedPair(LOOPBACK);
    const digests = await transfer(connection, accepted, 4 * MiB);
    expect(digests.received).toBe(digests.sent);
    expect(client.stats()).toMatchObject({ datagramsSentBatched: 0, batchSendCalls: 0 });
    expect(server.stats()).toMatchObject({ datagramsReceivedBatched: 0, batchReceiveCalls: 0 });
    await connection.close({ timeout: 10_000 });
  });
});

describe('BatchSender', () => {
  /** A receiving socket that records what arrives, in order. */
  async function sink(host = LOOPBACK) {
    const socket = await bound(host);
    const got: Buffer[] = [];
    socket.on('message', (datagram) => got.push(datagram));
    const until = async (count: number) => {
      for (let i = 0; i < 200 && got.length < count; i++) await new Promise((r) => setTimeout(r, 10));
      return got;
    };
    return { port: socket.address().port, until };
  }

  const datagrams = (sizes: number[]) => sizes.map((size, i) => Buffer.alloc(size, i + 1));

  it.skipIf(!batching)('sends a mixed burst in one call, in order, and frees each buffer once', async () => {
    const socket = await bound();
    const target = await sink();
    let freed = 0;
    const sender = new BatchSender(socket, () => freed++);
    const burst = datagrams([1200, 1200, 1200, 700, 1200, 1200, 30]);
    sender.send(burst, burst.length, LOOPBACK, target.port);
    expect(sender.stats).toEqual({ batchCalls: 1, datagramsBatched: burst.length });
    expect(freed).toBe(burst.length); // the kernel has them all: free at once
    const got = await target.until(burst.length);
    expect(got.map((d) => d.length)).toEqual(burst.map((d) => d.length));
    expect(got.every((d, i) => d.equals(burst[i]!))).toBe(true);
  });

  it('leaves everything to socket.send while libuv has sends queued (order first)', async () => {
    const socket = await bound();
    const target = await sink();
    let freed = 0;
    const sender = new BatchSender(socket, () => freed++);
    socket.getSendQueueCount = () => 1;
    const burst = datagrams([100, 200, 300]);
    sender.send(burst, burst.length, LOOPBACK, target.port);
    expect(sender.stats.batchCalls).toBe(0);
    const got = await target.until(burst.length);
    expect(got.map((d) => d.length)).toEqual([100, 200, 300]);
    expect(freed).toBe(3);
  });

  it('sends a host name (not an IP literal) through socket.send', async () => {
    const socket = await bound();
    const target = await sink();
    const sender = new BatchSender(socket, () => {});
    sender.send(datagrams([10, 20]), 2, 'localhost', target.port);
    expect(sender.stats.batchCalls).toBe(0);
    expect((await target.until(2)).length).toBe(2);
  });

  it.skipIf(!batching)('falls back to socket.send when the kernel refuses the batch', async () => {
    const socket = await bound(); // IPv4 socket, IPv6 destination: sendmmsg fails with EAFNOSUPPORT
    let freed = 0;
    const errors: unknown[] = [];
    const sender = new BatchSender(socket, () => freed++);
    socket.on('error', (error) => errors.push(error));
    sender.send(datagrams([10, 20]), 2, '::1', 9);
    expect(sender.stats).toEqual({ batchCalls: 1, datagramsBatched: 0 });
    for (let i = 0; i < 100 && freed < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(freed).toBe(2); // socket.send reported the error to its callback, which frees the buffer
  });
});

describe.skipIf(!batchReceiving)('BatchReceiver', () => {
  async function started(host = LOOPBACK, largestDatagramBytes?: number) {
    const socket = await bound(host);
    const got: { bytes: Buffer; from: BatchSource; via: 'batch' | 'dgram' }[] = [];
    // Copies: the batch's memory is reused for the next one.
    socket.on('message', (bytes, from) => got.push({ bytes, from: from as BatchSource, via: 'dgram' }));
    const receiver = BatchReceiver.start(
      socket,
      (bytes, from) => got.push({ bytes: Buffer.from(bytes), from, via: 'batch' }),
      largestDatagramBytes,
    );
    expect(receiver).not.toBeNull();
    cleanups.push(() => receiver!.stop());
    const until = async (count: number) => {
      for (let i = 0; i < 200 && got.length < count; i++) await new Promise((r) => setTimeout(r, 10));
      return got;
    };
    return { socket, receiver: receiver!, got, until, port: socket.address().port };
  }

  it('delivers what arrives, in order, with the source dgram would report, instead of dgram', async () => {
    for (const host of [LOOPBACK, '::1']) {
      const { receiver, until, port } = await started(host);
      const from = await bound(host);
      const sizes = [1, 1200, 1200, 700, RECEIVE_SLOT_BYTES, 30];
      for (const [i, size] of sizes.entries()) from.send(Buffer.alloc(size, i + 1), port, host);
      const got = await until(sizes.length);
      expect(got.map((g) => g.via)).toEqual(sizes.map(() => 'batch'));
      expect(got.map((g) => g.bytes.length)).toEqual(sizes);
      expect(got.every((g, i) => g.bytes.every((b) => b === i + 1))).toBe(true);
      expect(got[0]!.from).toMatchObject({ address: host, port: from.address().port });
      expect(receiver.stats.datagrams).toBe(sizes.length);
    }
  });

  it('hands the socket back to dgram after a datagram longer than a slot, losing only that one', async () => {
    const { receiver, until, port } = await started();
    const from = await bound();
    from.send(Buffer.alloc(10, 1), port, LOOPBACK);
    await until(1);
    from.send(Buffer.alloc(RECEIVE_SLOT_BYTES + 1, 2), port, LOOPBACK);
    for (let i = 0; i < 100 && receiver.running; i++) await new Promise((r) => setTimeout(r, 10));
    expect(receiver.running).toBe(false);
    from.send(Buffer.alloc(20, 3), port, LOOPBACK);
    from.send(Buffer.alloc(RECEIVE_SLOT_BYTES + 100, 4), port, LOOPBACK);
    const got = await until(3);
    expect(got.map((g) => [g.via, g.bytes.length])).toEqual([
      ['batch', 10],
      ['dgram', 20],
      ['dgram', RECEIVE_SLOT_BYTES + 100],
    ]);
  });

  it('sizes its slots for an endpoint that sends larger datagrams than the default slot', async () => {
    const { receiver, until, port } = await started(LOOPBACK, 40_000);
    const from = await bound();
    from.send(Buffer.alloc(40_000, 5), port, LOOPBACK);
    const got = await until(1);
    expect(got.map((g) => [g.via, g.bytes.length])).toEqual([['batch', 40_000]]);
    expect(receiver.running).toBe(true);
  });

  it('delivers nothing after stop()', async () => {
    const { receiver, got, port } = await started();
    const from = await bound();
    receiver.stop();
    receiver.stop();
    from.send(Buffer.alloc(10), port, LOOPBACK);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([]);
  });
});
