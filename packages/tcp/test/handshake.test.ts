import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { type AnttError, ErrorCode } from '@antt/core';
import { expectCode, sleep } from '@antt/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpConnection } from '../src/index.js';
import { createTcpPair, freePort, TEST_PASSPHRASE } from './helpers.js';
import { rawPeer } from './raw-peer.js';

const HOST = '127.0.0.1';
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track<T extends TcpConnection>(connection: T): T {
  cleanups.push(() => connection.destroy());
  return connection;
}

async function listen(server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve) => server.listen({ host: HOST, port }, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

async function connectTo(port: number, role: 'client' | 'server', extra: { handshakeTimeout?: number } = {}) {
  const connection = track(
    new TcpConnection({
      localAddress: HOST,
      localPort: await freePort(),
      remote: { host: HOST, port },
      role,
      passphrase: TEST_PASSPHRASE,
      ...extra,
    }),
  );
  const started = Date.now();
  const error = await connection.connect({ timeout: 8_000 }).then(
    () => new Error('connect() succeeded'),
    (e: unknown) => e,
  );
  return { error: error as AnttError, elapsedMs: Date.now() - started, connection };
}

describe('handshake against things that are not Antt peers', () => {
  for (const role of ['client', 'server'] as const) {
    it(`an HTTP server ends quickly in ANTT_ERR_PROTOCOL (role ${role})`, async () => {
      const port = await freePort();
      const http = createHttpServer((_req, res) => res.end('hi'));
      http.on('connection', (socket) => cleanups.push(() => socket.destroy()));
      await new Promise<void>((resolve) => http.listen({ host: HOST, port }, resolve));
      cleanups.push(() => new Promise<void>((resolve) => http.close(() => resolve())));
      const { error, elapsedMs, connection } = await connectTo(port, role);
      expect(error.code).toBe(ErrorCode.PROTOCOL);
      expect(error.message).toBe(
        `the peer at ${HOST}:${port} answered with 'HTTP/1.1 400 Bad Request': it is not an Antt peer ` +
          "(expected an Antt TCP handshake starting with 'ANTT/TCP')",
      );
      expect(elapsedMs).toBeLessThan(2_000);
      expect(connection.state).toBe('closed');
    });
  }

  it('a service that greets with a banner ends in ANTT_ERR_PROTOCOL naming the banner', async () => {
    const port = await freePort();
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.end('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n');
    });
    await listen(server, port);
    const { error, elapsedMs } = await connectTo(port, 'server');
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/answered with 'SSH-2\.0-OpenSSH_9\.6p1 Ubuntu-3ubuntu13'/);
    expect(elapsedMs).toBeLessThan(2_000);
  });

  it('a silent service ends at the handshake timeout with a clear error', async () => {
    const port = await freePort();
    const server = createServer((socket) => {
      socket.on('error', () => {});
      cleanups.push(() => socket.destroy());
    });
    await listen(server, port);
    const { error, elapsedMs } = await connectTo(port, 'client', { handshakeTimeout: 500 });
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.message).toBe(
      `the peer at ${HOST}:${port} accepted the TCP connection but did not answer the Antt handshake within ` +
        '500 ms: it is not an Antt peer, or it is stuck',
    );
    expect(elapsedMs).toBeLessThan(1_500);
  });

  it('a service that hangs up without a word ends in ANTT_ERR_PROTOCOL', async () => {
    const port = await freePort();
    const server = createServer((socket) => socket.end());
    await listen(server, port);
    const { error } = await connectTo(port, 'server');
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/closed the connection without answering the Antt handshake/);
  });

  it('an Antt peer of an older protocol version (before encryption) is named as such', async () => {
    const port = await freePort();
    const peer = await rawPeer(HOST, port, (socket) => {
      const hello = Buffer.from('ANTT/TCP\x01\x1a', 'latin1');
      socket.write(Buffer.concat([hello, Buffer.alloc(26, 1)]));
    });
    cleanups.push(() => peer.close());
    const { error, elapsedMs } = await connectTo(port, 'server');
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(
      /speaks Antt TCP protocol version 1; this one speaks version 2: update the older side/,
    );
    expect(elapsedMs).toBeLessThan(2_000);
  });

  it('connecting a port to itself is caught by the nonce', async () => {
    const port = await freePort();
    const connection = track(
      new TcpConnection({
        localAddress: HOST,
        localPort: port,
        remote: { host: HOST, port },
        role: 'client',
        passphrase: TEST_PASSPHRASE,
      }),
    );
    const error = await expectCode(connection.connect({ timeout: 5_000 }), ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/connected to itself/);
  });
});

describe('simultaneous open', () => {
  it('reports a peer that never starts as refused, naming the cause', async () => {
    const { a } = await createTcpPair();
    track(a);
    const started = Date.now();
    const error = await expectCode(a.connect({ timeout: 1_500 }), ErrorCode.REFUSED);
    expect(Date.now() - started).toBeLessThan(1_600);
    expect(error.message).toMatch(
      /every attempt \(\d+ attempts in 1\.\d s\) was refused with a TCP reset: the peer is not running, or a router between you answers unsolicited SYNs with resets/,
    );
    expect(a.stats().connectAttempts).toBeGreaterThan(3);
  });

  it('connects when the peer starts a second later, whichever side is late', async () => {
    for (const late of ['a', 'b'] as const) {
      const pair = await createTcpPair({ idleTimeout: 2_000 });
      track(pair.a);
      track(pair.b);
      const early = late === 'a' ? pair.b : pair.a;
      const lateSide = pair[late];
      const earlyConnect = early.connect({ timeout: 5_000 });
      await sleep(1_000);
      await Promise.all([earlyConnect, lateSide.connect({ timeout: 5_000 })]);
      await pair.a.send(Buffer.from('ping'));
      expect(Buffer.from(await pair.b.receive({ timeout: 2_000 })).toString()).toBe('ping');
      expect(pair.a.remoteAddress?.port).toBe(pair.b.localAddress?.port);
    }
  });

  it('connects when both peers have the same role', async () => {
    const { a, b } = await createTcpPair();
    track(a);
    track(b);
    const sameRole = new TcpConnection({
      localAddress: HOST,
      localPort: b.localAddress!.port,
      remote: a.localAddress!,
      role: 'client',
      passphrase: TEST_PASSPHRASE,
    });
    track(sameRole);
    b.destroy();
    await Promise.all([a.connect({ timeout: 5_000 }), sameRole.connect({ timeout: 5_000 })]);
    await sameRole.send(Uint8Array.of(1, 2, 3));
    expect(Array.from(await a.receive({ timeout: 2_000 }))).toEqual([1, 2, 3]);
  });

  it('connects over IPv6', async (context) => {
    const available = await freePort('::1').then(
      () => true,
      () => false,
    );
    if (!available) context.skip();
    const { a, b } = await createTcpPair({ host: '::1' });
    track(a);
    track(b);
    await Promise.all([a.connect({ timeout: 5_000 }), b.connect({ timeout: 5_000 })]);
    expect(a.remoteAddress).toMatchObject({ host: '::1', family: 'IPv6' });
    await b.send(Buffer.from('over v6'));
    expect(Buffer.from(await a.receive({ timeout: 2_000 })).toString()).toBe('over v6');
  });

  it('fails a connect in progress at once when the connection is destroyed', async () => {
    const { a } = await createTcpPair();
    const connecting = a.connect({ timeout: 10_000 });
    await sleep(100);
    a.destroy();
    const error = await expectCode(connecting, ErrorCode.CLOSED);
    expect(error.message).toMatch(/destroyed while connecting/);
  });

  it('refuses bad options with ANTT_ERR_INVALID_ARGUMENT', () => {
    const base = {
      localPort: 4000,
      remote: { host: HOST, port: 4001 },
      role: 'client' as const,
      passphrase: TEST_PASSPHRASE,
    };
    const bad: unknown[] = [
      { ...base, localPort: 0 },
      { ...base, remote: { host: HOST, port: 70_000 } },
      { ...base, role: 'peer' },
      { ...base, remote: 'nonsense' },
      { ...base, idleTimeout: -1 },
      { ...base, maxMessageBytes: 2 ** 33 },
    ];
    for (const options of bad) {
      expect(() => new TcpConnection(options as never)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
      );
    }
    expect(new TcpConnection({ ...base, remote: '[::1]:4001' }).remoteAddress).toEqual({
      host: '::1',
      port: 4001,
    });
  });
});
