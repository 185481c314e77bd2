// The rendezvous server's TCP side on loopback: registration and pairing over length-framed TCP, the
// observed TCP mapping, bounds, bad input, and relaying by piping two granted connections.
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { type Address, type AnttError, ErrorCode } from '@antt/core';
import { TcpConnection } from '@antt/tcp';
import { afterEach, describe, expect, it } from 'vitest';
import { RendezvousClient } from '../src/rendezvous/client.js';
import { encodeRendezvousMessage, MessageType } from '../src/rendezvous/protocol.js';
import { type ListenOptions, RendezvousServer } from '../src/rendezvous/server.js';
import { RendezvousTcpChannel } from '../src/rendezvous/tcp-channel.js';
import { encodeFrame } from '../src/rendezvous/tcp-framing.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(
  options: ListenOptions = {},
): Promise<{ server: RendezvousServer; address: Address }> {
  const server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0, ...options });
  cleanups.push(() => server.close());
  return { server, address: { host: '127.0.0.1', port: server.address.port } };
}

async function side(server: Address) {
  const channel = await RendezvousTcpChannel.open(server, { signal: AbortSignal.timeout(5_000) });
  const client = new RendezvousClient(server, channel.send);
  channel.onMessage((frame) => client.handleDatagram(frame, server));
  cleanups.push(() => {
    client.close();
    channel.close();
  });
  return { channel, client };
}

function waitClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

describe('rendezvous over TCP', () => {
  it('listens on TCP on the UDP port number, registers, pairs and reports the observed TCP port', async () => {
    const { server, address } = await startServer();
    const a = await side(address);
    const b = await side(address);
    const [ra, rb] = await Promise.all([
      a.client.register({ name: 'meet', candidates: [] }, { timeout: 5_000 }),
      b.client.register({ name: 'meet', candidates: [] }, { timeout: 5_000 }),
    ]);
    expect(ra.observed).toMatchObject({ host: '127.0.0.1', port: a.channel.localPort });
    expect(rb.observed).toMatchObject({ host: '127.0.0.1', port: b.channel.localPort });
    const [pa, pb] = await Promise.all([
      a.client.lookup('meet', { timeout: 5_000 }),
      b.client.lookup('meet', { timeout: 5_000 }),
    ]);
    expect(pa.observed.port).toBe(b.channel.localPort);
    expect(pb.observed.port).toBe(a.channel.localPort);
    expect(pa.controlling).not.toBe(pb.controlling);
    expect(server.tcpStats()).toMatchObject({ peersPaired: 1, registrations: 2, tcp: { connections: 2 } });
    // UDP and TCP registrations live apart: the UDP side knows nobody.
    expect(server.stats().registrations).toBe(0);
  });

  it('forgets a registration when its connection closes', async () => {
    const { server, address } = await startServer();
    const a = await side(address);
    await a.client.register({ name: 'gone', candidates: [] }, { timeout: 5_000 });
    expect(server.tcpStats()?.registrations).toBe(1);
    a.channel.close();
    for (let i = 0; i < 100 && server.tcpStats()?.registrations !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(server.tcpStats()?.registrations).toBe(0);
  });

  it('closes a connection that sends bad input, with a clear error, and serves the others', async () => {
    const errors: string[] = [];
    const { server, address } = await startServer({
      tcpOptions: {
        onConnectionError: (_remote, error: AnttError) => errors.push(`${error.code}: ${error.message}`),
      },
    });
    const good = await side(address);
    for (const garbage of [
      Buffer.from([0xff, 0xff, 1, 2, 3]), // a length over the limit
      Buffer.from([0, 20, ...randomBytes(20)]), // a frame that is not a rendezvous message
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    ]) {
      const raw = netConnect({ host: address.host, port: address.port });
      cleanups.push(() => {
        raw.destroy();
      });
      raw.on('error', () => {});
      raw.write(garbage);
      await waitClosed(raw);
    }
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/^ANTT_ERR_PROTOCOL: malformed rendezvous TCP frame: length 65535/);
    expect(errors[1]).toMatch(/^ANTT_ERR_PROTOCOL: malformed rendezvous TCP frame: no rendezvous magic/);
    expect(server.tcpStats()?.tcp.closedBadInput).toBe(3);
    const registered = await good.client.register({ name: 'still', candidates: [] }, { timeout: 5_000 });
    expect(registered.observed.port).toBe(good.channel.localPort);
  });

  it('bounds connections per IP address', async () => {
    const { server, address } = await startServer({ tcpOptions: { maxConnectionsPerIp: 2 } });
    await side(address);
    await side(address);
    const third = netConnect({ host: address.host, port: address.port });
    cleanups.push(() => {
      third.destroy();
    });
    third.on('error', () => {});
    await waitClosed(third);
    expect(server.tcpStats()?.tcp).toMatchObject({ connections: 2, connectionsRefused: 1 });
  });

  it('relays: pipes the two granted connections, and an Antt handshake runs end to end through it', async () => {
    const { server, address } = await startServer({ relayIdleTimeoutSec: 1 });
    const a = await side(address);
    const b = await side(address);
    await Promise.all([
      a.client.register({ name: 'relay', candidates: [] }, { timeout: 5_000 }),
      b.client.register({ name: 'relay', candidates: [] }, { timeout: 5_000 }),
    ]);
    const [pa, pb] = await Promise.all([
      a.client.lookup('relay', { timeout: 5_000 }),
      b.client.lookup('relay', { timeout: 5_000 }),
    ]);
    const [ga, gb] = await Promise.all([
      a.client.relay(pa.session, { timeout: 5_000 }),
      b.client.relay(pb.session, { timeout: 5_000 }),
    ]);
    expect(ga.peer.port).toBe(b.channel.localPort);
    expect(gb.peer.port).toBe(a.channel.localPort);
    const ca = new TcpConnection({ socket: a.channel.detach(), role: 'client', passphrase: 'relay test' });
    const cb = new TcpConnection({ socket: b.channel.detach(), role: 'server', passphrase: 'relay test' });
    cleanups.push(
      () => ca.destroy(),
      () => cb.destroy(),
    );
    await Promise.all([ca.connect({ timeout: 10_000 }), cb.connect({ timeout: 10_000 })]);
    expect(ca.remotePeerId).toBe(cb.localPeerId);
    const message = randomBytes(256 * 1024);
    await ca.send(message);
    expect(Buffer.from(await cb.receive({ timeout: 10_000 })).equals(message)).toBe(true);
    expect(server.tcpStats()?.tcp).toMatchObject({ relays: 1, relaysPiped: 1 });
    expect(server.tcpStats()!.tcp.relayedBytes).toBeGreaterThan(message.length);
  });

  it('holds a relay to its rate by pausing both sides, losing nothing', async () => {
    const { server, address } = await startServer({ relayRateBytesPerSec: 200_000, relayBurstBytes: 65_536 });
    const a = await side(address);
    const b = await side(address);
    await Promise.all([
      a.client.register({ name: 'rate', candidates: [] }, { timeout: 5_000 }),
      b.client.register({ name: 'rate', candidates: [] }, { timeout: 5_000 }),
    ]);
    const [pa, pb] = await Promise.all([
      a.client.lookup('rate', { timeout: 5_000 }),
      b.client.lookup('rate', { timeout: 5_000 }),
    ]);
    await Promise.all([
      a.client.relay(pa.session, { timeout: 5_000 }),
      b.client.relay(pb.session, { timeout: 5_000 }),
    ]);
    const sa = a.channel.detach();
    const sb = b.channel.detach();
    cleanups.push(() => {
      sa.destroy();
      sb.destroy();
    });
    const data = randomBytes(300_000);
    sa.end(data);
    const chunks: Buffer[] = [];
    sb.on('data', (chunk: Buffer) => chunks.push(chunk));
    sb.resume(); // detach() hands the socket over paused
    await new Promise((resolve) => sb.once('end', resolve));
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    // 300 kB over a 64 KiB bucket: the relay had to stop reading at least once.
    expect(server.tcpStats()!.tcp.relayRatePauses).toBeGreaterThan(0);
  });

  it('drops an idle relay after its idle timeout', async () => {
    const { server, address } = await startServer({ relayIdleTimeoutSec: 1 });
    const a = await side(address);
    const b = await side(address);
    await Promise.all([
      a.client.register({ name: 'idle', candidates: [] }, { timeout: 5_000 }),
      b.client.register({ name: 'idle', candidates: [] }, { timeout: 5_000 }),
    ]);
    const [pa, pb] = await Promise.all([
      a.client.lookup('idle', { timeout: 5_000 }),
      b.client.lookup('idle', { timeout: 5_000 }),
    ]);
    await Promise.all([
      a.client.relay(pa.session, { timeout: 5_000 }),
      b.client.relay(pb.session, { timeout: 5_000 }),
    ]);
    const sa = a.channel.detach();
    const sb = b.channel.detach();
    cleanups.push(() => {
      sa.destroy();
      sb.destroy();
    });
    sa.resume();
    sb.resume();
    sa.write('ping');
    await new Promise((resolve) => sb.once('data', resolve));
    await Promise.all([waitClosed(sa), waitClosed(sb)]);
    expect(server.tcpStats()?.tcp).toMatchObject({ relays: 0, relaysExpired: 1 });
  });

  it('refuses a relay when relaying is off, and the connection goes on framing', async () => {
    const { address } = await startServer({ maxRelays: 0 });
    const a = await side(address);
    const b = await side(address);
    await Promise.all([
      a.client.register({ name: 'norelay', candidates: [] }, { timeout: 5_000 }),
      b.client.register({ name: 'norelay', candidates: [] }, { timeout: 5_000 }),
    ]);
    const peer = await a.client.lookup('norelay', { timeout: 5_000 });
    const error = await a.client.relay(peer.session, { timeout: 5_000 }).then(
      () => undefined,
      (e: AnttError) => e,
    );
    expect(error?.code).toBe(ErrorCode.REFUSED);
    expect(error?.message).toMatch(/refused a relay: it does not relay/);
    // Still a rendezvous connection: an UNREGISTER-less refresh works.
    expect(a.channel.relayGranted).toBe(false);
    const again = await a.client.register({ name: 'norelay', candidates: [] }, { timeout: 5_000 });
    expect(again.observed.port).toBe(a.channel.localPort);
  });

  it('frames a message with its 16-bit length', () => {
    const frame = encodeFrame(
      encodeRendezvousMessage({
        type: MessageType.PEER_NOT_FOUND,
        transactionId: new Uint8Array(8),
        target: 'x',
      }),
    );
    expect(frame.length).toBe(2 + 12 + 2);
    expect((frame[0]! << 8) | frame[1]!).toBe(14);
  });
});
