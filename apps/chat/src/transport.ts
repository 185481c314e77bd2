/**
 * Opens one connection: to the peer's address over the chosen transport, or through a rendezvous server
 * by name (`@antt/nat`'s `connect()`, UDP). TCP needs the two sides to take different roles; they are
 * derived from what both sides know, so users never pass one.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Address, Connection } from '@antt/core';
import { connect } from '@antt/nat';
import { TcpConnection } from '@antt/tcp';
import { UdpConnection, UdpEndpoint } from '@antt/udp';
import type { RendezvousTarget } from './cli-options.js';
import type { SecurityOptions } from './security.js';

export interface ConnectionPlan {
  transport: 'udp' | 'tcp';
  /** 0: any free port (with a rendezvous). */
  localPort: number;
  /** The peer's address, or undefined to meet it through `rendezvous`. */
  peer: Address | undefined;
  rendezvous: RendezvousTarget | undefined;
  idleTimeoutMs: number;
  security: SecurityOptions;
  /** Only for TCP; see {@link tcpRole}. */
  role?: 'client' | 'server';
}

/**
 * One attempt, bounded by `timeout`: resolves to an open connection (with `path` when it met through the
 * rendezvous), or rejects with the transport's or the stage's `AnttError` after freeing the local port.
 */
export async function openConnection(
  plan: ConnectionPlan,
  wait: { timeout: number; signal: AbortSignal },
): Promise<Connection> {
  if (plan.rendezvous) return meet(plan, plan.rendezvous, wait);
  const attempt = createConnection(plan, plan.peer!);
  try {
    await attempt.connect(wait);
    return attempt;
  } catch (error) {
    await releaseConnection(attempt);
    throw error;
  }
}

/**
 * Through the rendezvous, on an endpoint of our own: connect() leaves it open when it fails, so the
 * UNREGISTER it sends on the way out still leaves (on an endpoint of its own it closes the socket
 * first), and a failed attempt leaves no registration behind to block the next one under a meeting
 * name. Once connected, the endpoint goes when the connection does.
 */
async function meet(
  plan: ConnectionPlan,
  target: RendezvousTarget,
  wait: { timeout: number; signal: AbortSignal },
): Promise<Connection> {
  const names = {
    rendezvous: target.server,
    name: target.name,
    ...(target.peerName !== undefined ? { peerName: target.peerName } : {}),
  };
  if (plan.transport === 'tcp') {
    // Over TCP the registration lives as long as the rendezvous connection, which connect() closes.
    return connect({
      ...names,
      transport: 'tcp',
      localPort: plan.localPort,
      tcpConnection: { idleTimeout: plan.idleTimeoutMs },
      ...plan.security,
      ...wait,
    });
  }
  const endpoint = await UdpEndpoint.bind({ port: plan.localPort, ...plan.security });
  try {
    const connection = await connect({
      ...names,
      endpoint,
      connection: { idleTimeout: plan.idleTimeoutMs },
      ...plan.security,
      ...wait,
    });
    endpoint.closeWhenEmpty = true;
    return connection;
  } catch (error) {
    await new Promise((resolve) => setImmediate(resolve));
    await endpoint.close();
    throw error;
  }
}

function createConnection(plan: ConnectionPlan, peer: Address): Connection {
  const common = {
    localPort: plan.localPort,
    remote: { host: peer.host, port: peer.port },
    idleTimeout: plan.idleTimeoutMs,
    // identity, passphrase and/or allowedPeers: never insecure, so every connection is encrypted.
    ...plan.security,
  };
  if (plan.transport === 'udp') return new UdpConnection(common);
  return new TcpConnection({ ...common, role: plan.role ?? 'client' });
}

/**
 * Frees the local port of an ended connection now, so the next attempt can bind it again. A UDP
 * connection's private endpoint otherwise lingers to absorb the peer's last packets.
 */
export async function releaseConnection(connection: Connection): Promise<void> {
  connection.destroy();
  if (connection instanceof UdpConnection && !connection.endpoint.closed) await connection.endpoint.close();
}

/**
 * The two sides see mirrored (local port, peer port) pairs, so "the lower port is the client" gives
 * them different roles. With equal ports (two machines using the same port), each side compares the
 * address it uses towards the peer with the peer's address, which also mirror each other on a LAN.
 */
export async function tcpRole(localPort: number, peer: Address): Promise<'client' | 'server'> {
  if (localPort !== peer.port) return localPort < peer.port ? 'client' : 'server';
  const local = await localAddressTowards(peer.host);
  return compareAddresses(local, peer.host) <= 0 ? 'client' : 'server';
}

/** The source address the kernel would use to reach `host` (no packet is sent). */
async function localAddressTowards(host: string): Promise<string> {
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(9, host, () => resolve());
    });
    return socket.address().address;
  } catch {
    return '';
  } finally {
    socket.close();
  }
}

function compareAddresses(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
