/**
 * The rendezvous server's TCP side, on the same port number as its UDP side: for hosts whose routers
 * drop UDP, and for TCP hole punching (the server sees, and reports, the NAT mapping of the TCP port a
 * peer will punch from). The same protocol messages, each framed by a 16-bit length (see
 * `tcp-framing.ts`), go through their own {@link RendezvousServerCore}: peers registered over TCP meet
 * peers registered over TCP.
 *
 * A granted RELAY-ALLOC turns the connection into one half of a relay: once the peer's connection is
 * granted too, the server pipes the two byte for byte, within a rate cap and an idle timeout. The Antt
 * handshake runs end to end over the pipe, so the relay sees only ciphertext.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Address, AnttError, networkError, ProtocolError } from '@antt/core';
import { decodeRendezvousMessage, encodeRendezvousMessage, MessageType, RelayStatus } from './protocol.js';
import type { RendezvousServerCore } from './server-core.js';
import { encodeFrame, FrameReader, isRelayGranted } from './tcp-framing.js';

/** Connections held at once; more are closed as they arrive. */
export const DEFAULT_MAX_TCP_CONNECTIONS = 4_096;
/** Connections from one IP address at once. */
export const DEFAULT_MAX_TCP_CONNECTIONS_PER_IP = 32;
/** A granted relay connection waits this long for its peer's before it is closed. */
const RELAY_PAIR_TIMEOUT_MS = 10_000;
const SWEEP_INTERVAL_MS = 1_000;
/** When one side of a relay closes, the other gets what is still queued for it for at most this long. */
const PIPE_CLOSE_GRACE_MS = 5_000;

export interface TcpListenerOptions {
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  /** Called when a connection is closed for bad input or a broken rule (for logs). */
  onConnectionError?: (remote: Address, error: AnttError) => void;
}

export interface TcpListenerStats {
  connections: number;
  /** Connections closed at once because of the connection bounds. */
  connectionsRefused: number;
  /** Connections closed because they sent something that is not a framed rendezvous message. */
  closedBadInput: number;
  /** Connections closed after a registration's lifetime without a message. */
  closedIdle: number;
  /** Relays piping now, and since start. */
  relays: number;
  relaysPiped: number;
  /** Granted connections whose peer never came. */
  relaysUnpaired: number;
  relaysExpired: number;
  relayedBytes: number;
  /** Times a relay stopped reading both sides because it was over its rate. */
  relayRatePauses: number;
}

interface Connection {
  socket: Socket;
  address: Address;
  key: string;
  reader: FrameReader;
  /** Set once a relay is granted: where the peer's connection comes from, and bytes read after the grant. */
  relay?: { peerKey: string; early: Uint8Array; timer: NodeJS.Timeout };
  pipe?: Pipe;
}

interface Pipe {
  sides: [Connection, Connection];
  tokens: number;
  refilledAt: number;
  lastActiveAt: number;
  /** Sides paused by the rate cap, and the timer that resumes them. */
  rateTimer: NodeJS.Timeout | undefined;
}

export class RendezvousTcpListener {
  readonly #server: Server;
  readonly #core: RendezvousServerCore;
  readonly #maxConnections: number;
  readonly #maxPerIp: number;
  readonly #onError: TcpListenerOptions['onConnectionError'];
  readonly #connections = new Map<string, Connection>();
  readonly #perIp = new Map<string, number>();
  readonly #pipes = new Set<Pipe>();
  readonly #sweep: NodeJS.Timeout;
  readonly #stats = {
    connectionsRefused: 0,
    closedBadInput: 0,
    closedIdle: 0,
    relaysPiped: 0,
    relaysUnpaired: 0,
    relaysExpired: 0,
    relayedBytes: 0,
    relayRatePauses: 0,
  };

  private constructor(server: Server, core: RendezvousServerCore, options: TcpListenerOptions) {
    this.#server = server;
    this.#core = core;
    this.#maxConnections = options.maxConnections ?? DEFAULT_MAX_TCP_CONNECTIONS;
    this.#maxPerIp = options.maxConnectionsPerIp ?? DEFAULT_MAX_TCP_CONNECTIONS_PER_IP;
    this.#onError = options.onConnectionError;
    server.on('connection', (socket) => this.#accept(socket));
    server.on('error', () => {});
    this.#sweep = setInterval(() => this.#expire(performance.now()), SWEEP_INTERVAL_MS);
    this.#sweep.unref();
  }

  /** Listens on `host:port` (TCP). Rejects with ANTT_ERR_NETWORK when the port cannot be bound. */
  static async listen(
    host: string,
    port: number,
    core: RendezvousServerCore,
    options: TcpListenerOptions = {},
  ): Promise<RendezvousTcpListener> {
    // Half-open allowed: in a relay, one peer's FIN (its Antt CLOSE sent) must not stop the other's
    // bytes (the CLOSE acknowledgement) from reaching it.
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(networkError(`listening on TCP ${host}:${port}`, error)));
      server.listen({ host, port, exclusive: true }, () => resolve());
    });
    server.removeAllListeners('error');
    return new RendezvousTcpListener(server, core, options);
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  stats(): TcpListenerStats {
    return { ...this.#stats, connections: this.#connections.size, relays: this.#pipes.size };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const connection of this.#connections.values()) connection.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    const host = normalizeHost(socket.remoteAddress);
    const address = { host, port: socket.remotePort ?? 0 };
    const perIp = this.#perIp.get(host) ?? 0;
    if (this.#connections.size >= this.#maxConnections || perIp >= this.#maxPerIp || address.port === 0) {
      this.#stats.connectionsRefused++;
      socket.resetAndDestroy();
      return;
    }
    this.#perIp.set(host, perIp + 1);
    const key = `${host}|${address.port}`;
    const connection: Connection = {
      socket,
      address,
      key,
      // Framing stops after a RELAY-ALLOC: if it is granted, what follows is the relayed stream.
      reader: new FrameReader((frame) => frame[3] === MessageType.RELAY_ALLOC),
    };
    this.#connections.set(key, connection);
    socket.setNoDelay(true);
    // A registered client refreshes every third of the TTL; twice the TTL of silence means it is gone.
    socket.setTimeout(this.#core.ttlSec * 2_000, () => {
      if (connection.relay || connection.pipe) return;
      this.#stats.closedIdle++;
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.#onData(connection, chunk));
    socket.on('end', () => {
      if (!connection.relay && !connection.pipe) socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#onClose(connection));
  }

  #onData(connection: Connection, chunk: Uint8Array): void {
    let frames: Uint8Array[];
    try {
      frames = connection.reader.push(chunk);
      for (;;) {
        for (const frame of frames) this.#onFrame(connection, frame);
        if (!connection.reader.stopped || connection.relay || connection.socket.destroyed) return;
        frames = connection.reader.resume();
        if (frames.length === 0 && !connection.reader.stopped) return;
      }
    } catch (error) {
      this.#closeForBadInput(connection, error);
    }
  }

  #onFrame(connection: Connection, frame: Uint8Array): void {
    const now = performance.now();
    const max = this.#core.maxRelays;
    if (frame[3] === MessageType.RELAY_ALLOC && max > 0 && this.#pipes.size >= max) {
      // The core's own relay table expires on its idle clock; live pipes are counted here.
      const request = decodeRendezvousMessage(frame);
      this.#write(connection, relayFull(request.transactionId));
      return;
    }
    for (const out of this.#core.handleDatagram(frame, connection.address, now)) {
      const target = this.#connections.get(`${out.to.host}|${out.to.port}`);
      if (!target || target.relay || target.pipe) continue;
      this.#write(target, out.bytes);
      if (target === connection && isRelayGranted(out.bytes)) this.#startRelay(connection, out.bytes);
    }
  }

  #write(connection: Connection, message: Uint8Array): void {
    if (!connection.socket.destroyed) connection.socket.write(encodeFrame(message));
  }

  #startRelay(connection: Connection, grant: Uint8Array): void {
    const info = decodeRendezvousMessage(grant);
    if (info.type !== MessageType.RELAY_INFO) return;
    const peerKey = `${info.peer.host}|${info.peer.port}`;
    connection.socket.pause();
    connection.socket.setTimeout(0);
    connection.relay = {
      peerKey,
      early: connection.reader.rest(),
      timer: setTimeout(() => {
        this.#stats.relaysUnpaired++;
        connection.socket.destroy();
      }, RELAY_PAIR_TIMEOUT_MS),
    };
    const peer = this.#connections.get(peerKey);
    if (peer?.relay && peer.relay.peerKey === connection.key) this.#pipe(peer, connection);
  }

  #pipe(a: Connection, b: Connection): void {
    const now = performance.now();
    const pipe: Pipe = {
      sides: [a, b],
      tokens: this.#core.relayBurstBytes,
      refilledAt: now,
      lastActiveAt: now,
      rateTimer: undefined,
    };
    this.#pipes.add(pipe);
    this.#stats.relaysPiped++;
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      clearTimeout(from.relay!.timer);
      from.pipe = pipe;
      from.socket.removeAllListeners('data');
      const early = from.relay!.early;
      if (early.length > 0) this.#forward(pipe, from, to, early);
      from.socket.on('data', (chunk: Buffer) => this.#forward(pipe, from, to, chunk));
      from.socket.on('end', () => to.socket.end());
    }
    for (const side of pipe.sides) side.socket.resume();
  }

  /** One relayed chunk: counted against the rate cap; a full receiver or an empty bucket pauses the sender. */
  #forward(pipe: Pipe, from: Connection, to: Connection, chunk: Uint8Array): void {
    const now = performance.now();
    const rate = this.#core.relayRateBytesPerSec;
    pipe.tokens = Math.min(
      this.#core.relayBurstBytes,
      pipe.tokens + (Math.max(0, now - pipe.refilledAt) * rate) / 1000,
    );
    pipe.refilledAt = now;
    pipe.tokens -= chunk.length;
    pipe.lastActiveAt = now;
    this.#stats.relayedBytes += chunk.length;
    if (!to.socket.write(chunk)) {
      from.socket.pause();
      to.socket.once('drain', () => this.#resume(pipe, from));
    }
    if (pipe.tokens < 0 && pipe.rateTimer === undefined) {
      // TCP is lossless: instead of dropping, stop reading both sides until the bucket is positive again.
      this.#stats.relayRatePauses++;
      for (const side of pipe.sides) side.socket.pause();
      pipe.rateTimer = setTimeout(
        () => {
          pipe.rateTimer = undefined;
          for (const side of pipe.sides) this.#resume(pipe, side);
        },
        Math.ceil((-pipe.tokens * 1000) / rate),
      );
    }
  }

  #resume(pipe: Pipe, side: Connection): void {
    if (pipe.rateTimer !== undefined || side.socket.destroyed) return;
    const other = pipe.sides[0] === side ? pipe.sides[1] : pipe.sides[0];
    if (other.socket.writableNeedDrain) return;
    side.socket.resume();
  }

  #expire(now: number): void {
    const idleMs = this.#core.relayIdleTimeoutSec * 1000;
    for (const pipe of this.#pipes) {
      if (pipe.lastActiveAt + idleMs > now) continue;
      this.#stats.relaysExpired++;
      this.#closePipe(pipe);
    }
  }

  /**
   * Ends a relay. When one side closed, the other is ended gracefully (what was relayed to it, such as
   * the peer's last CLOSE frame, still arrives), then destroyed after a grace period.
   */
  #closePipe(pipe: Pipe, closed?: Connection): void {
    if (!this.#pipes.delete(pipe)) return;
    clearTimeout(pipe.rateTimer);
    for (const side of pipe.sides) {
      if (side === closed) continue;
      if (closed === undefined) side.socket.destroy();
      else {
        side.socket.resume();
        side.socket.end();
        setTimeout(() => side.socket.destroy(), PIPE_CLOSE_GRACE_MS).unref();
      }
    }
  }

  #onClose(connection: Connection): void {
    if (this.#connections.get(connection.key) === connection) this.#connections.delete(connection.key);
    const host = connection.address.host;
    const count = (this.#perIp.get(host) ?? 1) - 1;
    if (count <= 0) this.#perIp.delete(host);
    else this.#perIp.set(host, count);
    if (connection.relay) clearTimeout(connection.relay.timer);
    if (connection.pipe) this.#closePipe(connection.pipe, connection);
    // Its registration (if any) goes with it: a peer looking it up should not find a closed socket.
    this.#core.forget(connection.address);
  }

  #closeForBadInput(connection: Connection, error: unknown): void {
    this.#stats.closedBadInput++;
    const reason =
      error instanceof AnttError
        ? error
        : new ProtocolError(`rendezvous TCP connection failed: ${String(error)}`, { cause: error });
    this.#onError?.(connection.address, reason);
    connection.socket.destroy();
  }
}

function relayFull(transactionId: Uint8Array): Uint8Array {
  return encodeRendezvousMessage({
    type: MessageType.RELAY_INFO,
    transactionId,
    status: RelayStatus.FULL,
    idleTimeoutSec: 0,
    rateBytesPerSec: 0,
    peer: { host: '0.0.0.0', port: 0 },
  });
}

function normalizeHost(host: string | undefined): string {
  if (host === undefined) return '';
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}
