import type * as Udp from '@antt/udp';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** The `preferredHandshakeRole` each UdpConnection that connect() makes was given. */
const roles: Array<string | undefined> = [];

vi.mock('@antt/udp', async (importOriginal) => {
  const udp = await importOriginal<typeof Udp>();
  class RecordingConnection extends udp.UdpConnection {
    constructor(options: Udp.UdpConnectionOptions) {
      roles.push(options.preferredHandshakeRole);
      super(options);
    }
  }
  return { ...udp, UdpConnection: RecordingConnection };
});

const { connect } = await import('../src/connect.js');
const { RendezvousServer } = await import('../src/rendezvous/server.js');

let server: Awaited<ReturnType<typeof RendezvousServer.listen>> | undefined;
const open: Array<{ destroy(): void }> = [];

afterEach(async () => {
  for (const connection of open.splice(0)) connection.destroy();
  await server?.close();
  server = undefined;
  roles.length = 0;
});

describe('connect(): who starts the Noise handshake on a punched path', () => {
  it('the nominated side asks to initiate, the nominating side to respond', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const common = {
      rendezvous: `127.0.0.1:${server.address.port}`,
      name: 'role-meeting',
      insecure: true as const,
      lanAddresses: ['127.0.0.1'],
      timeout: 15_000,
    };
    const [a, b] = await Promise.all([connect(common), connect(common)]);
    open.push(a, b);
    expect(a.path.kind).toBe('direct');
    expect([...roles].sort()).toEqual(['initiator', 'responder']);
  });

  it('a relayed connection leaves the roles to chance (the relay, not a nomination, carries it)', async () => {
    server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    const common = {
      rendezvous: `127.0.0.1:${server.address.port}`,
      name: 'role-relayed',
      insecure: true as const,
      lanAddresses: ['127.0.0.1'],
      forceRelay: true,
      upgrade: false,
      timeout: 15_000,
    };
    const [a, b] = await Promise.all([connect(common), connect(common)]);
    open.push(a, b);
    expect(a.path.kind).toBe('relayed');
    expect(roles).toEqual([undefined, undefined]);
  });
});
