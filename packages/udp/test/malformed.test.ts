/**
 * Hostile and broken input at a live endpoint: random, truncated and mutated datagrams, datagrams for
 * unknown connection IDs or from the wrong address change nothing and are counted. And the handshake's
 * failure modes: a peer that is not Antt, a peer of another wire version, a peer that never answers.
 */
import { createSocket, type Socket } from 'node:dgram';
import { ErrorCode } from '@antt/core';
import { expectCode } from '@antt/test-kit';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpConnection, UdpEndpoint, WIRE_VERSION } from '../src/index.js';
import { LOOPBACK, loopbackPair, TEST_SECURITY, testSeed } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rawSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
}

function send(socket: Socket, bytes: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(bytes, port, LOOPBACK, (e) => (e ? reject(e) : resolve())),
  );
}

describe('a live endpoint under malformed input', () => {
  it('drops and counts random, truncated and mutated datagrams; the connection carries on', {
    timeout: 30_000,
  }, async () => {
    const seed = testSeed('udp malformed datagrams');
    const { a, b, endpointA, endpointB } = await loopbackPair({ idleTimeout: 5_000 });
    cleanups.push(
      () => endpointA.close(),
      () => endpointB.close(),
    );
    await Promise.all([a.connect(), b.connect()]);
    const stranger = await rawSocket();
    await a.send(Uint8Array.of(42));
    expect(Array.from(await b.receive({ timeout: 5_000 }))).toEqual([42]);
    const genuine = new Uint8Array(40);
    genuine.set([0xa7, 0x7e, WIRE_VERSION, 3]);
    const portB = endpointB.address!.port;
    const before = endpointB.stats();
    const bytes = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 1400 }),
        fc.uint8Array({ minLength: 18, maxLength: 200 }).map((x) => {
          x.set([0xa7, 0x7e, WIRE_VERSION, 3]); // looks like Antt/UDP, random ID and contents
          return x;
        }),
      ),
      { numRuns: 500, seed },
    );
    for (const datagram of bytes) await send(stranger, datagram, portB);
    await send(stranger, new Uint8Array(0), portB);
    await send(stranger, genuine.subarray(0, 10), portB);
    // Everything still works, and nothing above was delivered.
    await a.send(Uint8Array.of(43));
    expect(Array.from(await b.receive({ timeout: 5_000 }))).toEqual([43]);
    const after = endpointB.stats();
    const dropped =
      after.droppedInvalid -
      before.droppedInvalid +
      (after.droppedUnknownConnection - before.droppedUnknownConnection);
    expect(dropped).toBe(bytes.length + 2);
    expect(b.stats().messagesReceived).toBe(2);
    expect(b.state).toBe('open');
  });

  it('drops datagrams with a live connection ID from the wrong address, or failing the check', {
    timeout: 10_000,
  }, async () => {
    const endpoint = await UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY });
    cleanups.push(() => endpoint.close());
    // The "peer" is a raw socket: it learns the connection's ID from the INIT (bytes 18..25).
    const peer = await rawSocket();
    const inits: Buffer[] = [];
    peer.on('message', (m) => inits.push(m));
    const connection = new UdpConnection({ endpoint, remote: { host: LOOPBACK, port: peer.address().port } });
    const connecting = connection.connect({ timeout: 2_000 }).catch(() => {});
    while (inits.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const forged = Buffer.alloc(64);
    forged.set([0xa7, 0x7e, WIRE_VERSION, 3]);
    inits[0]!.copy(forged, 4, 18, 26); // destination: the connection's own ID
    const stranger = await rawSocket();
    const before = endpoint.stats();
    await send(stranger, forged, endpoint.address!.port); // right ID, wrong address
    await send(peer, forged, endpoint.address!.port); // right ID and address, fails the integrity check
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = endpoint.stats();
    expect(after.droppedUnknownConnection - before.droppedUnknownConnection).toBe(1);
    expect(after.droppedInvalid - before.droppedInvalid).toBe(1);
    expect(connection.state).toBe('connecting');
    connection.destroy();
    await connecting;
  });

  it('answers an unknown INIT only when listening, and never with more bytes than it got', {
    timeout: 10_000,
  }, async () => {
    const endpoint = await UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY });
    cleanups.push(() => endpoint.close());
    // A genuine INIT, captured from a connection that dials a raw socket.
    const sink = await rawSocket();
    const inits: Buffer[] = [];
    sink.on('message', (m) => inits.push(m));
    const dialer = new UdpConnection({
      remote: { host: LOOPBACK, port: sink.address().port },
      connectTimeout: 2_000,
      ...TEST_SECURITY,
    });
    const dialing = dialer.connect().catch(() => {});
    while (inits.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    dialer.destroy();
    await dialing;
    const prober = await rawSocket();
    const replies: Buffer[] = [];
    prober.on('message', (m) => replies.push(m));
    await send(prober, inits[0]!, endpoint.address!.port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(replies).toHaveLength(0); // not listening: silence
    expect(endpoint.stats().droppedUnknownConnection).toBe(1);
    endpoint.listen();
    await send(prober, inits[0]!, endpoint.address!.port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(replies.length).toBeGreaterThan(0);
    for (const reply of replies) expect(reply.length).toBeLessThanOrEqual(inits[0]!.length);
    // The prober never proves its address: all it ever gets is at most 3x what it sent (one INIT).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const answered = replies.reduce((sum, reply) => sum + reply.length, 0);
    expect(answered).toBeLessThanOrEqual(3 * inits[0]!.length);
  });
});

describe('handshake failures', () => {
  it('reports ANTT_ERR_PROTOCOL when the peer answers with something that is not Antt', {
    timeout: 10_000,
  }, async () => {
    const echo = await rawSocket();
    echo.on('message', (m, from) => echo.send(Buffer.from(`not antt: ${m.length}`), from.port, from.address));
    const connection = new UdpConnection({
      remote: { host: LOOPBACK, port: echo.address().port },
      ...TEST_SECURITY,
    });
    const error = await expectCode(connection.connect({ timeout: 5_000 }), ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/not Antt/);
  });

  it('reports ANTT_ERR_PROTOCOL when the peer speaks another wire version', { timeout: 10_000 }, async () => {
    const peer = await rawSocket();
    peer.on('message', (m, from) => {
      const reply = Buffer.from(m);
      reply[2] = 9; // version 9 INIT
      peer.send(reply, from.port, from.address);
    });
    const connection = new UdpConnection({
      remote: { host: LOOPBACK, port: peer.address().port },
      ...TEST_SECURITY,
    });
    const error = await expectCode(connection.connect({ timeout: 5_000 }), ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/version 9/);
  });

  it('times out with ANTT_ERR_TIMEOUT naming the peer when nobody answers', { timeout: 10_000 }, async () => {
    const silent = await rawSocket();
    const received: number[] = [];
    silent.on('message', (m) => received.push(m.length));
    const port = silent.address().port;
    const connection = new UdpConnection({ remote: { host: LOOPBACK, port }, ...TEST_SECURITY });
    const error = await expectCode(connection.connect({ timeout: 700 }), ErrorCode.TIMEOUT);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(received.length).toBeGreaterThanOrEqual(2); // INIT retransmitted
  });

  it('connects when the other side starts later, within the connect timeout', {
    timeout: 10_000,
  }, async () => {
    const [endpointA, endpointB] = await Promise.all([
      UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY }),
      UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY }),
    ]);
    cleanups.push(
      () => endpointA.close(),
      () => endpointB.close(),
    );
    const a = new UdpConnection({ endpoint: endpointA, remote: endpointB.address! });
    const b = new UdpConnection({ endpoint: endpointB, remote: endpointA.address! });
    const connecting = a.connect({ timeout: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await Promise.all([connecting, b.connect({ timeout: 5_000 })]);
    await a.send(Uint8Array.of(5));
    expect(Array.from(await b.receive({ timeout: 2_000 }))).toEqual([5]);
  });

  it('hosts several connections on one endpoint, to different peers and to the same peer', {
    timeout: 10_000,
  }, async () => {
    const server = await UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY });
    const client = await UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY });
    const other = await UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY });
    cleanups.push(
      () => server.close(),
      () => client.close(),
      () => other.close(),
    );
    server.listen();
    const [c1, c2, c3] = await Promise.all([
      client.connect(server.address!),
      client.connect(server.address!),
      other.connect(server.address!),
    ]);
    const accepted = [await server.accept(), await server.accept(), await server.accept()];
    expect(server.stats().connections).toBe(3);
    await c1.send(Uint8Array.of(1));
    await c2.send(Uint8Array.of(2));
    await c3.send(Uint8Array.of(3));
    const got = await Promise.all(accepted.map(async (c) => (await c.receive({ timeout: 2_000 }))[0]));
    expect(got.sort()).toEqual([1, 2, 3]);
  });
});

describe('IPv6', () => {
  it('connects and carries messages over ::1', { timeout: 10_000 }, async () => {
    const { a, b, endpointA, endpointB } = await loopbackPair({}, '::1');
    cleanups.push(
      () => endpointA.close(),
      () => endpointB.close(),
    );
    await Promise.all([a.connect(), b.connect()]);
    expect(a.remoteAddress?.family).toBe('IPv6');
    await a.send(new Uint8Array(100_000).fill(6));
    expect((await b.receive({ timeout: 5_000 })).byteLength).toBe(100_000);
  });
});
