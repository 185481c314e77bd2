// connect({ transport: 'tcp' | 'auto' }) on loopback: rendezvous over TCP, simultaneous open from the
// port the server saw, the TCP relay, and 'auto' falling back to TCP when UDP gets no answer.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { type AnttError, ErrorCode } from '@antt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type NatConnectOptions } from '../src/connect.js';
import type { PunchedTcpConnection } from '../src/connect-tcp.js';
import { RendezvousServer } from '../src/rendezvous/server.js';
import { RendezvousServerCore } from '../src/rendezvous/server-core.js';
import { RendezvousTcpListener } from '../src/rendezvous/server-tcp.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(): Promise<string> {
  const server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => server.close());
  return `127.0.0.1:${server.address.port}`;
}

function pair(options: Omit<NatConnectOptions, 'name'>, name = `m-${randomBytes(4).toString('hex')}`) {
  const base = { name, passphrase: 'loopback', lanAddresses: ['127.0.0.1'], timeout: 15_000, ...options };
  return Promise.all([connect(base), connect(base)]).then((connections) => {
    for (const connection of connections) cleanups.push(() => connection.destroy());
    return connections as [PunchedTcpConnection, PunchedTcpConnection];
  });
}

async function exchange([a, b]: [PunchedTcpConnection, PunchedTcpConnection]): Promise<void> {
  const message = randomBytes(200_000);
  await a.send(message);
  expect(Buffer.from(await b.receive({ timeout: 10_000 })).equals(message)).toBe(true);
  await b.send(Buffer.from('back'));
  expect(Buffer.from(await a.receive({ timeout: 10_000 })).toString()).toBe('back');
}

describe("connect({ transport: 'tcp' })", () => {
  it('connects directly by simultaneous open from the port the rendezvous server saw', async () => {
    const rendezvous = await startServer();
    const connections = await pair({ rendezvous, transport: 'tcp' });
    for (const [self, other] of [connections, [...connections].reverse()] as const) {
      expect(self.transport).toBe('tcp');
      expect(self.path).toMatchObject({ transport: 'tcp', kind: 'direct', candidate: 'public' });
      // The connection runs from P, the port the server saw, to the port it saw the peer on.
      expect(self.localAddress?.port).toBe(self.path.local.port);
      expect(self.path.observed.port).toBe(self.path.local.port);
      expect(self.path.remote.port).toBe(other.path.local.port);
      expect(self.path.tried).toEqual([{ address: self.path.remote, kind: 'public' }]);
    }
    await exchange(connections);
  });

  it('relays through the server when forced, end to end encrypted', async () => {
    const rendezvous = await startServer();
    const connections = await pair({ rendezvous, transport: 'tcp', forceRelay: true });
    for (const connection of connections) {
      expect(connection.path).toMatchObject({
        transport: 'tcp',
        kind: 'relayed',
        reason: 'forceRelay',
        tried: [],
      });
    }
    expect(connections[0].remotePeerId).toBe(connections[1].localPeerId);
    await exchange(connections);
    // A graceful close crosses the pipe both ways: each side's CLOSE reaches the other after its FIN.
    const [a, b] = connections;
    await Promise.all([b.close({ timeout: 10_000 }), a.receive({ timeout: 10_000 }).catch(() => undefined)]);
    expect(b.closeError).toBeUndefined();
  });

  it('names the register stage when nothing listens on TCP', async () => {
    const holder = createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      holder.close();
    });
    const error = await connect({
      rendezvous: `127.0.0.1:${holder.address().port}`,
      name: 'nobody',
      passphrase: 'x',
      transport: 'tcp',
      timeout: 5_000,
    }).then(
      () => undefined,
      (e: AnttError & { stage?: string }) => e,
    );
    expect(error).toMatchObject({ stage: 'register', code: ErrorCode.NETWORK });
    expect(error?.message).toMatch(/unreachable over TCP: it refused the TCP connection/);
  });

  it("with 'auto', falls back to TCP when UDP gets no answer, and says why", async () => {
    // A rendezvous server on TCP only: its UDP port is held by a socket that never answers.
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      silent.close();
    });
    const port = silent.address().port;
    const listener = await RendezvousTcpListener.listen('127.0.0.1', port, new RendezvousServerCore());
    cleanups.push(() => listener.close());
    const connections = await pair({
      rendezvous: `127.0.0.1:${port}`,
      transport: 'auto',
      exchangeTimeout: 800,
    });
    for (const connection of connections) {
      expect(connection.path).toMatchObject({ transport: 'tcp', kind: 'direct' });
      expect(connection.path.fallbackReason).toMatch(
        /^UDP failed \(register stage\): rendezvous server 127\.0\.0\.1:\d+ unreachable: no answer to \d+ REGISTER requests/,
      );
      expect(connection.path.stages.udpMs).toBeGreaterThan(0);
    }
    await exchange(connections);
  });

  it("with 'auto', stays on UDP when UDP works", async () => {
    const rendezvous = await startServer();
    const base = {
      rendezvous,
      name: 'auto-udp',
      passphrase: 'x',
      lanAddresses: ['127.0.0.1'],
      transport: 'auto' as const,
    };
    const [a, b] = await Promise.all([connect(base), connect(base)]);
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    );
    expect(a.path).toMatchObject({ transport: 'udp', kind: 'direct' });
    expect(b.transport).toBe('udp');
  });
});
