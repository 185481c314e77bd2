import { createSocket, type Socket } from 'node:dgram';
import type { Address } from '@antt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { planPunch } from '../src/punch/port-prediction.js';
import { RendezvousClient } from '../src/rendezvous/client.js';
import { RendezvousServer } from '../src/rendezvous/server.js';

const sockets: Socket[] = [];
let server: RendezvousServer | undefined;

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await server?.close();
  server = undefined;
});

async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/** A RendezvousClient on a raw socket, registered under `name`. */
async function registered(rendezvous: Address, name: string) {
  const socket = await bound();
  const client = new RendezvousClient(rendezvous, (bytes, to) => {
    socket.send(bytes, to.port, to.host);
  });
  socket.on('message', (bytes, info) =>
    client.handleDatagram(bytes, { host: info.address, port: info.port }),
  );
  const registration = await client.register({ name, candidates: [] }, { timeout: 5000 });
  return { socket, client, registration, self: { host: '127.0.0.1', port: socket.address().port } };
}

describe('mapping discovery on the server alternate port (loopback)', () => {
  it('both ports see the socket at its own address: endpoint-independent, and both peers agree', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const alternate = server.alternateAddress;
    expect(alternate?.port).toBeGreaterThan(0);
    expect(alternate?.port).not.toBe(server.address.port);
    const [a, b] = await Promise.all([
      registered(server.address, 'meet'),
      registered(server.address, 'meet'),
    ]);
    const [ma, mb] = await Promise.all([
      a.client.discoverMapping(a.registration.observed, { timeout: 5000 }),
      b.client.discoverMapping(b.registration.observed, { timeout: 5000 }),
    ]);
    expect(ma).toMatchObject({ primary: a.self, alternate: a.self, alternatePort: alternate!.port });
    expect(mb).toMatchObject({ primary: b.self, alternate: b.self });
    const [pa, pb] = await Promise.all([
      a.client.lookup('meet', { timeout: 5000 }),
      b.client.lookup('meet', { timeout: 5000 }),
    ]);
    const [sa, sb] = await Promise.all([
      a.client.peerMapping(pa.session, { timeout: 3000 }),
      b.client.peerMapping(pb.session, { timeout: 3000 }),
    ]);
    expect(sa).toMatchObject({ self: { primary: a.self, alternate: a.self }, peer: { primary: b.self } });
    expect(sb).toEqual({ self: sa!.peer, peer: sa!.self });
    expect(planPunch(sa!.self, sa!.peer)).toMatchObject({
      technique: 'standard',
      self: { kind: 'endpoint-independent' },
      peer: { kind: 'endpoint-independent' },
    });
    a.client.close();
    b.client.close();
  });

  it('a server without an alternate port says so: the mapping stays unknown, at once', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0, alternatePort: false });
    expect(server.alternateAddress).toBeUndefined();
    const a = await registered(server.address, 'solo');
    // MAPPING-INFO names no alternate port, so this returns long before its bound (which is beyond the
    // test's own time limit: waiting for it would fail the test).
    const mapping = await a.client.discoverMapping(a.registration.observed, { timeout: 120_000 });
    expect(mapping).toEqual({ primary: a.registration.observed, alternatePort: 0 });
    a.client.close();
  });

  it('an older server never answers MAPPING-QUERY: unknown after the bound, no error', async () => {
    const silent = await bound();
    const client = new RendezvousClient({ host: '127.0.0.1', port: silent.address().port }, () => {});
    const observed = { host: '127.0.0.1', port: 1 };
    await expect(client.discoverMapping(observed, { timeout: 300 })).resolves.toEqual({
      primary: observed,
      alternatePort: 0,
    });
    await expect(client.peerMapping(new Uint8Array(8), { timeout: 300 })).resolves.toBeUndefined();
    client.close();
  });
});
