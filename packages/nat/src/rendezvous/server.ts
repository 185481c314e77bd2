/**
 * `RendezvousServer`: the sans-IO {@link RendezvousServerCore} on a UDP socket. One port serves the
 * rendezvous protocol and STUN Binding requests.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Address, networkError } from '@antt/core';
import {
  type RendezvousServerOptions,
  RendezvousServerCore,
  type RendezvousServerStats,
} from './server-core.js';

/** RFC 8489 §6: STUN's default port; clients reach the rendezvous and STUN on one address. */
export const DEFAULT_RENDEZVOUS_PORT = 3478;
/** How often expired registrations are swept when no datagram arrives. */
const SWEEP_INTERVAL_MS = 1_000;

export interface ListenOptions extends RendezvousServerOptions {
  /** Default 0.0.0.0 (:: for an IPv6 host). */
  host?: string;
  /** Default 3478; 0 picks a free port. */
  port?: number;
}

export class RendezvousServer {
  readonly core: RendezvousServerCore;
  readonly #socket: Socket;
  readonly #sweep: NodeJS.Timeout;
  #address: Address;
  #closed = false;

  private constructor(socket: Socket, core: RendezvousServerCore) {
    this.#socket = socket;
    this.core = core;
    const bound = socket.address();
    this.#address = { host: bound.address, port: bound.port };
    socket.on('message', (bytes, remote) => {
      const from = { host: remote.address, port: remote.port };
      for (const datagram of this.core.handleDatagram(bytes, from, performance.now())) {
        socket.send(datagram.bytes, datagram.to.port, datagram.to.host);
      }
    });
    // Send errors (an unreachable peer) concern one datagram; the server goes on.
    socket.on('error', () => {});
    this.#sweep = setInterval(() => this.core.expire(performance.now()), SWEEP_INTERVAL_MS);
    this.#sweep.unref();
  }

  /** Binds the socket and starts serving. Rejects with ANTT_ERR_NETWORK if the port cannot be bound. */
  static async listen(options: ListenOptions = {}): Promise<RendezvousServer> {
    const host = options.host ?? '0.0.0.0';
    const port = options.port ?? DEFAULT_RENDEZVOUS_PORT;
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (error) => reject(networkError(`binding UDP ${host}:${port}`, error)));
      socket.bind({ port, address: host, exclusive: true }, () => resolve());
    });
    socket.removeAllListeners('error');
    return new RendezvousServer(socket, new RendezvousServerCore(options));
  }

  get address(): Address {
    return this.#address;
  }

  stats(): RendezvousServerStats {
    return this.core.stats();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}
