import { randomBytes } from 'node:crypto';
import { ErrorCode } from '@antt/core';
import { expectCode, sleep } from '@antt/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import type { TcpConnection } from '../src/index.js';
import { createTcpPair, TEST_PASSPHRASE } from './helpers.js';

let pairs: { a: TcpConnection; b: TcpConnection }[] = [];

afterEach(() => {
  for (const { a, b } of pairs) {
    a.destroy();
    b.destroy();
  }
  pairs = [];
});

async function open(options: Parameters<typeof createTcpPair>[0] = {}) {
  const pair = await createTcpPair(options);
  pairs.push(pair);
  await Promise.all([pair.a.connect({ timeout: 5_000 }), pair.b.connect({ timeout: 5_000 })]);
  return pair;
}

describe('TcpConnection', () => {
  it('does not time out a peer while the application is not reading', async () => {
    const idle = 400;
    const { a, b } = await open({ idleTimeout: idle, receiveBufferBytes: 256 * 1024 });
    const chunk = randomBytes(64 * 1024);
    let sent = 0;
    let stop = false;
    const sender = (async () => {
      while (!stop) {
        await a.send(chunk);
        sent++;
      }
    })();
    // b reads nothing for several idle timeouts: its socket is paused, a's sends are blocked.
    await sleep(idle * 4);
    expect(a.closeError).toBeUndefined();
    expect(b.closeError).toBeUndefined();
    expect(a.state).toBe('open');
    expect(b.state).toBe('open');
    stop = true;
    let received = 0;
    let senderDone = false;
    void sender.then(() => {
      senderDone = true;
    });
    // Short receives, so none is left waiting (and none swallows a message) once the count is complete.
    while (!(senderDone && received === sent)) {
      const got = await b.receive({ timeout: 50 }).then(
        () => true,
        (error: { code?: string }) => {
          if (error.code !== ErrorCode.TIMEOUT) throw error;
          return false;
        },
      );
      if (got) received++;
    }
    await sender;
    expect(received).toBe(sent);
  });

  it("refuses a message over the peer's limit without closing", async () => {
    const pair = await createTcpPair();
    pairs.push(pair);
    const small = new (pair.b.constructor as typeof TcpConnection)({
      localAddress: '127.0.0.1',
      localPort: pair.b.localAddress!.port,
      remote: pair.a.localAddress!,
      role: 'server',
      maxMessageBytes: 1000,
      passphrase: TEST_PASSPHRASE,
    });
    pairs.push({ a: small, b: small });
    await Promise.all([pair.a.connect({ timeout: 5_000 }), small.connect({ timeout: 5_000 })]);
    const error = await expectCode(pair.a.send(new Uint8Array(1001)), ErrorCode.MESSAGE_TOO_LARGE);
    expect(error.message).toMatch(/exceeds the peer's limit of 1000 bytes/);
    await pair.a.send(new Uint8Array(1000));
    expect((await small.receive({ timeout: 2_000 })).byteLength).toBe(1000);
  });

  it('reports round-trip time and wire bytes', async () => {
    const { a, b } = await open({ idleTimeout: 300 });
    await sleep(400);
    await a.send(new Uint8Array(10));
    await b.receive({ timeout: 1_000 });
    const stats = a.stats();
    // Both sides ping while idle (a PONG is not activity), so both measure RTT.
    expect(b.stats().rttMs).toBeGreaterThanOrEqual(0);
    expect(stats.pingsSent).toBeGreaterThan(0);
    expect(stats.rttMs).toBeGreaterThanOrEqual(0);
    expect(stats.rttMs).toBeLessThan(100);
    expect(stats.minRttMs).toBeLessThanOrEqual(stats.rttMs!);
    // HELLO (36) + Noise messages in frames + record (4 + 16) + frame header (5) + payload (10).
    expect(stats.wireBytesSent).toBeGreaterThanOrEqual(71);
    expect(stats.encrypted).toBe(1);
    expect(stats.connectAttempts).toBeGreaterThanOrEqual(1);
    expect(b.stats().wireBytesReceived).toBeGreaterThanOrEqual(71);
  });

  it('fails a send waiting for its turn when the connection closes', async () => {
    const { a, b } = await open({ receiveBufferBytes: 64 * 1024 });
    const chunk = randomBytes(512 * 1024);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) sends.push(a.send(chunk));
    await sleep(200);
    b.destroy();
    const outcomes = await Promise.allSettled(sends);
    expect(outcomes.some((o) => o.status === 'rejected')).toBe(true);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect([ErrorCode.RESET, ErrorCode.CLOSED]).toContain((outcome.reason as { code: string }).code);
      }
    }
    expect(a.state).toBe('closed');
  });
});
