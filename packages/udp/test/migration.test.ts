/**
 * Connection migration over real sockets on loopback. A small user-space "NAT" forwards a client's
 * datagrams to a server from a socket of its own; rebinding it (a new outside socket, the old one closed)
 * is what a NAT does when it forgets a mapping mid-transfer: the server sees the client at a new port.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { type Address, ErrorCode } from '@antt/core';
import { expectCode, filled } from '@antt/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { type PathChange, type UdpConnection, UdpEndpoint } from '../src/index.js';
import { LOOPBACK, TEST_SECURITY } from './helpers.js';

const MiB = 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  cleanups.push(() => {
    try {
      socket.close();
    } catch {
      // closed by the test
    }
  });
  return socket;
}

/** Forwards between one inside client and `server`; `rebind()` moves the outside to a new port. */
async function userSpaceNat(server: Address) {
  const inside = await bound();
  let client: { port: number } | undefined;
  let outside = await bound();
  const attach = (socket: Socket): void => {
    socket.on('message', (datagram) => {
      if (socket === outside && client) inside.send(datagram, client.port, LOOPBACK);
    });
  };
  attach(outside);
  inside.on('message', (datagram, from) => {
    client = { port: from.port };
    outside.send(datagram, server.port, server.host);
  });
  return {
    address: { host: LOOPBACK, port: inside.address().port },
    get outsidePort() {
      return outside.address().port;
    },
    async rebind(): Promise<void> {
      const previous = outside;
      outside = await bound();
      attach(outside);
      previous.close(); // the old mapping is gone: the server's datagrams to it are lost
    },
  };
}

async function transfer(sender: UdpConnection, receiver: UdpConnection, total: number, midway: () => void) {
  const sent = createHash('sha256');
  const received = createHash('sha256');
  const sending = (async () => {
    for (let offset = 0, i = 0; offset < total; offset += CHUNK_BYTES, i++) {
      const chunk = filled(CHUNK_BYTES, 11 + i);
      sent.update(chunk);
      await sender.send(chunk);
    }
  })();
  let got = 0;
  let triggered = false;
  while (got < total) {
    const message = await receiver.receive({ timeout: 15_000 });
    received.update(message);
    got += message.byteLength;
    if (!triggered && got >= total / 4) {
      triggered = true;
      midway();
    }
  }
  await sending;
  return { sent: sent.digest('hex'), received: received.digest('hex') };
}

async function serverAndClient() {
  const serverEndpoint = await UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY });
  cleanups.push(() => serverEndpoint.close());
  serverEndpoint.listen();
  const clientEndpoint = await UdpEndpoint.bind({ host: LOOPBACK, ...TEST_SECURITY });
  cleanups.push(() => clientEndpoint.close());
  return { serverEndpoint, clientEndpoint };
}

describe('connection migration', () => {
  it('survives the client NAT rebinding mid-transfer: 16 MiB intact, the server follows the new port', {
    timeout: 60_000,
  }, async () => {
    const { serverEndpoint, clientEndpoint } = await serverAndClient();
    const nat = await userSpaceNat(serverEndpoint.address!);
    const accepted = serverEndpoint.accept({ timeout: 5_000 });
    const client = await clientEndpoint.connect(nat.address, { timeout: 5_000 });
    const server = await accepted;
    const firstPort = nat.outsidePort;
    expect(server.remoteAddress?.port).toBe(firstPort);
    const changes: PathChange[] = [];
    server.onPathChange((change) => changes.push(change));

    const digests = await transfer(client, server, 16 * MiB, () => void nat.rebind());
    expect(digests.received).toBe(digests.sent);
    expect(nat.outsidePort).not.toBe(firstPort);
    expect(server.remoteAddress?.port).toBe(nat.outsidePort);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ reason: 'peer-moved', previous: { port: firstPort } });
    const stats = server.stats();
    console.log('server after the rebinding', stats);
    expect(stats.pathMigrations).toBe(1);
    expect(stats.pathChallengesSent).toBeGreaterThan(0);
    expect(client.stats().pathMigrations).toBe(0); // the client's view of the server never changed
    await client.close({ timeout: 10_000 });
  });

  it('migrate() moves a connection from a forwarder to the direct path mid-transfer, losing nothing', {
    timeout: 60_000,
  }, async () => {
    const { serverEndpoint, clientEndpoint } = await serverAndClient();
    const relay = await userSpaceNat(serverEndpoint.address!);
    const accepted = serverEndpoint.accept({ timeout: 5_000 });
    const client = await clientEndpoint.connect(relay.address, { timeout: 5_000 });
    const server = await accepted;
    const clientChanges: PathChange[] = [];
    const serverChanges: PathChange[] = [];
    client.onPathChange((change) => clientChanges.push(change));
    server.onPathChange((change) => serverChanges.push(change));
    let migrating: Promise<void> | undefined;
    const digests = await transfer(client, server, 16 * MiB, () => {
      migrating = client.migrate(serverEndpoint.address!, { timeout: 10_000 });
    });
    await migrating;
    expect(digests.received).toBe(digests.sent);
    expect(client.remoteAddress).toMatchObject(serverEndpoint.address!);
    expect(clientChanges.map((c) => c.reason)).toEqual(['migrate']);
    // The server follows the client's new address once the client's data arrives from it.
    const deadline = Date.now() + 5_000;
    while (server.remoteAddress?.port !== clientEndpoint.address!.port && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(server.remoteAddress?.port).toBe(clientEndpoint.address!.port);
    expect(serverChanges.map((c) => c.reason)).toEqual(['peer-moved']);
    expect(client.stats().pathMigrations).toBe(1);
    await client.close({ timeout: 10_000 });
  });

  it('migrate() to an address that never answers rejects and keeps the connection on its path', {
    timeout: 30_000,
  }, async () => {
    const { serverEndpoint, clientEndpoint } = await serverAndClient();
    const accepted = serverEndpoint.accept({ timeout: 5_000 });
    const client = await clientEndpoint.connect(serverEndpoint.address!, { timeout: 5_000 });
    const server = await accepted;
    const silent = await bound();
    await expectCode(
      client.migrate({ host: LOOPBACK, port: silent.address().port }, { timeout: 10_000 }),
      ErrorCode.TIMEOUT,
    );
    expect(client.remoteAddress?.port).toBe(serverEndpoint.address!.port);
    expect(client.stats().pathValidationsFailed).toBe(1);
    await client.send(Uint8Array.of(7));
    expect([...(await server.receive({ timeout: 5_000 }))]).toEqual([7]);
    await expectCode(client.migrate({ host: 'not-an-ip', port: 1 }), ErrorCode.INVALID_ARGUMENT);
    await client.close({ timeout: 10_000 });
  });
});
