import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Address } from '@antt/core';
import { decodeStunMessage, encodeStunMessage, type StunMessage } from '../../src/stun/message.js';
import { freePortPair } from './coturn.js';

/**
 * An RFC 5780 STUN server on loopback that pretends a NAT sits between it and the client: it reports
 * mappings computed by a virtual NAT table instead of the real source, and withholds CHANGE-REQUEST
 * answers the virtual NAT would filter. It listens on 127.0.0.1 and 127.0.0.2, each on port p and p + 1.
 * The "public" address is 127.0.0.9, a loopback address nothing listens on, so a hairpin probe stays on
 * this machine and finds nothing.
 */
export interface VirtualNat {
  mapping: 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
  filtering: 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
  allocation: 'preserved' | 'sequential' | 'random';
  /** Answer CHANGE-REQUEST at all (RFC 5780 support). Default true. */
  rfc5780?: boolean;
}

export const VIRTUAL_PUBLIC_IP = '127.0.0.9';
const PRIMARY_IP = '127.0.0.1';
const ALTERNATE_IP = '127.0.0.2';

export interface FakeNatServer {
  primary: Address;
  close(): Promise<void>;
}

export async function startFakeNatServer(nat: VirtualNat): Promise<FakeNatServer> {
  const port = await freePortPair(PRIMARY_IP);
  const table = new Map<string, number>();
  let nextSequential = 40_000;
  const usedPorts = new Set<number>();
  // Destinations each client port has sent to, for filtering: "ip" and "ip:port".
  const contacted = new Map<number, Set<string>>();
  const sockets = new Map<string, Socket>();

  const mappedPort = (client: RemoteInfo, destination: Address): number => {
    const key =
      nat.mapping === 'endpoint-independent'
        ? `${client.port}`
        : nat.mapping === 'address-dependent'
          ? `${client.port}|${destination.host}`
          : `${client.port}|${destination.host}:${destination.port}`;
    let outside = table.get(key);
    if (outside === undefined) {
      if (nat.allocation === 'preserved' && !usedPorts.has(client.port)) outside = client.port;
      else if (nat.allocation === 'sequential') outside = nextSequential += 3;
      else
        do outside = 1024 + Math.floor(Math.random() * 60_000);
        while (usedPorts.has(outside));
      usedPorts.add(outside);
      table.set(key, outside);
    }
    return outside;
  };

  const admits = (clientPort: number, from: Address): boolean => {
    const seen = contacted.get(clientPort) ?? new Set();
    if (nat.filtering === 'endpoint-independent') return true;
    if (nat.filtering === 'address-dependent') return seen.has(from.host);
    return seen.has(`${from.host}:${from.port}`);
  };

  const onRequest = (listener: Address, bytes: Buffer, client: RemoteInfo): void => {
    let request: StunMessage;
    try {
      request = decodeStunMessage(bytes);
    } catch {
      return;
    }
    if (request.class !== 'request') return;
    const seen = contacted.get(client.port) ?? new Set<string>();
    seen.add(listener.host).add(`${listener.host}:${listener.port}`);
    contacted.set(client.port, seen);
    let origin = listener;
    if (request.changeRequest) {
      if (nat.rfc5780 === false) return;
      origin = {
        host: request.changeRequest.changeIp
          ? listener.host === PRIMARY_IP
            ? ALTERNATE_IP
            : PRIMARY_IP
          : listener.host,
        port: request.changeRequest.changePort ? (listener.port === port ? port + 1 : port) : listener.port,
      };
      if (!admits(client.port, origin)) return; // the virtual NAT drops it
    }
    const answer = encodeStunMessage({
      class: 'success',
      transactionId: request.transactionId,
      xorMappedAddress: { host: VIRTUAL_PUBLIC_IP, port: mappedPort(client, listener) },
      responseOrigin: origin,
      ...(nat.rfc5780 === false
        ? {}
        : {
            otherAddress: {
              host: listener.host === PRIMARY_IP ? ALTERNATE_IP : PRIMARY_IP,
              port: listener.port === port ? port + 1 : port,
            },
          }),
    });
    sockets.get(`${origin.host}:${origin.port}`)!.send(answer, client.port, client.address);
  };

  for (const host of [PRIMARY_IP, ALTERNATE_IP]) {
    for (const p of [port, port + 1]) {
      const socket = createSocket('udp4');
      const listener = { host, port: p };
      socket.on('message', (bytes, client) => onRequest(listener, bytes, client));
      await new Promise<void>((resolve) => socket.bind(p, host, resolve));
      sockets.set(`${host}:${p}`, socket);
    }
  }
  return {
    primary: { host: PRIMARY_IP, port },
    close: async () => {
      await Promise.all(
        [...sockets.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
    },
  };
}
