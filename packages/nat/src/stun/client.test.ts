import { createSocket, type Socket } from 'node:dgram';
import { AnttError, ErrorCode, ProtocolError, TimeoutError } from '@antt/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FakeStunServer,
  startFakeStunServer,
  strayAnswer,
} from '../../test/helpers/fake-stun-server.js';
import { bindSocket, StunClient, StunErrorResponse, stunBinding } from './client.js';
import { encodeStunMessage } from './message.js';
import { retransmissionSchedule } from './retransmission.js';

/** Quick schedule for loopback: 50, 100, 200 ms between sends, then 2 × 50 ms. Exact timings are
 * tested with a manual clock below; loopback tests only count on the order of events. */
const FAST = { rtoMs: 50, maxTransmissions: 4, lastWaitFactor: 2 } as const;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(behaviour?: Parameters<typeof startFakeStunServer>[0]): Promise<FakeStunServer> {
  const fake = await startFakeStunServer(behaviour);
  cleanups.push(() => fake.close());
  return fake;
}

async function socket(): Promise<Socket> {
  const s = await bindSocket('udp4', '127.0.0.1');
  cleanups.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
  return s;
}

function badFingerprint(answer: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(answer);
  copy[copy.length - 1]! ^= 0xff;
  return copy;
}

describe('retransmissionSchedule', () => {
  it('follows RFC 8489 §6.2.1 by default: 7 sends, giving up at 39.5 s', () => {
    expect(retransmissionSchedule()).toEqual({
      sendAtMs: [0, 500, 1500, 3500, 7500, 15500, 31500],
      giveUpAtMs: 39_500,
    });
  });

  it('is configurable', () => {
    expect(retransmissionSchedule(FAST)).toEqual({ sendAtMs: [0, 50, 150, 350], giveUpAtMs: 450 });
  });

  it('refuses nonsense with ANTT_ERR_INVALID_ARGUMENT', () => {
    expect(() => retransmissionSchedule({ maxTransmissions: 0 })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });
});

describe('stunBinding', () => {
  it('learns the mapping of the socket it is given', async () => {
    const fake = await server();
    const local = await socket();
    const result = await stunBinding({
      server: fake.address,
      socket: local,
      ...FAST,
      signal: AbortSignal.timeout(5000),
    });
    expect(result.mapped).toEqual({ host: '127.0.0.1', port: local.address().port, family: 'IPv4' });
    expect(result.attempts).toBeGreaterThanOrEqual(1);
    expect(result.rttMs).toBeGreaterThanOrEqual(0);
    expect(result.server).toEqual({ ...fake.address, family: 'IPv4' });
    expect(local.listenerCount('message')).toBe(0);
  });

  it('accepts "host:port" and binds its own socket when none is given', async () => {
    const fake = await server();
    const result = await stunBinding({
      server: `127.0.0.1:${fake.address.port}`,
      localAddress: '127.0.0.1',
      ...FAST,
    });
    expect(result.mapped.host).toBe('127.0.0.1');
    expect(fake.requests[0]!.from.port).toBe(result.mapped.port);
  });

  it('retransmits the same transaction when the first requests are lost', async () => {
    const fake = await server((_request, _from, index) => (index < 2 ? 'drop' : 'answer'));
    const result = await stunBinding({ server: fake.address, ...FAST, localAddress: '127.0.0.1' });
    // Two requests were dropped, so an answer needs a third (a slow machine may send a fourth).
    expect(result.attempts).toBeGreaterThanOrEqual(3);
    expect(fake.requests.length).toBeGreaterThanOrEqual(3);
    const ids = new Set(fake.requests.map((r) => Buffer.from(r.message.transactionId).toString('hex')));
    expect(ids.size).toBe(1);
  });

  it('gives up after the schedule with a message naming the server and the attempts', async () => {
    const fake = await server(() => 'drop');
    const error = await stunBinding({ server: fake.address, ...FAST, localAddress: '127.0.0.1' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.message).toMatch(
      new RegExp(
        `^no STUN answer from 127\\.0\\.0\\.1:${fake.address.port} after 4 attempts over \\d+ ms: UDP may be blocked$`,
      ),
    );
    expect(fake.requests).toHaveLength(4);
  });

  it('a shorter `timeout` ends the schedule early with the same wording', async () => {
    const fake = await server(() => 'drop');
    const error = await stunBinding({
      server: fake.address,
      localAddress: '127.0.0.1',
      rtoMs: 30,
      timeout: 50,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toMatch(/after 2 attempts over \d+ ms: UDP may be blocked$/);
  });

  it('ignores answers carrying another transaction id', async () => {
    const fake = await server((_request, from) => [
      strayAnswer({ host: '192.0.2.99', port: 9 }),
      encodeStunMessage({
        class: 'success',
        transactionId: _request.transactionId,
        xorMappedAddress: { host: from.address, port: from.port },
      }),
    ]);
    const result = await stunBinding({ server: fake.address, ...FAST, localAddress: '127.0.0.1' });
    expect(result.mapped.host).toBe('127.0.0.1');
    expect(result.mapped.port).not.toBe(9);
  });

  it('discards an answer whose FINGERPRINT is wrong and waits for a good one', async () => {
    const fake = await server((request, from, index) => {
      const good = encodeStunMessage({
        class: 'success',
        transactionId: request.transactionId,
        xorMappedAddress: { host: from.address, port: from.port },
      });
      return index === 0 ? badFingerprint(good) : good;
    });
    const result = await stunBinding({ server: fake.address, ...FAST, localAddress: '127.0.0.1' });
    expect(result.attempts).toBeGreaterThanOrEqual(2);
  });

  it('reports a protocol error when every answer was malformed', async () => {
    const fake = await server((request) =>
      badFingerprint(
        encodeStunMessage({
          class: 'success',
          transactionId: request.transactionId,
          xorMappedAddress: { host: '127.0.0.1', port: 1 },
        }),
      ),
    );
    const error = await stunBinding({ server: fake.address, ...FAST, localAddress: '127.0.0.1' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.message).toMatch(
      /answered but the answer was discarded \(malformed STUN message: FINGERPRINT/,
    );
  });

  it('turns an ERROR-CODE answer into StunErrorResponse', async () => {
    const fake = await server((request) =>
      encodeStunMessage({
        class: 'error',
        transactionId: request.transactionId,
        errorCode: { code: 420, reason: 'Unknown Attribute' },
        attributes: [{ type: 0x000a, value: Uint8Array.of(0x00, 0x03) }],
      }),
    );
    const error = await stunBinding({ server: fake.address, ...FAST, localAddress: '127.0.0.1' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(StunErrorResponse);
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.stunCode).toBe(420);
    expect(error.message).toBe(
      `STUN server 127.0.0.1:${fake.address.port} answered with error 420 Unknown Attribute (does not understand 0x0003)`,
    );
  });

  it('names what is missing or not understood in a success answer', async () => {
    const empty = await server((request) =>
      encodeStunMessage({ class: 'success', transactionId: request.transactionId }),
    );
    await expect(stunBinding({ server: empty.address, ...FAST, localAddress: '127.0.0.1' })).rejects.toThrow(
      /answered without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS/,
    );
    const odd = await server(() => ({ attributes: [{ type: 0x7001, value: new Uint8Array(4) }] }));
    await expect(stunBinding({ server: odd.address, ...FAST, localAddress: '127.0.0.1' })).rejects.toThrow(
      /comprehension-required attributes this client does not know: 0x7001/,
    );
  });

  it('falls back to MAPPED-ADDRESS from an RFC 3489 server', async () => {
    const fake = await server((request, from) =>
      encodeStunMessage({
        class: 'success',
        transactionId: request.transactionId,
        mappedAddress: { host: from.address, port: from.port },
        fingerprint: false,
      }),
    );
    const result = await stunBinding({ server: fake.address, ...FAST, localAddress: '127.0.0.1' });
    expect(result.mapped.host).toBe('127.0.0.1');
  });

  it('stops on abort with ANTT_ERR_ABORTED and leaves the shared socket clean', async () => {
    const fake = await server(() => 'drop');
    const local = await socket();
    const controller = new AbortController();
    const pending = stunBinding({ server: fake.address, socket: local, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = await pending.catch((e) => e);
    expect(AnttError.is(error) && error.code).toBe(ErrorCode.ABORTED);
    expect(local.listenerCount('message')).toBe(0);
    await expect(stunBinding({ server: fake.address, signal: AbortSignal.abort() })).rejects.toThrow();
  });
});

/** A clock that only moves when told to, running due timers in order. */
function manualClock() {
  let now = 0;
  let nextId = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  return {
    now: () => now,
    setTimeout: (callback: () => void, delayMs: number) => {
      timers.set(++nextId, { at: now + delayMs, callback });
      return nextId;
    },
    clearTimeout: (handle: unknown) => {
      timers.delete(handle as number);
    },
    /** Moves time forward to `to`, firing each timer at its own moment. */
    advanceTo(to: number) {
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= to).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].callback();
      }
      now = to;
    },
  };
}

describe('StunClient with a manual clock', () => {
  it('walks the default RFC 8489 schedule and gives up after 7 attempts over 39.5 s', async () => {
    const clock = manualClock();
    const sentAt: number[] = [];
    // Nothing leaves this process: the send function only records the time.
    const stun = new StunClient(() => void sentAt.push(clock.now()), { clock });
    const outcome = stun.binding({ host: '203.0.113.1', port: 3478 }).catch((error: unknown) => error);
    clock.advanceTo(39_499);
    expect(sentAt).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(stun.pendingTransactions).toBe(1);
    clock.advanceTo(39_500);
    const error = await outcome;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe(
      'no STUN answer from 203.0.113.1:3478 after 7 attempts over 39.5 s: UDP may be blocked',
    );
    expect(stun.pendingTransactions).toBe(0);
  });

  it('an answer after the third transmission reports 3 attempts and the RTT since the last one', async () => {
    const clock = manualClock();
    let lastRequest: Uint8Array | undefined;
    const stun = new StunClient(
      (bytes) => {
        lastRequest = bytes;
      },
      { clock },
    );
    const outcome = stun.binding({ host: '203.0.113.1', port: 3478 });
    clock.advanceTo(1_520);
    const transactionId = lastRequest!.subarray(8, 20);
    const answer = encodeStunMessage({
      class: 'success',
      transactionId,
      xorMappedAddress: { host: '198.51.100.7', port: 40_000 },
    });
    expect(stun.handleDatagram(answer, { host: '203.0.113.1', port: 3478 })).toBe(true);
    const result = await outcome;
    expect(result).toMatchObject({ attempts: 3, rttMs: 20, mapped: { host: '198.51.100.7', port: 40_000 } });
  });
});

describe('StunClient send failures', () => {
  it('a send that throws ends the transaction with ANTT_ERR_NETWORK and no retransmission', async () => {
    const clock = manualClock();
    let sends = 0;
    const stun = new StunClient(
      () => {
        sends++;
        throw Object.assign(new Error('network is unreachable'), { code: 'ENETUNREACH' });
      },
      { clock },
    );
    const error = await stun.binding({ host: '203.0.113.1', port: 3478 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.NETWORK });
    expect((error as Error).message).toMatch(
      /^sending a STUN request to 203\.0\.113\.1:3478 failed \(ENETUNREACH/,
    );
    clock.advanceTo(60_000);
    expect(sends).toBe(1);
    expect(stun.pendingTransactions).toBe(0);
  });
});

describe('StunClient on a socket shared with other traffic', () => {
  it('consumes only its own answers', async () => {
    const fake = await server((request, from) => [
      Buffer.from('application datagram'),
      strayAnswer({ host: '192.0.2.1', port: 1 }),
      encodeStunMessage({
        class: 'success',
        transactionId: request.transactionId,
        xorMappedAddress: { host: from.address, port: from.port },
      }),
    ]);
    const local = createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => local.close(() => resolve())));
    await new Promise<void>((resolve) => local.bind(0, '127.0.0.1', resolve));
    const stun = new StunClient((bytes, to) => {
      local.send(bytes, to.port, to.host);
    });
    const application: string[] = [];
    local.on('message', (bytes, from) => {
      if (stun.handleDatagram(bytes, { host: from.address, port: from.port })) return;
      application.push(bytes.subarray(0, 11).toString('latin1'));
    });
    const result = await stun.binding(fake.address, { ...FAST, signal: AbortSignal.timeout(5000) });
    expect(result.mapped.port).toBe(local.address().port);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The application saw its own datagram and the stray STUN answer (not ours to consume).
    expect(application[0]).toBe('application');
    expect(application).toHaveLength(2);
    expect(stun.discardedDatagrams).toBe(1);
    expect(stun.pendingTransactions).toBe(0);
  });
});
