/**
 * Builds one connection attempt over the chosen transport. TCP needs the two sides to take different
 * roles; they are derived from what both sides know, so users never pass one.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Address, Connection } from '@antt/core';
import { TcpConnection } from '@antt/tcp';
import { UdpConnection } from '@antt/udp';
import type { SecurityOptions } from './security.js';

export interface ConnectionPlan {
  transport: 'udp' | 'tcp';
  localPort: number;
  peer: Address;
  idleTimeoutMs: number;
  security: SecurityOptions;
  /** Only for TCP; see {@link tcpRole}. */
  role?: 'client' | 'server';
}

export function createConnection(plan: ConnectionPlan): Connection {
  const common = {
    localPort: plan.localPort,
    remote: { host: plan.peer.host, port: plan.peer.port },
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
