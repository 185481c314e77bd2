/**
 * `RendezvousServer`: the sans-IO {@link RendezvousServerCore} on a UDP socket. One port serves the
 * rendezvous protocol and STUN Binding requests; the same port number on TCP serves the rendezvous
 * protocol length-framed, with relaying by piping (see `server-tcp.ts`).
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
import { RendezvousTcpListener, type TcpListenerOptions, type TcpListenerStats } from './server-tcp.js';

/** RFC 8489 §6: STUN's default port; clients reach the rendezvous and STUN on one address. */
export const DEFAULT_RENDEZVOUS_PORT = 3478;
/** How often expired registrations are swept when no datagram arrives. */
const SWEEP_INTERVAL_MS = 1_000;
/** With port 0, tries this many free UDP ports for one whose TCP twin is free too. */
const PORT_PAIR_ATTEMPTS = 10;

export interface ListenOptions extends RendezvousServerOptions {
  /** Default 0.0.0.0 (:: for an IPv6 host). */
  host?: string;
  /** Default 3478; 0 picks a free port (the same number for UDP and TCP). */
  port?: number;
  /**
   * Also listen on TCP on the same port (default true): the rendezvous protocol length-framed, for hosts
   * whose routers drop UDP and for TCP hole punching. `false`: UDP only.
   */
  tcp?: boolean;
  /** Bounds and hooks of the TCP side. */
  tcpOptions?: TcpListenerOptions;
}

export class RendezvousServer {
  readonly core: RendezvousServerCore;
  /** The TCP side's own core: peers registered over TCP meet peers registered over TCP. */
  readonly tcpCore: RendezvousServerCore | undefined;
  readonly #tcp: RendezvousTcpListener | undefined;
  readonly #socket: Socket;
  readonly #sweep: NodeJS.Timeout;
  #address: Address;
  #closed = false;

  private constructor(
    socket: Socket,
    core: RendezvousServerCore,
    tcp?: { listener: RendezvousTcpListener; core: RendezvousServerCore },
  ) {
    this.#socket = socket;
    this.core = core;
    this.#tcp = tcp?.listener;
    this.tcpCore = tcp?.core;
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
    this.#sweep = setInterval(() => {
      this.core.expire(performance.now());
      this.tcpCore?.expire(performance.now());
    }, SWEEP_INTERVAL_MS);
    this.#sweep.unref();
  }

  /** Binds the socket and starts serving. Rejects with ANTT_ERR_NETWORK if the port cannot be bound. */
  static async listen(options: ListenOptions = {}): Promise<RendezvousServer> {
    const host = options.host ?? '0.0.0.0';
    const port = options.port ?? DEFAULT_RENDEZVOUS_PORT;
    for (let attempt = 1; ; attempt++) {
      const socket = await bindUdp(host, port);
      if (options.tcp === false) return new RendezvousServer(socket, new RendezvousServerCore(options));
      const tcpCore = new RendezvousServerCore(options);
      try {
        const listener = await RendezvousTcpListener.listen(
          host,
          socket.address().port,
          tcpCore,
          options.tcpOptions,
        );
        return new RendezvousServer(socket, new RendezvousServerCore(options), { listener, core: tcpCore });
      } catch (error) {
        await new Promise<void>((resolve) => socket.close(() => resolve()));
        // A free UDP port whose TCP twin is taken: with port 0, pick another pair.
        if (port !== 0 || attempt >= PORT_PAIR_ATTEMPTS) throw error;
      }
    }
  }

  get address(): Address {
    return this.#address;
  }

  stats(): RendezvousServerStats {
    return this.core.stats();
  }

  /** The TCP side's counters: its core's (registrations, pairings...) and its connections and pipes. */
  tcpStats(): (RendezvousServerStats & { tcp: TcpListenerStats }) | undefined {
    if (!this.#tcp || !this.tcpCore) return undefined;
    return { ...this.tcpCore.stats(), tcp: this.#tcp.stats() };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    await Promise.all([
      new Promise<void>((resolve) => this.#socket.close(() => resolve())),
      this.#tcp?.close(),
    ]);
  }
}

async function bindUdp(host: string, port: number): Promise<Socket> {
  const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (error) => reject(networkError(`binding UDP ${host}:${port}`, error)));
    socket.bind({ port, address: host, exclusive: true }, () => resolve());
  });
  socket.removeAllListeners('error');
  return socket;
}
