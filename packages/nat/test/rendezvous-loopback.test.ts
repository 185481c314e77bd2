import { createSocket, type Socket } from 'node:dgram';
import type { Address } from '@antt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { orderCandidates, PunchError, UdpPunch } from '../src/punch/udp-punch.js';
import { RendezvousClient, RendezvousError } from '../src/rendezvous/client.js';
import { RendezvousServer } from '../src/rendezvous/server.js';
import { stunBinding } from '../src/stun/client.js';

const sockets: Socket[] = [];
let server: RendezvousServer | undefined;

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await server?.close();
  server = undefined;
});

/** A raw socket driving a RendezvousClient and, once paired, a UdpPunch: what connect() does on an endpoint. */
async function side(rendezvous: Address) {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const send = (bytes: Uint8Array, to: Address) => {
    socket.send(bytes, to.port, to.host);
  };
  const client = new RendezvousClient(rendezvous, send);
  let punch: UdpPunch | undefined;
  socket.on('message', (bytes, info) => {
    const from = { host: info.address, port: info.port };
    if (!client.handleDatagram(bytes, from)) punch?.handleDatagram(bytes, from);
  });
  return {
    port: socket.address().port,
    client,
    async meet(name: string, target: string, timeout = 5000) {
      await client.register(
        { name, candidates: [{ host: '127.0.0.1', port: socket.address().port }] },
        { timeout },
      );
      const peer = await client.lookup(target, { timeout });
      punch = new UdpPunch({
        session: peer.session,
        controlling: peer.controlling,
        candidates: orderCandidates(peer.candidates, peer.observed),
        send,
      });
      return { peer, result: await punch.run({ timeout, startDelayMs: peer.startDelayMs }) };
    },
  };
}

describe('rendezvous and punching on loopback (raw sockets)', () => {
  it('two peers under one meeting name find each other and agree on one path', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const [a, b] = await Promise.all([side(server.address), side(server.address)]);
    const [ra, rb] = await Promise.all([a.meet('meet', 'meet'), b.meet('meet', 'meet')]);
    expect(ra.peer.controlling).not.toBe(rb.peer.controlling);
    expect(ra.result.remote).toEqual({ host: '127.0.0.1', port: b.port });
    expect(rb.result.remote).toEqual({ host: '127.0.0.1', port: a.port });
    // On loopback the observed address is the announced one: it counts as public.
    expect(ra.result.candidate).toBe('public');
    expect(server.stats()).toMatchObject({ peersPaired: 1, registrations: 2 });
    a.client.close();
    b.client.close();
  });

  it('peers under their own names: one looks the other up by name', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const [a, b] = await Promise.all([side(server.address), side(server.address)]);
    // Bob starts a second later: Alice keeps asking until he is there.
    const alice = a.meet('alice', 'bob');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const [ra, rb] = await Promise.all([alice, b.meet('bob', 'alice')]);
    expect(ra.result.remote.port).toBe(b.port);
    expect(rb.result.remote.port).toBe(a.port);
    a.client.close();
    b.client.close();
  });

  it('a peer that never registers: "not registered" naming the exchange stage', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const a = await side(server.address);
    const error = await a.meet('alice', 'nobody', 1500).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RendezvousError);
    expect(error).toMatchObject({ stage: 'exchange', code: 'ANTT_ERR_TIMEOUT' });
    expect((error as Error).message).toMatch(
      /peer "nobody" is not registered with 127\.0\.0\.1:\d+ \(asked \d+ times/,
    );
    a.client.close();
  });

  it('a silent rendezvous address: "unreachable" naming the register stage', async () => {
    const silent = createSocket('udp4');
    sockets.push(silent);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const a = await side({ host: '127.0.0.1', port: silent.address().port });
    const error = await a.meet('alice', 'bob', 1200).catch((e: unknown) => e);
    expect(error).toMatchObject({ stage: 'register', code: 'ANTT_ERR_TIMEOUT' });
    expect((error as Error).message).toMatch(
      /rendezvous server 127\.0\.0\.1:\d+ unreachable: no answer to \d+ REGISTER/,
    );
  });

  it('punching toward candidates that never answer times out listing them', async () => {
    const socket = createSocket('udp4');
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const punch = new UdpPunch({
      session: new Uint8Array(8),
      controlling: true,
      candidates: orderCandidates([{ host: '127.0.0.1', port: 9 }], { host: '127.0.0.2', port: 9 }),
      send: (bytes, to) => {
        socket.send(bytes, to.port, to.host);
      },
    });
    const error = await punch.run({ timeout: 400 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PunchError);
    expect((error as Error).message).toMatch(
      /^punching timed out after \d+ ms: \d+ probes to 127\.0\.0\.1:9 \(lan\), 127\.0\.0\.2:9 \(public\); no answer on any path/,
    );
  });

  it('answers STUN Binding requests on the same port (padded requests)', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const { mapped } = await stunBinding({
      server: `127.0.0.1:${server.address.port}`,
      software: 'antt-test',
      timeout: 3000,
      localAddress: '127.0.0.1',
    } as Parameters<typeof stunBinding>[0]);
    expect(mapped.host).toBe('127.0.0.1');
  });
});
