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

  it('refuses to start without saying who may connect', async () => {
    await expect(connect({ rendezvous: '127.0.0.1:9', name: 'x' })).rejects.toMatchObject({
      code: 'ANTT_ERR_INVALID_ARGUMENT',
    });
  });
});
