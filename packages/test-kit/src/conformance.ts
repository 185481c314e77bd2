import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AnttError, type Connection, ErrorCode } from '@antt/core';
import { Packet } from '@antt/packet';
import { afterEach, describe, expect, it } from 'vitest';

export interface ConnectionPair {
  /** Two connections to each other, not yet connected: the suite calls `connect()` on both at once. */
  a: Connection;
  b: Connection;
  /**
   * Makes `side` go silent without telling the other side (power cut, cable pulled), so the suite can
   * check that the survivor notices within the idle timeout.
   */
  vanish(side: Connection): void | Promise<void>;
  /** Releases whatever the pair holds beyond the two connections (sockets, endpoints, relays). */
  cleanup?(): void | Promise<void>;
}

export interface ConnectionSuiteOptions {
  /** Makes a fresh pair for each test, configured with `idleTimeoutMs`. */
  createPair(): Promise<ConnectionPair>;
  /** The idle timeout the pair was configured with: a vanished peer must be reported within it. */
  idleTimeoutMs: number;
  /**
   * The most bytes a sender may have had accepted by `send()` while its peer reads nothing: the bound on
   * what the transport buffers on both sides. Default 64 MiB.
   */
  maxBufferedBytes?: number;
  /** If the pair was configured with a message cap, the suite checks it. */
  maxMessageBytes?: number;
  /** Size of the large-message test. Default 64 MiB. */
  largeMessageBytes?: number;
  /** Per-test timeout in milliseconds. Default 60 s. */
  testTimeoutMs?: number;
}

const MiB = 1024 * 1024;
const SMALL_MESSAGE_COUNT = 100_000;
const STALL_SETTLE_MS = 600;
const STALL_LIMIT_MS = 15_000;

/**
 * One conformance suite, many transports: each transport's tests call this with a pair factory. Every
 * test makes a fresh pair, connects both ends at once, and closes everything in teardown.
 */
export function runConnectionSuite(name: string, options: ConnectionSuiteOptions): void {
  const maxBuffered = options.maxBufferedBytes ?? 64 * MiB;
  const largeBytes = options.largeMessageBytes ?? 64 * MiB;
  const timeout = options.testTimeoutMs ?? 60_000;
  const idle = options.idleTimeoutMs;

  describe(`connection contract: ${name}`, () => {
    let current: ConnectionPair | undefined;

    afterEach(async () => {
      const pair = current;
      current = undefined;
      if (!pair) return;
      pair.a.destroy();
      pair.b.destroy();
      await pair.cleanup?.();
    });

    async function open(): Promise<ConnectionPair> {
      const pair = await options.createPair();
      current = pair;
      await Promise.all([pair.a.connect({ timeout: 10_000 }), pair.b.connect({ timeout: 10_000 })]);
      return pair;
    }

    it('connects both sides, emits open and reports addresses', { timeout }, async () => {
      const pair = await options.createPair();
      current = pair;
      let opened = 0;
      pair.a.on('open', () => opened++);
      pair.b.on('open', () => opened++);
      expect(pair.a.state).toBe('new');
      await Promise.all([pair.a.connect(), pair.b.connect()]);
      expect(opened).toBe(2);
      expect(pair.a.state).toBe('open');
      expect(pair.b.state).toBe('open');
      expect(pair.a.localAddress?.port).toBeTypeOf('number');
      expect(pair.a.remoteAddress?.port).toBe(pair.b.localAddress?.port);
      expect(pair.b.remoteAddress?.port).toBe(pair.a.localAddress?.port);
      expect(pair.a.transport).toBeTypeOf('string');
    });

    it('delivers messages in order with their boundaries', { timeout }, async () => {
      const { a, b } = await open();
      const sizes = Array.from({ length: 500 }, (_, i) => (i * 7919) % 20_000);
      const sent = sizes.map((size, i) => filled(size, i));
      const sending = (async () => {
        for (const message of sent) await a.send(message);
      })();
      for (let i = 0; i < sent.length; i++) {
        const got = await b.receive({ timeout: 10_000 });
        expect(got.byteLength, `message ${i}`).toBe(sent[i]!.byteLength);
        expect(Buffer.from(got).equals(Buffer.from(sent[i]!)), `message ${i} content`).toBe(true);
      }
      await sending;
    });

    it('carries empty, 1-byte and large messages', { timeout }, async () => {
      const { a, b } = await open();
      const large = randomBytes(largeBytes);
      const sending = (async () => {
        await a.send(new Uint8Array(0));
        await a.send(Uint8Array.of(0xa5));
        await a.send(large);
      })();
      expect((await b.receive({ timeout: 10_000 })).byteLength).toBe(0);
      expect(Array.from(await b.receive({ timeout: 10_000 }))).toEqual([0xa5]);
      const got = await b.receive({ timeout: timeout - 5_000 });
      expect(got.byteLength).toBe(large.byteLength);
      expect(sha256(got)).toBe(sha256(large));
      await sending;
    });

    it(`carries ${SMALL_MESSAGE_COUNT.toLocaleString('en')} small messages`, { timeout }, async () => {
      const { a, b } = await open();
      const sending = (async () => {
        for (let i = 0; i < SMALL_MESSAGE_COUNT; i++) await a.send(smallMessage(i));
      })();
      let received = 0;
      for await (const message of b) {
        const expected = smallMessage(received);
        if (!Buffer.from(message).equals(Buffer.from(expected))) {
          throw new Error(`small message ${received} differs`);
        }
        if (++received === SMALL_MESSAGE_COUNT) break;
      }
      await sending;
      expect(received).toBe(SMALL_MESSAGE_COUNT);
    });

    it('sends both ways at once', { timeout }, async () => {
      const { a, b } = await open();
      const total = 16 * MiB;
      const [fromA, fromB] = await Promise.all([exchange(a, total, 1), exchange(b, total, 2)]);
      expect(fromA.receivedHash).toBe(fromB.sentHash);
      expect(fromB.receivedHash).toBe(fromA.sentHash);
    });

    it('makes a sender wait while the reader is slow, keeping memory bounded', { timeout }, async () => {
      const { a, b } = await open();
      const chunk = randomBytes(256 * 1024);
      let accepted = 0;
      let sent = 0;
      let stop = false;
      const cap = maxBuffered * 4;
      const sender = (async () => {
        while (!stop && accepted < cap) {
          await a.send(chunk);
          accepted += chunk.byteLength;
          sent++;
        }
      })();
      // Wait until send() stops making progress (the transport pushes back), bounded in time.
      const started = Date.now();
      let last = -1;
      let lastChange = Date.now();
      while (Date.now() - started < STALL_LIMIT_MS) {
        await sleep(100);
        if (accepted !== last) {
          last = accepted;
          lastChange = Date.now();
        } else if (Date.now() - lastChange >= STALL_SETTLE_MS) break;
      }
      expect(accepted, 'bytes accepted while the reader read nothing').toBeLessThanOrEqual(maxBuffered);
      expect(accepted).toBeGreaterThan(0);
      // A reader that is slow is not a peer that vanished: stay stalled past the idle timeout.
      await sleep(idle + 500);
      expect(a.state).toBe('open');
      expect(b.state).toBe('open');
      stop = true;
      let received = 0;
      let senderDone = false;
      void sender.then(() => {
        senderDone = true;
      });
      while (!(senderDone && received === sent)) {
        const message = await b.receive({ timeout: 10_000 });
        expect(message.byteLength).toBe(chunk.byteLength);
        received++;
        if (received > sent + 1) throw new Error('received more messages than were sent');
        if (!senderDone) await Promise.resolve();
        if (received === sent) await Promise.race([sender, sleep(50)]);
      }
      await sender;
      expect(received).toBe(sent);
    });

    for (const closer of ['a', 'b'] as const) {
      it(`closes gracefully from side ${closer}: everything sent arrives first`, { timeout }, async () => {
        const pair = await open();
        const local = pair[closer];
        const remote = closer === 'a' ? pair.b : pair.a;
        const closeEvents: (Error | undefined)[] = [];
        local.on('close', (error) => closeEvents.push(error));
        remote.on('close', (error) => closeEvents.push(error));
        const messages = Array.from({ length: 200 }, (_, i) => filled(4096, i));
        for (const message of messages) await local.send(message);
        await local.close({ timeout: 10_000 });
        expect(local.state).toBe('closed');
        let count = 0;
        for await (const message of remote) {
          expect(Buffer.from(message).equals(Buffer.from(messages[count]!))).toBe(true);
          count++;
        }
        expect(count).toBe(messages.length);
        expect(remote.state).toBe('closed');
        expect(remote.closeError).toBeUndefined();
        expect(closeEvents).toEqual([undefined, undefined]);
        await expectCode(remote.send(Uint8Array.of(1)), ErrorCode.CLOSED);
      });

      it(`notices an abrupt close by side ${closer}`, { timeout }, async () => {
        const pair = await open();
        const local = pair[closer];
        const remote = closer === 'a' ? pair.b : pair.a;
        const remoteClosed = new Promise<Error | undefined>((resolve) => remote.once('close', resolve));
        const started = Date.now();
        local.destroy();
        expect(local.state).toBe('closed');
        await expectCode(local.receive(), ErrorCode.CLOSED);
        const error = await remoteClosed;
        expect(Date.now() - started).toBeLessThan(idle + 2_000);
        expect(AnttError.is(error)).toBe(true);
        expect([ErrorCode.RESET, ErrorCode.TIMEOUT]).toContain((error as AnttError).code);
        await expectCode(remote.receive(), (error as AnttError).code);
      });
    }

    it('times out and aborts a receive without harming the connection', { timeout }, async () => {
      const { a, b } = await open();
      await expectCode(b.receive({ timeout: 50 }), ErrorCode.TIMEOUT);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      await expectCode(b.receive({ signal: controller.signal }), ErrorCode.ABORTED);
      await expectCode(b.receive({ signal: AbortSignal.abort() }), ErrorCode.ABORTED);
      await a.send(Uint8Array.of(7));
      expect(Array.from(await b.receive({ timeout: 5_000 }))).toEqual([7]);
      expect(b.state).toBe('open');
    });

    it('refuses use after close with ANTT_ERR_CLOSED', { timeout }, async () => {
      const { a } = await open();
      await a.close();
      await expectCode(a.send(Uint8Array.of(1)), ErrorCode.CLOSED);
      await expectCode(a.receive(), ErrorCode.CLOSED);
      await expectCode(a.connect(), ErrorCode.CLOSED);
      await a.close();
      a.destroy();
      expect(a.state).toBe('closed');
    });

    it('refuses send before connect with a clear error', { timeout }, async () => {
      const pair = await options.createPair();
      current = pair;
      const error = await pair.a.send(Uint8Array.of(1)).catch((e: unknown) => e);
      expect((error as AnttError).code).toBe(ErrorCode.INVALID_STATE);
      expect((error as Error).message).toMatch(/connect/);
    });

    it('reports a vanished peer within the idle timeout', { timeout: timeout + idle * 2 }, async () => {
      const pair = await open();
      const closed = new Promise<Error | undefined>((resolve) => pair.a.once('close', resolve));
      const started = Date.now();
      await pair.vanish(pair.b);
      const error = await closed;
      const elapsed = Date.now() - started;
      expect((error as AnttError).code).toBe(ErrorCode.TIMEOUT);
      expect((error as Error).message.length).toBeGreaterThan(10);
      expect(elapsed).toBeLessThan(idle * 1.5 + 1_000);
      await expectCode(pair.a.receive(), ErrorCode.TIMEOUT);
    });

    it('counts bytes and messages each way', { timeout }, async () => {
      const { a, b } = await open();
      for (let i = 0; i < 10; i++) await a.send(filled(100, i));
      for (let i = 0; i < 10; i++) await b.receive({ timeout: 5_000 });
      await b.send(filled(50, 0));
      await a.receive({ timeout: 5_000 });
      const sa = a.stats();
      const sb = b.stats();
      expect([sa.messagesSent, sa.bytesSent, sa.messagesReceived, sa.bytesReceived]).toEqual([
        10, 1000, 1, 50,
      ]);
      expect([sb.messagesSent, sb.bytesSent, sb.messagesReceived, sb.bytesReceived]).toEqual([
        1, 50, 10, 1000,
      ]);
    });

    it('sends Packets and emits message events', { timeout }, async () => {
      const { a, b } = await open();
      const packet = new Packet(1, 'text', Uint8Array.of(1, 2, 3), { nested: [true, null] });
      const got = new Promise<Uint8Array>((resolve) => b.once('message', resolve));
      await a.send(packet);
      expect(Packet.decode(await got).equals(packet)).toBe(true);
    });

    it('pipes bytes through the Duplex view', { timeout }, async () => {
      const { a, b } = await open();
      const data = randomBytes(4 * MiB);
      const chunks: Buffer[] = [];
      const reading = (async () => {
        for await (const chunk of b.duplex()) chunks.push(chunk as Buffer);
      })();
      await pipeline(Readable.from(slices(data, 64 * 1024)), a.duplex());
      await reading;
      expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
    });

    if (options.maxMessageBytes !== undefined) {
      const limit = options.maxMessageBytes;
      it('refuses a message over the cap without closing', { timeout }, async () => {
        const { a, b } = await open();
        await expectCode(a.send(new Uint8Array(limit + 1)), ErrorCode.MESSAGE_TOO_LARGE);
        await a.send(Uint8Array.of(9));
        expect(Array.from(await b.receive({ timeout: 5_000 }))).toEqual([9]);
      });
    }
  });
}

async function exchange(
  connection: Connection,
  total: number,
  seed: number,
): Promise<{ sentHash: string; receivedHash: string }> {
  const sentHash = createHash('sha256');
  const receivedHash = createHash('sha256');
  const sending = (async () => {
    for (let offset = 0, i = 0; offset < total; offset += 64 * 1024, i++) {
      const message = filled(Math.min(64 * 1024, total - offset), seed * 1_000_003 + i);
      sentHash.update(message);
      await connection.send(message);
    }
  })();
  let received = 0;
  while (received < total) {
    const message = await connection.receive({ timeout: 20_000 });
    receivedHash.update(message);
    received += message.byteLength;
  }
  await sending;
  return { sentHash: sentHash.digest('hex'), receivedHash: receivedHash.digest('hex') };
}

export async function expectCode(promise: Promise<unknown>, code: string): Promise<AnttError> {
  const error = await promise.then(
    () => new Error(`expected a rejection with ${code}, but it resolved`),
    (e: unknown) => e,
  );
  if (!AnttError.is(error))
    throw new Error(`expected an AnttError with ${code}, got ${String(error)}`, { cause: error });
  expect(error.code).toBe(code);
  return error;
}

/** Deterministic bytes: a message's content depends on its index, so reordering is caught. */
export function filled(size: number, index: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (index * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function smallMessage(i: number): Uint8Array {
  const size = 1 + (i % 64);
  const out = new Uint8Array(size);
  out[0] = i & 0xff;
  if (size > 4) new DataView(out.buffer).setUint32(1, i);
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function* slices(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < data.byteLength; offset += size) yield data.subarray(offset, offset + size);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
