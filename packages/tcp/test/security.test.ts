import { randomBytes } from 'node:crypto';
import { type AnttError, ErrorCode } from '@antt/core';
import { HANDSHAKE_VERSION, Identity } from '@antt/secure';
import { sleep } from '@antt/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpConnection, type TcpConnectionOptions } from '../src/index.js';
import { encodeHello, FrameType } from '../src/wire-format.js';
import { freePort, TEST_PASSPHRASE } from './helpers.js';
import { type Direction, mitmProxy, type Unit } from './mitm-proxy.js';
import { frame, rawPeer } from './raw-peer.js';

const HOST = '127.0.0.1';
const HANDSHAKE_TIMEOUT_MS = 2_000;
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function pair(options: { a?: Partial<TcpConnectionOptions>; b?: Partial<TcpConnectionOptions> }) {
  const portA = await freePort();
  let portB = await freePort();
  while (portB === portA) portB = await freePort();
  const make = (local: number, remote: number, role: 'client' | 'server', extra = {}) =>
    new TcpConnection({
      localAddress: HOST,
      localPort: local,
      remote: { host: HOST, port: remote },
      role,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...extra,
    });
  const result = { a: make(portA, portB, 'client', options.a), b: make(portB, portA, 'server', options.b) };
  cleanups.push(
    () => result.a.destroy(),
    () => result.b.destroy(),
  );
  return result;
}

/** connect() on both sides; each side's outcome: undefined (open) or its error. */
async function connectBoth(a: TcpConnection, b: TcpConnection) {
  const started = Date.now();
  const outcome = (c: TcpConnection) =>
    c.connect({ timeout: 8_000 }).then(
      () => undefined,
      (error: unknown) => error as AnttError,
    );
  const [errorA, errorB] = await Promise.all([outcome(a), outcome(b)]);
  return { errorA, errorB, elapsedMs: Date.now() - started };
}

/** The error a connection failed with: from connect(), or the close right after it opened. */
async function failure(connection: TcpConnection, connectError: AnttError | undefined): Promise<AnttError> {
  if (connectError) return connectError;
  if (connection.state !== 'closed') {
    await new Promise((resolve) => connection.once('close', resolve));
  }
  return connection.closeError as AnttError;
}

describe('who is at the other end', () => {
  it('both sides learn and expose the other side’s peer id (passphrase)', async () => {
    const alice = Identity.generate();
    const bob = Identity.generate();
    const { a, b } = await pair({
      a: { identity: alice, passphrase: TEST_PASSPHRASE },
      b: { identity: bob, passphrase: TEST_PASSPHRASE },
    });
    const { errorA, errorB } = await connectBoth(a, b);
    expect(errorA).toBeUndefined();
    expect(errorB).toBeUndefined();
    expect(a.remotePeerId).toBe(bob.peerId);
    expect(b.remotePeerId).toBe(alice.peerId);
    expect(a.localPeerId).toBe(alice.peerId);
    expect(a.encrypted).toBe(true);
    expect(b.stats().encrypted).toBe(1);
    await a.send(Buffer.from('hello bob'));
    expect(Buffer.from(await b.receive({ timeout: 2_000 })).toString()).toBe('hello bob');
  });

  it('allowedPeers on both sides: each checks the other', async () => {
    const alice = Identity.generate();
    const bob = Identity.generate();
    const { a, b } = await pair({
      a: { identity: alice, allowedPeers: [bob.peerId] },
      b: { identity: bob, allowedPeers: (id) => id === alice.peerId },
    });
    const { errorA, errorB } = await connectBoth(a, b);
    expect(errorA).toBeUndefined();
    expect(errorB).toBeUndefined();
    expect(a.remotePeerId).toBe(bob.peerId);
    expect(b.remotePeerId).toBe(alice.peerId);
  });

  it('acceptAnyPeer: encrypted, any peer, ids still exposed', async () => {
    const { a, b } = await pair({ a: { acceptAnyPeer: true }, b: { acceptAnyPeer: true } });
    const { errorA, errorB } = await connectBoth(a, b);
    expect(errorA).toBeUndefined();
    expect(errorB).toBeUndefined();
    expect(a.remotePeerId).toBe(b.localPeerId);
    expect(b.remotePeerId).toBe(a.localPeerId);
  });

  it('a wrong passphrase ends both sides in ANTT_ERR_AUTH within the handshake timeout, naming the cause', async () => {
    const { a, b } = await pair({ a: { passphrase: 'one passphrase' }, b: { passphrase: 'another one' } });
    const { errorA, errorB, elapsedMs } = await connectBoth(a, b);
    expect(errorA?.code).toBe(ErrorCode.AUTH);
    expect(errorB?.code).toBe(ErrorCode.AUTH);
    expect(errorB?.message).toMatch(/the peer did not prove it knows the passphrase \(wrong passphrase\?\)/);
    expect(errorA?.message).toMatch(/the peer rejected the handshake: .*wrong passphrase\?/);
    expect(errorA?.message).toMatch(/127\.0\.0\.1:\d+/);
    expect(elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
  });

  it('an unknown peer id ends both sides in ANTT_ERR_AUTH naming the id', async () => {
    const alice = Identity.generate();
    const bob = Identity.generate();
    const stranger = Identity.generate();
    const { a, b } = await pair({
      a: { identity: alice, acceptAnyPeer: true },
      b: { identity: bob, allowedPeers: [stranger.peerId] },
    });
    const { errorA, errorB, elapsedMs } = await connectBoth(a, b);
    expect(errorB?.code).toBe(ErrorCode.AUTH);
    expect(errorB?.message).toContain(`peer id ${alice.peerId} is not in the allowed list`);
    expect(errorA?.code).toBe(ErrorCode.AUTH);
    expect(errorA?.message).toContain(
      `our peer id is not in its allowed list (this side's peer id is ${alice.peerId})`,
    );
    expect(elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
  });

  it('the initiator refuses a responder not in its list', async () => {
    const stranger = Identity.generate();
    const { a, b } = await pair({ a: { allowedPeers: [stranger.peerId] }, b: { acceptAnyPeer: true } });
    const { errorA, errorB } = await connectBoth(a, b);
    expect(errorA?.message).toContain(`peer id ${b.localPeerId} is not in the allowed list`);
    expect(errorB?.code).toBe(ErrorCode.AUTH);
  });

  it('a passphrase on one side only is an ANTT_ERR_AUTH on both', async () => {
    const { a, b } = await pair({ a: { passphrase: TEST_PASSPHRASE }, b: { acceptAnyPeer: true } });
    const { errorA, errorB } = await connectBoth(a, b);
    expect(errorA?.code).toBe(ErrorCode.AUTH);
    expect(errorB?.code).toBe(ErrorCode.AUTH);
    expect(errorB?.message).toMatch(/the peer uses a passphrase but none is configured here/);
  });

  it('an insecure peer and a secured one refuse each other, both naming insecure', async () => {
    const { a, b } = await pair({ a: { passphrase: TEST_PASSPHRASE }, b: { insecure: true } });
    const { errorA, errorB, elapsedMs } = await connectBoth(a, b);
    expect(errorA?.code).toBe(ErrorCode.AUTH);
    expect(errorA?.message).toMatch(/runs with insecure: true .*this side requires a secured connection/);
    expect(errorB?.code).toBe(ErrorCode.AUTH);
    expect(errorB?.message).toMatch(/requires a secured connection .*this side runs with insecure: true/);
    expect(elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
    expect(b.encrypted).toBe(false);
    expect(b.localPeerId).toBeUndefined();
  });
});

describe('a man in the middle', () => {
  /** a and b connected through a proxy that passes every unit to `tamper`. */
  async function throughProxy(tamper: (direction: Direction, unit: Unit) => void) {
    const forA = await freePort();
    const forB = await freePort();
    const proxy = await mitmProxy(HOST, { forA, forB }, tamper);
    cleanups.push(() => proxy.close());
    const a = new TcpConnection({
      localAddress: HOST,
      localPort: await freePort(),
      remote: { host: HOST, port: forA },
      role: 'client',
      passphrase: TEST_PASSPHRASE,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    const b = new TcpConnection({
      localAddress: HOST,
      localPort: await freePort(),
      remote: { host: HOST, port: forB },
      role: 'server',
      passphrase: TEST_PASSPHRASE,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    );
    return { a, b };
  }

  it('passes an untouched secured connection', async () => {
    const { a, b } = await throughProxy(() => {});
    const { errorA, errorB } = await connectBoth(a, b);
    expect(errorA).toBeUndefined();
    expect(errorB).toBeUndefined();
    await b.send(Buffer.from('through the proxy'));
    expect(Buffer.from(await a.receive({ timeout: 2_000 })).toString()).toBe('through the proxy');
  });

  const handshakeMessages: { direction: Direction; index: number; name: string }[] = [
    { direction: 'a→b', index: 0, name: 'message 1 (e)' },
    { direction: 'b→a', index: 0, name: 'message 2 (e, ee, s, es)' },
    { direction: 'a→b', index: 1, name: 'message 3 (s, se, psk)' },
    { direction: 'b→a', index: 1, name: 'message 4 (confirm)' },
  ];
  for (const target of handshakeMessages) {
    it(`a flipped byte in handshake ${target.name} fails both sides quickly`, async () => {
      let flipped = false;
      const { a, b } = await throughProxy((direction, unit) => {
        if (direction === target.direction && unit.kind === 'handshake' && unit.index === target.index) {
          // Past the frame header (5) and the handshake header (3): inside the Noise message.
          unit.bytes[5 + 3 + 7]! ^= 0x01;
          flipped = true;
        }
      });
      const { errorA, errorB, elapsedMs } = await connectBoth(a, b);
      expect(flipped).toBe(true);
      const [failA, failB] = await Promise.all([failure(a, errorA), failure(b, errorB)]);
      expect([ErrorCode.AUTH, ErrorCode.PROTOCOL]).toContain(failA.code);
      expect([ErrorCode.AUTH, ErrorCode.PROTOCOL]).toContain(failB.code);
      // The side that read the flipped message names authentication.
      const reader = target.direction === 'a→b' ? failB : failA;
      expect(reader.code).toBe(ErrorCode.AUTH);
      expect(reader.message).toMatch(/failed authentication|wrong passphrase/);
      expect(elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
    });
  }

  it('a changed HELLO (bound into the Noise prologue) fails the handshake on both sides', async () => {
    const { a, b } = await throughProxy((direction, unit) => {
      // A nonce byte: still a well-formed HELLO, so only the handshake can notice.
      if (direction === 'a→b' && unit.kind === 'hello') unit.bytes[20]! ^= 0x80;
    });
    const { errorA, errorB, elapsedMs } = await connectBoth(a, b);
    // With a passphrase, b already notices in message 1 (its tag covers the prologue); a hears b's reject.
    expect(errorB?.code).toBe(ErrorCode.AUTH);
    expect(errorB?.message).toMatch(/handshake message 1 failed authentication: tampered in transit/);
    expect(errorA?.code).toBe(ErrorCode.AUTH);
    expect(errorA?.message).toMatch(
      /the peer rejected the handshake: a handshake message failed authentication/,
    );
    expect(elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
  });

  it('a flipped byte in a sealed data frame closes the connection and is never delivered', async () => {
    let tamperNext = false;
    const { a, b } = await throughProxy((direction, unit) => {
      if (direction === 'a→b' && unit.kind === 'record' && tamperNext) {
        unit.bytes[unit.bytes.length - 20]! ^= 0x04;
        tamperNext = false;
      }
    });
    const { errorA, errorB } = await connectBoth(a, b);
    expect(errorA).toBeUndefined();
    expect(errorB).toBeUndefined();
    await a.send(Buffer.from('first, untouched'));
    expect(Buffer.from(await b.receive({ timeout: 2_000 })).toString()).toBe('first, untouched');
    const closedB = new Promise<Error | undefined>((resolve) => b.once('close', resolve));
    const closedA = new Promise<Error | undefined>((resolve) => a.once('close', resolve));
    tamperNext = true;
    await a.send(Buffer.from('second, tampered with'));
    const errorOfB = (await closedB) as AnttError;
    expect(errorOfB.code).toBe(ErrorCode.AUTH);
    expect(errorOfB.message).toMatch(/a frame failed authentication: the stream was tampered with/);
    // Nothing of the tampered frame reached the application.
    expect(b.stats().messagesReceived).toBe(1);
    await expect(b.receive({ timeout: 100 })).rejects.toMatchObject({ code: ErrorCode.AUTH });
    // b resets the connection, so a learns at once too.
    expect(((await closedA) as AnttError).code).toBe(ErrorCode.RESET);
  });

  it('a flipped byte in a large sealed message is caught too', async () => {
    let tamper = false;
    const { a, b } = await throughProxy((direction, unit) => {
      if (direction === 'a→b' && unit.kind === 'record' && tamper && unit.bytes.length > 100_000) {
        unit.bytes[50_000]! ^= 0xff;
        tamper = false;
      }
    });
    await connectBoth(a, b);
    const closedB = new Promise<Error | undefined>((resolve) => b.once('close', resolve));
    tamper = true;
    await a.send(randomBytes(300_000)).catch(() => {});
    expect(((await closedB) as AnttError).message).toMatch(/a frame failed authentication/);
    expect(b.stats().messagesReceived).toBe(0);
  });
});

describe('handshake versions', () => {
  it(`a peer on another Antt handshake version ends in ANTT_ERR_PROTOCOL naming both versions`, async () => {
    const port = await freePort();
    // A raw peer with a correct HELLO whose Noise handshake speaks version HANDSHAKE_VERSION + 1.
    const peer = await rawPeer(HOST, port, (socket) => {
      socket.write(
        encodeHello({
          role: 'server',
          secured: true,
          nonce: randomBytes(16),
          maxMessageBytes: 1 << 20,
          idleTimeoutMs: 60_000,
        }),
      );
      socket.once('data', () => {
        const message = Buffer.concat([Buffer.of(HANDSHAKE_VERSION + 1, 2, 0b11), randomBytes(96)]);
        socket.write(frame(FrameType.HANDSHAKE, message));
      });
    });
    cleanups.push(() => peer.close());
    const connection = new TcpConnection({
      localAddress: HOST,
      localPort: await freePort(),
      remote: { host: HOST, port },
      role: 'client',
      passphrase: TEST_PASSPHRASE,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    cleanups.push(() => connection.destroy());
    const started = Date.now();
    const error = (await connection.connect({ timeout: 5_000 }).catch((e: unknown) => e)) as AnttError;
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(
      new RegExp(
        `peer speaks Antt handshake version ${HANDSHAKE_VERSION + 1}, we speak ${HANDSHAKE_VERSION}`,
      ),
    );
    expect(Date.now() - started).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
  });
});

describe('options', () => {
  const base = { localPort: 4000, remote: { host: HOST, port: 4001 }, role: 'client' as const };

  it('requires one of passphrase, allowedPeers, acceptAnyPeer, insecure, and lists them', () => {
    expect(() => new TcpConnection(base)).toThrow(
      expect.objectContaining({
        code: ErrorCode.INVALID_ARGUMENT,
        message: expect.stringMatching(/passphrase .*allowedPeers .*acceptAnyPeer: true .*insecure: true/),
      }),
    );
  });

  it('refuses insecure combined with anything else', () => {
    for (const extra of [{ passphrase: 'x' }, { allowedPeers: [] }, { acceptAnyPeer: true as const }]) {
      expect(() => new TcpConnection({ ...base, insecure: true, ...extra })).toThrow(
        expect.objectContaining({
          code: ErrorCode.INVALID_ARGUMENT,
          message: expect.stringMatching(/insecure: true .*cannot be combined/),
        }),
      );
    }
  });

  it('refuses a malformed peer id, an empty passphrase, a bare string list', () => {
    const bad: unknown[] = [
      { ...base, allowedPeers: ['not a peer id'] },
      { ...base, allowedPeers: 'K5QW-3MZA' },
      { ...base, passphrase: '' },
      { ...base, insecure: false },
      { ...base, passphrase: 'x', identity: { peerId: 'x' } },
    ];
    for (const options of bad) {
      expect(() => new TcpConnection(options as never)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
      );
    }
  });

  it('gives each connection a fresh identity by default', async () => {
    const one = new TcpConnection({ ...base, acceptAnyPeer: true });
    const two = new TcpConnection({ ...base, acceptAnyPeer: true });
    expect(one.localPeerId).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
    expect(one.localPeerId).not.toBe(two.localPeerId);
    expect(one.remotePeerId).toBeUndefined();
    await sleep(0);
  });
});
