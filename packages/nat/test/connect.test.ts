import { afterEach, describe, expect, it } from 'vitest';
import { connect, type PunchedConnection } from '../src/connect.js';
import { RendezvousServer } from '../src/rendezvous/server.js';

let server: RendezvousServer | undefined;
const open: PunchedConnection[] = [];

afterEach(async () => {
  for (const connection of open.splice(0)) connection.destroy();
  await server?.close();
  server = undefined;
});

describe('connect() on loopback', () => {
  it('two peers with a meeting name and a passphrase get an encrypted direct connection', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const common = {
      rendezvous: `127.0.0.1:${server.address.port}`,
      name: 'loopback-meeting',
      passphrase: 'correct horse battery staple',
      lanAddresses: ['127.0.0.1'],
      timeout: 15_000,
    };
    const [a, b] = await Promise.all([connect(common), connect(common)]);
    open.push(a, b);
    expect(a.path).toMatchObject({
      kind: 'direct',
      candidate: 'public',
      remote: { host: '127.0.0.1', port: b.path.local.port },
    });
    expect(b.path.remote.port).toBe(a.path.local.port);
    expect(a.encrypted).toBe(true);
    expect(a.remotePeerId).toBe(b.localPeerId);
    for (const stage of Object.values(a.path.stages)) expect(stage).toBeGreaterThanOrEqual(0);
    await a.send(new TextEncoder().encode('hello through the punched path'));
    expect(new TextDecoder().decode(await b.receive({ timeout: 5000 }))).toBe(
      'hello through the punched path',
    );
  });

  it('a connect() that fails unregisters before it closes its socket: the name is free at once', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const failed = await connect({
      rendezvous: `127.0.0.1:${server.address.port}`,
      name: 'left-alone',
      peerName: 'never-comes',
      passphrase: 'p',
      lanAddresses: ['127.0.0.1'],
      timeout: 1500,
    }).catch((error: unknown) => error);
    expect(failed).toMatchObject({ code: 'ANTT_ERR_TIMEOUT' });
    // One datagram on loopback: without the UNREGISTER the registration would stay for its 60 s lifetime.
    const deadline = Date.now() + 3000;
    while (server.stats().registrations > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(server.stats().registrations).toBe(0);
  });

  it('a wrong passphrase fails in the handshake stage', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const common = {
      rendezvous: `127.0.0.1:${server.address.port}`,
      name: 'm2',
      lanAddresses: ['127.0.0.1'],
      timeout: 10_000,
    };
    const results = await Promise.allSettled([
      connect({ ...common, passphrase: 'one' }),
      connect({ ...common, passphrase: 'two' }),
    ]);
    for (const r of results) if (r.status === 'fulfilled') open.push(r.value);
    const errors = results
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ stage: 'handshake', code: 'ANTT_ERR_AUTH' });
  });

  it('forceRelay: both peers go through the rendezvous relay; the handshake and AEAD run end to end', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const common = {
      rendezvous: `127.0.0.1:${server.address.port}`,
      name: 'relay-meeting',
      passphrase: 'correct horse battery staple',
      lanAddresses: ['127.0.0.1'],
      forceRelay: true,
      timeout: 15_000,
    };
    const [a, b] = await Promise.all([connect(common), connect(common)]);
    open.push(a, b);
    const relay = { host: '127.0.0.1', port: server.address.port };
    expect(a.path).toMatchObject({
      kind: 'relayed',
      candidate: 'relay',
      relay,
      remote: relay,
      peerObserved: { host: '127.0.0.1', port: b.path.local.port },
      reason: 'forceRelay',
      relayRateBytesPerSec: 1_000_000,
      relayIdleTimeoutSec: 30,
    });
    expect(b.path).toMatchObject({ kind: 'relayed', peerObserved: { port: a.path.local.port } });
    if (a.path.kind !== 'relayed') throw new Error('unreachable');
    for (const stage of Object.values(a.path.stages)) expect(stage).toBeGreaterThanOrEqual(0);
    expect(a.encrypted).toBe(true);
    expect(a.remotePeerId).toBe(b.localPeerId);
    const message = new Uint8Array(200_000).fill(0x41);
    await a.send(message);
    expect(await b.receive({ timeout: 10_000 })).toEqual(message);
    await b.send(new TextEncoder().encode('and back'));
    expect(new TextDecoder().decode(await a.receive({ timeout: 5000 }))).toBe('and back');
    const stats = server.stats();
    expect(stats).toMatchObject({ relays: 1, relaysAllocated: 1 });
    expect(stats.relayedBytes).toBeGreaterThan(200_000);
    // Once connected, nothing of the rendezvous protocol is sent any more (no stray CONNECT or
    // RELAY-ALLOC retransmissions): only relayed Antt datagrams.
    const before = server.stats();
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const after = server.stats();
    expect(after.received).toBe(before.received);
    expect(after.droppedBadCookie).toBe(0);
  });

  it('a relay refused by the server fails in the relay stage', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0, maxRelays: 0 });
    const common = {
      rendezvous: `127.0.0.1:${server.address.port}`,
      name: 'no-relay',
      passphrase: 'p',
      lanAddresses: ['127.0.0.1'],
      forceRelay: true,
      timeout: 10_000,
    };
    const results = await Promise.allSettled([connect(common), connect(common)]);
    for (const r of results) if (r.status === 'fulfilled') open.push(r.value);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({
        stage: 'relay',
        code: 'ANTT_ERR_REFUSED',
        message: expect.stringMatching(/refused a relay: it does not relay/),
      });
    }
  });

  it('refuses to start without saying who may connect', async () => {
    await expect(connect({ rendezvous: '127.0.0.1:9', name: 'x' })).rejects.toMatchObject({
      code: 'ANTT_ERR_INVALID_ARGUMENT',
    });
  });
});
