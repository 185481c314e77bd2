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
  RendezvousServerCore,
  type RendezvousServerOptions,
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
  /**
   * The second port that answers MAPPING-QUERY and STUN Binding, so clients can tell whether their NAT
   * maps each destination to a new port. Default `port + 1` (3479; skipped when taken), a free port
   * when `port` is 0; `false`: none (clients then treat their mapping as unknown).
   */
  alternatePort?: number | false;
}

export class RendezvousServer {
  readonly core: RendezvousServerCore;
  /** The TCP side's own core: peers registered over TCP meet peers registered over TCP. */
  readonly tcpCore: RendezvousServerCore | undefined;
  readonly #tcp: RendezvousTcpListener | undefined;
  readonly #socket: Socket;
  readonly #alternate: Socket | undefined;
  readonly #sweep: NodeJS.Timeout;
  #address: Address;
  #closed = false;

  private constructor(
    socket: Socket,
    alternate: Socket | undefined,
    core: RendezvousServerCore,
    tcp?: { listener: RendezvousTcpListener; core: RendezvousServerCore },
  ) {
    this.#socket = socket;
    this.#alternate = alternate;
    this.core = core;
    this.#tcp = tcp?.listener;
    this.tcpCore = tcp?.core;
    const bound = socket.address();
    this.#address = { host: bound.address, port: bound.port };
    core.setPorts(bound.port, alternate?.address().port ?? 0);
    for (const [receiver, port] of [
      [socket, 'primary'],
      [alternate, 'alternate'],
    ] as const) {
      receiver?.on('message', (bytes, remote) => {
        const from = { host: remote.address, port: remote.port };
        for (const datagram of this.core.handleDatagram(bytes, from, performance.now(), port)) {
          const sender = datagram.via === 'alternate' && alternate ? alternate : socket;
          sender.send(datagram.bytes, datagram.to.port, datagram.to.host);
        }
      });
      // Send errors (an unreachable peer) concern one datagram; the server goes on.
      receiver?.on('error', () => {});
    }
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
      let alternate: Socket | undefined;
      if (options.alternatePort !== false) {
        const alternatePort = options.alternatePort ?? (port === 0 ? 0 : port + 1);
        try {
          alternate = await bindUdp(host, alternatePort);
        } catch (error) {
          // A port asked for must be had; the default one is a nicety: without it, no mapping extension.
          if (options.alternatePort !== undefined) {
            await closeUdp(socket);
            throw error;
          }
        }
      }
      const core = new RendezvousServerCore(options);
      if (options.tcp === false) return new RendezvousServer(socket, alternate, core);
      const tcpCore = new RendezvousServerCore(options);
      try {
        const listener = await RendezvousTcpListener.listen(
          host,
          socket.address().port,
          tcpCore,
          options.tcpOptions,
        );
        return new RendezvousServer(socket, alternate, core, { listener, core: tcpCore });
      } catch (error) {
        await Promise.all([closeUdp(socket), alternate ? closeUdp(alternate) : undefined]);
        // A free UDP port whose TCP twin is taken: with port 0, pick another pair.
        if (port !== 0 || attempt >= PORT_PAIR_ATTEMPTS) throw error;
      }
    }
  }

  /** The alternate port's address (undefined without one). */
  get alternateAddress(): Address | undefined {
    const bound = this.#alternate?.address();
    return bound ? { host: bound.address, port: bound.port } : undefined;
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
      closeUdp(this.#socket),
      this.#alternate ? closeUdp(this.#alternate) : undefined,
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

function closeUdp(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => socket.close(() => resolve()));
}
