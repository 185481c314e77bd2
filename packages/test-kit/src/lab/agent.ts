/**
 * A small Node process inside a lab namespace that opens UDP and TCP sockets on request, so a test can
 * drive several hosts step by step (bind here, send there, see what arrived) without writing a script per
 * step. It speaks JSON lines over stdin/stdout and exits when its stdin closes.
 *
 * With `reflect: true` a socket answers every datagram, and a TCP listener every connection, with the
 * address and port it observed as JSON: `{"address":"203.0.113.2","port":40000}`. That is how the lab
 * tests see the mapping a NAT chose (a one-line STUN).
 */
import { LabError } from './command.js';
import type { LabProcess } from './process.js';

const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_RECEIVE_TIMEOUT_MS = 1_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
/** Datagrams kept per socket for `receive()`; beyond this the oldest are discarded (and counted). */
const MAX_QUEUED_DATAGRAMS = 4096;

/** The agent itself, run with `node -e`. Plain CommonJS so it needs no loader. */
export const AGENT_SOURCE = String.raw`
'use strict';
const dgram = require('node:dgram');
const net = require('node:net');
const readline = require('node:readline');
const udpSockets = new Map();
const tcpServers = new Map();
let nextId = 1;
const emit = (message) => process.stdout.write(JSON.stringify(message) + '\n');
const observed = (address, port) => JSON.stringify({ address, port });
const listening = (server, listenArgs) => new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(...listenArgs, () => { server.off('error', reject); resolve(); });
});
const ops = {
  'udp.bind': ({ port = 0, address = '0.0.0.0', reflect = false }) => new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const id = nextId++;
    socket.once('error', reject);
    socket.on('message', (bytes, remote) => {
      if (reflect) socket.send(observed(remote.address, remote.port), remote.port, remote.address);
      emit({ event: 'udp.message', socket: id, from: { address: remote.address, port: remote.port }, data: bytes.toString('base64') });
    });
    socket.bind(port, address, () => {
      socket.off('error', reject);
      socket.on('error', (error) => emit({ event: 'udp.error', socket: id, code: error.code, message: error.message }));
      udpSockets.set(id, socket);
      resolve({ socket: id, port: socket.address().port });
    });
  }),
  'udp.send': ({ socket, host, port, data }) => new Promise((resolve, reject) => {
    const udp = udpSockets.get(socket);
    if (!udp) return reject(new Error('no such socket ' + socket));
    const sent = (error) => (error ? reject(error) : resolve({}));
    if (host === undefined) udp.send(Buffer.from(data, 'base64'), sent);
    else udp.send(Buffer.from(data, 'base64'), port, host, sent);
  }),
  'udp.connect': ({ socket, host, port }) => new Promise((resolve, reject) => {
    const udp = udpSockets.get(socket);
    if (!udp) return reject(new Error('no such socket ' + socket));
    udp.connect(port, host, (error) => (error ? reject(error) : resolve({})));
  }),
  'udp.close': ({ socket }) => new Promise((resolve) => {
    const udp = udpSockets.get(socket);
    udpSockets.delete(socket);
    if (!udp) return resolve({});
    udp.close(() => resolve({}));
  }),
  'tcp.listen': async ({ port = 0, address = '0.0.0.0', reflect = false }) => {
    const id = nextId++;
    const server = net.createServer((connection) => {
      connection.on('error', () => {});
      emit({ event: 'tcp.accept', server: id, from: { address: connection.remoteAddress, port: connection.remotePort } });
      if (reflect) connection.end(observed(connection.remoteAddress, connection.remotePort) + '\n');
      else connection.resume();
    });
    await listening(server, [port, address]);
    tcpServers.set(id, server);
    return { server: id, port: server.address().port };
  },
  'tcp.connect': ({ host, port, localPort, timeoutMs, read = true }) => new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ host, port, localPort });
    let data = '';
    let connected = false;
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...result, elapsedMs: Date.now() - started });
    };
    // Connected but still reading when time runs out is still "connected", with what was read so far.
    const timer = setTimeout(() => finish(connected ? { outcome: 'connected', data } : { outcome: 'timeout' }), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => { data += chunk; });
    socket.on('end', () => finish({ outcome: 'connected', data }));
    socket.on('connect', () => {
      connected = true;
      if (!read) finish({ outcome: 'connected', data });
    });
    socket.on('error', (error) =>
      finish({ outcome: error.code === 'ECONNREFUSED' ? 'refused' : 'error', code: error.code }));
  }),
};
readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  let request;
  try { request = JSON.parse(line); } catch { return; }
  try {
    const op = ops[request.op];
    if (!op) throw new Error('unknown op ' + request.op);
    emit({ id: request.id, ok: true, result: await op(request.params || {}) });
  } catch (error) {
    emit({ id: request.id, ok: false, error: String((error && error.message) || error), code: error && error.code });
  }
}).on('close', () => process.exit(0));
emit({ event: 'ready', pid: process.pid });
`;

export interface Endpoint {
  host: string;
  port: number;
}

export interface ObservedAddress {
  address: string;
  port: number;
}

export interface ReceivedDatagram {
  from: ObservedAddress;
  data: Buffer;
}

export interface TcpConnectResult {
  outcome: 'connected' | 'refused' | 'timeout' | 'error';
  /** What the server sent before closing (a reflector sends the observed address). */
  data?: string;
  code?: string;
  elapsedMs: number;
}

interface AgentMessage {
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
  code?: string;
  event?: string;
  socket?: number;
  from?: ObservedAddress;
  data?: string;
}

/** A UDP socket owned by an agent. */
export class AgentUdpSocket {
  readonly port: number;
  readonly #agent: LabAgent;
  readonly #id: number;
  readonly #queue: ReceivedDatagram[] = [];
  #waiter: (() => void) | undefined;
  /** Datagrams discarded because nobody called receive() for a long time. */
  discarded = 0;
  /** Socket errors reported by the agent, e.g. `ECONNREFUSED` on a connected socket. */
  readonly errors: string[] = [];

  constructor(agent: LabAgent, id: number, port: number) {
    this.#agent = agent;
    this.#id = id;
    this.port = port;
  }

  /** @internal called by the agent for every datagram this socket received. */
  deliver(datagram: ReceivedDatagram): void {
    if (this.#queue.length >= MAX_QUEUED_DATAGRAMS) {
      this.#queue.shift();
      this.discarded++;
    }
    this.#queue.push(datagram);
    this.#waiter?.();
  }

  /** Sends to `to`, or to the connected peer when `to` is omitted. */
  async send(to: Endpoint | undefined, data: string | Uint8Array): Promise<void> {
    const bytes = Buffer.from(data);
    await this.#agent.request('udp.send', {
      socket: this.#id,
      host: to?.host,
      port: to?.port,
      data: bytes.toString('base64'),
    });
  }

  /**
   * Connects the socket, so ICMP errors about its peer (port unreachable from a resetting router) are
   * reported: they show up in {@link errors} as `ECONNREFUSED`.
   */
  async connect(to: Endpoint): Promise<void> {
    await this.#agent.request('udp.connect', { socket: this.#id, host: to.host, port: to.port });
  }

  /** @internal */
  fail(code: string): void {
    this.errors.push(code);
  }

  /** The next datagram, or `undefined` if none arrives within `timeoutMs` (default 1 s). */
  async receive(
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<ReceivedDatagram | undefined> {
    options.signal?.throwIfAborted();
    const queued = this.#queue.shift();
    if (queued) return queued;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', done);
        this.#waiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, options.timeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS);
      options.signal?.addEventListener('abort', done, { once: true });
      this.#waiter = done;
    });
    options.signal?.throwIfAborted();
    return this.#queue.shift();
  }

  /**
   * Sends a probe to a reflector (see {@link LabAgent.udpBind}) and returns the address it saw, retrying
   * `attempts` times; `undefined` when no answer comes.
   */
  async observeMapping(
    reflector: Endpoint,
    options: { attempts?: number; timeoutMs?: number } = {},
  ): Promise<ObservedAddress | undefined> {
    for (let attempt = 0; attempt < (options.attempts ?? 3); attempt++) {
      await this.send(reflector, 'probe');
      const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS);
      for (let left = deadline - Date.now(); left > 0; left = deadline - Date.now()) {
        const reply = await this.receive({ timeoutMs: left });
        if (reply === undefined) break;
        if (reply.from.address === reflector.host && reply.from.port === reflector.port) {
          return JSON.parse(reply.data.toString()) as ObservedAddress;
        }
      }
    }
    return undefined;
  }

  close(): Promise<unknown> {
    return this.#agent.request('udp.close', { socket: this.#id });
  }
}

/** Drives an agent process; created by {@link LabNode.startAgent}. */
export class LabAgent {
  readonly process: LabProcess;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly #sockets = new Map<number, AgentUdpSocket>();
  #nextRequest = 1;

  private constructor(process: LabProcess) {
    this.process = process;
    process.onLine((line, stream) => {
      if (stream === 'stdout') this.#onLine(line);
    });
    void process.exited.then(() => {
      const error = new LabError(
        'agent',
        `the agent in ${process.namespace} exited: ${process.stderr.slice(-500)}`,
      );
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
    });
  }

  /** @internal */
  static async start(process: LabProcess, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<LabAgent> {
    const agent = new LabAgent(process);
    await process.waitForOutput('"event":"ready"', { timeoutMs, stream: 'stdout' });
    return agent;
  }

  /** @internal */
  request(op: string, params: object, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<unknown> {
    const id = this.#nextRequest++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new LabError(
            'timeout',
            `agent in ${this.process.namespace}: ${op} got no answer within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.process.write(`${JSON.stringify({ id, op, params })}\n`);
    });
  }

  /** Binds a UDP socket (port 0 = any); `reflect` makes it answer every datagram with the observed source. */
  async udpBind(
    options: { port?: number; address?: string; reflect?: boolean } = {},
  ): Promise<AgentUdpSocket> {
    const { socket, port } = (await this.request('udp.bind', options)) as { socket: number; port: number };
    const udp = new AgentUdpSocket(this, socket, port);
    this.#sockets.set(socket, udp);
    return udp;
  }

  /** Listens on TCP; with `reflect`, each connection is sent the observed source address, then closed. */
  async tcpListen(
    options: { port?: number; address?: string; reflect?: boolean } = {},
  ): Promise<{ port: number }> {
    const { port } = (await this.request('tcp.listen', options)) as { port: number };
    return { port };
  }

  /**
   * Connects and (unless `read: false`) reads until the server closes or `timeoutMs` passes; never rejects
   * for network outcomes (see `outcome`).
   */
  async tcpConnect(
    to: Endpoint,
    options: { timeoutMs?: number; localPort?: number; read?: boolean } = {},
  ): Promise<TcpConnectResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const params = {
      host: to.host,
      port: to.port,
      localPort: options.localPort,
      timeoutMs,
      read: options.read ?? true,
    };
    return (await this.request(
      'tcp.connect',
      params,
      timeoutMs + DEFAULT_REQUEST_TIMEOUT_MS,
    )) as TcpConnectResult;
  }

  /** Ends the agent (closing its stdin) and waits for it to exit. */
  async close(): Promise<void> {
    this.process.child.stdin.end();
    const timer = setTimeout(() => this.process.kill('SIGKILL'), DEFAULT_REQUEST_TIMEOUT_MS);
    await this.process.exited;
    clearTimeout(timer);
  }

  #onLine(line: string): void {
    let message: AgentMessage;
    try {
      message = JSON.parse(line) as AgentMessage;
    } catch {
      return; // not ours (a warning printed by Node, say)
    }
    if (message.event === 'udp.message' && message.socket !== undefined && message.from) {
      this.#sockets
        .get(message.socket)
        ?.deliver({ from: message.from, data: Buffer.from(message.data ?? '', 'base64') });
      return;
    }
    if (message.event === 'udp.error' && message.socket !== undefined) {
      this.#sockets.get(message.socket)?.fail(message.code ?? 'unknown');
      return;
    }
    if (message.id === undefined) return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else
      pending.reject(
        new LabError('agent', `agent in ${this.process.namespace}: ${message.error} (${message.code})`),
      );
  }
}
