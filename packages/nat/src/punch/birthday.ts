/**
 * The birthday technique for a pair with one endpoint-dependent NAT that allocates ports at random
 * (the "opener") and one endpoint-independent NAT (the "prober").
 *
 * The opener cannot tell the prober which port its NAT will use toward it, so it opens many: each of
 * BIRTHDAY_SOCKETS sockets sends a PROBE to the prober's public address, which gives each a random
 * outside port toward the prober (and nothing else: the prober's NAT drops them, unsolicited). The
 * prober sends PROBEs to random ports of the opener's public IP from its one socket, whose outside port
 * is the same toward every destination. A probe that lands on one of the opener's open mappings is let
 * in (it comes from exactly the address that mapping was opened toward), answered from that socket,
 * and the answer passes the prober's NAT (it comes from the address the probe went to). The prober
 * nominates that path; the opener's connection then rides the socket that held the mapping.
 *
 * With s sockets and p probes over a range of r ports, the chance of no meeting is
 * C(r − s, p) / C(r, p) ({@link birthdayMissProbability}); for the budget below, about 5 × 10⁻⁸.
 * Every message carries the session id the server gave both peers (8 random bytes), and an ACK must
 * echo the nonce of a probe that was sent to that very address, so a stray or forged datagram from
 * anyone else cannot steer the path; the Antt handshake then authenticates the peer end to end.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { type Address, AnttError, ErrorCode, scopedSignal, type WaitOptions } from '@antt/core';
import {
  bytesHex,
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  isRendezvousMessage,
  MessageType,
  TRANSACTION_ID_BYTES,
} from '../rendezvous/protocol.js';
import { FIRST_NAT_PORT, LAST_NAT_PORT } from './port-prediction.js';
import type { Candidate } from './udp-punch.js';

/** Sockets the opener binds, each holding one random mapping toward the prober. */
export const BIRTHDAY_SOCKETS = 256;
/** Distinct random ports of the opener's public IP the prober probes, at most. */
export const BIRTHDAY_PROBES = 4096;
/** The prober's probe rate (a PROBE is 21 bytes of payload: about 0.4 Mbit/s with headers). */
export const BIRTHDAY_PROBES_PER_SEC = 1_000;
/** The opener sends from every socket again this often, keeping its mappings and meeting late probes. */
export const BIRTHDAY_REOPEN_INTERVAL_MS = 1_000;

/** The prober's side: which ports of the opener's IP to probe, and when (rate and count bounded). */
export class BirthdaySpray {
  readonly host: string;
  readonly budget: number;
  readonly probesPerSec: number;
  readonly #picked = new Set<number>();
  readonly #random: (min: number, maxExclusive: number) => number;
  #startedAt: number | undefined;

  constructor(
    host: string,
    options: {
      probes?: number;
      probesPerSec?: number;
      random?: (min: number, maxExclusive: number) => number;
    } = {},
  ) {
    this.host = host;
    this.budget = Math.min(options.probes ?? BIRTHDAY_PROBES, LAST_NAT_PORT - FIRST_NAT_PORT + 1);
    this.probesPerSec = options.probesPerSec ?? BIRTHDAY_PROBES_PER_SEC;
    this.#random = options.random ?? randomInt;
  }

  get sent(): number {
    return this.#picked.size;
  }

  /** The probes due at `nowMs` (the first call starts the clock): new ports, never one twice. */
  due(nowMs: number): Candidate[] {
    this.#startedAt ??= nowMs;
    const allowed = Math.min(
      this.budget,
      Math.floor(((nowMs - this.#startedAt) * this.probesPerSec) / 1000) + 1,
    );
    const out: Candidate[] = [];
    while (this.#picked.size < allowed) {
      const port = this.#random(FIRST_NAT_PORT, LAST_NAT_PORT + 1);
      if (this.#picked.has(port)) continue;
      this.#picked.add(port);
      out.push({ address: { host: this.host, port }, kind: 'birthday' });
    }
    return out;
  }
}

/** A bound UDP socket as the opener uses it (a `node:dgram` socket in production, a fake in tests). */
export interface BirthdaySocket {
  readonly port: number;
  send(bytes: Uint8Array, to: Address): void;
  onMessage(handler: (bytes: Uint8Array, from: Address) => void): void;
  close(): Promise<void>;
}

export interface BirthdayWin {
  /** The socket whose mapping met a probe (still open: the caller takes it over). */
  socket: BirthdaySocket;
  /** The prober's address the nomination came from. */
  remote: Address;
  /** How many of the sockets were opened, and the PROBEs sent from them. */
  sockets: number;
  probesSent: number;
}

export interface BirthdayOpenerOptions {
  session: Uint8Array;
  /** The prober's public address (endpoint-independent: the same toward every destination). */
  peer: Address;
  sockets?: number;
  reopenIntervalMs?: number;
  /** Binds one socket; default a `node:dgram` udp4 socket on a free port. */
  bindSocket?: () => Promise<BirthdaySocket>;
}

/**
 * The opener's side: binds the sockets, sends a PROBE from each toward the prober (again every
 * BIRTHDAY_REOPEN_INTERVAL_MS), answers the prober's PROBEs with ACKs from the socket they reached, and
 * resolves when a NOMINATE arrives, with that socket left open and every other one closed.
 */
export class BirthdayOpener {
  readonly #options: BirthdayOpenerOptions;
  readonly #session: string;
  readonly #sockets: BirthdaySocket[] = [];
  #probesSent = 0;
  #answered = 0;
  #strays = 0;

  constructor(options: BirthdayOpenerOptions) {
    this.#options = options;
    this.#session = bytesHex(options.session);
  }

  /** For failure messages: what was tried. */
  describe(): string {
    return (
      `${this.#sockets.length} sockets sent ${this.#probesSent} probes toward ${this.#options.peer.host}:` +
      `${this.#options.peer.port}, ${this.#answered} probes of the peer reached them` +
      (this.#strays > 0 ? `, ${this.#strays} stray datagrams dropped` : '')
    );
  }

  async run(options: WaitOptions & { startDelayMs?: number } = {}): Promise<BirthdayWin> {
    const scope = scopedSignal(options, undefined, 'opening birthday sockets');
    const count = this.#options.sockets ?? BIRTHDAY_SOCKETS;
    const bind = this.#options.bindSocket ?? bindDgramSocket;
    let timer: NodeJS.Timeout | undefined;
    let win: BirthdayWin | undefined;
    try {
      // Bound before the start time, so all of them send at once when it comes.
      for (let i = 0; i < count && !scope.signal.aborted; i++) this.#sockets.push(await bind());
      scope.signal.throwIfAborted();
      win = await new Promise<BirthdayWin>((resolve, reject) => {
        const onAbort = (): void => reject(scope.error());
        scope.signal.addEventListener('abort', onAbort, { once: true });
        for (const socket of this.#sockets) {
          socket.onMessage((bytes, from) => {
            const nominated = this.#onDatagram(socket, bytes, from);
            if (nominated && !win) {
              scope.signal.removeEventListener('abort', onAbort);
              resolve({ socket, remote: from, sockets: this.#sockets.length, probesSent: this.#probesSent });
            }
          });
        }
        const open = (): void => {
          for (const socket of this.#sockets) this.#send(socket, false, false, newNonce());
          timer = setTimeout(open, this.#options.reopenIntervalMs ?? BIRTHDAY_REOPEN_INTERVAL_MS);
        };
        timer = setTimeout(open, Math.max(0, options.startDelayMs ?? 0));
      });
      return win;
    } finally {
      if (timer) clearTimeout(timer);
      scope.done();
      await Promise.all(this.#sockets.filter((s) => s !== win?.socket).map((s) => s.close()));
    }
  }

  /** Returns true for a NOMINATE of this session from the prober's IP. */
  #onDatagram(socket: BirthdaySocket, bytes: Uint8Array, from: Address): boolean {
    if (!isRendezvousMessage(bytes) || from.host !== this.#options.peer.host) {
      this.#strays++;
      return false;
    }
    let message: ReturnType<typeof decodeRendezvousMessage>;
    try {
      message = decodeRendezvousMessage(bytes);
    } catch {
      this.#strays++;
      return false;
    }
    if (message.type !== MessageType.PROBE || bytesHex(message.session) !== this.#session) {
      this.#strays++;
      return false;
    }
    if (message.ack) return false; // our mapping works both ways; the prober decides
    this.#answered++;
    // Same size as the PROBE; from the socket it reached, so the answer rides the mapping it met.
    this.#send(socket, true, message.nominate, message.transactionId, from);
    return message.nominate;
  }

  #send(
    socket: BirthdaySocket,
    ack: boolean,
    nominate: boolean,
    transactionId: Uint8Array,
    to: Address = this.#options.peer,
  ): void {
    if (!ack) this.#probesSent++;
    const bytes = encodeRendezvousMessage({
      type: MessageType.PROBE,
      transactionId,
      session: this.#options.session,
      ack,
      nominate,
    });
    try {
      socket.send(bytes, to);
    } catch {
      // A lost probe; the next round sends again.
    }
  }
}

function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(TRANSACTION_ID_BYTES));
}

/** A `node:dgram` socket on a free port of all interfaces. */
export async function bindDgramSocket(): Promise<BirthdaySocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (error) =>
      reject(new AnttError(ErrorCode.NETWORK, `binding a birthday socket: ${error.message}`)),
    );
    socket.bind(0, () => resolve());
  });
  socket.removeAllListeners('error');
  socket.on('error', () => {});
  const port = socket.address().port;
  let closed = false;
  return {
    port,
    send(bytes, to) {
      if (!closed) socket.send(bytes, to.port, to.host, () => {});
    },
    onMessage(handler) {
      socket.on('message', (bytes, remote) => handler(bytes, { host: remote.address, port: remote.port }));
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
